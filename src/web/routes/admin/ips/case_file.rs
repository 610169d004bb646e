//! `/admin/ips/{ip-or-cidr}`: the case file of an address or range.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::{CASE_ROWS_PER_PAGE, network_from_path};
use crate::base::error::AppError;
use crate::db::models::ip_activity::{self, CaseCursor, CaseRow};
use crate::db::models::{Image, PlacedImage};
use crate::services::quota::blocks::{self, Block, LimitOverride};
use crate::services::quota::charge::Reservation;
use crate::web::extract::Query;
use crate::web::routes::admin::{AdminUser, record};
use crate::web::state::AppState;
use crate::web::views::Card;
use crate::web::views::network_label;
use crate::web::views::{Layout, render, timestamp};

/// One line of a case file, ready to show.
pub(super) struct CaseLine {
    kind: String,
    id: i64,
    user: Option<(i64, String)>,
    anonymous: bool,
    prompt: String,
    status: String,
    at: String,
    ip: String,
    quota: String,
    /// Videos: seconds ordered.
    seconds: Option<i32>,
    thumbs: Vec<Card>,
}

/// What a job's reservation took, in words.
pub(super) fn quota_use(row: &CaseRow) -> String {
    let Some(charge) = &row.charge else {
        return if row.kind == "upload" {
            "—".into()
        } else {
            "not charged".into()
        };
    };
    let reservation: Reservation = serde_json::from_value(charge.clone()).unwrap_or_default();
    match reservation {
        Reservation { credits, .. } if credits > 0 => {
            format!("{credits} credit{}", if credits == 1 { "" } else { "s" })
        }
        Reservation {
            free_image: Some(network),
            ..
        } => format!("free image ({network})"),
        Reservation {
            usage_event: Some(_),
            ..
        } => "anonymous use".into(),
        _ => "not charged".into(),
    }
}

#[derive(Template)]
#[template(path = "admin/ip.html")]
pub(super) struct CaseFilePage {
    layout: Layout,
    section: &'static str,
    label: String,
    network: String,
    lines: Vec<CaseLine>,
    total: i64,
    live_block: Option<Block>,
    history: Vec<(Block, String, String)>,
    limit_override: Option<LimitOverride>,
    /// "Accounts seen" or "Addresses active", and how many (from the rollups).
    seen: (&'static str, i64),
    /// Keyset paging: the next (older) rows, and back to the newest when not there.
    older_link: Option<String>,
    newest_link: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// Where the page starts: after this row (`CaseCursor::to_param`); absent, the newest.
    after: Option<String>,
}

pub(super) async fn case_file(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let network = network_from_path(&path)?;
    let after = match query.after.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(CaseCursor::parse(raw).ok_or_else(|| {
            AppError::BadRequest("after names a row of the case file, as its links do.".into())
        })?),
    };
    let shown_after = after.clone();
    let (rows, total, placed, history, over, accounts) = state
        .db
        .run(move |conn| {
            let rows =
                ip_activity::case_rows(conn, network, shown_after.as_ref(), CASE_ROWS_PER_PAGE)?;
            let total = ip_activity::case_row_count(conn, network)?;
            let ids: Vec<i64> = rows.iter().flat_map(|row| row.image_ids.clone()).collect();
            let placed: HashMap<i64, PlacedImage> = Image::placed_by_ids(conn, &ids)?
                .into_iter()
                .map(|placed| (placed.image.id, placed))
                .collect();
            let history = blocks::history(conn, network)?;
            let over = blocks::override_for(conn, network)?;
            let accounts = ip_activity::seen_on(conn, network)?;
            Ok::<_, AppError>((rows, total, placed, history, over, accounts))
        })
        .await?;
    record(
        &state,
        &admin,
        "view_case_file",
        network_label(&network),
        after
            .as_ref()
            .map_or("newest".to_owned(), CaseCursor::to_param),
    )
    .await?;
    let now = Utc::now();
    let is_live =
        |block: &Block| block.lifted_at.is_none() && block.expires_at.is_none_or(|at| at > now);
    let live_block = history
        .iter()
        .find(|block| is_live(block) && block.network.contains(network.ip()))
        .cloned();
    let lines = rows
        .iter()
        .map(|row| CaseLine {
            kind: row.kind.clone(),
            id: row.id,
            user: match (&row.user_id, &row.username) {
                (Some(id), Some(name)) if name != crate::db::models::user::ANON_USERNAME => {
                    Some((*id, name.clone()))
                }
                _ => None,
            },
            anonymous: row.anonymous,
            prompt: row.prompt.clone(),
            status: row.status.clone(),
            at: timestamp(row.at),
            ip: row.ip.ip().to_string(),
            quota: quota_use(row),
            seconds: row.seconds,
            thumbs: row
                .image_ids
                .iter()
                .filter_map(|id| placed.get(id))
                .map(Card::for_admin)
                .collect(),
        })
        .collect();
    let link_base = format!("/admin/ips/{}", network_label(&network));
    let older_link = (rows.len() as i64 == CASE_ROWS_PER_PAGE)
        .then(|| rows.last().map(CaseCursor::after))
        .flatten()
        .map(|cursor| format!("{link_base}?after={}", cursor.to_param()));
    let newest_link = after.is_some().then(|| link_base.clone());
    render(
        StatusCode::OK,
        &CaseFilePage {
            layout: Layout::new(&session, Some(&admin.current)),
            section: "ips",
            label: network_label(&network),
            network: network.to_string(),
            lines,
            total,
            live_block,
            history: history
                .into_iter()
                .map(|block| {
                    let state = if is_live(&block) {
                        "active".to_owned()
                    } else if let Some(at) = block.lifted_at {
                        format!("lifted {}", timestamp(at))
                    } else {
                        "expired".to_owned()
                    };
                    let created = timestamp(block.created_at);
                    (block, created, state)
                })
                .collect(),
            limit_override: over,
            seen: match accounts {
                ip_activity::Seen::Accounts(n) => ("Accounts seen", n),
                ip_activity::Seen::Addresses(n) => ("Addresses active", n),
            },
            older_link,
            newest_link,
        },
    )
}
