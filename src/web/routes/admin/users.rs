//! `/admin/users`: search and sort accounts; one account's page (addresses, sessions, ledger,
//! images) with tier, credits, disable and role changes; deleting an account.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AdminUser;
use crate::base::error::AppError;
use crate::db::models::ip_activity::{self, SeenAddress};
use crate::db::models::listing::ImageFilter;
use crate::db::models::user::{self, ANON_USERNAME, UserSort, UserSummary};
use crate::db::models::{Image, SessionRow, User};
use crate::domain::{NewPassword, Role, Tier};
use crate::operations::access::{self, Resetter};
use crate::operations::admin::{self as admin_ops, StandingChange};
use crate::operations::second_factor;
use crate::services::quota::blocks::parse_network;
use crate::services::quota::credits::{self, LedgerEntry};
use crate::web::auth::Invalidation;
use crate::web::extract::{Form, Query, public_origin};
use crate::web::state::AppState;
use crate::web::views::errors::wants_json;
use crate::web::views::network_label;
use crate::web::views::page_number;
use crate::web::views::{Card, Flash, Layout, Pager, render, see_other, timestamp, url_encode};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(list))
        .route("/users/{id}", web::get().to(show))
        .route("/users/{id}/update", web::post().to(update))
        .route("/users/{id}/password", web::post().to(set_password))
        .route("/users/{id}/reset-link", web::post().to(reset_link))
        .route(
            "/users/{id}/2fa/remove",
            web::post().to(remove_second_factor),
        )
        .route("/users/{id}/delete", web::post().to(delete));
}

const USERS_PER_PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    q: String,
    sort: String,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct ListPage {
    layout: Layout,
    section: &'static str,
    users: Vec<(UserSummary, String)>,
    total: i64,
    q: String,
    sort: String,
    pager: Pager,
}

async fn list(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let page = page_number(query.page.as_deref());
    let q = query.q.trim().to_owned();
    // An address or range searches by where accounts were seen; anything else by name/email.
    let (text, network) = match parse_network(&q) {
        _ if q.is_empty() => (None, None),
        Ok(network) if q.contains(['.', ':']) => (None, Some(network)),
        _ => (Some(q.clone()), None),
    };
    let sort = UserSort::parse(&query.sort);
    let users = state
        .db
        .run(move |conn| {
            user::search(
                conn,
                text.as_deref(),
                network,
                sort,
                (page - 1) * USERS_PER_PAGE,
                USERS_PER_PAGE,
            )
        })
        .await?;
    let total = users.first().map_or(0, |user| user.total);
    let pager = Pager::new(page, total, USERS_PER_PAGE, |p| {
        format!(
            "/admin/users?q={}&sort={}&page={p}",
            url_encode(&q),
            url_encode(&query.sort)
        )
    });
    render(
        StatusCode::OK,
        &ListPage {
            layout: Layout::new(&session, Some(&admin.current)),
            section: "users",
            users: users
                .into_iter()
                .map(|user| {
                    let created = timestamp(user.created_at);
                    (user, created)
                })
                .collect(),
            total,
            q: query.q.clone(),
            sort: query.sort.clone(),
            pager,
        },
    )
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    layout: Layout,
    section: &'static str,
    user: User,
    is_self: bool,
    member_since: String,
    addresses: Vec<(SeenAddress, String, String)>,
    sessions: Vec<(SessionRow, String, String)>,
    ledger: Vec<(LedgerEntry, String)>,
    images: Vec<Card>,
    image_count: i64,
    /// A refused change or deletion, shown beside its form with what was typed.
    kept: Kept,
}

/// What the admin typed into the change or delete form, and why it was refused.
#[derive(Debug, Default)]
struct Kept {
    /// `update` or `delete`; empty when nothing was refused.
    form: &'static str,
    error: String,
    tier: String,
    role: String,
    disabled: String,
    credits_delta: String,
    reason: String,
    /// A reset link just made: shown this once.
    reset_link: Option<String>,
}

impl Kept {
    /// The account's own values, nothing refused.
    fn of(user: &User) -> Kept {
        Kept {
            tier: user.tier.to_string(),
            role: user.role.to_string(),
            disabled: user.disabled.to_string(),
            ..Kept::default()
        }
    }

    fn error(&self, form: &str) -> Option<&str> {
        (self.form == form).then_some(self.error.as_str())
    }
}

async fn find_user(state: &AppState, id: i64) -> Result<User, AppError> {
    state
        .db
        .run(move |conn| User::find(conn, id))
        .await?
        .filter(|user| user.username != ANON_USERNAME)
        .ok_or(AppError::NotFound)
}

async fn show(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let user = find_user(&state, id.into_inner()).await?;
    let kept = Kept::of(&user);
    user_page(&admin, &state, &session, user, StatusCode::OK, kept).await
}

/// One account's page; `kept` fills the forms (the account's own values, or what a
/// refused form held).
async fn user_page(
    admin: &AdminUser,
    state: &AppState,
    session: &Session,
    user: User,
    status: StatusCode,
    kept: Kept,
) -> Result<HttpResponse, AppError> {
    let user_id = user.id;
    let (addresses, sessions, ledger, images) = state
        .db
        .run(move |conn| {
            Ok::<_, AppError>((
                ip_activity::addresses_of_user(conn, user_id)?,
                SessionRow::list_for_user(conn, user_id)?,
                credits::ledger(conn, user_id, 50)?,
                Image::list_for_user(conn, user_id, &ImageFilter::default(), 0, 24)?,
            ))
        })
        .await?;
    render(
        status,
        &UserPage {
            layout: Layout::new(session, Some(&admin.current)),
            section: "users",
            is_self: user.id == admin.current.user.id,
            member_since: timestamp(user.created_at),
            addresses: addresses
                .into_iter()
                .map(|seen| {
                    let (label, last) = (network_label(&seen.ip), timestamp(seen.last_seen));
                    (seen, label, last)
                })
                .collect(),
            sessions: sessions
                .into_iter()
                .map(|row| {
                    let (started, seen) = (timestamp(row.created_at), timestamp(row.last_seen_at));
                    (row, started, seen)
                })
                .collect(),
            ledger: ledger
                .into_iter()
                .map(|entry| {
                    let at = timestamp(entry.created_at);
                    (entry, at)
                })
                .collect(),
            image_count: images.total,
            images: images.items.iter().map(Card::for_admin).collect(),
            user,
            kept,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateForm {
    tier: Option<String>,
    role: Option<String>,
    /// "true" to disable, "false" to enable; absent: unchanged.
    disabled: Option<String>,
    credits_delta: String,
    reason: String,
    /// A reset link just made: shown this once.
    reset_link: Option<String>,
}

/// `POST /admin/users/{id}/update`: any of tier, role, disabled and a credits change (with
/// its reason, written to the ledger). Every change is one audit entry.
async fn update(
    req: HttpRequest,
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    Form(form): Form<UpdateForm>,
) -> Result<HttpResponse, AppError> {
    let user = find_user(&state, id.into_inner()).await?;
    let refused = |error: String| {
        let own = Kept::of(&user);
        Kept {
            form: "update",
            error,
            tier: form.tier.clone().unwrap_or(own.tier),
            role: form.role.clone().unwrap_or(own.role),
            disabled: form.disabled.clone().unwrap_or(own.disabled),
            credits_delta: form.credits_delta.clone(),
            reason: form.reason.clone(),
            reset_link: None,
        }
    };
    // A refusal (here or by the operation, e.g. credits below zero) shows the page again
    // with the sentence beside the form; scripts get the plain 400.
    let outcome = match standing_change(&admin, &user, &form) {
        Ok(change) => {
            let (actor, target) = (admin.actor(), user.clone());
            state
                .db
                .run(move |conn| admin_ops::update_user(conn, &actor, &target, &change))
                .await
        }
        Err(message) => Err(AppError::BadRequest(message)),
    };
    let changes = match outcome {
        Ok(done) => done,
        Err(AppError::BadRequest(error)) if !wants_json(&req) => {
            let kept = refused(error);
            return user_page(
                &admin,
                &state,
                &session,
                user,
                StatusCode::BAD_REQUEST,
                kept,
            )
            .await;
        }
        Err(err) => return Err(err),
    };
    // Every instance hears of the change through the users table's NOTIFY trigger; this
    // one forgets its cached copy right away, whatever changed (a tier or credits too: the
    // user's next request must see the new free-image allowance).
    state.auth_cache.forget(Invalidation::User(user.id));
    Flash::success(
        &session,
        if changes.is_empty() {
            "Nothing changed.".to_owned()
        } else {
            format!("{} updated.", user.username)
        },
    );
    Ok(see_other(&format!("/admin/users/{}", user.id)))
}

/// The change a form asks for, checked; the sentence says what is wrong otherwise.
fn standing_change(
    admin: &AdminUser,
    user: &User,
    form: &UpdateForm,
) -> Result<StandingChange, String> {
    let tier = match form.tier.as_deref().map(str::trim) {
        None | Some("") => user.tier,
        Some(tier) => Tier::parse(tier).ok_or("Tier is standard or plus.")?,
    };
    let role = match form.role.as_deref().map(str::trim) {
        None | Some("") => user.role,
        Some(role) => Role::parse(role).ok_or("Role is user or admin.")?,
    };
    let disabled = match form.disabled.as_deref().map(str::trim) {
        None | Some("") => user.disabled,
        Some("true") => true,
        Some("false") => false,
        Some(_) => return Err("Disabled is true or false.".into()),
    };
    let credits_delta = match form.credits_delta.trim().trim_start_matches('+') {
        "" => 0,
        raw => raw
            .parse::<i64>()
            .ok()
            .filter(|delta| delta.abs() <= 1_000_000_000)
            .ok_or("The credits change is a whole number like 10 or -5.")?,
    };
    let reason = match form.reason.trim() {
        "" => format!("Credits changed by admin {}.", admin.current.user.username),
        reason if reason.chars().count() > 500 => {
            return Err("The reason is at most 500 characters.".into());
        }
        reason => reason.to_owned(),
    };
    if user.id == admin.current.user.id && (disabled || role != Role::Admin) {
        return Err("You cannot disable your own account or take away your own admin role.".into());
    }
    Ok(StandingChange {
        tier,
        role,
        disabled,
        credits_delta,
        reason,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteForm {
    confirm: String,
}

/// `POST /admin/users/{id}/delete`: files, rows and sessions of the account.
async fn delete(
    req: HttpRequest,
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    Form(form): Form<DeleteForm>,
) -> Result<HttpResponse, AppError> {
    let user = find_user(&state, id.into_inner()).await?;
    if user.id == admin.current.user.id {
        return Err(AppError::BadRequest(
            "Delete your own account from your account page.".into(),
        ));
    }
    if form.confirm != user.username {
        let message = format!(
            "Type the username ({}) to confirm the deletion.",
            user.username
        );
        if wants_json(&req) {
            return Err(AppError::BadRequest(message));
        }
        return refused(&admin, &state, &session, user, ("delete", message)).await;
    }
    let library = state.library.clone();
    let (user_id, actor) = (user.id, admin.actor());
    let images = state
        .db
        .run(move |conn| admin_ops::delete_user(conn, &library, &actor, user_id))
        .await?;
    state.media_cache.clear();
    state.auth_cache.forget(Invalidation::User(user.id));
    Flash::success(
        &session,
        format!("{} and their {images} images are deleted.", user.username),
    );
    Ok(see_other("/admin/users"))
}

/// The account's page again (400) with `error` beside the form named `form` and the
/// account's own values in the others.
async fn refused(
    admin: &AdminUser,
    state: &AppState,
    session: &Session,
    user: User,
    (form, error): (&'static str, String),
) -> Result<HttpResponse, AppError> {
    let kept = Kept {
        form,
        error,
        ..Kept::of(&user)
    };
    user_page(admin, state, session, user, StatusCode::BAD_REQUEST, kept).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    password: String,
    confirm_password: String,
}

/// `POST /admin/users/{id}/password`: a new password for the account (the register
/// rules), ending its sessions and tokens at once, audited.
async fn set_password(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
    Form(form): Form<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let user = find_user(&state, id.into_inner()).await?;
    let password = match NewPassword::parse(&form.password, &form.confirm_password) {
        Ok(password) => password,
        Err(problem) => {
            let why = ("password", problem.message().to_owned());
            return refused(&admin, &state, &session, user, why).await;
        }
    };
    let hash = state.hasher.hash(password.expose().to_owned()).await?;
    let (actor, target) = (admin.actor(), user.clone());
    let reset = state
        .db
        .run(move |conn| access::reset_password(conn, &Resetter::Admin(&actor), &target, &hash))
        .await?;
    state.auth_cache.forget(Invalidation::User(user.id));
    Flash::success(
        &session,
        format!(
            "New password set for {}; {} sessions and {} API tokens ended.",
            user.username, reset.sessions, reset.tokens
        ),
    );
    Ok(see_other(&format!("/admin/users/{}", user.id)))
}

/// `POST /admin/users/{id}/reset-link`: a one-time link to hand over, shown once.
async fn reset_link(
    req: HttpRequest,
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let user = find_user(&state, id.into_inner()).await?;
    let (actor, target) = (admin.actor(), user.clone());
    let token = state
        .db
        .run(move |conn| access::make_reset_link(conn, &Resetter::Admin(&actor), &target))
        .await?;
    let link = format!(
        "{}/password/reset?token={token}",
        public_origin(&req).unwrap_or_default()
    );
    let kept = Kept {
        reset_link: Some(link),
        ..Kept::of(&user)
    };
    user_page(&admin, &state, &session, user, StatusCode::OK, kept).await
}

/// `POST /admin/users/{id}/2fa/remove`: the account signs in with its password alone
/// again (it lost its phone and its recovery codes), audited.
async fn remove_second_factor(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let user = find_user(&state, id.into_inner()).await?;
    let (actor, target) = (admin.actor(), user.clone());
    state
        .db
        .run(move |conn| second_factor::remove_by_admin(conn, &actor, &target))
        .await?;
    state.auth_cache.forget(Invalidation::User(user.id));
    Flash::success(
        &session,
        format!("Two-factor sign-in is off for {}.", user.username),
    );
    Ok(see_other(&format!("/admin/users/{}", user.id)))
}
