//! Tag suggestions on one image (SPEC §14), for its owner only (everyone else, admins
//! included, gets 404): `POST /images/{id}/suggest-tags` queues a tagging job (a form is
//! sent back to the image page; JSON waits for the job unless `wait` is false),
//! `POST /images/{id}/tags/accept` and `/tags/dismiss` take `tags=a,b` or `all=1`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::generate::finished;
use super::images::{image_page_with, owned_image};
use crate::base::error::AppError;
use crate::db::models::{PlacedImage, tag_suggestion};
use crate::domain::{JobStatus, normalize_tag};
use crate::operations::tagging::{self, Chosen};
use crate::services::quota::ClientIp;
use crate::web::extract::{CurrentUser, FormOrJson};
use crate::web::state::AppState;
use crate::web::views::errors::wants_json;
use crate::web::views::{Flash, done, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/images/{id}/suggest-tags", web::post().to(suggest))
        .route("/images/{id}/tags/accept", web::post().to(accept))
        .route("/images/{id}/tags/dismiss", web::post().to(dismiss));
}

/// A field scripts may send as text (`"1"`, `"a,b"`), a boolean, a number or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Loose {
    Text(String),
    Flag(bool),
    Number(i64),
    List(Vec<String>),
}

impl Loose {
    fn is_yes(&self) -> bool {
        match self {
            Loose::Text(text) => matches!(text.trim(), "1" | "true" | "on" | "yes"),
            Loose::Flag(flag) => *flag,
            Loose::Number(number) => *number == 1,
            Loose::List(_) => false,
        }
    }

    fn is_no(&self) -> bool {
        match self {
            Loose::Text(text) => matches!(text.trim(), "0" | "false" | "off" | "no"),
            Loose::Flag(flag) => !*flag,
            Loose::Number(number) => *number == 0,
            Loose::List(_) => false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SuggestForm {
    wait: Option<Loose>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChooseForm {
    tags: Option<Loose>,
    all: Option<Loose>,
}

impl ChooseForm {
    /// The suggestions named: `all=1`, or the tags (each by the tag rules).
    fn chosen(&self) -> Result<Chosen, String> {
        if self.all.as_ref().is_some_and(Loose::is_yes) {
            return Ok(Chosen::All);
        }
        let raw: Vec<String> = match &self.tags {
            Some(Loose::Text(text)) => text.split(',').map(str::to_owned).collect(),
            Some(Loose::List(list)) => list.clone(),
            _ => Vec::new(),
        };
        let mut tags = Vec::new();
        for tag in raw.iter().filter(|tag| !tag.trim().is_empty()) {
            let tag =
                normalize_tag(tag).ok_or_else(|| format!("{:?} is not a tag.", tag.trim()))?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        if tags.is_empty() {
            return Err("Name the suggestions (tags=a,b) or all=1.".into());
        }
        Ok(Chosen::Tags(tags))
    }
}

async fn suggest(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    ip: ClientIp,
    id: web::Path<i64>,
    FormOrJson(form): FormOrJson<SuggestForm>,
) -> Result<HttpResponse, AppError> {
    let placed = owned_image(&state, &current, id.into_inner(), false).await?;
    let wait = !form.wait.as_ref().is_some_and(Loose::is_no);
    let (tagger, owner, image_id) = (state.tagger.clone(), current.user.clone(), placed.image.id);
    let job = state
        .db
        .run(move |conn| tagging::request(conn, &tagger, &owner, image_id, ip.0.into()))
        .await?;
    state.jobs.job_queued();
    let back = format!("/images/{image_id}");
    if !wants_json(&req) {
        Flash::success(
            &session,
            "Looking at the picture: suggestions appear here in a moment.",
        );
        return Ok(see_other(&back));
    }
    let queued = serde_json::json!({
        "success": true,
        "job_id": job.id,
        "status_url": format!("/api/jobs/{}", job.id),
        "message": "Queued: poll status_url, then GET /api/images/{id} for suggested_tags.",
    });
    if !wait {
        return Ok(HttpResponse::Accepted().json(queued));
    }
    let job = finished(&state, job.id).await?;
    match job.status {
        JobStatus::Succeeded => {
            let suggested = state
                .db
                .run(move |conn| tag_suggestion::for_image(conn, image_id))
                .await?;
            Ok(HttpResponse::Ok().json(serde_json::json!({
                "success": true,
                "job_id": job.id,
                "suggested_tags": suggested,
            })))
        }
        JobStatus::Failed => Err(AppError::ProviderFailed(
            job.error.unwrap_or_else(|| "The tagger failed.".to_owned()),
        )),
        _ => Ok(HttpResponse::Accepted().json(queued)),
    }
}

/// What the owner decided about some suggestions.
#[derive(Clone, Copy)]
enum Decision {
    Accept,
    Dismiss,
}

async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    id: web::Path<i64>,
    FormOrJson(form): FormOrJson<ChooseForm>,
) -> Result<HttpResponse, AppError> {
    let image = owned_image(&state, &current, id.into_inner(), false).await?;
    decide(
        Decision::Accept,
        &req,
        &state,
        &session,
        &current,
        image,
        form,
    )
    .await
}

async fn dismiss(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    id: web::Path<i64>,
    FormOrJson(form): FormOrJson<ChooseForm>,
) -> Result<HttpResponse, AppError> {
    let image = owned_image(&state, &current, id.into_inner(), false).await?;
    decide(
        Decision::Dismiss,
        &req,
        &state,
        &session,
        &current,
        image,
        form,
    )
    .await
}

/// Accepts or dismisses the suggestions the form names; back to the image page (or
/// JSON), with a refusal (too many tags) shown beside the picture.
async fn decide(
    decision: Decision,
    req: &HttpRequest,
    state: &AppState,
    session: &Session,
    current: &CurrentUser,
    placed: PlacedImage,
    form: ChooseForm,
) -> Result<HttpResponse, AppError> {
    let chosen = form.chosen().map_err(AppError::BadRequest)?;
    let (library, image_id, owner_id) = (state.library.clone(), placed.image.id, current.user.id);
    let outcome = state
        .db
        .run(move |conn| {
            let image = (owner_id, image_id);
            match decision {
                Decision::Accept => tagging::accept(conn, &library, image, chosen),
                Decision::Dismiss => tagging::dismiss(conn, &library, image, chosen).map(Ok),
            }
        })
        .await?;
    state.media_cache.forget_image(image_id);
    let tags = match outcome {
        Ok(tags) => tags,
        Err(message) if wants_json(req) => return Err(AppError::BadRequest(message)),
        Err(message) => {
            let status = StatusCode::BAD_REQUEST;
            return image_page_with(state, session, current, placed, status, Some(message)).await;
        }
    };
    let (message, field) = match (decision, tags.as_slice()) {
        (Decision::Accept, []) => (
            "Nothing to accept: those were not suggested.".to_owned(),
            "accepted",
        ),
        (Decision::Accept, [tag]) => (format!("Tag \"{tag}\" added."), "accepted"),
        (Decision::Accept, many) => (format!("{} tags added.", many.len()), "accepted"),
        (Decision::Dismiss, [_]) => ("Suggestion dismissed.".to_owned(), "dismissed"),
        (Decision::Dismiss, many) => (
            format!("{} suggestions dismissed.", many.len()),
            "dismissed",
        ),
    };
    let back = format!("/images/{image_id}");
    Ok(done(
        req,
        session,
        &message,
        &back,
        serde_json::json!({ field: tags }),
    ))
}
