//! `/admin`: the state of the site at a glance.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::AdminUser;
use crate::base::error::AppError;
use crate::db::models::stats::{Overview, TopAddress};
use crate::operations::pages;
use crate::services::quota::blocks::Block;
use crate::web::state::AppState;
use crate::web::views::human_bytes;
use crate::web::views::{Layout, render, timestamp};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(overview))
        .route("/", web::get().to(overview));
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    layout: Layout,
    section: &'static str,
    stats: Overview,
    disk_used: String,
    top: Vec<TopAddress>,
    blocks: Vec<(Block, String)>,
}

async fn overview(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, AppError> {
    let pages::OverviewData { stats, top, blocks } = state.db.run(pages::admin_overview).await?;
    render(
        StatusCode::OK,
        &OverviewPage {
            layout: Layout::new(&session, Some(&admin.current)),
            section: "overview",
            disk_used: human_bytes(stats.disk_bytes),
            stats,
            top,
            blocks: blocks
                .into_iter()
                .map(|block| {
                    let until = block
                        .expires_at
                        .map_or_else(|| "no expiry".to_owned(), timestamp);
                    (block, until)
                })
                .collect(),
        },
    )
}
