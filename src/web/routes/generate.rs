//! Ordering pictures: `/generate` (form → 303 to the job page), `POST /api/generate-image`
//! (waits by default, or returns a job id), stories (`/story`, `POST /api/generate-story`)
//! and prompt edits. The rules and the queueing are in `operations::generation`; the job
//! pages are in `jobs.rs`.

use std::time::Duration;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, web};
use askama::Template;
use ipnetwork::IpNetwork;
use serde::Deserialize;

use crate::base::error::AppError;
use crate::db::models::Image;
use crate::db::models::job::{self, Job};
use crate::domain::JobKind;
use crate::operations::generation::{
    self, Order, QueueOrder, check_order, check_provider, check_story, random_seed,
};
use crate::services::generate::SIZES;
use crate::services::quota::ClientIp;
use crate::services::quota::limits::Standing;
use crate::web::auth::{anon_id, keys, new_anon_id};
use crate::web::extract::{CurrentUser, Form, Json, MaybeUser, Query};
use crate::web::state::AppState;
use crate::web::views::image_json;
use crate::web::views::{Layout, form_refused, render, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/generate", web::get().to(generate_form))
        .route("/generate", web::post().to(generate))
        .route("/story", web::get().to(story_form))
        .route("/story", web::post().to(create_story))
        .route("/api/generate-story", web::post().to(api_generate_story))
        .route("/images/{id}/prompt-edit", web::post().to(prompt_edit))
        .route("/api/generate-image", web::post().to(api_generate));
}

/// How long `wait: true` waits for a job before answering with its id.
const API_WAIT: Duration = Duration::from_secs(120);

/// Who is generating: a signed-in user, or an anonymous visitor's session.
pub(super) enum Visitor {
    User(CurrentUser),
    /// `new`: the id is not in the session yet; it is stored once a job is queued.
    Anonymous {
        anon_id: String,
        new: bool,
    },
}

impl Visitor {
    pub(super) fn of(user: MaybeUser, session: &Session) -> Result<Self, AppError> {
        Ok(match (user.0, anon_id(session)) {
            (Some(current), _) => Visitor::User(current),
            (None, Some(anon_id)) => Visitor::Anonymous {
                anon_id,
                new: false,
            },
            (None, None) => Visitor::Anonymous {
                anon_id: new_anon_id()?,
                new: true,
            },
        })
    }

    pub(super) fn current(&self) -> Option<&CurrentUser> {
        match self {
            Visitor::User(current) => Some(current),
            Visitor::Anonymous { .. } => None,
        }
    }
}

/// Checks the charge and queues the job in one transaction (a refusal leaves nothing
/// behind), then wakes a worker. Returns the job and, for anonymous limits, where the
/// network now stands.
pub(super) async fn place_order(
    state: &AppState,
    session: &Session,
    visitor: &Visitor,
    ip: ClientIp,
    order: Order,
) -> Result<(Job, Option<Standing>), AppError> {
    let rules = state.rules.clone();
    let client_ip = IpNetwork::from(ip.0);
    let refusals = state.recent_refusals.clone();
    let (user, anon_id) = match visitor {
        Visitor::User(current) => (Some(current.user.clone()), None),
        Visitor::Anonymous { anon_id, .. } => {
            generation::refuse_anonymous_early(&order, &rules, &refusals, client_ip)?;
            (None, Some(anon_id.clone()))
        }
    };
    let seed = match order.seed {
        Some(seed) => seed,
        None => random_seed()?,
    };
    let queued = QueueOrder {
        user,
        anon_id,
        client_ip,
        order,
        seed,
        storage: crate::services::quota::storage::UploadLimits::of(&state.settings),
    };
    let (job, standing) = state
        .db
        .run(move |conn| generation::queue_order(conn, &rules, &refusals, queued))
        .await?;
    if let Visitor::Anonymous { anon_id, new: true } = visitor {
        session
            .insert(keys::ANON_ID, anon_id)
            .map_err(AppError::internal)?;
    }
    state.jobs.job_queued();
    tracing::info!(job = job.id, owner = %job.owner_key, "generation queued");
    Ok((job, standing))
}

/// A browser's placed order: the job page (with the network's standing as `RateLimit-*`)
/// when it was queued, the refusal to show beside the form when the visitor can act on it
/// (the inner error), any other error as it is.
pub(super) fn to_job_page(
    placed: Result<(Job, Option<Standing>), AppError>,
) -> Result<Result<HttpResponse, AppError>, AppError> {
    match placed {
        Ok((job, standing)) => Ok(Ok(with_rate_limit(
            see_other(&format!("/jobs/{}", job.id)),
            standing,
        ))),
        Err(refusal) if refusal.is_form_refusal() => Ok(Err(refusal)),
        Err(err) => Err(err),
    }
}

/// `RateLimit-*` headers (draft-ietf-httpapi-ratelimit-headers) on a request that counted
/// against an anonymous limit.
fn with_rate_limit(mut response: HttpResponse, standing: Option<Standing>) -> HttpResponse {
    if let Some(standing) = standing {
        let headers = response.headers_mut();
        for (name, value) in [
            ("ratelimit-limit", u64::from(standing.limit)),
            ("ratelimit-remaining", u64::from(standing.remaining())),
            ("ratelimit-reset", standing.reset_secs),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
    response
}

#[derive(Template)]
#[template(path = "generate/generate.html")]
struct GeneratePage {
    layout: Layout,
    prompt: String,
    count: u32,
    size: String,
    sizes: Vec<String>,
    /// The seed typed, if any (empty: a random one).
    seed: String,
    /// The providers on offer (a choice only when there are several) and the one chosen.
    providers: Vec<&'static str>,
    provider: String,
    error: Option<String>,
    /// What one image will cost, in words; with the balance, the page's script updates it
    /// for the chosen count.
    cost: String,
    /// Generate is disabled (and `cost` says why) when nothing can be made right now.
    can_generate: bool,
    /// The signed-in user's latest jobs: (link, prompt, what became of it).
    recent: Vec<(String, String, String)>,
    credits: Option<i64>,
    credits_per_image: i64,
    signed_in: bool,
    /// Where to ask for credits (`ATELIER_CREDITS_CONTACT`), shown beside a refusal.
    credits_contact: Option<String>,
}

/// How many of a user's latest jobs the generate page lists.
const RECENT_JOBS: i64 = 6;

impl GeneratePage {
    async fn new(
        state: &AppState,
        session: &Session,
        current: Option<&CurrentUser>,
        ip: ClientIp,
    ) -> Result<Self, AppError> {
        let usage = state.usage_of(current.map(|c| &c.user), ip).await?;
        let recent = match current {
            Some(current) => {
                let user_id = current.user.id;
                state
                    .db
                    .run(move |conn| job::recent_for_user(conn, user_id, RECENT_JOBS))
                    .await?
                    .into_iter()
                    .map(|job| {
                        let outcome = format!("{} · {}", job.kind, job.status);
                        (format!("/jobs/{}", job.id), job.prompt, outcome)
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        Ok(GeneratePage {
            recent,
            layout: Layout::new(session, current),
            credits_contact: state.settings.credits_contact.clone(),
            prompt: String::new(),
            count: 1,
            size: "512x512".into(),
            sizes: size_names(),
            seed: String::new(),
            providers: state.provider_names.clone(),
            provider: state.provider_names[0].to_owned(),
            error: None,
            cost: usage.next_image_cost(),
            can_generate: usage.can_make_an_image(),
            credits: usage.credits,
            credits_per_image: usage.credits_per_image,
            signed_in: current.is_some(),
        })
    }
}

/// `GET /generate`, optionally filled in from the query (`prompt`, `count`, `size`,
/// `seed`, `provider`: "Generate another" keeps the last settings). Values that are not on
/// offer are left at their defaults; the POST checks everything again.
async fn generate_form(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
    Query(query): Query<GenerateForm>,
) -> Result<HttpResponse, AppError> {
    let mut page = GeneratePage::new(&state, &session, user.0.as_ref(), ip).await?;
    page.prompt = query.prompt.chars().take(1000).collect();
    if let Some(count) = query.count.and_then(|c| c.parse::<u32>().ok()) {
        page.count = count.clamp(1, 4);
    }
    if let Some(size) = query.size.filter(|size| page.sizes.contains(size)) {
        page.size = size;
    }
    if let Some(seed) = query.seed.filter(|seed| seed.parse::<u64>().is_ok()) {
        page.seed = seed;
    }
    if let Some(provider) = query
        .provider
        .filter(|name| page.providers.contains(&name.as_str()))
    {
        page.provider = provider;
    }
    render(StatusCode::OK, &page)
}

fn size_names() -> Vec<String> {
    SIZES.iter().map(|(w, h)| format!("{w}x{h}")).collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GenerateForm {
    prompt: String,
    count: Option<String>,
    size: Option<String>,
    seed: Option<String>,
    provider: Option<String>,
}

async fn generate(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
    Form(form): Form<GenerateForm>,
) -> Result<HttpResponse, AppError> {
    let visitor = Visitor::of(user, &session)?;
    let checked = check_order(
        &form.prompt,
        form.count.as_deref(),
        form.size.as_deref(),
        form.seed.as_deref(),
    )
    .and_then(|mut order| {
        order.provider = check_provider(form.provider.as_deref(), &state.provider_names)?;
        Ok(order)
    });
    let problem = match checked {
        Ok(order) => match to_job_page(place_order(&state, &session, &visitor, ip, order).await)? {
            Ok(job_page) => return Ok(job_page),
            Err(refusal) => refusal,
        },
        Err(message) => AppError::BadRequest(message),
    };
    let mut page = GeneratePage::new(&state, &session, visitor.current(), ip).await?;
    page.prompt = form.prompt.trim().to_owned();
    page.count = form.count.and_then(|c| c.parse().ok()).unwrap_or(1);
    page.size = form.size.unwrap_or_default();
    page.seed = form.seed.unwrap_or_default().trim().to_owned();
    if let Some(provider) = form.provider {
        page.provider = provider;
    }
    page.error = Some(problem.message());
    form_refused(&problem, &page)
}

#[derive(Debug, Deserialize)]
pub struct GenerateRequest {
    #[serde(default)]
    prompt: String,
    count: Option<serde_json::Value>,
    size: Option<String>,
    seed: Option<serde_json::Value>,
    wait: Option<bool>,
    provider: Option<String>,
}

async fn api_generate(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
    Json(body): Json<GenerateRequest>,
) -> Result<HttpResponse, AppError> {
    let as_text = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let count = body.count.as_ref().map(as_text);
    let seed = body.seed.as_ref().filter(|v| !v.is_null()).map(as_text);
    let mut order = check_order(
        &body.prompt,
        count.as_deref(),
        body.size.as_deref(),
        seed.as_deref(),
    )
    .map_err(AppError::BadRequest)?;
    order.provider = check_provider(body.provider.as_deref(), &state.provider_names)
        .map_err(AppError::BadRequest)?;
    let wait = body.wait != Some(false);
    order_and_reply(
        &state,
        &session,
        user,
        ip,
        order,
        wait,
        "Image generated successfully",
    )
    .await
}

/// The JSON API's generation: queue `order` for this visitor, then answer as [`reply`]
/// does, with the anonymous limit's `RateLimit-*` headers.
pub(super) async fn order_and_reply(
    state: &AppState,
    session: &Session,
    user: MaybeUser,
    ip: ClientIp,
    order: Order,
    wait: bool,
    message: &str,
) -> Result<HttpResponse, AppError> {
    let visitor = Visitor::of(user, session)?;
    let (job, standing) = place_order(state, session, &visitor, ip, order).await?;
    let response = reply(state, job, wait, message).await?;
    Ok(with_rate_limit(response, standing))
}

/// Job `id` once it has finished, or as it stands after [`API_WAIT`].
pub(super) async fn finished(state: &AppState, id: i64) -> Result<Job, AppError> {
    let deadline = tokio::time::Instant::now() + API_WAIT;
    loop {
        let job = state
            .db
            .run(move |conn| job::find(conn, id))
            .await?
            .ok_or(AppError::NotFound)?;
        if job.is_finished() || tokio::time::Instant::now() >= deadline {
            return Ok(job);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Answers an API generation: at once with the job id (`wait: false`), or once the job
/// has finished (or after [`API_WAIT`], with the id to poll).
async fn reply(
    state: &AppState,
    job: Job,
    wait: bool,
    message: &str,
) -> Result<HttpResponse, AppError> {
    let pending = |job: &Job| {
        HttpResponse::Accepted().json(serde_json::json!({
            "success": true,
            "job_id": job.id,
            "status_url": format!("/api/jobs/{}", job.id),
            "message": "Queued: poll status_url for the result.",
        }))
    };
    if !wait {
        return Ok(pending(&job));
    }
    let job = finished(state, job.id).await?;
    match job.status.as_str() {
        "succeeded" => {
            let images = {
                let done = job.clone();
                state
                    .db
                    .run(move |conn| generation::job_images(conn, &done))
                    .await?
            };
            let first = images.first().ok_or(AppError::NotFound)?;
            let mut reply = image_json(first);
            reply["success"] = true.into();
            reply["message"] = message.into();
            reply["job_id"] = job.id.into();
            if images.len() > 1 {
                reply["images"] = images.iter().map(image_json).collect::<Vec<_>>().into();
            }
            if job.kind == JobKind::Story {
                reply["folder"] = first.folder_slug.clone().into();
            }
            if job.kind == JobKind::Video {
                reply["video_url"] = reply["image_url"].clone();
            }
            Ok(HttpResponse::Ok().json(reply))
        }
        "failed" => Ok(HttpResponse::BadGateway().json(serde_json::json!({
            "success": false,
            "error": job.error.unwrap_or_else(|| "The generation failed.".into()),
            "job_id": job.id,
        }))),
        _ => Ok(pending(&job)),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PromptEditForm {
    prompt: String,
}

/// "Edit with a prompt": a new image made from one of the user's own, in the same folder.
async fn prompt_edit(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    ip: ClientIp,
    id: web::Path<i64>,
    Form(form): Form<PromptEditForm>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let placed = state
        .db
        .run(move |conn| Image::find_placed(conn, id))
        .await?
        .filter(|placed| placed.image.user_id == current.user.id)
        .ok_or(AppError::NotFound)?;
    if placed.image.is_video() {
        crate::web::views::Flash::error(&session, "Videos cannot be edited with a prompt.");
        return Ok(see_other(&format!("/images/{id}")));
    }
    let mut order = match check_order(&form.prompt, None, None, None) {
        Ok(order) => order,
        Err(message) => {
            crate::web::views::Flash::error(&session, message);
            return Ok(see_other(&format!("/images/{id}")));
        }
    };
    order.kind = JobKind::Edit;
    // Keep the source's shape, within what providers accept.
    order.size = if placed.image.width > placed.image.height {
        (768, 512)
    } else if placed.image.width < placed.image.height {
        (512, 768)
    } else {
        (512, 512)
    };
    order.source = Some((id, placed.folder_slug.clone()));
    match place_order(&state, &session, &Visitor::User(current), ip, order).await {
        Ok((job, _)) => Ok(see_other(&format!("/jobs/{}", job.id))),
        Err(err) if err.is_form_refusal() => {
            crate::web::views::Flash::error(&session, err.message());
            Ok(see_other(&format!("/images/{id}")))
        }
        Err(err) => Err(err),
    }
}

#[derive(Template)]
#[template(path = "generate/story.html")]
struct StoryPage {
    layout: Layout,
    story: String,
    error: Option<String>,
    /// What a story costs this visitor, in words ("Each sentence is a picture: …"), and the
    /// numbers the page's script counts with as the story is typed.
    cost: String,
    per_scene: i64,
    credits: Option<i64>,
    /// The visitor cannot pay even the shortest story: the button is off.
    cannot_pay: bool,
    /// Where to ask for credits (`ATELIER_CREDITS_CONTACT`), shown beside a refusal.
    credits_contact: Option<String>,
}

impl StoryPage {
    async fn new(
        state: &AppState,
        session: &Session,
        current: Option<&CurrentUser>,
        ip: ClientIp,
    ) -> Result<Self, AppError> {
        let usage = state.usage_of(current.map(|c| &c.user), ip).await?;
        let per_scene = usage.credits_per_image;
        let shortest =
            per_scene * i64::try_from(crate::services::generate::story::MIN_SCENES).unwrap_or(2);
        let plural = |n: i64| if n == 1 { "" } else { "s" };
        let (cost, cannot_pay) = match usage.credits {
            _ if usage.blocked.is_some() => ("Your network is blocked.".to_owned(), true),
            None => (
                "Stories are made with credits: log in first.".to_owned(),
                false,
            ),
            Some(credits) if credits < shortest => (
                format!(
                    "Each sentence is a picture at {per_scene} credit{}; you have {credits}, \
                     fewer than the shortest story needs: ask the site's administrator for credits.",
                    plural(per_scene)
                ),
                true,
            ),
            Some(credits) => (
                format!(
                    "Each sentence is a picture at {per_scene} credit{}; you have {credits}.",
                    plural(per_scene)
                ),
                false,
            ),
        };
        Ok(StoryPage {
            layout: Layout::new(session, current),
            credits_contact: state.settings.credits_contact.clone(),
            story: String::new(),
            error: None,
            cost,
            per_scene,
            credits: usage.credits,
            cannot_pay,
        })
    }
}

async fn story_form(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let page = StoryPage::new(&state, &session, user.0.as_ref(), ip).await?;
    render(StatusCode::OK, &page)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StoryForm {
    story: String,
}

async fn create_story(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
    Form(form): Form<StoryForm>,
) -> Result<HttpResponse, AppError> {
    let visitor = Visitor::of(user, &session)?;
    let problem = match check_story(&form.story) {
        Ok(order) => match to_job_page(place_order(&state, &session, &visitor, ip, order).await)? {
            Ok(job_page) => return Ok(job_page),
            Err(refusal) => refusal,
        },
        Err(message) => AppError::BadRequest(message),
    };
    let mut page = StoryPage::new(&state, &session, visitor.current(), ip).await?;
    page.story = form.story.trim().to_owned();
    page.error = Some(problem.message());
    form_refused(&problem, &page)
}

#[derive(Debug, Deserialize)]
pub struct StoryRequest {
    #[serde(default)]
    story: String,
    wait: Option<bool>,
}

async fn api_generate_story(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
    Json(body): Json<StoryRequest>,
) -> Result<HttpResponse, AppError> {
    let order = check_story(&body.story).map_err(AppError::BadRequest)?;
    let wait = body.wait != Some(false);
    order_and_reply(
        &state,
        &session,
        user,
        ip,
        order,
        wait,
        "Story generated successfully",
    )
    .await
}
