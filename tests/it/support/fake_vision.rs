//! A local server that speaks OpenAI's chat completions with images, as OpenAI's API
//! reference and Ollama's OpenAI compatibility page describe them, for driving the
//! `openai` tagger. It checks what those servers need: the bearer key, the model, a user
//! message whose content holds an `image_url` part with a `data:` URL of a JPEG, PNG or
//! WebP (Ollama takes no other), `temperature` 0, and `response_format` of type
//! `json_schema` with a schema; a request that breaks any of it is a 400 and is counted.
//! It answers as the test sets [`Answer`]: well, slowly, with 500, with prose instead of
//! JSON, with 10,000 tags, or with tags holding markup or NUL.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;

pub const KEY: &str = "sk-vision-key";
pub const MODEL: &str = "llava-test";

/// How the fake answers the next requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// These tags, each with confidence 0.9.
    Tags(Vec<String>),
    /// Sleeps this long, then answers `Tags`.
    Slowly(Duration, Vec<String>),
    ServerError,
    Prose,
    TenThousand,
    Hostile,
}

#[derive(Default)]
pub struct Seen {
    /// Every request body, well-formed or not.
    pub requests: Vec<serde_json::Value>,
    /// Requests that broke the protocol, with why.
    pub malformed: Vec<String>,
}

pub struct FakeVision {
    pub base_url: String,
    pub seen: Arc<Mutex<Seen>>,
    answer: Arc<Mutex<Answer>>,
}

impl FakeVision {
    pub fn answer(&self, answer: Answer) {
        *self.answer.lock().expect("lock") = answer;
    }

    pub fn requests(&self) -> usize {
        self.seen.lock().expect("lock").requests.len()
    }

    pub fn malformed(&self) -> Vec<String> {
        self.seen.lock().expect("lock").malformed.clone()
    }

    pub fn last_request(&self) -> serde_json::Value {
        self.seen
            .lock()
            .expect("lock")
            .requests
            .last()
            .cloned()
            .unwrap_or_default()
    }
}

/// Why a request is not what the protocol asks, if it is not.
fn problem(req: &HttpRequest, body: &serde_json::Value) -> Option<String> {
    let authorised = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {KEY}"));
    if !authorised {
        return Some("no bearer key".into());
    }
    if body["model"] != MODEL {
        return Some(format!("model {}", body["model"]));
    }
    if body["temperature"].as_f64() != Some(0.0) {
        return Some(format!("temperature {}", body["temperature"]));
    }
    let format = &body["response_format"];
    if format["type"] != "json_schema" || !format["json_schema"]["schema"].is_object() {
        return Some("response_format is not a json_schema".into());
    }
    let parts = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|message| message["role"] == "user")
        .filter_map(|message| message["content"].as_array())
        .flatten();
    let mut pictures = 0;
    for part in parts {
        if part["type"] != "image_url" {
            continue;
        }
        let url = part["image_url"]["url"].as_str().unwrap_or_default();
        let Some((head, data)) = url.split_once(";base64,") else {
            return Some("the image is not a base64 data URL".into());
        };
        if !matches!(
            head,
            "data:image/jpeg" | "data:image/png" | "data:image/webp"
        ) {
            return Some(format!("{head} is not JPEG, PNG or WebP"));
        }
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) else {
            return Some("the base64 does not decode".into());
        };
        if image::load_from_memory(&bytes).is_err() {
            return Some("the data URL holds no picture".into());
        }
        pictures += 1;
    }
    (pictures != 1).then(|| format!("{pictures} pictures in the user message"))
}

/// What the handler shares with the test: what it saw, and how to answer.
type Shared = (Arc<Mutex<Seen>>, Arc<Mutex<Answer>>);

fn completion(content: &str) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop",
        }],
    }))
}

fn tags_json(tags: &[String]) -> String {
    let items: Vec<serde_json::Value> = tags
        .iter()
        .map(|tag| serde_json::json!({ "tag": tag, "confidence": 0.9 }))
        .collect();
    serde_json::json!({ "tags": items }).to_string()
}

async fn chat(
    req: HttpRequest,
    state: web::Data<Shared>,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    let body = body.into_inner();
    let (seen, answer) = (&state.0, &state.1);
    let wrong = problem(&req, &body);
    {
        let mut seen = seen.lock().expect("lock");
        seen.requests.push(body);
        if let Some(why) = &wrong {
            seen.malformed.push(why.clone());
        }
    }
    if let Some(why) = wrong {
        return HttpResponse::BadRequest().json(serde_json::json!({"error": {"message": why}}));
    }
    let answer = answer.lock().expect("lock").clone();
    match answer {
        Answer::Tags(tags) => completion(&tags_json(&tags)),
        Answer::Slowly(wait, tags) => {
            tokio::time::sleep(wait).await;
            completion(&tags_json(&tags))
        }
        Answer::ServerError => HttpResponse::InternalServerError()
            .json(serde_json::json!({"error": {"message": "model crashed"}})),
        Answer::Prose => completion("This picture shows a lovely beach at sunset with palm trees."),
        Answer::TenThousand => {
            let tags: Vec<String> = (0..10_000).map(|i| format!("tag{i}")).collect();
            completion(&tags_json(&tags))
        }
        Answer::Hostile => completion(&tags_json(&[
            "<script>alert(1)</script>".to_owned(),
            "nul\u{0}byte".to_owned(),
            "Beach".to_owned(),
        ])),
    }
}

pub async fn start() -> FakeVision {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let answer = Arc::new(Mutex::new(Answer::Tags(vec!["beach".into(), "sea".into()])));
    let state = web::Data::new((seen.clone(), answer.clone()));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::JsonConfig::default().limit(64 * 1024 * 1024))
            .route("/v1/chat/completions", web::post().to(chat))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind");
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    FakeVision {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        seen,
        answer,
    }
}
