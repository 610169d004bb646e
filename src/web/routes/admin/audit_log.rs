//! `/admin/audit`: the append-only log of admin actions, filterable by actor, action and
//! target.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AdminUser;
use crate::base::error::AppError;
use crate::db::models::audit::{self, AuditEntry, AuditFilter};
use crate::web::extract::Query;
use crate::web::state::AppState;
use crate::web::views::page_number;
use crate::web::views::{Layout, Pager, render, timestamp, url_encode};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(audit_log));
}

const ENTRIES_PER_PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    actor: String,
    action: String,
    target: String,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    section: &'static str,
    /// Each entry with its time and its action in words.
    entries: Vec<(AuditEntry, String, String)>,
    /// (stored word, words) for the filter's menu.
    actions: Vec<(String, String)>,
    total: i64,
    query: AuditQuery,
    pager: Pager,
}

async fn audit_log(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    Query(query): Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let page = page_number(query.page.as_deref());
    let nonempty = |text: &str| Some(text.trim().to_owned()).filter(|text| !text.is_empty());
    let filter = AuditFilter {
        actor: nonempty(&query.actor).map(|name| name.to_lowercase()),
        action: nonempty(&query.action),
        target: nonempty(&query.target),
    };
    let ((entries, total), actions) = state
        .db
        .run(move |conn| {
            Ok::<_, AppError>((
                audit::list(
                    conn,
                    &filter,
                    (page - 1) * ENTRIES_PER_PAGE,
                    ENTRIES_PER_PAGE,
                )?,
                audit::actions(conn)?,
            ))
        })
        .await?;
    let pager = Pager::new(page, total, ENTRIES_PER_PAGE, |p| {
        format!(
            "/admin/audit?actor={}&action={}&target={}&page={p}",
            url_encode(&query.actor),
            url_encode(&query.action),
            url_encode(&query.target)
        )
    });
    render(
        StatusCode::OK,
        &AuditPage {
            layout: Layout::new(&session, Some(&admin.current)),
            section: "audit",
            entries: entries
                .into_iter()
                .map(|entry| {
                    let at = timestamp(entry.at);
                    let words = audit::describe_action(&entry.action)
                        .map_or_else(|| entry.action.clone(), str::to_owned);
                    (entry, at, words)
                })
                .collect(),
            actions: actions
                .into_iter()
                .map(|action| {
                    let words = audit::describe_action(&action)
                        .map_or_else(|| action.clone(), str::to_owned);
                    (action, words)
                })
                .collect(),
            total,
            query,
            pager,
        },
    )
}
