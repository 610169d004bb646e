//! Two-factor sign-in on `/account/2fa` (SPEC §3): set up with an authenticator app (the
//! secret as text and as a QR code, SVG), confirmed by a first code, ten recovery codes
//! shown once; turned off with the password and a code. The sign-in step itself is in
//! `auth.rs`, an admin's removal in `admin/users.rs`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Deserialize;

use crate::base::error::AppError;
use crate::db::models::User;
use crate::domain::totp;
use crate::operations::second_factor;
use crate::web::auth::Invalidation;
use crate::web::extract::{CurrentUser, Form};
use crate::web::state::AppState;
use crate::web::views::{Flash, Layout, render, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/account/2fa", web::get().to(page))
        .route("/account/2fa/setup", web::post().to(setup))
        .route("/account/2fa/confirm", web::post().to(confirm))
        .route("/account/2fa/disable", web::post().to(disable));
}

#[derive(Template)]
#[template(path = "account/two_factor.html")]
struct SecondFactorPage {
    layout: Layout,
    /// On since (a timestamp), or `None`.
    enabled: Option<String>,
    /// While setting up: the secret (grouped for typing), its QR code (SVG) and the
    /// account name apps show.
    secret: Option<String>,
    qr_svg: String,
    /// Shown once, right after confirming.
    recovery_codes: Vec<String>,
    recovery_left: i64,
    error: Option<String>,
}

impl SecondFactorPage {
    fn of(session: &Session, current: &CurrentUser, user: &User) -> Self {
        let setting_up = user
            .totp_secret
            .clone()
            .filter(|_| user.totp_enabled_at.is_none());
        let qr_svg = setting_up
            .as_deref()
            .map(|secret| qr(&totp::uri("Atelier", &user.username, secret)))
            .unwrap_or_default();
        SecondFactorPage {
            layout: Layout::new(session, Some(current)),
            enabled: user.totp_enabled_at.map(crate::web::views::timestamp),
            secret: setting_up.map(|secret| grouped(&secret)),
            qr_svg,
            recovery_codes: Vec::new(),
            recovery_left: 0,
            error: None,
        }
    }
}

/// The secret in groups of four, as people type it.
fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A QR code of `text` as an inline SVG (no scripts, no external references).
fn qr(text: &str) -> String {
    QrCode::new(text.as_bytes())
        .map(|code| {
            code.render::<svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default()
}

async fn fresh_user(state: &AppState, id: i64) -> Result<User, AppError> {
    state
        .db
        .run(move |conn| User::find(conn, id))
        .await?
        .ok_or(AppError::NotFound)
}

async fn page(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
) -> Result<HttpResponse, AppError> {
    let user = fresh_user(&state, current.user.id).await?;
    let mut page = SecondFactorPage::of(&session, &current, &user);
    if user.totp_enabled_at.is_some() {
        let id = user.id;
        page.recovery_left = state
            .db
            .run(move |conn| second_factor::recovery_codes_left(conn, id))
            .await?;
    }
    render(StatusCode::OK, &page)
}

async fn setup(state: web::Data<AppState>, current: CurrentUser) -> Result<HttpResponse, AppError> {
    let id = current.user.id;
    state
        .db
        .run(move |conn| second_factor::begin_setup(conn, id))
        .await?;
    Ok(see_other("/account/2fa"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

async fn confirm(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    Form(form): Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let (id, code) = (current.user.id, form.code.clone());
    let confirmed = state
        .db
        .run(move |conn| second_factor::confirm_setup(conn, id, &code))
        .await?;
    state.auth_cache.forget(Invalidation::User(id));
    let user = fresh_user(&state, id).await?;
    let mut page = SecondFactorPage::of(&session, &current, &user);
    match confirmed {
        Ok(codes) => {
            page.recovery_left = codes.len() as i64;
            page.recovery_codes = codes;
            render(StatusCode::OK, &page)
        }
        Err(message) => {
            page.error = Some(message);
            render(StatusCode::BAD_REQUEST, &page)
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DisableForm {
    password: String,
    code: String,
}

async fn disable(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    Form(form): Form<DisableForm>,
) -> Result<HttpResponse, AppError> {
    let user = fresh_user(&state, current.user.id).await?;
    let password_ok = state
        .hasher
        .verify(form.password.clone(), Some(user.password_hash.clone()))
        .await?;
    let (id, code) = (user.id, form.code.clone());
    let code_ok = password_ok
        && state
            .db
            .run(move |conn| second_factor::check_code(conn, id, &code))
            .await?;
    if !code_ok {
        let mut page = SecondFactorPage::of(&session, &current, &user);
        page.error = Some(
            "Turning it off needs your password and a current code (or a recovery code).".into(),
        );
        return render(StatusCode::BAD_REQUEST, &page);
    }
    state
        .db
        .run(move |conn| second_factor::disable(conn, id))
        .await?;
    state.auth_cache.forget(Invalidation::User(id));
    Flash::success(&session, "Two-factor sign-in is off.");
    Ok(see_other("/account"))
}
