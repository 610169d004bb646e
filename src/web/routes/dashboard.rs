//! `/dashboard`: what a signed-in user has and may still do (credits, free images on this
//! network, storage and uploads against their limits), and their recent images.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::base::error::AppError;
use crate::operations::pages;
use crate::services::quota::ClientIp;
use crate::services::quota::charge::Usage;
use crate::web::extract::CurrentUser;
use crate::web::state::AppState;
use crate::web::views::{Card, human_bytes};
use crate::web::views::{Layout, render};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(dashboard));
}

#[derive(Template)]
#[template(path = "account/dashboard.html")]
struct DashboardPage {
    layout: Layout,
    username: String,
    credits: i64,
    tier: String,
    member_since: String,
    image_count: i64,
    folder_count: usize,
    storage_used: String,
    /// The storage quota in words, and the uploads of the last hour against the rate.
    storage_quota: Option<String>,
    uploads_last_hour: u32,
    uploads_per_hour: u32,
    recent: Vec<Card>,
    usage: Usage,
    /// Where to ask for credits (`ATELIER_CREDITS_CONTACT`), shown beside a refusal.
    credits_contact: Option<String>,
}

/// How many recent images the dashboard shows.
const RECENT: i64 = 8;

async fn dashboard(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let (rules, summaries) = (state.rules.clone(), state.summaries.clone());
    let user = current.user.clone();
    let data = state
        .db
        .run(move |conn| pages::dashboard(conn, &summaries, &rules, &user, ip.0.into(), RECENT))
        .await?;
    let quota = data.usage;
    let limits = crate::services::quota::storage::UploadLimits::of(&state.settings);
    let user = &current.user;
    render(
        StatusCode::OK,
        &DashboardPage {
            layout: Layout::new(&session, Some(&current)),
            credits_contact: state.settings.credits_contact.clone(),
            username: user.username.clone(),
            credits: quota.credits.unwrap_or(user.credits),
            tier: user.tier.to_string(),
            member_since: user.created_at.format("%B %-d, %Y").to_string(),
            image_count: data.image_count,
            folder_count: data.folder_count,
            storage_used: human_bytes(data.stored_bytes),
            storage_quota: (limits.storage_bytes > 0)
                .then(|| human_bytes(i64::try_from(limits.storage_bytes).unwrap_or(i64::MAX))),
            uploads_last_hour: data.uploads_last_hour,
            uploads_per_hour: limits.uploads_per_hour,
            recent: data.recent.iter().map(Card::owned).collect(),
            usage: quota,
        },
    )
}
