//! Any OpenAI-compatible images API: `POST {base}/images/generations` asking for
//! `b64_json` (a `url` answer is downloaded instead). Timeouts, retries with backoff on
//! 429/5xx honouring `Retry-After`, and errors in words a user can act on. The API key is
//! sent only in the `Authorization` header: it is never logged, shown or stored elsewhere
//! (this type deliberately has no `Debug`).

use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

use super::{
    Attempt, GenerateError, GeneratedImage, GenerationRequest, Generator, retrying, transport_error,
};
/// The longest `Retry-After` we honour before giving up on that attempt's wait.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Largest image we download from a `url` answer.
const MAX_DOWNLOAD: u64 = 25 * 1024 * 1024;

pub struct OpenAi {
    base_url: String,
    api_key: String,
    model: String,
    agent: ureq::Agent,
    backoff: Duration,
}

impl OpenAi {
    pub fn new(base_url: &str, api_key: &str, model: &str, timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build();
        OpenAi {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            model: model.to_owned(),
            agent: ureq::Agent::new_with_config(config),
            backoff: Duration::from_millis(500),
        }
    }

    /// One attempt: a generation, or with `source` an edit of that PNG.
    fn once(&self, request: &GenerationRequest, source: Option<&[u8]>) -> Result<Vec<u8>, Attempt> {
        let size = format!("{}x{}", request.width, request.height);
        let authorization = format!("Bearer {}", self.api_key);
        let mut response = match source {
            None => self
                .agent
                .post(format!("{}/images/generations", self.base_url))
                .header("Authorization", &authorization)
                .send_json(serde_json::json!({
                    "model": self.model,
                    "prompt": request.prompt,
                    "n": 1,
                    "size": size,
                    "response_format": "b64_json",
                })),
            Some(png) => {
                let boundary = format!("atelier-{:016x}", request.seed);
                let fields = [
                    ("model", self.model.as_str()),
                    ("prompt", request.prompt.as_str()),
                    ("n", "1"),
                    ("size", size.as_str()),
                    ("response_format", "b64_json"),
                ];
                let mut body = Vec::new();
                for (name, value) in fields {
                    body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes());
                }
                body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"image.png\"\r\nContent-Type: image/png\r\n\r\n").bytes());
                body.extend_from_slice(png);
                body.extend(format!("\r\n--{boundary}--\r\n").bytes());
                self.agent
                    .post(format!("{}/images/edits", self.base_url))
                    .header("Authorization", &authorization)
                    .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
                    .send(&body[..])
            }
        }
        .map_err(transport_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status == 200 {
            let answer: Answer = response.body_mut().read_json().map_err(|_| {
                Attempt::Final(GenerateError(
                    "The image provider sent an answer we could not read.".into(),
                ))
            })?;
            return self.image_of(answer);
        }
        let message = response
            .body_mut()
            .read_json::<ErrorAnswer>()
            .ok()
            .and_then(|answer| answer.error)
            .map(|error| error.message)
            .unwrap_or_default();
        let wait = |default: Duration| retry_after.unwrap_or(default).min(MAX_RETRY_AFTER);
        Err(match status {
            401 | 403 => Attempt::Final(GenerateError(
                "The image provider refused our API key. An administrator needs to check ATELIER_OPENAI_API_KEY.".into(),
            )),
            429 => Attempt::Retry(
                GenerateError("The image provider is busy (rate limited). Please try again in a minute.".into()),
                wait(self.backoff),
            ),
            400 if message.to_lowercase().contains("safety") || message.to_lowercase().contains("policy") => {
                Attempt::Final(GenerateError(format!("The image provider refused this prompt: {message}")))
            }
            400..=499 => Attempt::Final(GenerateError(format!(
                "The image provider rejected the request{}",
                if message.is_empty() { ".".to_owned() } else { format!(": {message}") }
            ))),
            _ => Attempt::Retry(
                GenerateError("The image provider is having problems right now. Please try again later.".into()),
                wait(self.backoff),
            ),
        })
    }

    fn image_of(&self, answer: Answer) -> Result<Vec<u8>, Attempt> {
        let unreadable =
            || Attempt::Final(GenerateError("The image provider sent no image.".into()));
        let first = answer.data.into_iter().next().ok_or_else(unreadable)?;
        if let Some(b64) = first.b64_json {
            return base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| unreadable());
        }
        let url = first.url.ok_or_else(unreadable)?;
        let mut response = self.agent.get(&url).call().map_err(transport_error)?;
        if response.status().as_u16() != 200 {
            return Err(Attempt::Retry(
                GenerateError("The generated image could not be downloaded.".into()),
                self.backoff,
            ));
        }
        response
            .body_mut()
            .with_config()
            .limit(MAX_DOWNLOAD)
            .read_to_vec()
            .map_err(|_| {
                Attempt::Final(GenerateError(
                    "The generated image was too large or cut off.".into(),
                ))
            })
    }
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<AnswerImage>,
}

#[derive(Deserialize)]
struct AnswerImage {
    b64_json: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
}

impl Generator for OpenAi {
    fn provider(&self) -> &'static str {
        "openai"
    }

    fn generate(&self, request: &GenerationRequest) -> Result<GeneratedImage, GenerateError> {
        self.with_retries(request, None)
    }

    fn edit(
        &self,
        source: &[u8],
        request: &GenerationRequest,
    ) -> Result<GeneratedImage, GenerateError> {
        // The edits endpoint takes PNG; working copies may be JPEG or WebP.
        let decoded = image::load_from_memory(source)
            .map_err(|err| GenerateError(format!("the source image could not be read: {err}")))?;
        let mut png = Vec::new();
        decoded
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|err| {
                GenerateError(format!("the source image could not be prepared: {err}"))
            })?;
        self.with_retries(request, Some(&png))
    }
}

impl OpenAi {
    fn with_retries(
        &self,
        request: &GenerationRequest,
        source: Option<&[u8]>,
    ) -> Result<GeneratedImage, GenerateError> {
        let bytes = retrying(self.backoff, || self.once(request, source))?;
        Ok(GeneratedImage {
            bytes,
            model: self.model.clone(),
            parameters: None,
        })
    }
}
