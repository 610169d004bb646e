//! Abuse reports of an address or range as CSV and JSON, audited like a case-file view.

use std::collections::HashMap;

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use ipnetwork::IpNetwork;
use sha2::{Digest, Sha256};

use super::network_from_path;
use crate::base::error::AppError;
use crate::db::models::ip_activity::{self};
use crate::db::models::{Image, PlacedImage};
use crate::domain::tokens;
use crate::storage::{StoreError, Variant};
use crate::web::routes::admin::{AdminUser, record};
use crate::web::state::AppState;
use crate::web::views::network_label;

/// One row of an abuse report: one image (or a generation that produced none).
#[derive(Debug, serde::Serialize)]
pub(super) struct ReportRow {
    time: String,
    ip: String,
    user: String,
    kind: String,
    prompt: String,
    image_id: Option<i64>,
    sha256: String,
    action_taken: String,
    /// Videos: the clip's length in seconds (as ordered; empty for pictures).
    seconds: Option<i32>,
}

/// Every generation and upload from `network` with the SHA-256 of each stored file (the
/// exact bytes, `pristine`) and the block state of its address.
pub(super) async fn report_rows(
    state: &AppState,
    network: IpNetwork,
) -> Result<Vec<ReportRow>, AppError> {
    let library = state.library.clone();
    let policy = state.rules.policy.clone();
    state
        .db
        .run(move |conn| {
            let policy = policy.current(conn)?;
            // Every row, a keyset page at a time.
            let mut rows = Vec::new();
            loop {
                let after = rows.last().map(ip_activity::CaseCursor::after);
                let page = ip_activity::case_rows(conn, network, after.as_ref(), 1000)?;
                let done = page.len() < 1000;
                rows.extend(page);
                if done {
                    break;
                }
            }
            let ids: Vec<i64> = rows.iter().flat_map(|row| row.image_ids.clone()).collect();
            let placed: HashMap<i64, PlacedImage> = Image::placed_by_ids(conn, &ids)?
                .into_iter()
                .map(|placed| (placed.image.id, placed))
                .collect();
            let mut report = Vec::new();
            for row in rows {
                let action = match policy.block_for(row.ip.ip()) {
                    Some(block) => format!("blocked ({}): {}", block.network, block.reason),
                    None => "none".to_owned(),
                };
                let user = match (&row.username, row.anonymous) {
                    (Some(name), false) => name.clone(),
                    (Some(name), true) if name != crate::db::models::user::ANON_USERNAME => {
                        format!("{name} (anonymous at the time)")
                    }
                    _ => "anonymous".to_owned(),
                };
                let base = |image_id: Option<i64>, sha256: String| ReportRow {
                    time: row.at.to_rfc3339(),
                    ip: row.ip.ip().to_string(),
                    user: user.clone(),
                    kind: row.kind.clone(),
                    prompt: row.prompt.clone(),
                    image_id,
                    sha256,
                    action_taken: action.clone(),
                    seconds: row.seconds,
                };
                if row.image_ids.is_empty() {
                    report.push(base(None, String::new()));
                }
                for id in &row.image_ids {
                    // One lost file is a fact for its row, not a reason to lose the report.
                    let sha256 = match placed.get(id) {
                        Some(placed) => match library.read(placed, Variant::Pristine) {
                            Ok(bytes) => tokens::hex(&Sha256::digest(&bytes)),
                            Err(StoreError::NotFound) => "(file missing)".to_owned(),
                            Err(err) => return Err(err.into()),
                        },
                        None => "(deleted)".to_owned(),
                    };
                    report.push(base(Some(*id), sha256));
                }
            }
            Ok::<_, AppError>(report)
        })
        .await
}

pub(super) fn attachment(name: String) -> ContentDisposition {
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(name)],
    }
}

pub(super) fn report_name(network: &IpNetwork, ext: &str) -> String {
    let safe: String = network_label(network)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("atelier-abuse-report-{safe}.{ext}")
}

/// The report rows of the network in `path`, with the export written to the audit log.
pub(super) async fn audited_report(
    admin: &AdminUser,
    state: &AppState,
    path: &str,
    format: &str,
) -> Result<(IpNetwork, Vec<ReportRow>), AppError> {
    let network = network_from_path(path)?;
    let rows = report_rows(state, network).await?;
    let detail = format!("{format}, {} rows", rows.len());
    record(
        state,
        admin,
        "export_report",
        network_label(&network),
        detail,
    )
    .await?;
    Ok((network, rows))
}

pub(super) async fn report_csv(
    admin: AdminUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (network, rows) = audited_report(&admin, &state, &path, "csv").await?;
    let mut csv = String::from("time,ip,user,kind,prompt,image_id,sha256,action_taken,seconds\r\n");
    for row in &rows {
        let fields = [
            row.time.clone(),
            row.ip.clone(),
            row.user.clone(),
            row.kind.clone(),
            row.prompt.clone(),
            row.image_id.map(|id| id.to_string()).unwrap_or_default(),
            row.sha256.clone(),
            row.action_taken.clone(),
            row.seconds.map(|s| s.to_string()).unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
        csv.push_str(&line.join(","));
        csv.push_str("\r\n");
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(attachment(report_name(&network, "csv")))
        .body(csv))
}

/// A CSV field: quoted when needed, and defused when a spreadsheet would read it as a
/// formula (prompts are written by strangers).
pub(super) fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

pub(super) async fn report_json(
    admin: AdminUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (network, rows) = audited_report(&admin, &state, &path, "json").await?;
    Ok(HttpResponse::Ok()
        .insert_header(attachment(report_name(&network, "json")))
        .json(serde_json::json!({
            "network": network.to_string(),
            "generated_at": Utc::now().to_rfc3339(),
            "rows": rows,
        })))
}
