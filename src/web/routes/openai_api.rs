//! The OpenAI-compatible API (SPEC §15), for the tools people already use (the `openai`
//! SDKs, Open WebUI, LibreChat): `GET /v1/models` and `POST /v1/images/generations`,
//! authenticated by a personal API token. An order goes the one way every order goes
//! (`generate::place_order`: credits then free images, limits, blocks, the queue, the
//! client's address) into the token owner's `api` folder; the answer waits for the job and
//! carries each picture as a proxy URL (absolute when the site's origin is known; the same
//! bearer token downloads it) or as base64. Errors take OpenAI's shape (see
//! `views::errors::openai`), so the SDKs raise their typed exceptions.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde::Deserialize;

use super::generate::{Visitor, finished, place_order};
use crate::error::AppError;
use crate::generate::SIZES;
use crate::operations::generation::{self, check_order};
use crate::quota::ClientIp;
use crate::storage::Variant;
use crate::web::extract::{CurrentUser, Json, public_origin};
use crate::web::state::AppState;
use crate::web::views::media_path;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/models", web::get().to(models))
        .route("/v1/images/generations", web::post().to(generations));
}

/// The folder API pictures land in.
const API_FOLDER: &str = "api";

/// The model names this server answers to, each with the provider it means: every
/// configured provider as `atelier-{name}`, and the OpenAI provider's own model name.
fn model_names(state: &AppState) -> Vec<(String, &'static str)> {
    let mut names: Vec<(String, &'static str)> = state
        .provider_names
        .iter()
        .map(|provider| (format!("atelier-{provider}"), *provider))
        .collect();
    if state.provider_names.contains(&"openai") {
        names.push((state.settings.openai_model.clone(), "openai"));
    }
    names
}

/// `GET /v1/models`: the configured providers, as OpenAI lists models.
async fn models(state: web::Data<AppState>, _owner: CurrentUser) -> HttpResponse {
    let data: Vec<_> = model_names(&state)
        .into_iter()
        .map(|(id, _)| {
            serde_json::json!({ "id": id, "object": "model", "created": 0, "owned_by": "atelier" })
        })
        .collect();
    HttpResponse::Ok().json(serde_json::json!({ "object": "list", "data": data }))
}

#[derive(Debug, Deserialize)]
pub struct ImagesRequest {
    prompt: String,
    model: Option<String>,
    n: Option<u32>,
    size: Option<String>,
    response_format: Option<String>,
}

/// How pictures come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Url,
    Base64,
}

/// `POST /v1/images/generations`.
async fn generations(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    owner: CurrentUser,
    ip: ClientIp,
    Json(body): Json<ImagesRequest>,
) -> Result<HttpResponse, AppError> {
    let format = match body.response_format.as_deref() {
        None | Some("url") => Format::Url,
        Some("b64_json") => Format::Base64,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "response_format must be url or b64_json, not {other:?}."
            )));
        }
    };
    let provider = match body.model.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(asked) => Some(
            model_names(&state)
                .into_iter()
                .find(|(name, _)| name == asked)
                .map(|(_, provider)| provider.to_owned())
                .ok_or_else(|| {
                    let offered: Vec<String> = model_names(&state)
                        .into_iter()
                        .map(|(name, _)| name)
                        .collect();
                    AppError::BadRequest(format!(
                        "The model {asked:?} does not exist here; this server offers {}.",
                        offered.join(", ")
                    ))
                })?,
        ),
    };
    let size = match body.size.as_deref().map(str::trim) {
        None | Some("") | Some("auto") => None,
        Some(asked) => Some(asked.to_owned()),
    };
    if let Some(asked) = &size {
        if crate::generate::parse_size(asked).is_none() {
            let offered: Vec<String> = SIZES.iter().map(|(w, h)| format!("{w}x{h}")).collect();
            return Err(AppError::BadRequest(format!(
                "The size {asked:?} is not offered; sizes are {}.",
                offered.join(", ")
            )));
        }
    }
    let count = body.n.unwrap_or(1).to_string();
    let mut order = check_order(&body.prompt, Some(&count), size.as_deref(), None)
        .map_err(AppError::BadRequest)?;
    order.provider = provider;
    order.folder = Some(API_FOLDER.to_owned());
    let visitor = Visitor::User(owner);
    let (job, _) = place_order(&state, &session, &visitor, ip, order).await?;
    let job = finished(&state, job.id).await?;
    match job.status.as_str() {
        "succeeded" => {}
        "failed" => {
            return Err(AppError::ProviderFailed(job.error.unwrap_or_else(|| {
                "The generation failed; it was not charged.".into()
            })));
        }
        _ => {
            return Err(AppError::Busy {
                message: format!(
                    "The pictures are still being made (job {}); they will be in your `api` folder.",
                    job.id
                ),
                retry_after_secs: 30,
            });
        }
    }
    let prompt = job.prompt.clone();
    let images = state
        .db
        .run(move |conn| generation::job_images(conn, &job))
        .await?;
    let created = chrono::Utc::now().timestamp();
    let data = match format {
        Format::Url => {
            let origin = public_origin(&req).unwrap_or_default();
            images
                .iter()
                .map(|placed| {
                    let url = format!("{origin}{}", media_path(placed, Variant::Original));
                    entry(&prompt, "url", url)
                })
                .collect()
        }
        Format::Base64 => {
            let library = state.library.clone();
            web::block(move || {
                images
                    .iter()
                    .map(|placed| {
                        let bytes = library.read(placed, Variant::Original)?;
                        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
                        Ok::<_, AppError>(entry(&prompt, "b64_json", text))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .map_err(AppError::internal)??
        }
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "created": created, "data": data })))
}

/// One picture of the answer, with the prompt it was made from.
fn entry(prompt: &str, field: &str, value: String) -> serde_json::Value {
    let mut entry = serde_json::json!({ "revised_prompt": prompt });
    entry[field] = value.into();
    entry
}
