//! What an admin does about a network: block, unblock, delete everything (with a
//! confirmation page in the browser, the SPEC's direct paths for scripts).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use ipnetwork::IpNetwork;
use serde::Deserialize;

use super::{NetworkForm, case_file_link, parse_expiry, parse_network_field};
use crate::base::error::AppError;
use crate::db::models::ip_activity::{self, Footprint};
use crate::operations::admin as admin_ops;
use crate::web::extract::{Form, Query};
use crate::web::routes::admin::AdminUser;
use crate::web::state::AppState;
use crate::web::views::human_bytes;
use crate::web::views::network_label;
use crate::web::views::{Flash, Layout, render, see_other, timestamp};

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct BlockForm {
    network: String,
    reason: String,
    /// Hours until the block ends by itself; empty: no expiry.
    expires_hours: String,
}

/// `POST /admin/ips/block` (the form names the network) and `POST /admin/ips/{ip}/block`
/// (the path does): the reason is optional, and the block with its audit row is one
/// transaction.
pub(super) async fn block(
    req: HttpRequest,
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    Form(form): Form<BlockForm>,
) -> Result<HttpResponse, AppError> {
    let answer = match parse_network_field(&form.network) {
        Ok(network) => apply_block(&admin, &state, &session, network, &form).await,
        Err(err) => Err(err),
    };
    super::limits::refused_here(&req, admin, state, session, "block", &form, answer).await
}

pub(super) async fn block_path(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    network: web::Path<String>,
    Form(form): Form<BlockForm>,
) -> Result<HttpResponse, AppError> {
    let network = parse_network_field(&network)?;
    apply_block(&admin, &state, &session, network, &form).await
}

pub(super) async fn apply_block(
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
    let policy = state.rules.policy.clone();
    state
        .db
        .run(move |conn| {
            admin_ops::block(conn, &policy, &actor, network, &reason, expires_at, &detail)
        })
        .await?;
    Flash::success(session, format!("{} is blocked.", network_label(&network)));
    Ok(see_other(&case_file_link(&network)))
}

pub(super) async fn unblock(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    Form(form): Form<NetworkForm>,
) -> Result<HttpResponse, AppError> {
    let network = parse_network_field(&form.network)?;
    apply_unblock(&admin, &state, &session, network).await
}

pub(super) async fn unblock_path(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    network: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let network = parse_network_field(&network)?;
    apply_unblock(&admin, &state, &session, network).await
}

pub(super) async fn apply_unblock(
    admin: &AdminUser,
    state: &AppState,
    session: &Session,
    network: IpNetwork,
) -> Result<HttpResponse, AppError> {
    let actor = admin.actor();
    let policy = state.rules.policy.clone();
    let lifted = state
        .db
        .run(move |conn| admin_ops::unblock(conn, &policy, &actor, network))
        .await?;
    if lifted == 0 {
        Flash::error(
            session,
            format!(
                "{} had no active block of its own.",
                network_label(&network)
            ),
        );
    } else {
        Flash::success(
            session,
            format!("{} is no longer blocked.", network_label(&network)),
        );
    }
    Ok(see_other(&case_file_link(&network)))
}

#[derive(Template)]
#[template(path = "admin/ip_delete.html")]
pub(super) struct ConfirmDeletePage {
    layout: Layout,
    section: &'static str,
    network: String,
    label: String,
    footprint: Footprint,
    disk_used: String,
}

pub(super) async fn confirm_delete(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    Query(query): Query<NetworkForm>,
) -> Result<HttpResponse, AppError> {
    let network = parse_network_field(&query.network)?;
    let footprint = state
        .db
        .run(move |conn| ip_activity::footprint(conn, network))
        .await?;
    render(
        StatusCode::OK,
        &ConfirmDeletePage {
            layout: Layout::new(&session, Some(&admin.current)),
            section: "ips",
            network: network.to_string(),
            label: network_label(&network),
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
pub(super) async fn delete_everything(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    Form(form): Form<DeleteForm>,
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
pub(super) async fn delete_all_path(
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
pub(super) async fn apply_delete_everything(
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
            network_label(&network)
        ),
    );
    Ok(see_other(&case_file_link(&network)))
}
