//! A job as its owner follows it: `/jobs/{id}` (progress, then the result; refreshes itself
//! without JS) and `GET /api/jobs/{id}`. Only the job's owner (or the anonymous session
//! that ordered it) sees it; everyone else gets 404.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::base::error::AppError;
use crate::db::models::PlacedImage;
use crate::db::models::job::{self, Job};
use crate::db::models::tag_suggestion::{self, TagSuggestion};
use crate::domain::{JobKind, JobStatus};
use crate::operations::generation;
use crate::services::quota::ClientIp;
use crate::services::quota::charge::Reservation;
use crate::storage::Variant;
use crate::web::auth::anon_id;
use crate::web::extract::{CurrentUser, MaybeUser};
use crate::web::state::AppState;
use crate::web::views::{Card, Layout, image_json_suggested, media_url, render, url_encode};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/jobs/{id}", web::get().to(job_page))
        .route("/api/jobs/{id}", web::get().to(api_job));
}

/// May this user or anonymous session see `job`?
fn may_see(job: &Job, user: Option<&CurrentUser>, anon_id: Option<&str>) -> bool {
    match job.user_id {
        Some(owner) => user.is_some_and(|current| current.user.id == owner),
        None => anon_id.is_some() && job.anon_id.as_deref() == anon_id,
    }
}

/// The job if this user or anonymous session may see it; 404 otherwise.
async fn visible_job(
    state: &AppState,
    user: Option<&CurrentUser>,
    session: &Session,
    id: i64,
) -> Result<Job, AppError> {
    let job = state
        .db
        .run(move |conn| job::find(conn, id))
        .await?
        .ok_or(AppError::NotFound)?;
    if may_see(&job, user, anon_id(session).as_deref()) {
        Ok(job)
    } else {
        Err(AppError::NotFound)
    }
}

/// The job this visitor may see, with its images.
async fn visible_job_with_images(
    state: &AppState,
    user: Option<&CurrentUser>,
    session: &Session,
    id: i64,
) -> Result<(Job, Vec<PlacedImage>), AppError> {
    let job = visible_job(state, user, session, id).await?;
    let done = job.clone();
    let images = state
        .db
        .run(move |conn| generation::job_images(conn, &done))
        .await?;
    Ok((job, images))
}

#[derive(Template)]
#[template(path = "generate/job.html")]
struct JobPage {
    layout: Layout,
    id: i64,
    prompt: String,
    /// A tagging job: the image it looks at.
    tagging: Option<i64>,
    /// After a finished picture job: whether another may be paid for, and what the next
    /// costs (or why none can be made).
    can_pay: bool,
    next_cost: Option<String>,
    /// A failed job: what was given back, in words.
    refunded: Option<String>,
    /// A failed picture or clip job: its form again with the prompt filled in.
    try_again: String,
    status: String,
    pending: bool,
    /// The provider's progress while running, in words ("45% · about 12 s left").
    progress: Option<String>,
    error: Option<String>,
    cards: Vec<Card>,
    /// Stories show each picture with its sentence, in order.
    scenes: Vec<(Card, String)>,
    /// Anonymous results: invite the visitor to keep them (kept this many hours).
    anonymous: bool,
    anon_hours: u64,
    /// A video job: its clip and poster, once made.
    video: bool,
    player: Option<(String, String)>,
    /// A picture job's settings, for "Generate another", "Vary" and "Same seed".
    again: Option<Again>,
    /// While pending: one placeholder per picture ordered (the progress grid).
    slots: Vec<u32>,
    /// Where to ask for credits (`ATELIER_CREDITS_CONTACT`), shown beside a refusal.
    credits_contact: Option<String>,
}

/// What made a picture job, to make more like it.
struct Again {
    size: String,
    count: u32,
    seed: u64,
    provider: String,
    /// `/generate` filled in with these settings.
    form_link: String,
}

impl Again {
    fn of(job: &Job) -> Option<Again> {
        if job.kind != JobKind::Image {
            return None;
        }
        let params: job::ImageParams = serde_json::from_value(job.params.clone()).ok()?;
        if params.source_image_id.is_some() {
            return None;
        }
        let size = format!("{}x{}", params.width, params.height);
        let provider = params.provider.clone().unwrap_or_default();
        let form_link = format!(
            "/generate?prompt={}&size={size}&count={}&provider={}",
            url_encode(&job.prompt),
            params.count,
            url_encode(&provider)
        );
        Some(Again {
            size,
            count: params.count,
            seed: params.seed,
            provider,
            form_link,
        })
    }
}

async fn job_page(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (job, images) =
        visible_job_with_images(&state, user.0.as_ref(), &session, id.into_inner()).await?;
    // Vary, Re-run and Generate another spend: when nothing is left to spend they are off,
    // with the reason, as on the generate form.
    let next_image = match Again::of(&job) {
        Some(_) if job.is_finished() => {
            let usage = state.usage_of(user.0.as_ref().map(|c| &c.user), ip).await?;
            Some((usage.can_make_an_image(), usage.next_image_cost()))
        }
        _ => None,
    };
    let anonymous = job.user_id.is_none();
    // Anonymous visitors have no image pages: their pictures link to the full image.
    let card = |placed: &PlacedImage| {
        let mut card = Card::owned(placed);
        if anonymous {
            card.link = media_url(placed, Variant::Original);
        }
        card
    };
    let again = Again::of(&job);
    let slots = match (&again, job.is_finished()) {
        (Some(again), false) => (1..=again.count).collect(),
        _ => Vec::new(),
    };
    render(
        StatusCode::OK,
        &JobPage {
            again,
            slots,
            layout: Layout::new(&session, user.0.as_ref()),
            credits_contact: state.settings.credits_contact.clone(),
            id: job.id,
            prompt: job.prompt.clone(),
            can_pay: next_image.as_ref().is_none_or(|(can, _)| *can),
            next_cost: next_image.map(|(_, words)| words),
            tagging: (job.kind == JobKind::Tag)
                .then(|| job.params["image_id"].as_i64())
                .flatten(),
            status: job.status.to_string(),
            pending: !job.is_finished(),
            progress: progress_words(&job),
            error: job.error.clone(),
            refunded: (job.status == JobStatus::Failed)
                .then(|| refund_words(&job))
                .flatten(),
            try_again: match job.kind {
                JobKind::Video => format!("/video?prompt={}", url_encode(&job.prompt)),
                JobKind::Story | JobKind::Tag => "/generate".to_owned(),
                JobKind::Image | JobKind::Edit => {
                    format!("/generate?prompt={}", url_encode(&job.prompt))
                }
            },
            cards: images.iter().map(card).collect(),
            scenes: if job.kind == JobKind::Story {
                images
                    .iter()
                    .map(|placed| {
                        (
                            card(placed),
                            placed.image.prompt.clone().unwrap_or_default(),
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            },
            anonymous,
            anon_hours: state.settings.anon_retention_secs.div_ceil(3600),
            video: job.kind == JobKind::Video,
            player: images
                .iter()
                .find(|placed| placed.image.is_video())
                .map(|placed| {
                    (
                        media_url(placed, Variant::Original),
                        media_url(placed, Variant::Thumb),
                    )
                }),
        },
    )
}

/// What a failed job gave back (failed jobs are refunded in the transaction that fails
/// them), in words; `None` when it cost nothing.
fn refund_words(job: &Job) -> Option<String> {
    let paid = Reservation::of_job(job);
    if paid.credits > 0 {
        return Some(format!(
            "Your {} credit{} {} given back.",
            paid.credits,
            if paid.credits == 1 { "" } else { "s" },
            if paid.credits == 1 { "was" } else { "were" }
        ));
    }
    if paid.free_image.is_some() {
        return Some("The free image it used was given back.".into());
    }
    if paid.usage_event.is_some() {
        return Some("It does not count against your free generations.".into());
    }
    None
}

/// A running job's progress in words, when its provider reports any.
fn progress_words(job: &Job) -> Option<String> {
    if job.status != JobStatus::Running || job.progress <= 0.0 {
        return None;
    }
    let percent = (job.progress * 100.0).round() as u32;
    Some(match job.eta_secs {
        Some(secs) if secs > 0 => format!("{percent}% · about {secs} s left"),
        _ => format!("{percent}%"),
    })
}

fn job_json(
    job: &Job,
    images: &[PlacedImage],
    suggestions: &HashMap<i64, Vec<TagSuggestion>>,
) -> serde_json::Value {
    serde_json::json!({
        "id": job.id,
        "status": job.status,
        "progress": job.progress,
        "eta_secs": job.eta_secs,
        "kind": job.kind,
        "prompt": job.prompt,
        "error": job.error,
        "images": images
            .iter()
            .map(|placed| image_json_suggested(placed, suggestions))
            .collect::<Vec<_>>(),
        "created": job.created_at.to_rfc3339(),
        "finished": job.finished_at.map(|at| at.to_rfc3339()),
    })
}

async fn api_job(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (job, images) =
        visible_job_with_images(&state, user.0.as_ref(), &session, id.into_inner()).await?;
    // Suggestions are the owner's: an anonymous job's pictures have none.
    let ids: Vec<i64> = images.iter().map(|placed| placed.image.id).collect();
    let suggestions = match job.user_id {
        Some(_) => {
            state
                .db
                .run(move |conn| tag_suggestion::for_images(conn, &ids))
                .await?
        }
        None => HashMap::new(),
    };
    let json = job_json(&job, &images, &suggestions);
    Ok(HttpResponse::Ok().json(serde_json::json!({ "success": true, "job": json })))
}
