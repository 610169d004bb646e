//! `/admin/limits`: blocks and per-network overrides, and the disposable email domains.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use ipnetwork::IpNetwork;
use serde::Deserialize;

use super::{NetworkForm, parse_expiry, parse_network_field};
use crate::base::error::AppError;
use crate::operations::admin::{self as admin_ops, LimitChange};
use crate::services::quota::blocks::{self, Block, LimitOverride, OverrideValues};
use crate::services::quota::free;
use crate::web::extract::Form;
use crate::web::routes::admin::AdminUser;
use crate::web::state::AppState;
use crate::web::views::errors::wants_json;
use crate::web::views::network_label;
use crate::web::views::{Flash, Layout, render, see_other, timestamp};

#[derive(Template)]
#[template(path = "admin/limits.html")]
pub(super) struct LimitsPage {
    layout: Layout,
    section: &'static str,
    blocks: Vec<(Block, String)>,
    overrides: Vec<(LimitOverride, String)>,
    defaults: (u32, u32, u32, u32),
    /// Disposable email domains: the shipped list's size and the ones admins added.
    shipped_domains: usize,
    added_domains: Vec<String>,
    /// What was typed into a refused form, shown again with the reason.
    kept: KeptForm,
}

/// What an admin typed into one of this page's forms (`block`, `limits`, `domain`), kept
/// with the reason it was refused so the page can show both.
#[derive(Debug, Default)]
pub(super) struct KeptForm {
    form: &'static str,
    values: serde_json::Map<String, serde_json::Value>,
    error: String,
}

impl KeptForm {
    /// The value typed into `form`'s field `name`, or "" when that form was not refused.
    pub fn value(&self, form: &str, name: &str) -> &str {
        if self.form != form {
            return "";
        }
        self.values
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
    }

    /// Why `form` was refused, if it was.
    pub fn error(&self, form: &str) -> Option<&str> {
        (self.form == form).then_some(self.error.as_str())
    }
}

/// A form handler's answer, except that a refusal (400) shows the limits page again with
/// the message beside the form and what was typed still in it. Scripts asking for JSON get
/// the plain 400.
pub(super) async fn refused_here(
    req: &HttpRequest,
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    form: &'static str,
    typed: &impl serde::Serialize,
    answer: Result<HttpResponse, AppError>,
) -> Result<HttpResponse, AppError> {
    match answer {
        Err(AppError::BadRequest(error)) if !wants_json(req) => {
            let values = match serde_json::to_value(typed) {
                Ok(serde_json::Value::Object(values)) => values,
                _ => serde_json::Map::new(),
            };
            let kept = KeptForm {
                form,
                values,
                error,
            };
            render_limits(&admin, &state, &session, StatusCode::BAD_REQUEST, kept).await
        }
        answer => answer,
    }
}

pub(super) async fn limits_page(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, AppError> {
    render_limits(
        &admin,
        &state,
        &session,
        StatusCode::OK,
        KeptForm::default(),
    )
    .await
}

async fn render_limits(
    admin: &AdminUser,
    state: &AppState,
    session: &Session,
    status: StatusCode,
    kept: KeptForm,
) -> Result<HttpResponse, AppError> {
    // Off the executor: the first look at the shipped domain list parses it.
    let (live, overrides, added_domains, shipped_domains) = state
        .db
        .run(|conn| {
            Ok::<_, AppError>((
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
        status,
        &LimitsPage {
            layout: Layout::new(session, Some(&admin.current)),
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
            kept,
        },
    )
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct DomainForm {
    domain: String,
}

/// `POST /admin/disposable-domains`: standard accounts with an address at this domain (or
/// under it) get no free images.
pub(super) async fn add_disposable_domain(
    req: HttpRequest,
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    Form(form): Form<DomainForm>,
) -> Result<HttpResponse, AppError> {
    let answer = add_domain(&admin, &state, &session, &form).await;
    refused_here(&req, admin, state, session, "domain", &form, answer).await
}

async fn add_domain(
    admin: &AdminUser,
    state: &AppState,
    session: &Session,
    form: &DomainForm,
) -> Result<HttpResponse, AppError> {
    let domain = free::parse_domain(&form.domain).ok_or_else(|| {
        AppError::BadRequest(format!("{:?} is not a domain name.", form.domain.trim()))
    })?;
    let (added, actor) = (domain.clone(), admin.actor());
    let policy = state.rules.policy.clone();
    state
        .db
        .run(move |conn| admin_ops::add_disposable_domain(conn, &policy, &actor, &added))
        .await?;
    Flash::success(
        session,
        format!("{domain} counts as disposable from now on."),
    );
    Ok(see_other("/admin/limits"))
}

/// `POST /admin/limits` takes either the SPEC's one-limit form (`cidr`, `action`, `limit`)
/// or the admin page's form (`network` and a field per limit); `reason` and
/// `expires_hours` go with both.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
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

pub(super) fn optional_limit(raw: &str, name: &str) -> Result<Option<u32>, AppError> {
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

pub(super) fn parse_limits_form(form: &LimitsForm) -> Result<(IpNetwork, LimitChange), AppError> {
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
pub(super) async fn set_limits(
    req: HttpRequest,
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    Form(form): Form<LimitsForm>,
) -> Result<HttpResponse, AppError> {
    let answer = save_limits(&admin, &state, &session, &form).await;
    refused_here(&req, admin, state, session, "limits", &form, answer).await
}

async fn save_limits(
    admin: &AdminUser,
    state: &AppState,
    session: &Session,
    form: &LimitsForm,
) -> Result<HttpResponse, AppError> {
    let (network, change) = parse_limits_form(form)?;
    let expires_at = parse_expiry(&form.expires_hours)?;
    let reason = form.reason.trim();
    if reason.chars().count() > 500 {
        return Err(AppError::BadRequest(
            "The reason is at most 500 characters.".into(),
        ));
    }
    let reason = reason.to_owned();
    let actor = admin.actor();
    let policy = state.rules.policy.clone();
    let values = state
        .db
        .run(move |conn| {
            admin_ops::set_limits(conn, &policy, &actor, network, change, &reason, expires_at)
        })
        .await?;
    // Refusals this instance remembers were made under the old limits (other instances
    // forget theirs within seconds).
    state.recent_refusals.clear();
    Flash::success(
        session,
        format!(
            "Limits for {} saved: {}.",
            network_label(&network),
            values.describe()
        ),
    );
    Ok(see_other("/admin/limits"))
}

pub(super) async fn remove_limits(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    Form(form): Form<NetworkForm>,
) -> Result<HttpResponse, AppError> {
    let network = parse_network_field(&form.network)?;
    let actor = admin.actor();
    let policy = state.rules.policy.clone();
    let removed = state
        .db
        .run(move |conn| admin_ops::remove_limits(conn, &policy, &actor, network))
        .await?;
    if removed > 0 {
        state.recent_refusals.clear();
        Flash::success(
            &session,
            format!("{} is back to the default limits.", network_label(&network)),
        );
    } else {
        Flash::error(
            &session,
            format!("{} had no override.", network_label(&network)),
        );
    }
    Ok(see_other("/admin/limits"))
}
