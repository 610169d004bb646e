//! A local server that speaks the OpenAI images protocol, for driving the `openai`
//! provider. It checks what a real API checks (bearer key, model, size) and misbehaves on
//! request, by words in the prompt: "rate-limit-once", "always-500", "slow", "url-result",
//! "refused".

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;

pub const KEY: &str = "sk-test-secret-key";
pub const MODEL: &str = "test-model";

#[derive(Default)]
pub struct Seen {
    /// Every generation request body received.
    pub requests: Vec<serde_json::Value>,
    /// Every edit request: (prompt found in the body, an image/png part with PNG bytes).
    pub edits: Vec<(bool, bool)>,
}

pub struct FakeOpenAi {
    pub base_url: String,
    pub seen: Arc<Mutex<Seen>>,
}

impl FakeOpenAi {
    pub fn calls_for(&self, word: &str) -> usize {
        let seen = self.seen.lock().expect("lock");
        seen.requests
            .iter()
            .filter(|r| r["prompt"].as_str().is_some_and(|p| p.contains(word)))
            .count()
    }
}

fn png() -> Vec<u8> {
    crate::fixtures::png(64, 48)
}

async fn generations(
    req: HttpRequest,
    seen: web::Data<Arc<Mutex<Seen>>>,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    let body = body.into_inner();
    let authorised = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {KEY}"));
    let prompt = body["prompt"].as_str().unwrap_or_default().to_owned();
    let earlier = {
        let mut seen = seen.lock().expect("lock");
        let earlier = seen
            .requests
            .iter()
            .filter(|r| r["prompt"] == body["prompt"])
            .count();
        seen.requests.push(body.clone());
        earlier
    };
    if !authorised {
        return HttpResponse::Unauthorized()
            .json(serde_json::json!({"error": {"message": "Incorrect API key provided"}}));
    }
    if body["model"] != MODEL
        || body["size"].as_str().is_none()
        || body["response_format"] != "b64_json"
    {
        return HttpResponse::BadRequest()
            .json(serde_json::json!({"error": {"message": "bad model, size or response_format"}}));
    }
    if prompt.contains("rate-limit-once") && earlier == 0 {
        return HttpResponse::TooManyRequests()
            .insert_header(("retry-after", "1"))
            .json(serde_json::json!({"error": {"message": "Rate limit reached"}}));
    }
    if prompt.contains("always-500") {
        return HttpResponse::InternalServerError()
            .json(serde_json::json!({"error": {"message": "boom"}}));
    }
    if prompt.contains("refused") {
        return HttpResponse::BadRequest().json(serde_json::json!({"error": {"message": "Your request was rejected by our safety system."}}));
    }
    if prompt.contains("slow") {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    if prompt.contains("url-result") {
        let host = req.connection_info().host().to_owned();
        return HttpResponse::Ok().json(
            serde_json::json!({"data": [{"url": format!("http://{host}/files/result.png")}]}),
        );
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(png());
    HttpResponse::Ok().json(serde_json::json!({"created": 0, "data": [{"b64_json": b64}]}))
}

async fn edits(
    req: HttpRequest,
    seen: web::Data<Arc<Mutex<Seen>>>,
    body: web::Bytes,
) -> HttpResponse {
    let authorised = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {KEY}"));
    let multipart = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data; boundary="));
    let has_prompt = body
        .windows(b"name=\"prompt\"".len())
        .any(|w| w == b"name=\"prompt\"");
    let has_png = body.windows(8).any(|w| w == b"\x89PNG\r\n\x1a\n");
    seen.lock().expect("lock").edits.push((has_prompt, has_png));
    if !authorised || !multipart {
        return HttpResponse::Unauthorized()
            .json(serde_json::json!({"error": {"message": "bad key or body"}}));
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(png());
    HttpResponse::Ok().json(serde_json::json!({"data": [{"b64_json": b64}]}))
}

async fn file() -> HttpResponse {
    HttpResponse::Ok().content_type("image/png").body(png())
}

pub async fn start() -> FakeOpenAi {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let data = web::Data::new(seen.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/v1/images/generations", web::post().to(generations))
            .route("/v1/images/edits", web::post().to(edits))
            .route("/files/{name}", web::get().to(file))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind fake server");
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    FakeOpenAi {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        seen,
    }
}
