//! Generation pages and API: `/generate` (form → 303 to the job), `/jobs/{id}` (progress,
//! then the result; refreshes itself without JS), `POST /api/generate-image` (waits by
//! default, or returns a job id) and `GET /api/jobs/{id}`.

use std::time::Duration;

use actix_session::Session;
use actix_web::ResponseError;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::Connection;
use ipnetwork::IpNetwork;
use serde::Deserialize;

use crate::auth::{CurrentUser, MaybeUser, anon_id, keys, new_anon_id};
use crate::error::AppError;
use crate::generate::queue::{self, ImageParams, Job, NewJob};
use crate::generate::{SIZES, parse_size, story};
use crate::models::user::ANON_USERNAME;
use crate::models::{Folder, Image, PlacedImage};
use crate::quota::ClientIp;
use crate::quota::charge::{self, Refusal, Requester, Usage};
use crate::quota::limits::{Action, Standing};
use crate::state::AppState;
use crate::storage::Variant;
use crate::views::Card;
use crate::views::media_url;
use crate::views::{Layout, render, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/generate", web::get().to(generate_form))
        .route("/generate", web::post().to(generate))
        .route("/story", web::get().to(story_form))
        .route("/story", web::post().to(create_story))
        .route("/api/generate-story", web::post().to(api_generate_story))
        .route("/images/{id}/prompt-edit", web::post().to(prompt_edit))
        .route("/jobs/{id}", web::get().to(job_page))
        .route("/api/generate-image", web::post().to(api_generate))
        .route("/api/jobs/{id}", web::get().to(api_job));
}

/// Longest prompt accepted, in characters.
const MAX_PROMPT_CHARS: usize = 1000;
/// How long `wait: true` waits for a job before answering with its id.
const API_WAIT: Duration = Duration::from_secs(120);

/// A checked generation request.
struct Order {
    kind: &'static str,
    prompt: String,
    count: u32,
    size: (u32, u32),
    /// Stories: the scenes (one image each) and the folder to create for them.
    scenes: Vec<String>,
    folder_name: Option<String>,
    /// Prompt edits: the source image and its folder.
    source: Option<(i64, String)>,
    /// The seed asked for; `None` draws one.
    seed: Option<u64>,
}

/// Seeds are whole numbers from 0 to 2^53 − 1, so that JavaScript and JSON tools, which
/// hold numbers as doubles, carry them exactly.
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// An optional seed as typed in a form or sent in JSON.
fn check_seed(raw: Option<&str>) -> Result<Option<u64>, String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|seed| *seed <= MAX_SEED)
            .map(Some)
            .ok_or_else(|| format!("The seed is a whole number from 0 to {MAX_SEED}.")),
    }
}

/// A seed drawn from the OS random generator, in the range [`check_seed`] accepts.
fn random_seed() -> Result<u64, AppError> {
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(AppError::internal)?;
    Ok(u64::from_be_bytes(seed) & MAX_SEED)
}

/// A checked story: its scenes become one job, saved in a new folder named after it.
fn check_story(text: &str) -> Result<Order, String> {
    let text = text.trim();
    if text.chars().count() > 4000 {
        return Err("Stories are at most 4000 characters.".into());
    }
    let scenes = story::split_scenes(text)?;
    Ok(Order {
        kind: "story",
        prompt: text.to_owned(),
        count: u32::try_from(scenes.len()).unwrap_or(u32::MAX),
        size: SIZES[0],
        folder_name: Some(story::folder_name(&scenes)),
        scenes,
        source: None,
        seed: None,
    })
}

fn check_order(
    prompt: &str,
    count: Option<&str>,
    size: Option<&str>,
    seed: Option<&str>,
) -> Result<Order, String> {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return Err("Describe the picture you want (the prompt is empty).".into());
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(format!(
            "Prompts are at most {MAX_PROMPT_CHARS} characters."
        ));
    }
    let count = match count.map(str::trim).filter(|c| !c.is_empty()) {
        None => 1,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=4).contains(n))
            .ok_or("Count must be a number from 1 to 4.")?,
    };
    let size = match size.map(str::trim).filter(|s| !s.is_empty()) {
        None => SIZES[0],
        Some(raw) => parse_size(raw).ok_or("Size must be one of 512x512, 768x512 or 512x768.")?,
    };
    let seed = check_seed(seed)?;
    Ok(Order {
        kind: "image",
        prompt: prompt.to_owned(),
        count,
        size,
        scenes: Vec::new(),
        folder_name: None,
        source: None,
        seed,
    })
}

/// Who is generating: a signed-in user, or an anonymous visitor's session.
enum Visitor {
    User(CurrentUser),
    /// `new`: the id is not in the session yet; it is stored once a job is queued.
    Anonymous {
        anon_id: String,
        new: bool,
    },
}

impl Visitor {
    fn of(user: MaybeUser, session: &Session) -> Result<Self, AppError> {
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

    fn current(&self) -> Option<&CurrentUser> {
        match self {
            Visitor::User(current) => Some(current),
            Visitor::Anonymous { .. } => None,
        }
    }
}

/// May this user or anonymous session see `job`?
fn may_see(job: &Job, user: Option<&CurrentUser>, anon_id: Option<&str>) -> bool {
    match job.user_id {
        Some(owner) => user.is_some_and(|current| current.user.id == owner),
        None => anon_id.is_some() && job.anon_id.as_deref() == anon_id,
    }
}

/// Checks the charge and queues the job in one transaction (a refusal leaves nothing
/// behind), then wakes a worker. Returns the job and, for anonymous limits, where the
/// network now stands.
async fn place_order(
    state: &AppState,
    session: &Session,
    visitor: &Visitor,
    ip: ClientIp,
    order: Order,
) -> Result<(Job, Option<Standing>), AppError> {
    let (user, anon_id) = match visitor {
        Visitor::User(current) => (Some(current.user.clone()), None),
        Visitor::Anonymous { anon_id, .. } => {
            if order.count > 1 && order.kind == "image" {
                return Err(AppError::BadRequest(
                    "Without an account, images are made one at a time. Log in to make several at once."
                        .into(),
                ));
            }
            (None, Some(anon_id.clone()))
        }
    };
    let action = if order.kind == "story" {
        Action::Story
    } else {
        Action::Generate
    };
    let rules = state.rules.clone();
    let upload_limits = state.settings.upload_limits();
    let client_ip = IpNetwork::from(ip.0);
    let key = rules.key(client_ip);
    let refusals = state.recent_refusals.clone();
    if anon_id.is_some() {
        if let Some(exceeded) = refusals.check(key, action) {
            return Err(Refusal::LimitReached {
                action,
                limit: exceeded.limit,
                window: rules.window,
                retry_after_secs: exceeded.retry_after_secs,
            }
            .into());
        }
    }
    let seed = match order.seed {
        Some(seed) => seed,
        None => random_seed()?,
    };
    let (job, standing) = state
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                let user_id = user.as_ref().map(|user| user.id);
                let owner_key = match (user_id, &anon_id) {
                    (Some(id), _) => format!("user:{id}"),
                    (None, Some(anon)) => format!("anon:{anon}"),
                    (None, None) => return Err(AppError::LoginRequired),
                };
                if let Some(user_id) = user_id {
                    crate::quota::storage::check_room(conn, user_id, upload_limits)?;
                }
                // Charge first: a refusal rolls back before anything else is written.
                let job_id = queue::next_id(conn)?;
                let requester = match &user {
                    Some(user) => Requester::User(user),
                    None => Requester::Anonymous,
                };
                let granted = match charge::reserve(
                    conn,
                    &rules,
                    requester,
                    client_ip,
                    action,
                    order.count,
                    Some(job_id),
                )? {
                    Ok(granted) => granted,
                    Err(refusal) => {
                        if let Some(exceeded) = refusal.exceeded() {
                            refusals.remember(key, action, exceeded);
                        }
                        return Err(refusal.into());
                    }
                };
                let folder = match (&order.folder_name, &order.source, user_id, &anon_id) {
                    (_, _, None, Some(anon_id)) => Some(anon_id.clone()),
                    (Some(name), _, Some(user_id), _) => {
                        Some(Folder::create_unique(conn, user_id, name)?.slug)
                    }
                    (None, Some((_, folder)), _, _) => Some(folder.clone()),
                    _ => None,
                };
                let mut params = serde_json::to_value(ImageParams {
                    count: order.count,
                    width: order.size.0,
                    height: order.size.1,
                    seed,
                    scenes: order.scenes,
                    folder,
                    source_image_id: order.source.as_ref().map(|(id, _)| *id),
                })
                .map_err(AppError::internal)?;
                params["charge"] =
                    serde_json::to_value(granted.reservation).map_err(AppError::internal)?;
                let job = queue::enqueue(
                    conn,
                    &NewJob {
                        id: Some(job_id),
                        user_id,
                        owner_key: &owner_key,
                        kind: order.kind,
                        prompt: &order.prompt,
                        params,
                        client_ip: Some(client_ip),
                        anon_id: anon_id.as_deref(),
                    },
                )?;
                Ok((job, granted.standing))
            })
        })
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

/// The job if this user or anonymous session may see it; 404 otherwise.
async fn visible_job(
    state: &AppState,
    user: Option<&CurrentUser>,
    session: &Session,
    id: i64,
) -> Result<Job, AppError> {
    let job = state
        .db
        .run(move |conn| Ok(queue::find(conn, id)?))
        .await?
        .ok_or(AppError::NotFound)?;
    if may_see(&job, user, anon_id(session).as_deref()) {
        Ok(job)
    } else {
        Err(AppError::NotFound)
    }
}

async fn job_images(state: &AppState, job: &Job) -> Result<Vec<PlacedImage>, AppError> {
    let ids = job.image_ids.clone();
    state
        .db
        .run(move |conn| {
            let mut images = Vec::new();
            for id in ids {
                if let Some(placed) = Image::find_placed(conn, id)? {
                    images.push(placed);
                }
            }
            Ok(images)
        })
        .await
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
    error: Option<String>,
    /// What one image will cost, in words; with the balance, the page's script updates it
    /// for the chosen count.
    cost: String,
    credits: Option<i64>,
    credits_per_image: i64,
    signed_in: bool,
}

impl GeneratePage {
    async fn new(
        state: &AppState,
        session: &Session,
        current: Option<&CurrentUser>,
        ip: ClientIp,
    ) -> Result<Self, AppError> {
        let usage = usage_for(state, current, ip).await?;
        Ok(GeneratePage {
            layout: Layout::new(session, current),
            prompt: String::new(),
            count: 1,
            size: "512x512".into(),
            sizes: size_names(),
            seed: String::new(),
            error: None,
            cost: usage.next_image_cost(),
            credits: usage.credits,
            credits_per_image: usage.credits_per_image,
            signed_in: current.is_some(),
        })
    }
}

/// What this visitor may still do (credits, free images, anonymous uses).
pub async fn usage_for(
    state: &AppState,
    current: Option<&CurrentUser>,
    ip: ClientIp,
) -> Result<Usage, AppError> {
    let rules = state.rules.clone();
    let user = current.map(|current| current.user.clone());
    state
        .db
        .run(move |conn| Ok(charge::usage(conn, &rules, user.as_ref(), ip.0.into())?))
        .await
}

async fn generate_form(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let page = GeneratePage::new(&state, &session, user.0.as_ref(), ip).await?;
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
}

async fn generate(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
    form: web::Form<GenerateForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let visitor = Visitor::of(user, &session)?;
    let problem = match check_order(
        &form.prompt,
        form.count.as_deref(),
        form.size.as_deref(),
        form.seed.as_deref(),
    ) {
        Ok(order) => match place_order(&state, &session, &visitor, ip, order).await {
            Ok((job, standing)) => {
                return Ok(with_rate_limit(
                    see_other(&format!("/jobs/{}", job.id)),
                    standing,
                ));
            }
            // Refusals the visitor can act on are shown on the form, with what they typed.
            Err(
                err @ (AppError::BadRequest(_)
                | AppError::PaymentRequired(_)
                | AppError::PayloadTooLarge(_)),
            ) => err,
            Err(err) => return Err(err),
        },
        Err(message) => AppError::BadRequest(message),
    };
    let mut page = GeneratePage::new(&state, &session, visitor.current(), ip).await?;
    page.prompt = form.prompt.trim().to_owned();
    page.count = form.count.and_then(|c| c.parse().ok()).unwrap_or(1);
    page.size = form.size.unwrap_or_default();
    page.seed = form.seed.unwrap_or_default().trim().to_owned();
    page.error = Some(problem.message());
    render(problem.status_code(), &page)
}

#[derive(Template)]
#[template(path = "generate/job.html")]
struct JobPage {
    layout: Layout,
    id: i64,
    prompt: String,
    status: String,
    pending: bool,
    error: Option<String>,
    cards: Vec<Card>,
    /// Stories show each picture with its sentence, in order.
    scenes: Vec<(Card, String)>,
    /// Anonymous results: invite the visitor to keep them (kept this many hours).
    anonymous: bool,
    anon_hours: u64,
}

async fn job_page(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let job = visible_job(&state, user.0.as_ref(), &session, id.into_inner()).await?;
    let images = job_images(&state, &job).await?;
    let anonymous = job.user_id.is_none();
    // Anonymous visitors have no image pages: their pictures link to the full image.
    let card = |placed: &PlacedImage| {
        let mut card = Card::owned(placed);
        if anonymous {
            card.link = media_url(placed, Variant::Original);
        }
        card
    };
    render(
        StatusCode::OK,
        &JobPage {
            layout: Layout::new(&session, user.0.as_ref()),
            id: job.id,
            prompt: job.prompt.clone(),
            status: job.status.clone(),
            pending: !job.is_finished(),
            error: job.error.clone(),
            cards: images.iter().map(card).collect(),
            scenes: if job.kind == "story" {
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
        },
    )
}

fn image_entry(placed: &PlacedImage) -> serde_json::Value {
    let mut entry = serde_json::json!({
        "db_id": placed.image.id,
        "image_url": media_url(placed, Variant::Original),
        "thumb_url": media_url(placed, Variant::Thumb),
        "file_path": format!("uploads/{}/{}/original/{}.{}", placed.username, placed.folder_slug, placed.image.stem, placed.image.original_ext),
    });
    // Anonymous pictures have no image page until their visitor signs in.
    if placed.username != ANON_USERNAME {
        entry["page_url"] = format!("/images/{}", placed.image.id).into();
    }
    entry
}

fn job_json(job: &Job, images: &[PlacedImage]) -> serde_json::Value {
    serde_json::json!({
        "id": job.id,
        "status": job.status,
        "prompt": job.prompt,
        "error": job.error,
        "images": images.iter().map(image_entry).collect::<Vec<_>>(),
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
    let job = visible_job(&state, user.0.as_ref(), &session, id.into_inner()).await?;
    let images = job_images(&state, &job).await?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "success": true, "job": job_json(&job, &images) })))
}

#[derive(Debug, Deserialize)]
pub struct GenerateRequest {
    #[serde(default)]
    prompt: String,
    count: Option<serde_json::Value>,
    size: Option<String>,
    seed: Option<serde_json::Value>,
    wait: Option<bool>,
}

async fn api_generate(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
    body: web::Json<GenerateRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let as_text = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let count = body.count.as_ref().map(as_text);
    let seed = body.seed.as_ref().filter(|v| !v.is_null()).map(as_text);
    let order = check_order(
        &body.prompt,
        count.as_deref(),
        body.size.as_deref(),
        seed.as_deref(),
    )
    .map_err(AppError::BadRequest)?;
    let visitor = Visitor::of(user, &session)?;
    let (job, standing) = place_order(&state, &session, &visitor, ip, order).await?;
    let response = reply(
        &state,
        job,
        body.wait != Some(false),
        "Image generated successfully",
    )
    .await?;
    Ok(with_rate_limit(response, standing))
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
    let id = job.id;
    let deadline = tokio::time::Instant::now() + API_WAIT;
    let job = loop {
        let job = state
            .db
            .run(move |conn| Ok(queue::find(conn, id)?))
            .await?
            .ok_or(AppError::NotFound)?;
        if job.is_finished() || tokio::time::Instant::now() >= deadline {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    match job.status.as_str() {
        "succeeded" => {
            let images = job_images(state, &job).await?;
            let first = images.first().ok_or(AppError::NotFound)?;
            let mut reply = image_entry(first);
            reply["success"] = true.into();
            reply["message"] = message.into();
            reply["job_id"] = job.id.into();
            if images.len() > 1 {
                reply["images"] = images.iter().map(image_entry).collect::<Vec<_>>().into();
            }
            if job.kind == "story" {
                reply["folder"] = first.folder_slug.clone().into();
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
    form: web::Form<PromptEditForm>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let placed = state
        .db
        .run(move |conn| Ok(Image::find_placed(conn, id)?))
        .await?
        .filter(|placed| placed.image.user_id == current.user.id)
        .ok_or(AppError::NotFound)?;
    let mut order = match check_order(&form.prompt, None, None, None) {
        Ok(order) => order,
        Err(message) => {
            crate::views::Flash::error(&session, message);
            return Ok(see_other(&format!("/images/{id}")));
        }
    };
    order.kind = "edit";
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
        Err(err @ (AppError::PaymentRequired(_) | AppError::BadRequest(_))) => {
            crate::views::Flash::error(&session, err.message());
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
}

async fn story_form(session: Session, user: MaybeUser) -> Result<HttpResponse, AppError> {
    render(
        StatusCode::OK,
        &StoryPage {
            layout: Layout::new(&session, user.0.as_ref()),
            story: String::new(),
            error: None,
        },
    )
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
    form: web::Form<StoryForm>,
) -> Result<HttpResponse, AppError> {
    let visitor = Visitor::of(user, &session)?;
    let problem = match check_story(&form.story) {
        Ok(order) => match place_order(&state, &session, &visitor, ip, order).await {
            Ok((job, standing)) => {
                return Ok(with_rate_limit(
                    see_other(&format!("/jobs/{}", job.id)),
                    standing,
                ));
            }
            Err(err @ AppError::PaymentRequired(_)) => err,
            Err(err) => return Err(err),
        },
        Err(message) => AppError::BadRequest(message),
    };
    render(
        problem.status_code(),
        &StoryPage {
            layout: Layout::new(&session, visitor.current()),
            story: form.story.trim().to_owned(),
            error: Some(problem.message()),
        },
    )
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
    body: web::Json<StoryRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let order = check_story(&body.story).map_err(AppError::BadRequest)?;
    let visitor = Visitor::of(user, &session)?;
    let (job, standing) = place_order(&state, &session, &visitor, ip, order).await?;
    let response = reply(
        &state,
        job,
        body.wait != Some(false),
        "Story generated successfully",
    )
    .await?;
    Ok(with_rate_limit(response, standing))
}

#[cfg(test)]
mod tests {
    use super::check_order;

    #[test]
    fn orders_are_checked() {
        assert!(check_order("a fox", None, None, None).is_ok());
        assert_eq!(
            check_order("a fox", Some("4"), Some("768x512"), Some("42"))
                .map(|o| (o.count, o.size, o.seed)),
            Ok((4, (768, 512), Some(42)))
        );
        assert_eq!(
            check_order("a fox", None, None, Some("9007199254740991")).map(|o| o.seed),
            Ok(Some(super::MAX_SEED))
        );
        for seed in ["-1", "9007199254740992", "1.5", "seven"] {
            assert!(
                check_order("a fox", None, None, Some(seed)).is_err(),
                "{seed}"
            );
        }
        for (prompt, count, size) in [
            ("", None, None),
            ("  ", None, None),
            ("x", Some("5"), None),
            ("x", Some("0"), None),
            ("x", Some("two"), None),
            ("x", None, Some("4096x4096")),
        ] {
            assert!(
                check_order(prompt, count, size, None).is_err(),
                "{prompt:?} {count:?} {size:?}"
            );
        }
        assert!(check_order(&"x".repeat(1001), None, None, None).is_err());
    }
}
