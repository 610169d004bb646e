//! A local server that speaks AUTOMATIC1111's web API as `modules/api/api.py` and
//! `models.py` define it: `POST /sdapi/v1/txt2img` and `/img2img` answer `{images: [base64
//! PNG], parameters, info: "<json>"}`, `GET /sdapi/v1/progress` answers `{progress,
//! eta_relative, state}` while a job runs, and `--api-auth` servers want HTTP Basic. It
//! misbehaves on request, by words in the prompt: "midway" (holds at 50 % for a while),
//! "always-500", "out-of-memory", "slow".

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;

pub const MODEL: &str = "fake-sd15";

#[derive(Default)]
pub struct State {
    /// Every txt2img / img2img body received, with its path.
    pub requests: Vec<(String, serde_json::Value)>,
    /// What `/progress` answers now: (progress, eta_relative).
    pub progress: (f32, f32),
}

pub struct FakeA1111 {
    pub base_url: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeA1111 {
    pub fn requests(&self) -> Vec<(String, serde_json::Value)> {
        self.state.lock().expect("lock").requests.clone()
    }
}

/// `user:password` the server was started with, if any.
#[derive(Clone)]
struct Auth(Option<String>);

fn authorised(req: &HttpRequest, auth: &Auth) -> bool {
    let Some(expected) = &auth.0 else {
        return true;
    };
    let wanted = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(expected)
    );
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == wanted)
}

async fn process(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Arc<Mutex<State>>>,
    auth: web::Data<Auth>,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    let body = body.into_inner();
    let kind = path.into_inner();
    state
        .lock()
        .expect("lock")
        .requests
        .push((kind.clone(), body.clone()));
    if !authorised(&req, &auth) {
        return HttpResponse::Unauthorized()
            .json(serde_json::json!({"detail": "Incorrect username or password"}));
    }
    let prompt = body["prompt"].as_str().unwrap_or_default().to_owned();
    let (width, height) = (
        body["width"].as_u64().unwrap_or(0) as u32,
        body["height"].as_u64().unwrap_or(0) as u32,
    );
    if width == 0 || height == 0 || body["steps"].as_u64().is_none() {
        return HttpResponse::UnprocessableEntity()
            .json(serde_json::json!({"detail": "width, height and steps are required"}));
    }
    if kind == "img2img" {
        let source = body["init_images"][0]
            .as_str()
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .and_then(|bytes| image::load_from_memory(&bytes).ok());
        if source.is_none() {
            return HttpResponse::UnprocessableEntity()
                .json(serde_json::json!({"detail": "init_images must hold an image"}));
        }
    }
    if prompt.contains("always-500") {
        return HttpResponse::InternalServerError()
            .json(serde_json::json!({"error": "RuntimeError", "detail": "boom"}));
    }
    if prompt.contains("out-of-memory") {
        return HttpResponse::InternalServerError().json(serde_json::json!({"error": "OutOfMemoryError", "detail": "CUDA out of memory. Tried to allocate 2.00 GiB"}));
    }
    if prompt.contains("slow") {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    if prompt.contains("midway") {
        state.lock().expect("lock").progress = (0.5, 3.0);
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    state.lock().expect("lock").progress = (0.0, 0.0);
    // `batch_size` pictures, as the real server answers (no grid: do_not_save_grid).
    let batch = body["batch_size"].as_u64().unwrap_or(1).max(1);
    let images: Vec<String> = (0..batch)
        .map(|_| {
            base64::engine::general_purpose::STANDARD
                .encode(crate::support::fixtures::png(width, height))
        })
        .collect();
    let info = serde_json::json!({"sd_model_name": MODEL, "seed": body["seed"], "all_seeds": (0..batch).map(|i| body["seed"].as_u64().unwrap_or(0) + i).collect::<Vec<_>>()}).to_string();
    HttpResponse::Ok().json(serde_json::json!({
        "images": images,
        "parameters": body,
        "info": info,
    }))
}

async fn progress(
    req: HttpRequest,
    state: web::Data<Arc<Mutex<State>>>,
    auth: web::Data<Auth>,
) -> HttpResponse {
    if !authorised(&req, &auth) {
        return HttpResponse::Unauthorized().finish();
    }
    let (done, eta) = state.lock().expect("lock").progress;
    HttpResponse::Ok().json(serde_json::json!({
        "progress": done,
        "eta_relative": eta,
        "state": {"skipped": false, "interrupted": false, "job": "", "job_count": 1,
                  "job_timestamp": "0", "job_no": 0, "sampling_step": 10, "sampling_steps": 20},
        "current_image": null,
        "textinfo": null,
    }))
}

pub async fn start(auth: Option<&str>) -> FakeA1111 {
    let state = Arc::new(Mutex::new(State::default()));
    let data = web::Data::new(state.clone());
    let auth = web::Data::new(Auth(auth.map(str::to_owned)));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(auth.clone())
            .app_data(web::JsonConfig::default().limit(32 * 1024 * 1024))
            .route("/sdapi/v1/progress", web::get().to(progress))
            .route("/sdapi/v1/{kind}", web::post().to(process))
    })
    .workers(2)
    .bind("127.0.0.1:0")
    .expect("bind fake server");
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    FakeA1111 {
        base_url: format!("http://127.0.0.1:{port}"),
        state,
    }
}
