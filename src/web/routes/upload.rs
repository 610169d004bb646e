//! Uploads: the form (`GET/POST /upload`) and the JSON twin (`POST /api/upload`). Both read
//! the multipart body through [`receive`], which refuses oversize bodies before reading
//! them whole, and store through `operations::uploads`.

use actix_multipart::Multipart;
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use futures_util::StreamExt;

use crate::base::error::AppError;
use crate::db::models::{Folder, Image};
use crate::domain::{FolderSlug, parse_folder_name, parse_tags};
use crate::operations::uploads::{self, Upload};
use crate::services::quota::ClientIp;
use crate::services::quota::charge;
use crate::services::quota::storage::UploadLimits;
use crate::storage::imaging;
use crate::storage::media::MediaFiles;
use crate::web::extract::{CurrentUser, Query};
use crate::web::state::AppState;
use crate::web::views::errors::wants_json;
use crate::web::views::{Flash, Layout, render, see_other, with_refusal_headers};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/upload", web::get().to(upload_form))
        .route("/upload", web::post().to(upload))
        .route("/api/upload", web::post().to(api_upload));
}

/// The fields of an upload form; `other` keeps the text fields a caller of [`receive`]
/// beside the upload form reads (the OpenAI API's `prompt`, `n`, `size`…).
#[derive(Default)]
pub(super) struct Received {
    pub(super) file: Option<Vec<u8>>,
    pub(super) folder: String,
    pub(super) tags: String,
    pub(super) title: String,
    pub(super) other: Vec<(String, String)>,
}

/// Small text fields may not exceed this.
const MAX_FIELD_BYTES: usize = 4096;
/// Parts a multipart body may have (`file`, `folder`, `tags`, `title` and a little room).
const MAX_PARTS: usize = 16;
/// Room for the text fields and multipart framing beside the file itself.
const BODY_OVERHEAD_BYTES: u64 = 64 * 1024;

/// Reads the multipart body: exactly one file (the part named one of `file_fields`) up to
/// `max_bytes`, and the small text fields.
/// The body is bounded as a whole (file plus [`BODY_OVERHEAD_BYTES`]), by part count and per
/// field, whatever `Content-Length` says (chunked bodies have none); text fields follow
/// the control-character rule.
pub(super) async fn receive(
    req: &HttpRequest,
    mut payload: Multipart,
    max_bytes: u64,
    file_fields: &[&str],
) -> Result<Received, AppError> {
    let too_large = || {
        AppError::PayloadTooLarge(format!(
            "The file is too large: the limit is {} MiB.",
            max_bytes / (1024 * 1024)
        ))
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_bytes + BODY_OVERHEAD_BYTES) {
        return Err(too_large());
    }
    let body_limit = max_bytes.saturating_add(BODY_OVERHEAD_BYTES) as usize;
    let mut body_bytes = 0usize;
    let mut parts = 0usize;
    let mut received = Received::default();
    while let Some(field) = payload.next().await {
        let mut field = field
            .map_err(|err| AppError::BadRequest(format!("The upload could not be read: {err}")))?;
        parts += 1;
        if parts > MAX_PARTS {
            return Err(AppError::BadRequest(format!(
                "The upload has more than {MAX_PARTS} parts; send one file and its fields."
            )));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let is_file = file_fields.contains(&name.as_str());
        if is_file && received.file.is_some() {
            return Err(AppError::BadRequest(format!(
                "Send exactly one file per upload (one {:?} field).",
                file_fields[0]
            )));
        }
        let limit = if is_file {
            max_bytes as usize
        } else {
            MAX_FIELD_BYTES
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|err| {
                AppError::BadRequest(format!("The upload could not be read: {err}"))
            })?;
            body_bytes += chunk.len();
            if body_bytes > body_limit {
                return Err(too_large());
            }
            if bytes.len() + chunk.len() > limit {
                return Err(if is_file {
                    too_large()
                } else {
                    AppError::BadRequest(format!("The field {name:?} is too long."))
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = || -> Result<String, AppError> {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            match crate::domain::forbidden_control(&text) {
                Some(found) => Err(AppError::BadRequest(crate::domain::control_message(
                    &name, found,
                ))),
                None => Ok(text),
            }
        };
        match name.as_str() {
            _ if is_file => received.file = Some(bytes),
            "folder" => received.folder = text()?,
            "tags" => received.tags = text()?,
            "title" => received.title = text()?,
            _ => {
                let value = text()?;
                received.other.push((name, value));
            }
        }
    }
    Ok(received)
}

/// Validates, decodes (off the executor) and stores an upload; returns the new image id.
pub(super) async fn store_upload(
    state: &AppState,
    current: &CurrentUser,
    ip: ClientIp,
    received: Received,
) -> Result<i64, AppError> {
    let bytes = received
        .file
        .filter(|bytes| !bytes.is_empty())
        .ok_or_else(|| {
            AppError::BadRequest("Choose an image file to upload (field \"file\").".into())
        })?;
    let tags = parse_tags(&received.tags).map_err(AppError::BadRequest)?;
    charge::refuse_if_blocked(&state.db, &state.rules, ip).await?;
    let title: String = received.title.trim().chars().take(200).collect();
    let folder = match received.folder.trim() {
        "" => None,
        raw => Some(match FolderSlug::parse(raw) {
            Some(slug) => (raw.to_owned(), slug),
            None => parse_folder_name(raw).map_err(|msg| AppError::BadRequest(msg.into()))?,
        }),
    };
    let (max_pixels, budget) = (
        state.library.max_pixels(),
        state.library.decode_budget().clone(),
    );
    let (format, sanitised, bytes) = web::block(move || {
        imaging::sanitise_upload(&bytes, max_pixels, &budget)
            .map(|(format, sanitised)| (format, sanitised, bytes))
    })
    .await
    .map_err(AppError::internal)??;

    let upload = Upload {
        files: MediaFiles::Picture {
            pristine: bytes,
            pristine_format: format,
            sanitised,
        },
        title,
        tags,
        folder,
        client_ip: ip.0.into(),
    };
    let (library, tagger) = (state.library.clone(), state.tagger.clone());
    let owner = current.user.clone();
    let limits = UploadLimits::of(&state.settings);
    let image = state
        .db
        .run(move |conn| uploads::store(conn, (&library, &tagger), &owner, limits, upload))
        .await?;
    // A tagging job may have been queued with it.
    state.jobs.job_queued();
    tracing::info!(image = image.id, user = current.user.id, "image uploaded");
    Ok(image.id)
}

#[derive(Template)]
#[template(path = "gallery/upload.html")]
struct UploadPage {
    layout: Layout,
    folders: Vec<(String, String)>,
    folder: String,
    tags: String,
    title: String,
    error: Option<String>,
    max_mib: u64,
}

async fn upload_page(
    state: &AppState,
    session: &Session,
    current: &CurrentUser,
    status: StatusCode,
    error: Option<String>,
    (folder, tags, title): (String, String, String),
) -> Result<HttpResponse, AppError> {
    let user_id = current.user.id;
    let folders = state
        .db
        .run(move |conn| Folder::list(conn, user_id))
        .await?
        .into_iter()
        .map(|folder| (folder.slug, folder.name))
        .collect();
    render(
        status,
        &UploadPage {
            layout: Layout::new(session, Some(current)),
            folders,
            folder,
            tags,
            title,
            error,
            max_mib: state.settings.max_upload_bytes / (1024 * 1024),
        },
    )
}

#[derive(serde::Deserialize)]
struct UploadQuery {
    folder: Option<String>,
}

async fn upload_form(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    Query(query): Query<UploadQuery>,
) -> Result<HttpResponse, AppError> {
    let folder = query.folder.unwrap_or_default();
    upload_page(
        &state,
        &session,
        &current,
        StatusCode::OK,
        None,
        (folder, String::new(), String::new()),
    )
    .await
}

async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    ip: ClientIp,
    payload: Multipart,
) -> Result<HttpResponse, AppError> {
    let (result, kept) =
        match receive(&req, payload, state.settings.max_upload_bytes, &["file"]).await {
            Ok(received) => {
                let kept = (
                    received.folder.clone(),
                    received.tags.clone(),
                    received.title.clone(),
                );
                (store_upload(&state, &current, ip, received).await, kept)
            }
            Err(err) => (Err(err), Default::default()),
        };
    if wants_json(&req) {
        // Scripts and the upload page's progressive JavaScript: the same answer as the API.
        return uploaded_json(&state, result?).await;
    }
    match result {
        Ok(id) => {
            Flash::success(&session, "Uploaded.");
            Ok(see_other(&format!("/images/{id}")))
        }
        Err(err) if err.is_form_refusal() => {
            let page = upload_page(
                &state,
                &session,
                &current,
                err.status_code(),
                Some(err.message()),
                kept,
            )
            .await?;
            Ok(with_refusal_headers(&err, page))
        }
        Err(err) => Err(err),
    }
}

async fn api_upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    ip: ClientIp,
    payload: Multipart,
) -> Result<HttpResponse, AppError> {
    let received = receive(&req, payload, state.settings.max_upload_bytes, &["file"]).await?;
    let id = store_upload(&state, &current, ip, received).await?;
    uploaded_json(&state, id).await
}

/// `201` with the stored image, as `POST /api/upload` (and `/upload` asked for JSON) answer.
async fn uploaded_json(state: &AppState, id: i64) -> Result<HttpResponse, AppError> {
    let placed = state
        .db
        .run(move |conn| Image::find_placed(conn, id))
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "success": true,
        "image": crate::web::views::image_json(&placed),
        "message": "Image uploaded successfully",
    })))
}
