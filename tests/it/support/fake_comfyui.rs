//! A local server that speaks ComfyUI's HTTP API as its `server.py` does: `POST /prompt`
//! with `{prompt, client_id}` answers `{prompt_id, number, node_errors}` (400 with
//! `node_errors` for a workflow it cannot run), `GET /history/{prompt_id}` answers `{}`
//! until the prompt has run and then its outputs and status, and `GET /view?filename=…
//! &subfolder=…&type=output` serves the image. The positive prompt's words choose its
//! behaviour: "slowly" (runs for three seconds), "crash" (status error), "out-of-memory",
//! "hostile-id" (answers a `prompt_id` that is a path, as a compromised server could).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};

#[derive(Default)]
pub struct State {
    /// Every workflow queued, as received.
    pub prompts: Vec<serde_json::Value>,
    /// Every id asked for on `/history/{id}`.
    pub history_asked: Vec<String>,
    /// Queued prompts: when they finish, the size, and how they end.
    jobs: HashMap<String, (Instant, (u32, u32), &'static str)>,
}

pub struct FakeComfyUi {
    pub base_url: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeComfyUi {
    pub fn prompts(&self) -> Vec<serde_json::Value> {
        self.state.lock().expect("lock").prompts.clone()
    }

    pub fn history_asked(&self) -> Vec<String> {
        self.state.lock().expect("lock").history_asked.clone()
    }
}

async fn queue(
    state: web::Data<Arc<Mutex<State>>>,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    let body = body.into_inner();
    let workflow = body["prompt"].clone();
    if body["client_id"].as_str().is_none_or(str::is_empty) {
        return HttpResponse::BadRequest()
            .json(serde_json::json!({"error": {"type": "no_client_id"}}));
    }
    let Some(nodes) = workflow.as_object() else {
        return HttpResponse::BadRequest()
            .json(serde_json::json!({"error": {"type": "invalid_prompt"}, "node_errors": {}}));
    };
    let text = |class: &str| {
        nodes
            .values()
            .filter(|n| n["class_type"] == class)
            .filter_map(|n| n["inputs"]["text"].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let prompt_text = text("CLIPTextEncode");
    let latent = nodes
        .values()
        .find(|n| n["class_type"] == "EmptyLatentImage")
        .map(|n| &n["inputs"]);
    let size = latent.map_or((0, 0), |inputs| {
        (
            inputs["width"].as_u64().unwrap_or(0) as u32,
            inputs["height"].as_u64().unwrap_or(0) as u32,
        )
    });
    if size.0 == 0 || size.1 == 0 {
        return HttpResponse::BadRequest().json(serde_json::json!({"error": {"type": "prompt_outputs_failed_validation"}, "node_errors": {"5": "width"}}));
    }
    let id = if prompt_text.contains("hostile-id") {
        "../view?filename=secret.png&type=output".to_owned()
    } else {
        atelier::domain::tokens::random_hex(8).expect("rng")
    };
    let (delay, outcome) = if prompt_text.contains("crash") {
        (0, "error")
    } else if prompt_text.contains("out-of-memory") {
        (0, "oom")
    } else if prompt_text.contains("slowly") {
        (3000, "success")
    } else {
        (100, "success")
    };
    let mut state = state.lock().expect("lock");
    state.prompts.push(workflow);
    state.jobs.insert(
        id.clone(),
        (Instant::now() + Duration::from_millis(delay), size, outcome),
    );
    let number = state.prompts.len();
    HttpResponse::Ok()
        .json(serde_json::json!({"prompt_id": id, "number": number, "node_errors": {}}))
}

async fn history(state: web::Data<Arc<Mutex<State>>>, id: web::Path<String>) -> HttpResponse {
    let id = id.into_inner();
    let mut state = state.lock().expect("lock");
    state.history_asked.push(id.clone());
    let Some((ready_at, _, outcome)) = state.jobs.get(&id) else {
        return HttpResponse::Ok().json(serde_json::json!({}));
    };
    if Instant::now() < *ready_at {
        return HttpResponse::Ok().json(serde_json::json!({}));
    }
    let entry = match *outcome {
        "success" => serde_json::json!({
            "prompt": [],
            "outputs": {"9": {"images": [{"filename": format!("{id}.png"), "subfolder": "", "type": "output"}]}},
            "status": {"status_str": "success", "completed": true, "messages": [["execution_success", {}]]},
        }),
        "oom" => serde_json::json!({
            "prompt": [], "outputs": {},
            "status": {"status_str": "error", "completed": false, "messages": [["execution_error", {"exception_message": "CUDA out of memory. Tried to allocate 4 GiB"}]]},
        }),
        _ => serde_json::json!({
            "prompt": [], "outputs": {},
            "status": {"status_str": "error", "completed": false, "messages": [["execution_error", {"exception_message": "boom"}]]},
        }),
    };
    HttpResponse::Ok().json(serde_json::json!({ id: entry }))
}

#[derive(serde::Deserialize)]
struct ViewQuery {
    filename: String,
    #[serde(default)]
    subfolder: String,
    #[serde(rename = "type")]
    kind: String,
}

async fn view(state: web::Data<Arc<Mutex<State>>>, query: web::Query<ViewQuery>) -> HttpResponse {
    let id = query.filename.trim_end_matches(".png");
    let size = state.lock().expect("lock").jobs.get(id).map(|job| job.1);
    match (size, query.kind.as_str(), query.subfolder.as_str()) {
        (Some((width, height)), "output", "") => HttpResponse::Ok()
            .content_type("image/png")
            .body(crate::support::fixtures::png(width, height)),
        _ => HttpResponse::NotFound().finish(),
    }
}

pub async fn start() -> FakeComfyUi {
    let state = Arc::new(Mutex::new(State::default()));
    let data = web::Data::new(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::JsonConfig::default().limit(8 * 1024 * 1024))
            .route("/prompt", web::post().to(queue))
            .route("/history/{id}", web::get().to(history))
            .route("/view", web::get().to(view))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind fake server");
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    FakeComfyUi {
        base_url: format!("http://127.0.0.1:{port}"),
        state,
    }
}
