//! The OpenAI-compatible API (SPEC §15), for the tools people already use (the `openai`
//! SDKs, Open WebUI, LibreChat): `GET /v1/models`, `POST /v1/images/generations` and
//! `POST /v1/images/edits`, authenticated by a personal API token. An order goes the one
//! way every order goes (`generate::place_order`: credits then free images, limits,
//! blocks, the queue, the client's address) into the token owner's `api` folder (an edit's
//! picture is stored there first, as an upload); the answer waits for the job and
//! carries each picture as a proxy URL (absolute when the site's origin is known; the same
//! bearer token downloads it) or as base64. Errors take OpenAI's shape (see
//! `views::errors::openai`), so the SDKs raise their typed exceptions.

use actix_multipart::Multipart;
use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde::Deserialize;

use super::generate::{Visitor, finished, place_order};
use super::upload::{receive, store_upload};
use crate::base::error::AppError;
use crate::domain::JobKind;
use crate::operations::generation::{self, Order, check_order};
use crate::services::generate::{SIZES, parse_size};
use crate::services::quota::ClientIp;
use crate::storage::Variant;
use crate::web::extract::{CurrentUser, Json, public_origin};
use crate::web::state::AppState;
use crate::web::views::media_path;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/models", web::get().to(models))
        .route("/v1/images/generations", web::post().to(generations))
        .route("/v1/images/edits", web::post().to(edits));
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

impl Format {
    fn parse(raw: Option<&str>) -> Result<Self, AppError> {
        match raw.map(str::trim) {
            None | Some("") | Some("url") => Ok(Format::Url),
            Some("b64_json") => Ok(Format::Base64),
            Some(other) => Err(AppError::BadRequest(format!(
                "response_format must be url or b64_json, not {other:?}."
            ))),
        }
    }
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
    let format = Format::parse(body.response_format.as_deref())?;
    let provider = provider_for(&state, body.model.as_deref())?;
    let size = size_for(body.size.as_deref())?;
    let count = body.n.unwrap_or(1).to_string();
    let mut order =
        check_order(&body.prompt, Some(&count), None, None).map_err(AppError::BadRequest)?;
    if let Some(size) = size {
        order.size = size;
    }
    order.provider = provider;
    order.folder = Some(API_FOLDER.to_owned());
    answer(&req, &state, &session, owner, ip, order, format).await
}

/// `POST /v1/images/edits` (multipart: `image` or `image[]`, `prompt`, `n`, `size`,
/// `model`, `response_format`): the picture is stored in the `api` folder as an upload,
/// then edited with the prompt as the image page's prompt edit does.
async fn edits(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    owner: CurrentUser,
    ip: ClientIp,
    payload: Multipart,
) -> Result<HttpResponse, AppError> {
    let mut received = receive(
        &req,
        payload,
        state.settings.max_upload_bytes,
        &["image", "image[]"],
    )
    .await?;
    let field = |name: &str| {
        received
            .other
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.clone())
    };
    let (prompt, n, size, model, format) = (
        field("prompt").unwrap_or_default(),
        field("n"),
        field("size"),
        field("model"),
        field("response_format"),
    );
    if received.file.is_none() {
        return Err(AppError::BadRequest(
            "Send the picture to edit as the multipart field \"image\".".into(),
        ));
    }
    let format = Format::parse(format.as_deref())?;
    let provider = provider_for(&state, model.as_deref())?;
    let size = size_for(size.as_deref())?;
    let mut order = check_order(&prompt, n.as_deref(), None, None).map_err(AppError::BadRequest)?;
    received.folder = API_FOLDER.to_owned();
    received.title = format!("Sent to edit: {}", order.prompt);
    let source = store_upload(&state, &owner, ip, received).await?;
    order.kind = JobKind::Edit;
    order.source = Some((source, API_FOLDER.to_owned()));
    order.provider = provider;
    if let Some(size) = size {
        order.size = size;
    }
    answer(&req, &state, &session, owner, ip, order, format).await
}

/// Places `order` as the token's owner, waits for it, and answers with its pictures.
async fn answer(
    req: &HttpRequest,
    state: &AppState,
    session: &Session,
    owner: CurrentUser,
    ip: ClientIp,
    order: Order,
    format: Format,
) -> Result<HttpResponse, AppError> {
    let visitor = Visitor::User(owner);
    let (job, _) = place_order(state, session, &visitor, ip, order).await?;
    let job = finished(state, job.id).await?;
    match job.status.as_str() {
        "succeeded" => {}
        "failed" => {
            return Err(AppError::ProviderFailed(job.error.unwrap_or_else(|| {
                "The generation failed; it was not charged.".into()
            })));
        }
        // Not a 503: asking again would order (and charge) the pictures twice.
        _ => {
            return Err(AppError::ProviderFailed(format!(
                "The pictures are still being made (job {}); they will be in your `api` folder.",
                job.id
            )));
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
            let origin = public_origin(req).unwrap_or_default();
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

/// The provider a `model` names: `atelier-{provider}`, the OpenAI provider's own model,
/// or OpenAI's own image models (`dall-e-*`, `gpt-image-*`, what tools send when nobody
/// configured a model), which mean the default provider.
fn provider_for(state: &AppState, model: Option<&str>) -> Result<Option<String>, AppError> {
    let asked = match model.map(str::trim) {
        None | Some("") => return Ok(None),
        Some(asked) => asked,
    };
    let offered = model_names(state);
    if let Some((_, provider)) = offered.iter().find(|(name, _)| name == asked) {
        return Ok(Some((*provider).to_owned()));
    }
    if asked.starts_with("dall-e") || asked.starts_with("gpt-image") {
        return Ok(None);
    }
    let names: Vec<&str> = offered.iter().map(|(name, _)| name.as_str()).collect();
    Err(AppError::BadRequest(format!(
        "The model {asked:?} does not exist here; this server offers {}.",
        names.join(", ")
    )))
}

/// The size to make for what a client asked: one of ours as it is, OpenAI's own sizes by
/// their shape (square, landscape, portrait); `auto` or nothing is the default.
fn size_for(asked: Option<&str>) -> Result<Option<(u32, u32)>, AppError> {
    let size = match asked.map(str::trim) {
        None | Some("") | Some("auto") => return Ok(None),
        Some("256x256" | "1024x1024") => (512, 512),
        Some("1792x1024" | "1536x1024") => (768, 512),
        Some("1024x1792" | "1024x1536") => (512, 768),
        Some(ours) => parse_size(ours).ok_or_else(|| {
            let offered: Vec<String> = SIZES.iter().map(|(w, h)| format!("{w}x{h}")).collect();
            AppError::BadRequest(format!(
                "The size {ours:?} is not offered; sizes are {} (OpenAI's own sizes are made \
                 in the same shape).",
                offered.join(", ")
            ))
        })?,
    };
    Ok(Some(size))
}

/// One picture of the answer, with the prompt it was made from.
fn entry(prompt: &str, field: &str, value: String) -> serde_json::Value {
    let mut entry = serde_json::json!({ "revised_prompt": prompt });
    entry[field] = value.into();
    entry
}
