//! The remote tagger: any OpenAI-compatible chat-completions server that takes images
//! (OpenAI, Ollama, vLLM, LM Studio). One `POST {base}/chat/completions` per picture with
//! the picture as a `data:` URL (JPEG, PNG or WebP, the formats all of them accept), a
//! JSON schema in `response_format` (an `enum` when a vocabulary is set), `temperature` 0
//! (Ollama's default is 1), a timeout, and retries with backoff on 429, 5xx and transport
//! failures. The answer must be the schema's JSON; anything else is refused. The API key
//! is sent only in the `Authorization` header (this type deliberately has no `Debug`).

use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

use super::{MAX_SUGGESTIONS, Suggestion, TagError, TagRequest};

/// Tries per picture (the first and two retries).
const ATTEMPTS: u32 = 3;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The largest answer read (a model that rambles is cut off, not buffered).
const MAX_ANSWER: u64 = 1024 * 1024;

pub struct RemoteTagger {
    base_url: String,
    host: String,
    api_key: Option<String>,
    model: String,
    agent: ureq::Agent,
    backoff: Duration,
}

enum Attempt {
    Retry(TagError, Duration),
    Final(TagError),
}

impl RemoteTagger {
    pub fn new(
        base_url: &str,
        api_key: Option<&str>,
        model: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let host = base_url
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
            .filter(|host| !host.is_empty())
            .ok_or_else(|| anyhow::anyhow!("ATELIER_TAGGER_BASE_URL must be an http(s) URL"))?
            .to_owned();
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build();
        Ok(Self {
            base_url,
            host,
            api_key: api_key.map(str::to_owned),
            model: model.to_owned(),
            agent: ureq::Agent::new_with_config(config),
            backoff: Duration::from_millis(500),
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub(super) fn suggest(
        &self,
        request: &TagRequest,
        vocabulary: Option<&Vec<String>>,
    ) -> Result<Vec<Suggestion>, TagError> {
        if !matches!(
            request.mime.as_str(),
            "image/jpeg" | "image/png" | "image/webp"
        ) {
            return Err(TagError(
                "Only JPEG, PNG and WebP pictures can be sent to the tagger.".into(),
            ));
        }
        let body = self.body(request, vocabulary);
        let mut delay = self.backoff;
        for attempt in 1..=ATTEMPTS {
            match self.once(&body) {
                Ok(found) => return Ok(found),
                Err(Attempt::Final(error)) => return Err(error),
                Err(Attempt::Retry(error, wait)) => {
                    if attempt == ATTEMPTS {
                        return Err(error);
                    }
                    tracing::warn!(attempt, error = %error, "tagger failed; retrying");
                    std::thread::sleep(wait.max(delay));
                    delay *= 2;
                }
            }
        }
        Err(TagError("The tagger failed.".into()))
    }

    fn body(&self, request: &TagRequest, vocabulary: Option<&Vec<String>>) -> serde_json::Value {
        let data_url = format!(
            "data:{};base64,{}",
            request.mime,
            base64::engine::general_purpose::STANDARD.encode(&request.picture)
        );
        let tag = match vocabulary {
            Some(words) => {
                let mut allowed: Vec<&String> = words.iter().collect();
                allowed.extend(request.owner_tags.iter().filter(|tag| !words.contains(tag)));
                serde_json::json!({ "type": "string", "enum": allowed })
            }
            None => serde_json::json!({ "type": "string", "maxLength": 32 }),
        };
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "tags": {
                    "type": "array",
                    "maxItems": MAX_SUGGESTIONS,
                    "items": {
                        "type": "object",
                        "properties": {
                            "tag": tag,
                            "confidence": { "type": "number", "minimum": 0, "maximum": 1 },
                        },
                        "required": ["tag", "confidence"],
                        "additionalProperties": false,
                    },
                },
            },
            "required": ["tags"],
            "additionalProperties": false,
        });
        let instructions = format!(
            "Suggest up to {MAX_SUGGESTIONS} short tags for this picture, in {language}: \
             lower case, one to three words each, only letters, digits, spaces, '-' or '_', \
             at most 32 characters; name what is plainly visible. Give each a confidence \
             from 0 to 1. Answer with the JSON the schema describes and nothing else.",
            language = request.language
        );
        serde_json::json!({
            "model": self.model,
            "temperature": 0,
            "messages": [
                { "role": "system", "content": "You tag pictures for a personal image library." },
                { "role": "user", "content": [
                    { "type": "text", "text": instructions },
                    { "type": "image_url", "image_url": { "url": data_url } },
                ]},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": { "name": "tags", "strict": true, "schema": schema },
            },
        })
    }

    fn once(&self, body: &serde_json::Value) -> Result<Vec<Suggestion>, Attempt> {
        let mut post = self
            .agent
            .post(format!("{}/chat/completions", self.base_url));
        if let Some(key) = &self.api_key {
            post = post.header("Authorization", &format!("Bearer {key}"));
        }
        let mut response = post.send_json(body).map_err(|err| match err {
            ureq::Error::Timeout(_) => Attempt::Retry(
                TagError("The tagger did not answer in time.".into()),
                Duration::ZERO,
            ),
            _ => Attempt::Retry(
                TagError("The tagger could not be reached.".into()),
                Duration::ZERO,
            ),
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER))
            .unwrap_or(Duration::ZERO);
        match status {
            200 => {}
            401 | 403 => {
                return Err(Attempt::Final(TagError(
                    "The tagger refused Atelier's credentials.".into(),
                )));
            }
            429 => {
                return Err(Attempt::Retry(
                    TagError("The tagger is busy (rate limited).".into()),
                    retry_after,
                ));
            }
            500..=599 => {
                return Err(Attempt::Retry(
                    TagError(format!("The tagger is having problems (HTTP {status}).")),
                    retry_after,
                ));
            }
            _ => {
                return Err(Attempt::Final(TagError(format!(
                    "The tagger refused the picture (HTTP {status})."
                ))));
            }
        }
        let answer: ChatAnswer = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_json()
            .map_err(|_| Attempt::Final(not_tags()))?;
        let content = answer
            .choices
            .into_iter()
            .next()
            .and_then(|choice| choice.message.content)
            .ok_or_else(|| Attempt::Final(not_tags()))?;
        let tags: TagsAnswer =
            serde_json::from_str(content.trim()).map_err(|_| Attempt::Final(not_tags()))?;
        Ok(tags
            .tags
            .into_iter()
            .map(|item| Suggestion {
                tag: item.tag,
                confidence: item.confidence,
            })
            .collect())
    }
}

fn not_tags() -> TagError {
    TagError("The tagger answered something other than tags.".into())
}

#[derive(Deserialize)]
struct ChatAnswer {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
struct TagsAnswer {
    tags: Vec<TagItem>,
}

#[derive(Deserialize)]
struct TagItem {
    tag: String,
    confidence: f32,
}
