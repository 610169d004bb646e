//! A local server that speaks the OpenAI images and videos protocols, for driving the
//! `openai` provider. It checks what a real API checks (bearer key, model, size) and
//! misbehaves on request, by words in the prompt: "rate-limit-once", "always-500", "slow",
//! "url-result", "refused"; for videos "fail-at-60" (the job fails once 60 % done),
//! "flaky-status" (the first status request answers 500), "slow-poll" (status answers
//! ask for `Retry-After: 1`) and "huge-clip" (the content carries 40 MB of padding).
//!
//! Videos follow the API reference: `POST /v1/videos` (multipart: model, prompt, seconds,
//! size) answers a `video` object `queued` at 0 %; each `GET /v1/videos/{id}` moves it
//! 20 points on (`in_progress`, then `completed`); `GET /v1/videos/{id}/content` is the MP4,
//! made with ffmpeg's test pattern and carrying metadata (a comment) that Atelier must
//! not pass on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;

pub const KEY: &str = "sk-test-secret-key";
pub const MODEL: &str = "test-model";
pub const VIDEO_MODEL: &str = "sora-test";
/// Metadata every fake clip carries, which must never reach a served copy.
pub const CLIP_SECRET: &str = "provider-internal-note";

#[derive(Default)]
pub struct Seen {
    /// Every generation request body received.
    pub requests: Vec<serde_json::Value>,
    /// Every edit request: (prompt found in the body, an image/png part with PNG bytes).
    pub edits: Vec<(bool, bool)>,
    /// Every video order's form fields.
    pub video_orders: Vec<std::collections::HashMap<String, String>>,
    /// Video jobs by id.
    pub videos: std::collections::HashMap<String, FakeVideo>,
}

pub struct FakeVideo {
    pub prompt: String,
    pub seconds: u32,
    pub size: String,
    pub progress: u32,
    /// When each status request arrived.
    pub polls: Vec<std::time::Instant>,
    pub failed: bool,
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
    crate::support::fixtures::png(64, 48)
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

fn authorised(req: &HttpRequest) -> bool {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {KEY}"))
}

/// The text fields of a simple multipart body.
fn form_fields(body: &[u8]) -> std::collections::HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    let mut fields = std::collections::HashMap::new();
    for part in text
        .split("Content-Disposition: form-data; name=\"")
        .skip(1)
    {
        let Some((name, rest)) = part.split_once('"') else {
            continue;
        };
        let Some((_, value)) = rest.split_once("\r\n\r\n") else {
            continue;
        };
        let value = value.split("\r\n--").next().unwrap_or_default();
        fields.insert(name.to_owned(), value.to_owned());
    }
    fields
}

fn video_object(id: &str, video: &FakeVideo) -> serde_json::Value {
    let status = if video.failed {
        "failed"
    } else if video.progress >= 100 {
        "completed"
    } else if video.progress == 0 {
        "queued"
    } else {
        "in_progress"
    };
    let mut object = serde_json::json!({
        "id": id, "object": "video", "model": VIDEO_MODEL, "status": status,
        "progress": video.progress, "created_at": 1_712_697_600, "size": video.size,
        "seconds": video.seconds.to_string(),
    });
    if video.failed {
        object["error"] =
            serde_json::json!({"code": "render_failed", "message": "The renderer crashed at 60%."});
    }
    object
}

async fn create_video(
    req: HttpRequest,
    seen: web::Data<Arc<Mutex<Seen>>>,
    body: web::Bytes,
) -> HttpResponse {
    let multipart = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data; boundary="));
    let fields = form_fields(&body);
    let mut seen = seen.lock().expect("lock");
    seen.video_orders.push(fields.clone());
    if !authorised(&req) {
        return HttpResponse::Unauthorized()
            .json(serde_json::json!({"error": {"message": "Incorrect API key provided"}}));
    }
    let seconds = fields.get("seconds").and_then(|s| s.parse::<u32>().ok());
    let size = fields.get("size").cloned().unwrap_or_default();
    let (Some(seconds), true, true, Some(prompt)) = (
        seconds,
        multipart && fields.get("model").map(String::as_str) == Some(VIDEO_MODEL),
        size.split_once('x').is_some(),
        fields.get("prompt").cloned(),
    ) else {
        return HttpResponse::BadRequest()
            .json(serde_json::json!({"error": {"message": "bad model, seconds or size"}}));
    };
    let id = format!("video_{}", seen.videos.len() + 1);
    let video = FakeVideo {
        prompt,
        seconds,
        size,
        progress: 0,
        polls: Vec::new(),
        failed: false,
    };
    let object = video_object(&id, &video);
    seen.videos.insert(id, video);
    HttpResponse::Ok().json(object)
}

async fn video_status(
    req: HttpRequest,
    seen: web::Data<Arc<Mutex<Seen>>>,
    id: web::Path<String>,
) -> HttpResponse {
    if !authorised(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    let mut seen = seen.lock().expect("lock");
    let Some(video) = seen.videos.get_mut(id.as_str()) else {
        return HttpResponse::NotFound()
            .json(serde_json::json!({"error": {"message": "No such video"}}));
    };
    video.polls.push(std::time::Instant::now());
    if video.prompt.contains("flaky-status") && video.polls.len() == 1 {
        return HttpResponse::InternalServerError()
            .json(serde_json::json!({"error": {"message": "upstream hiccup"}}));
    }
    if !video.failed && video.progress < 100 {
        // "fail-at-60" reports 60 % twice (as a stalled render would), then fails.
        let stalled = video.polls.len() > 4;
        if video.prompt.contains("fail-at-60") && video.progress >= 60 {
            video.failed = stalled;
        } else {
            video.progress += 20;
        }
    }
    let retry_after = if video.prompt.contains("slow-poll") {
        "1"
    } else {
        "0"
    };
    HttpResponse::Ok()
        .insert_header(("retry-after", retry_after))
        .json(video_object(&id, video))
}

async fn video_content(
    req: HttpRequest,
    seen: web::Data<Arc<Mutex<Seen>>>,
    id: web::Path<String>,
) -> HttpResponse {
    if !authorised(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    let (seconds, size, huge) = {
        let seen = seen.lock().expect("lock");
        match seen.videos.get(id.as_str()) {
            Some(video) if video.progress >= 100 && !video.failed => (
                video.seconds,
                video.size.clone(),
                video.prompt.contains("huge-clip"),
            ),
            _ => {
                return HttpResponse::NotFound()
                    .json(serde_json::json!({"error": {"message": "Video is not ready"}}));
            }
        }
    };
    let mut clip = tokio::task::spawn_blocking(move || test_clip(seconds, &size))
        .await
        .expect("clip");
    if huge {
        // 40 MB more than the clip, as padding after its boxes.
        clip.resize(clip.len() + 40_000_000, 0);
    }
    HttpResponse::Ok().content_type("video/mp4").body(clip)
}

/// An H.264 MP4 of ffmpeg's test pattern, with metadata a provider might leave in.
pub fn test_clip(seconds: u32, size: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("clip.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={size}:rate=12:duration={seconds}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-metadata", &format!("comment={CLIP_SECRET}")])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made the fake clip");
    std::fs::read(out).expect("clip")
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
            .route("/v1/videos", web::post().to(create_video))
            .route("/v1/videos/{id}", web::get().to(video_status))
            .route("/v1/videos/{id}/content", web::get().to(video_content))
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
