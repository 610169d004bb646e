//! The IP gallery (`/admin/ips`), the case file of an address or range
//! (`/admin/ips/{ip-or-cidr}`, with CSV and JSON abuse reports), and what an admin does
//! about it: block, unblock, delete everything from it, set limit overrides and add
//! disposable email domains (`/admin/limits`).

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use ipnetwork::IpNetwork;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{AdminUser, record};
use crate::error::AppError;
use crate::models::ip_activity::{self, CaseRow, Footprint, Grouping, IpFilter, IpSort};
use crate::models::{Image, PlacedImage};
use crate::operations::admin::{self as admin_ops, LimitChange};
use crate::quota::blocks::{self, Block, LimitOverride, OverrideValues, parse_network};
use crate::quota::charge::Reservation;
use crate::quota::free;
use crate::state::AppState;
use crate::storage::Variant;
use crate::tokens;
use crate::views::Card;
use crate::views::{Flash, Layout, Pager, render, see_other, timestamp, url_encode};
use crate::views::{human_bytes, page_number};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ips", web::get().to(gallery))
        .route("/ips/block", web::post().to(block))
        .route("/ips/unblock", web::post().to(unblock))
        .route("/ips/delete", web::get().to(confirm_delete))
        .route("/ips/delete", web::post().to(delete_everything))
        .route("/ips/{network:.+}/block", web::post().to(block_path))
        .route("/ips/{network:.+}/unblock", web::post().to(unblock_path))
        .route(
            "/ips/{network:.+}/delete-all",
            web::post().to(delete_all_path),
        )
        .route("/ips/{network:.+}/report.csv", web::get().to(report_csv))
        .route("/ips/{network:.+}/report.json", web::get().to(report_json))
        .route("/ips/{network:.+}", web::get().to(case_file))
        .route("/limits", web::get().to(limits_page))
        .route("/limits", web::post().to(set_limits))
        .route("/limits/remove", web::post().to(remove_limits))
        .route("/disposable-domains", web::post().to(add_disposable_domain));
}

const GROUPS_PER_PAGE: i64 = 30;
const CASE_ROWS_PER_PAGE: i64 = 40;
const STRIP: i64 = 6;

/// How a network is written in links and headings: a single address without its prefix.
pub fn label(network: &IpNetwork) -> String {
    let host = match network {
        IpNetwork::V4(_) => 32,
        IpNetwork::V6(_) => 128,
    };
    if network.prefix() == host {
        network.ip().to_string()
    } else {
        network.to_string()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GalleryQuery {
    group: String,
    q: String,
    since: String,
    until: String,
    user: String,
    sort: String,
    page: Option<String>,
}

struct GroupRow {
    label: String,
    generations: i64,
    uploads: i64,
    anonymous: i64,
    first_seen: String,
    last_seen: String,
    accounts: Vec<String>,
    blocked: bool,
    thumbs: Vec<Card>,
}

#[derive(Template)]
#[template(path = "admin/ips.html")]
struct GalleryPage {
    layout: Layout,
    section: &'static str,
    rows: Vec<GroupRow>,
    total: i64,
    query: GalleryQuery,
    error: Option<String>,
    pager: Pager,
}

fn parse_day(raw: &str, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|day| (1970..=9999).contains(&day.year()))
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|at| Some(at.and_utc()))
        .ok_or_else(|| format!("{field} must be a date from 1970 to 9999, like 2026-12-31."))
}

impl GalleryQuery {
    fn filter(&self) -> Result<IpFilter, String> {
        let within = match self.q.trim() {
            "" => None,
            raw => Some(parse_network(raw)?),
        };
        // The day after, checked: the years allowed leave room for one more day.
        let until = parse_day(&self.until, "The end date")?
            .and_then(|day| day.checked_add_signed(chrono::Duration::days(1)));
        let user = self.user.trim().to_lowercase();
        Ok(IpFilter {
            within,
            since: parse_day(&self.since, "The start date")?,
            until,
            username: (!user.is_empty()).then_some(user),
        })
    }

    fn grouping(&self) -> Grouping {
        if self.group == "prefix" {
            Grouping::Prefix
        } else {
            Grouping::Address
        }
    }

    fn link(&self, page: i64) -> String {
        let params = [
            ("group", &self.group),
            ("q", &self.q),
            ("since", &self.since),
            ("until", &self.until),
            ("user", &self.user),
            ("sort", &self.sort),
        ];
        let mut query: Vec<String> = params
            .iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(name, value)| format!("{name}={}", url_encode(value.trim())))
            .collect();
        query.push(format!("page={page}"));
        format!("/admin/ips?{}", query.join("&"))
    }
}

async fn gallery(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<GalleryQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let page = page_number(query.page.as_deref());
    let (filter, error) = match query.filter() {
        Ok(filter) => (filter, None),
        Err(message) => (IpFilter::default(), Some(message)),
    };
    let grouping = query.grouping();
    let sort = IpSort::parse(&query.sort);
    let (groups, placed_by_network) = state
        .db
        .run(move |conn| {
            let groups = ip_activity::groups(
                conn,
                grouping,
                &filter,
                sort,
                (page - 1) * GROUPS_PER_PAGE,
                GROUPS_PER_PAGE,
            )?;
            let networks: Vec<IpNetwork> = groups.iter().map(|group| group.network).collect();
            let recent = ip_activity::recent_image_ids(conn, &networks, STRIP)?;
            let ids: Vec<i64> = recent.iter().map(|(_, id)| *id).collect();
            let placed: HashMap<i64, PlacedImage> = Image::placed_by_ids(conn, &ids)?
                .into_iter()
                .map(|placed| (placed.image.id, placed))
                .collect();
            let mut by_network: HashMap<IpNetwork, Vec<Card>> = HashMap::new();
            for (network, id) in recent {
                if let Some(placed) = placed.get(&id) {
                    by_network
                        .entry(network)
                        .or_default()
                        .push(Card::for_admin(placed));
                }
            }
            Ok((groups, by_network))
        })
        .await?;
    let mut placed_by_network = placed_by_network;
    let total = groups.first().map_or(0, |group| group.total_groups);
    let rows = groups
        .into_iter()
        .map(|group| GroupRow {
            label: label(&group.network),
            generations: group.generations,
            uploads: group.uploads,
            anonymous: group.anonymous,
            first_seen: timestamp(group.first_seen),
            last_seen: timestamp(group.last_seen),
            accounts: group.accounts,
            blocked: group.blocked,
            thumbs: placed_by_network.remove(&group.network).unwrap_or_default(),
        })
        .collect();
    let pager = Pager::new(page, total, GROUPS_PER_PAGE, |p| query.link(p));
    render(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        &GalleryPage {
            layout: Layout::new(&session, Some(&admin.current)),
            section: "ips",
            rows,
            total,
            error,
            pager,
            query,
        },
    )
}

/// The network named in a path or form, or 404/400.
fn network_from_path(raw: &str) -> Result<IpNetwork, AppError> {
    parse_network(raw).map_err(|_| AppError::NotFound)
}

/// One line of a case file, ready to show.
struct CaseLine {
    kind: String,
    id: i64,
    user: Option<(i64, String)>,
    anonymous: bool,
    prompt: String,
    status: String,
    at: String,
    ip: String,
    quota: String,
    thumbs: Vec<Card>,
}

/// What a job's reservation took, in words.
fn quota_use(row: &CaseRow) -> String {
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
struct CaseFilePage {
    layout: Layout,
    section: &'static str,
    label: String,
    network: String,
    lines: Vec<CaseLine>,
    total: i64,
    live_block: Option<Block>,
    history: Vec<(Block, String, String)>,
    limit_override: Option<LimitOverride>,
    footprint: Footprint,
    disk_used: String,
    pager: Pager,
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    page: Option<String>,
}

async fn case_file(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let network = network_from_path(&path)?;
    let page = page_number(query.page.as_deref());
    let (rows, total, placed, history, over, footprint) = state
        .db
        .run(move |conn| {
            let rows = ip_activity::case_rows(
                conn,
                network,
                (page - 1) * CASE_ROWS_PER_PAGE,
                CASE_ROWS_PER_PAGE,
            )?;
            let total = ip_activity::case_row_count(conn, network)?;
            let ids: Vec<i64> = rows.iter().flat_map(|row| row.image_ids.clone()).collect();
            let placed: HashMap<i64, PlacedImage> = Image::placed_by_ids(conn, &ids)?
                .into_iter()
                .map(|placed| (placed.image.id, placed))
                .collect();
            let history = blocks::history(conn, network)?;
            let over = blocks::override_for(conn, network)?;
            let footprint = ip_activity::footprint(conn, network)?;
            Ok((rows, total, placed, history, over, footprint))
        })
        .await?;
    record(
        &state,
        &admin,
        "view_case_file",
        label(&network),
        format!("page {page}"),
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
                (Some(id), Some(name)) if name != crate::models::user::ANON_USERNAME => {
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
            thumbs: row
                .image_ids
                .iter()
                .filter_map(|id| placed.get(id))
                .map(Card::for_admin)
                .collect(),
        })
        .collect();
    let link_base = format!("/admin/ips/{}", label(&network));
    let pager = Pager::new(page, total, CASE_ROWS_PER_PAGE, |p| {
        format!("{link_base}?page={p}")
    });
    render(
        StatusCode::OK,
        &CaseFilePage {
            layout: Layout::new(&session, Some(&admin.current)),
            section: "ips",
            label: label(&network),
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
            disk_used: human_bytes(footprint.disk_bytes),
            footprint,
            pager,
        },
    )
}

/// One row of an abuse report: one image (or a generation that produced none).
#[derive(Debug, serde::Serialize)]
struct ReportRow {
    time: String,
    ip: String,
    user: String,
    kind: String,
    prompt: String,
    image_id: Option<i64>,
    sha256: String,
    action_taken: String,
}

/// Every generation and upload from `network` with the SHA-256 of each stored file (the
/// exact bytes, `pristine`) and the block state of its address.
async fn report_rows(state: &AppState, network: IpNetwork) -> Result<Vec<ReportRow>, AppError> {
    let library = state.library.clone();
    state
        .db
        .run(move |conn| {
            let rows = ip_activity::case_rows(conn, network, 0, i64::MAX)?;
            let ids: Vec<i64> = rows.iter().flat_map(|row| row.image_ids.clone()).collect();
            let placed: HashMap<i64, PlacedImage> = Image::placed_by_ids(conn, &ids)?
                .into_iter()
                .map(|placed| (placed.image.id, placed))
                .collect();
            let mut block_of: HashMap<IpNetwork, String> = HashMap::new();
            let mut report = Vec::new();
            for row in rows {
                let action = match block_of.get(&row.ip) {
                    Some(action) => action.clone(),
                    None => {
                        let action = match blocks::active_block(conn, row.ip)? {
                            Some(block) => format!("blocked ({}): {}", block.network, block.reason),
                            None => "none".to_owned(),
                        };
                        block_of.insert(row.ip, action.clone());
                        action
                    }
                };
                let user = match (&row.username, row.anonymous) {
                    (Some(name), false) => name.clone(),
                    (Some(name), true) if name != crate::models::user::ANON_USERNAME => {
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
                };
                if row.image_ids.is_empty() {
                    report.push(base(None, String::new()));
                }
                for id in &row.image_ids {
                    let sha256 = match placed.get(id) {
                        Some(placed) => {
                            let path = library.path_of(placed, Variant::Pristine)?;
                            let bytes = library.storage.read(&path).map_err(AppError::internal)?;
                            tokens::hex(&Sha256::digest(&bytes))
                        }
                        None => "(deleted)".to_owned(),
                    };
                    report.push(base(Some(*id), sha256));
                }
            }
            Ok(report)
        })
        .await
}

fn attachment(name: String) -> ContentDisposition {
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(name)],
    }
}

fn report_name(network: &IpNetwork, ext: &str) -> String {
    let safe: String = label(network)
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
async fn audited_report(
    admin: &AdminUser,
    state: &AppState,
    path: &str,
    format: &str,
) -> Result<(IpNetwork, Vec<ReportRow>), AppError> {
    let network = network_from_path(path)?;
    let rows = report_rows(state, network).await?;
    let detail = format!("{format}, {} rows", rows.len());
    record(state, admin, "export_report", label(&network), detail).await?;
    Ok((network, rows))
}

async fn report_csv(
    admin: AdminUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (network, rows) = audited_report(&admin, &state, &path, "csv").await?;
    let mut csv = String::from("time,ip,user,kind,prompt,image_id,sha256,action_taken\r\n");
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
fn csv_field(value: &str) -> String {
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

async fn report_json(
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

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BlockForm {
    network: String,
    reason: String,
    /// Hours until the block ends by itself; empty: no expiry.
    expires_hours: String,
}

/// Where an action on `network` returns to.
fn case_file_link(network: &IpNetwork) -> String {
    format!("/admin/ips/{}", label(network))
}

fn parse_network_field(raw: &str) -> Result<IpNetwork, AppError> {
    parse_network(raw).map_err(AppError::BadRequest)
}

fn parse_expiry(raw: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    match raw.trim() {
        "" => Ok(None),
        raw => raw
            .parse::<u32>()
            .ok()
            .filter(|hours| (1..=24 * 3650).contains(hours))
            .and_then(|hours| {
                Utc::now().checked_add_signed(chrono::Duration::hours(i64::from(hours)))
            })
            .map(Some)
            .ok_or_else(|| {
                AppError::BadRequest(
                    "The expiry is a number of hours from 1 to 87600 (empty: no expiry).".into(),
                )
            }),
    }
}

/// `POST /admin/ips/block` (the form names the network) and `POST /admin/ips/{ip}/block`
/// (the path does): the reason is optional, and the block with its audit row is one
/// transaction.
async fn block(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<BlockForm>,
) -> Result<HttpResponse, AppError> {
    let network = parse_network_field(&form.network)?;
    apply_block(&admin, &state, &session, network, &form).await
}

async fn block_path(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    network: web::Path<String>,
    form: web::Form<BlockForm>,
) -> Result<HttpResponse, AppError> {
    let network = parse_network_field(&network)?;
    apply_block(&admin, &state, &session, network, &form).await
}

async fn apply_block(
    admin: &AdminUser,
    state: &AppState,
    session: &Session,
    network: IpNetwork,
    form: &BlockForm,
) -> Result<HttpResponse, AppError> {
    let reason = match form.reason.trim() {
        "" => format!("Blocked by {}.", admin.current.user.username),
        reason if reason.chars().count() > 500 => {
            return Err(AppError::BadRequest(
                "The reason is at most 500 characters.".into(),
            ));
        }
        reason => reason.to_owned(),
    };
    let expires_at = parse_expiry(&form.expires_hours)?;
    let detail = format!(
        "Reason: {reason} {}",
        expires_at.map_or_else(
            || "No expiry.".to_owned(),
            |at| format!("Until {}.", timestamp(at))
        )
    );
    let actor = admin.actor();
    state
        .db
        .run(move |conn| admin_ops::block(conn, &actor, network, &reason, expires_at, &detail))
        .await?;
    Flash::success(session, format!("{} is blocked.", label(&network)));
    Ok(see_other(&case_file_link(&network)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NetworkForm {
    network: String,
}

async fn unblock(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<NetworkForm>,
) -> Result<HttpResponse, AppError> {
    let network = parse_network_field(&form.network)?;
    apply_unblock(&admin, &state, &session, network).await
}

async fn unblock_path(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    network: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let network = parse_network_field(&network)?;
    apply_unblock(&admin, &state, &session, network).await
}

async fn apply_unblock(
    admin: &AdminUser,
    state: &AppState,
    session: &Session,
    network: IpNetwork,
) -> Result<HttpResponse, AppError> {
    let actor = admin.actor();
    let lifted = state
        .db
        .run(move |conn| admin_ops::unblock(conn, &actor, network))
        .await?;
    if lifted == 0 {
        Flash::error(
            session,
            format!("{} had no active block of its own.", label(&network)),
        );
    } else {
        Flash::success(
            session,
            format!("{} is no longer blocked.", label(&network)),
        );
    }
    Ok(see_other(&case_file_link(&network)))
}

#[derive(Template)]
#[template(path = "admin/ip_delete.html")]
struct ConfirmDeletePage {
    layout: Layout,
    section: &'static str,
    network: String,
    label: String,
    footprint: Footprint,
    disk_used: String,
}

async fn confirm_delete(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<NetworkForm>,
) -> Result<HttpResponse, AppError> {
    let network = parse_network_field(&query.network)?;
    let footprint = state
        .db
        .run(move |conn| Ok(ip_activity::footprint(conn, network)?))
        .await?;
    render(
        StatusCode::OK,
        &ConfirmDeletePage {
            layout: Layout::new(&session, Some(&admin.current)),
            section: "ips",
            network: network.to_string(),
            label: label(&network),
            disk_used: human_bytes(footprint.disk_bytes),
            footprint,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteForm {
    network: String,
    confirm: String,
}

/// `POST /admin/ips/delete`: the browser's form, after the confirmation page.
async fn delete_everything(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<DeleteForm>,
) -> Result<HttpResponse, AppError> {
    let network = parse_network_field(&form.network)?;
    if form.confirm != "yes" {
        return Err(AppError::BadRequest(
            "Tick the confirmation to delete everything from this network.".into(),
        ));
    }
    apply_delete_everything(&admin, &state, &session, network).await
}

/// `POST /admin/ips/{ip}/delete-all`: the same for scripts, which name the network in the
/// path and need no confirmation step.
async fn delete_all_path(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    network: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let network = parse_network_field(&network)?;
    apply_delete_everything(&admin, &state, &session, network).await
}

/// Deletes every image (rows, then files) and every job from the network, with the audit
/// row, in one transaction.
async fn apply_delete_everything(
    admin: &AdminUser,
    state: &AppState,
    session: &Session,
    network: IpNetwork,
) -> Result<HttpResponse, AppError> {
    let (library, actor) = (state.library.clone(), admin.actor());
    let (images, jobs) = state
        .db
        .run(move |conn| admin_ops::delete_everything_from(conn, &library, &actor, network))
        .await?;
    state.media_cache.clear();
    Flash::success(
        session,
        format!(
            "Deleted {images} images and {jobs} generation records from {}.",
            label(&network)
        ),
    );
    Ok(see_other(&case_file_link(&network)))
}

#[derive(Template)]
#[template(path = "admin/limits.html")]
struct LimitsPage {
    layout: Layout,
    section: &'static str,
    blocks: Vec<(Block, String)>,
    overrides: Vec<(LimitOverride, String)>,
    defaults: (u32, u32, u32, u32),
    /// Disposable email domains: the shipped list's size and the ones admins added.
    shipped_domains: usize,
    added_domains: Vec<String>,
}

async fn limits_page(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, AppError> {
    // Off the executor: the first look at the shipped domain list parses it.
    let (live, overrides, added_domains, shipped_domains) = state
        .db
        .run(|conn| {
            Ok((
                blocks::live(conn)?,
                blocks::overrides(conn)?,
                free::added_disposable_domains(conn)?,
                free::shipped_count(),
            ))
        })
        .await?;
    let settings = &state.settings;
    let until = |at: Option<DateTime<Utc>>| at.map_or_else(|| "no expiry".to_owned(), timestamp);
    render(
        StatusCode::OK,
        &LimitsPage {
            layout: Layout::new(&session, Some(&admin.current)),
            section: "limits",
            blocks: live
                .into_iter()
                .map(|block| {
                    let until = until(block.expires_at);
                    (block, until)
                })
                .collect(),
            overrides: overrides
                .into_iter()
                .map(|over| {
                    let until = until(over.expires_at);
                    (over, until)
                })
                .collect(),
            defaults: (
                settings.anon_generate_limit,
                settings.anon_story_limit,
                settings.free_images_standard,
                settings.free_images_plus,
            ),
            shipped_domains,
            added_domains,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DomainForm {
    domain: String,
}

/// `POST /admin/disposable-domains`: standard accounts with an address at this domain (or
/// under it) get no free images.
async fn add_disposable_domain(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<DomainForm>,
) -> Result<HttpResponse, AppError> {
    let domain = free::parse_domain(&form.domain).ok_or_else(|| {
        AppError::BadRequest(format!("{:?} is not a domain name.", form.domain.trim()))
    })?;
    let (added, actor) = (domain.clone(), admin.actor());
    state
        .db
        .run(move |conn| admin_ops::add_disposable_domain(conn, &actor, &added))
        .await?;
    Flash::success(
        &session,
        format!("{domain} counts as disposable from now on."),
    );
    Ok(see_other("/admin/limits"))
}

/// `POST /admin/limits` takes either the SPEC's one-limit form (`cidr`, `action`, `limit`)
/// or the admin page's form (`network` and a field per limit); `reason` and
/// `expires_hours` go with both.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LimitsForm {
    cidr: String,
    action: String,
    limit: String,
    network: String,
    anon_generate: String,
    anon_story: String,
    anon_video: String,
    free_images: String,
    reason: String,
    expires_hours: String,
}

fn optional_limit(raw: &str, name: &str) -> Result<Option<u32>, AppError> {
    match raw.trim() {
        "" => Ok(None),
        raw => raw
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 1_000_000)
            .map(Some)
            .ok_or_else(|| {
                AppError::BadRequest(format!(
                    "{name} must be a whole number from 0 to 1000000 (empty: the default)."
                ))
            }),
    }
}

fn parse_limits_form(form: &LimitsForm) -> Result<(IpNetwork, LimitChange), AppError> {
    if !form.cidr.trim().is_empty() || !form.action.trim().is_empty() {
        let network = parse_network_field(&form.cidr)?;
        let field: fn(&mut OverrideValues) -> &mut Option<u32> = match form.action.trim() {
            "generate" => |values| &mut values.anon_generate,
            "story" => |values| &mut values.anon_story,
            "video" => |values| &mut values.anon_video,
            "free_images" => |values| &mut values.free_images,
            _ => {
                return Err(AppError::BadRequest(
                    "The action is generate, story, video or free_images.".into(),
                ));
            }
        };
        let limit = optional_limit(&form.limit, "The limit")?
            .ok_or_else(|| AppError::BadRequest("Give the limit, a whole number.".into()))?;
        return Ok((network, LimitChange::One(field, limit)));
    }
    let network = parse_network_field(&form.network)?;
    let values = OverrideValues {
        anon_generate: optional_limit(&form.anon_generate, "Anonymous generations")?,
        anon_story: optional_limit(&form.anon_story, "Anonymous stories")?,
        anon_video: optional_limit(&form.anon_video, "Anonymous videos")?,
        free_images: optional_limit(&form.free_images, "Free images")?,
    };
    if values.is_empty() {
        return Err(AppError::BadRequest(
            "Set at least one limit (or remove the override).".into(),
        ));
    }
    Ok((network, LimitChange::All(values)))
}

/// `POST /admin/limits`: sets (or replaces) the override of a network; one action's limit
/// keeps the others the network's override already had. The override and its audit row
/// are one transaction.
async fn set_limits(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<LimitsForm>,
) -> Result<HttpResponse, AppError> {
    let (network, change) = parse_limits_form(&form)?;
    let expires_at = parse_expiry(&form.expires_hours)?;
    let reason = form.reason.trim();
    if reason.chars().count() > 500 {
        return Err(AppError::BadRequest(
            "The reason is at most 500 characters.".into(),
        ));
    }
    let reason = reason.to_owned();
    let actor = admin.actor();
    let values = state
        .db
        .run(move |conn| admin_ops::set_limits(conn, &actor, network, change, &reason, expires_at))
        .await?;
    // Refusals this instance remembers were made under the old limits (other instances
    // forget theirs within seconds).
    state.recent_refusals.clear();
    Flash::success(
        &session,
        format!(
            "Limits for {} saved: {}.",
            label(&network),
            values.describe()
        ),
    );
    Ok(see_other("/admin/limits"))
}

async fn remove_limits(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<NetworkForm>,
) -> Result<HttpResponse, AppError> {
    let network = parse_network_field(&form.network)?;
    let actor = admin.actor();
    let removed = state
        .db
        .run(move |conn| admin_ops::remove_limits(conn, &actor, network))
        .await?;
    if removed > 0 {
        state.recent_refusals.clear();
        Flash::success(
            &session,
            format!("{} is back to the default limits.", label(&network)),
        );
    } else {
        Flash::error(&session, format!("{} had no override.", label(&network)));
    }
    Ok(see_other("/admin/limits"))
}

#[cfg(test)]
mod tests {
    use super::{csv_field, label};

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-1+1"), "'-1+1");
    }

    #[test]
    fn single_addresses_are_labelled_without_a_prefix() {
        let net = |s: &str| s.parse().expect("net");
        assert_eq!(label(&net("203.0.113.5/32")), "203.0.113.5");
        assert_eq!(label(&net("198.51.100.0/24")), "198.51.100.0/24");
        assert_eq!(label(&net("2001:db8::1/128")), "2001:db8::1");
    }
}
