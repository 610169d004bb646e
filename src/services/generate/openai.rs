//! Any OpenAI-compatible images API: `POST {base}/images/generations` asking for
//! `b64_json` (a `url` answer is downloaded instead). Timeouts, retries with backoff on
//! 429/5xx honouring `Retry-After`, and errors in words a user can act on. The API key is
//! sent only in the `Authorization` header: it is never logged, shown or stored elsewhere
//! (this type deliberately has no `Debug`).

use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

use super::video::{GeneratedVideo, ProgressCell, VideoGenerator, VideoRequest};
use super::{
    ATTEMPTS, Attempt, GenerateError, GeneratedImage, GenerationRequest, Generator, Progress,
    retrying, transport_error,
};
use crate::storage::video::StagedClip;
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
    video: VideoOptions,
}

/// The videos API's model and how long a clip may take, order to download.
pub struct VideoOptions {
    pub model: String,
    pub deadline: Duration,
}

impl OpenAi {
    pub fn new(
        base_url: &str,
        api_key: &str,
        model: &str,
        timeout: Duration,
        video: VideoOptions,
    ) -> Self {
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
            video,
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
                let body = multipart(
                    &boundary,
                    &fields,
                    Some(("image", "image.png", "image/png", png)),
                );
                self.agent
                    .post(format!("{}/images/edits", self.base_url))
                    .header("Authorization", &authorization)
                    .header(
                        "Content-Type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .send(&body[..])
            }
        }
        .map_err(transport_error)?;
        let status = response.status().as_u16();
        if status == 200 {
            let answer: Answer = response.body_mut().read_json().map_err(|_| {
                Attempt::Final(GenerateError(
                    "The image provider sent an answer we could not read.".into(),
                ))
            })?;
            return self.image_of(answer);
        }
        Err(self.failure(&mut response))
    }

    /// What a non-200 answer means: which failures are worth retrying and after how long
    /// (`Retry-After` when the provider sends one), in words for the user.
    fn failure(&self, response: &mut ureq::http::Response<ureq::Body>) -> Attempt {
        let status = response.status().as_u16();
        let retry_after = retry_after(response);
        let message = response
            .body_mut()
            .read_json::<ErrorAnswer>()
            .ok()
            .and_then(|answer| answer.error)
            .map(|error| error.message)
            .unwrap_or_default();
        let wait = |default: Duration| retry_after.unwrap_or(default).min(MAX_RETRY_AFTER);
        match status {
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
        }
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

/// `Retry-After` in seconds, when sent.
fn retry_after(response: &ureq::http::Response<ureq::Body>) -> Option<Duration> {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// A `multipart/form-data` body of text fields and at most one file
/// (field name, file name, content type, bytes).
fn multipart(
    boundary: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &str, &str, &[u8])>,
) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .bytes(),
        );
    }
    if let Some((name, filename, content_type, bytes)) = file {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").bytes());
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    body
}

/// Largest clip we download.
const MAX_VIDEO_DOWNLOAD: u64 = 200 * 1024 * 1024;
/// How often a clip's status is asked for when the provider does not say (`Retry-After`).
const VIDEO_POLL: Duration = Duration::from_secs(2);
/// The shortest wait between two status requests, whatever `Retry-After` says.
const MIN_VIDEO_POLL: Duration = Duration::from_millis(250);

/// A video job as the API describes it.
#[derive(Deserialize)]
struct VideoJob {
    id: String,
    #[serde(default)]
    status: String,
    /// 0 to 100.
    #[serde(default)]
    progress: Option<f64>,
    #[serde(default)]
    error: Option<ErrorDetail>,
}

/// The videos API (Sora): `POST {base}/videos` (multipart: model, prompt, seconds, size)
/// returns a job; `GET {base}/videos/{id}` reports `status` (`queued`, `in_progress`,
/// `completed`, `failed`) and `progress`; `GET {base}/videos/{id}/content` is the MP4.
/// Ordering and downloading retry like images do; polling rides out a few failed status
/// requests in a row, honours `Retry-After`, and gives up at the deadline.
impl VideoGenerator for OpenAi {
    fn provider(&self) -> &'static str {
        "openai"
    }

    fn generate_video(
        &self,
        request: &VideoRequest,
        progress: &ProgressCell,
        clip: &mut StagedClip,
    ) -> Result<GeneratedVideo, GenerateError> {
        let started = std::time::Instant::now();
        let authorization = format!("Bearer {}", self.api_key);
        let size = format!("{}x{}", request.width, request.height);
        let seconds = request.seconds.to_string();
        let unreadable = || {
            Attempt::Final(GenerateError(
                "The video provider sent an answer we could not read.".into(),
            ))
        };
        let job = retrying(self.backoff, || {
            let boundary = format!("atelier-{:016x}", request.seed);
            let fields = [
                ("model", self.video.model.as_str()),
                ("prompt", request.prompt.as_str()),
                ("seconds", seconds.as_str()),
                ("size", size.as_str()),
            ];
            let mut response = self
                .agent
                .post(format!("{}/videos", self.base_url))
                .header("Authorization", &authorization)
                .header(
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .send(&multipart(&boundary, &fields, None)[..])
                .map_err(transport_error)?;
            match response.status().as_u16() {
                200..=202 => response
                    .body_mut()
                    .read_json::<VideoJob>()
                    .map_err(|_| unreadable()),
                _ => Err(self.failure(&mut response)),
            }
        })?;
        if !super::is_path_safe_id(&job.id) {
            return Err(GenerateError(
                "The video provider sent an unusable job id.".into(),
            ));
        }
        let status_url = format!("{}/videos/{}", self.base_url, job.id);
        let mut failures_in_a_row = 0;
        loop {
            if started.elapsed() > self.video.deadline {
                return Err(GenerateError(
                    "The video provider did not finish the clip in time.".into(),
                ));
            }
            let answer = self
                .agent
                .get(&status_url)
                .header("Authorization", &authorization)
                .call()
                .map_err(transport_error)
                .and_then(|mut response| {
                    let wait = retry_after(&response);
                    match response.status().as_u16() {
                        200 => response
                            .body_mut()
                            .read_json::<VideoJob>()
                            .map(|job| (job, wait))
                            .map_err(|_| unreadable()),
                        _ => Err(self.failure(&mut response)),
                    }
                });
            let wait = match answer {
                Ok((job, wait)) => {
                    failures_in_a_row = 0;
                    match job.status.as_str() {
                        "completed" => break,
                        "failed" => {
                            let reason = job
                                .error
                                .map(|error| error.message)
                                .filter(|message| !message.is_empty())
                                .unwrap_or_else(|| "no reason given".into());
                            return Err(GenerateError(format!(
                                "The video provider could not make this clip: {reason}"
                            )));
                        }
                        _ => {
                            if let Some(percent) = job.progress.filter(|p| p.is_finite()) {
                                progress.set(Progress {
                                    done: (percent / 100.0).clamp(0.0, 1.0) as f32,
                                    eta_secs: None,
                                });
                            }
                            wait.unwrap_or(VIDEO_POLL)
                        }
                    }
                }
                Err(Attempt::Final(error)) => return Err(error),
                Err(Attempt::Retry(error, wait)) => {
                    failures_in_a_row += 1;
                    if failures_in_a_row >= ATTEMPTS {
                        return Err(error);
                    }
                    tracing::warn!(error = %error, "video status request failed; asking again");
                    wait
                }
            };
            std::thread::sleep(wait.clamp(MIN_VIDEO_POLL, MAX_RETRY_AFTER));
        }
        let content_url = format!("{status_url}/content");
        // Streamed to the staged file as it arrives; a retry starts the file again.
        retrying(self.backoff, || {
            let mut response = self
                .agent
                .get(&content_url)
                .header("Authorization", &authorization)
                .call()
                .map_err(transport_error)?;
            if response.status().as_u16() != 200 {
                return Err(self.failure(&mut response));
            }
            let cut_off = |_| {
                Attempt::Final(GenerateError(
                    "The generated clip was too large or cut off.".into(),
                ))
            };
            clip.restart().map_err(cut_off)?;
            let mut body = response
                .body_mut()
                .with_config()
                .limit(MAX_VIDEO_DOWNLOAD)
                .reader();
            std::io::copy(&mut body, &mut clip.file).map_err(cut_off)?;
            Ok(())
        })?;
        Ok(GeneratedVideo {
            model: self.video.model.clone(),
        })
    }
}
