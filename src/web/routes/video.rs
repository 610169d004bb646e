//! Ordering clips: `/video` (form → 303 to the job page) and `POST /api/generate-video`
//! (`{"prompt", "seconds", "size", "seed", "wait"}`; waits by default). The rules are in
//! `operations::generation::check_video_order`; queueing, the charge and the answers are
//! shared with pictures (`generate.rs`).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::generate::{Visitor, order_and_reply, place_order, to_job_page};
use crate::base::error::AppError;
use crate::operations::generation::{Order, check_video_order};
use crate::services::generate::{SIZES, video};
use crate::services::quota::ClientIp;
use crate::web::extract::{CurrentUser, Form, Json, MaybeUser, Query};
use crate::web::state::AppState;
use crate::web::views::{Layout, form_refused, render};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/video", web::get().to(video_form))
        .route("/video", web::post().to(order_video))
        .route("/api/generate-video", web::post().to(api_generate_video));
}

#[derive(Template)]
#[template(path = "generate/video.html")]
struct VideoPage {
    layout: Layout,
    prompt: String,
    seconds: u32,
    seconds_choices: Vec<u32>,
    size: String,
    sizes: Vec<String>,
    seed: String,
    /// What a video costs this visitor, in words.
    cost: String,
    /// Why this server makes no videos, when it makes none.
    off: Option<String>,
    /// The visitor cannot pay for one (blocked, or fewer credits than a video costs): the
    /// button is disabled and `cost` says why.
    cannot_pay: bool,
    error: Option<String>,
    signed_in: bool,
    /// Where to ask for credits (`ATELIER_CREDITS_CONTACT`), shown beside a refusal.
    credits_contact: Option<String>,
}

impl VideoPage {
    async fn new(
        state: &AppState,
        session: &Session,
        current: Option<&CurrentUser>,
        ip: ClientIp,
    ) -> Result<Self, AppError> {
        let usage = state.usage_of(current.map(|c| &c.user), ip).await?;
        let per_video = usage.credits_per_video;
        let cannot_pay =
            usage.blocked.is_some() || usage.credits.is_some_and(|credits| credits < per_video);
        let cost = match usage.credits {
            _ if usage.blocked.is_some() => "Your network is blocked.".to_owned(),
            None => "Videos are made with credits: log in first.".to_owned(),
            Some(credits) if credits < per_video => format!(
                "A video costs {per_video} credit{}; you have {credits}: ask the site's administrator for credits.",
                if per_video == 1 { "" } else { "s" }
            ),
            Some(credits) => format!(
                "A video costs {per_video} credit{}; you have {credits}.",
                if per_video == 1 { "" } else { "s" }
            ),
        };
        Ok(VideoPage {
            layout: Layout::new(session, current),
            credits_contact: state.settings.credits_contact.clone(),
            prompt: String::new(),
            seconds: video::DEFAULT_SECONDS,
            seconds_choices: video::SECONDS.collect(),
            size: "512x512".into(),
            sizes: SIZES.iter().map(|(w, h)| format!("{w}x{h}")).collect(),
            seed: String::new(),
            cost,
            off: state.video.as_ref().err().cloned(),
            cannot_pay,
            error: None,
            signed_in: current.is_some(),
        })
    }
}

/// `GET /video` (`?prompt=` fills the prompt in, as "Try again" links do).
async fn video_form(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
    Query(query): Query<VideoForm>,
) -> Result<HttpResponse, AppError> {
    let mut page = VideoPage::new(&state, &session, user.0.as_ref(), ip).await?;
    page.prompt = query.prompt.chars().take(1000).collect();
    render(StatusCode::OK, &page)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VideoForm {
    prompt: String,
    seconds: Option<String>,
    size: Option<String>,
    seed: Option<String>,
}

/// Refuses at once when this server makes no video.
fn video_is_on(state: &AppState) -> Result<(), AppError> {
    match &state.video {
        Ok(_) => Ok(()),
        Err(reason) => Err(AppError::Unavailable(reason.clone())),
    }
}

/// Checks and queues a video order; the anonymous "needs an account" refusal in words.
async fn place_video(
    state: &AppState,
    session: &Session,
    visitor: &Visitor,
    ip: ClientIp,
    order: Order,
) -> Result<
    (
        crate::db::models::job::Job,
        Option<crate::services::quota::limits::Standing>,
    ),
    AppError,
> {
    video_is_on(state)?;
    match place_order(state, session, visitor, ip, order).await {
        Err(AppError::LoginRequired) => Err(AppError::Unauthorized(
            "Making videos needs an account: log in or create one, then use your credits.".into(),
        )),
        other => other,
    }
}

async fn order_video(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
    Form(form): Form<VideoForm>,
) -> Result<HttpResponse, AppError> {
    let visitor = Visitor::of(user, &session)?;
    let checked = check_video_order(
        &form.prompt,
        form.seconds.as_deref(),
        form.size.as_deref(),
        form.seed.as_deref(),
    );
    let problem = match checked {
        Ok(order) => match to_job_page(place_video(&state, &session, &visitor, ip, order).await)? {
            Ok(job_page) => return Ok(job_page),
            Err(refusal) => refusal,
        },
        Err(message) => AppError::BadRequest(message),
    };
    let mut page = VideoPage::new(&state, &session, visitor.current(), ip).await?;
    page.prompt = form.prompt.trim().to_owned();
    page.seconds = form
        .seconds
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(video::DEFAULT_SECONDS);
    page.size = form.size.unwrap_or_default();
    page.seed = form.seed.unwrap_or_default().trim().to_owned();
    page.error = Some(problem.message());
    form_refused(&problem, &page)
}

#[derive(Debug, Deserialize)]
pub struct VideoRequestBody {
    #[serde(default)]
    prompt: String,
    seconds: Option<serde_json::Value>,
    size: Option<String>,
    seed: Option<serde_json::Value>,
    wait: Option<bool>,
}

async fn api_generate_video(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
    Json(body): Json<VideoRequestBody>,
) -> Result<HttpResponse, AppError> {
    let as_text = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let seconds = body.seconds.as_ref().filter(|v| !v.is_null()).map(as_text);
    let seed = body.seed.as_ref().filter(|v| !v.is_null()).map(as_text);
    let order = check_video_order(
        &body.prompt,
        seconds.as_deref(),
        body.size.as_deref(),
        seed.as_deref(),
    )
    .map_err(AppError::BadRequest)?;
    video_is_on(&state)?;
    let wait = body.wait != Some(false);
    match order_and_reply(
        &state,
        &session,
        user,
        ip,
        order,
        wait,
        "Video generated successfully",
    )
    .await
    {
        Err(AppError::LoginRequired) => Err(AppError::Unauthorized(
            "Making videos needs an account: log in (or send your API token) and use your credits."
                .into(),
        )),
        other => other,
    }
}
