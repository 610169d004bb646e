//! Registration, login and logout.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::base::config::Registration;
use crate::base::error::AppError;
use crate::db::models::login_failure::Throttled;
use crate::db::models::user::taken_message;
use crate::domain::{Email, NewPassword, Username};
use crate::operations::access::Admission;
use crate::operations::login::{self, FailureLimit};
use crate::operations::{accounts, second_factor};
use crate::services::quota::charge;
use crate::services::quota::{ClientIp, limit_key};
use crate::web::auth::{anon_id, keys};
use crate::web::extract::{Form, MaybeUser, Query};
use crate::web::state::AppState;
use crate::web::views::errors::wants_json;
use crate::web::views::{
    FieldErrors, Flash, Layout, render, safe_next, see_other, user_agent, with_refusal_headers,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/register", web::get().to(register_form))
        .route("/register", web::post().to(register))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/login/2fa", web::get().to(second_factor_form))
        .route("/login/2fa", web::post().to(second_factor))
        .route("/logout", web::post().to(logout));
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegisterForm {
    username: String,
    email: String,
    password: String,
    confirm_password: String,
    /// The invite token, under `ATELIER_REGISTRATION=invite`.
    invite: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegisterQuery {
    invite: Option<String>,
}

#[derive(Template)]
#[template(path = "auth/register.html")]
struct RegisterPage<'a> {
    layout: Layout,
    username: &'a str,
    email: &'a str,
    errors: FieldErrors,
    /// The invite the form carries, and the mode: nobody may register, or only with one.
    invite: &'a str,
    closed: bool,
    invite_only: bool,
    /// Why the last try was refused (403), beside the form.
    refusal: Option<String>,
}

impl<'a> RegisterPage<'a> {
    fn new(session: &Session, state: &AppState, invite: &'a str) -> Self {
        let mode = state.settings.registration;
        RegisterPage {
            layout: Layout::signed_out(session),
            username: "",
            email: "",
            errors: FieldErrors::default(),
            invite,
            closed: mode == Registration::Closed,
            invite_only: mode == Registration::Invite,
            refusal: None,
        }
    }
}

async fn register_form(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    Query(query): Query<RegisterQuery>,
) -> Result<HttpResponse, AppError> {
    if user.0.is_some() {
        return Ok(see_other("/dashboard"));
    }
    let invite = query.invite.unwrap_or_default();
    render(
        StatusCode::OK,
        &RegisterPage::new(&session, &state, invite.trim()),
    )
}

async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    ip: ClientIp,
    Form(form): Form<RegisterForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let username = Username::parse(&form.username)
        .map_err(|msg| errors.add("username", msg))
        .ok();
    let email = Email::parse(&form.email)
        .map_err(|msg| errors.add("email", msg))
        .ok();
    let password = NewPassword::parse(&form.password, &form.confirm_password)
        .map_err(|problem| {
            let field = match problem {
                crate::domain::PasswordProblem::Mismatch => "confirm_password",
                _ => "password",
            };
            errors.add(field, problem.message());
        })
        .ok();
    let json = wants_json(&req);
    let invite = form.invite.clone().unwrap_or_default();
    let show_again = |session: &Session, status, errors: FieldErrors, refusal: Option<String>| {
        if json {
            return match refusal {
                Some(message) => Err(AppError::Forbidden(message)),
                None => Ok(errors.json(status)),
            };
        }
        render(
            status,
            &RegisterPage {
                username: form.username.trim(),
                email: form.email.trim(),
                errors,
                refusal,
                ..RegisterPage::new(session, &state, invite.trim())
            },
        )
    };
    let mode = state.settings.registration;
    let admission = Admission {
        mode,
        invite: form.invite.as_deref(),
    };
    if let Err(AppError::Forbidden(message)) = admission.invite_token() {
        return show_again(&session, StatusCode::FORBIDDEN, errors, Some(message));
    }
    let (Some(username), Some(email), Some(password)) = (username, email, password) else {
        return show_again(&session, StatusCode::BAD_REQUEST, errors, None);
    };

    charge::refuse_if_blocked(&state.db, &state.rules, ip).await?;
    let hash = state.hasher.hash(password.expose().to_owned()).await?;
    let signup_credits = i64::from(state.settings.signup_credits);
    let (invite_token, mailer) = (form.invite.clone(), state.mailer.clone());
    let created = state
        .db
        .run(move |conn| {
            let admission = Admission {
                mode,
                invite: invite_token.as_deref(),
            };
            let who = (&username, &email);
            accounts::register(
                conn,
                (admission, mailer.as_ref()),
                who,
                &hash,
                signup_credits,
            )
        })
        .await;
    let created = match created {
        Err(AppError::Forbidden(message)) => {
            return show_again(&session, StatusCode::FORBIDDEN, errors, Some(message));
        }
        other => other?,
    };
    match created {
        Ok(user) => {
            tracing::info!(user_id = user.id, username = %user.username, "account created");
            let moved = adopt_anonymous_images(&state, &session, user.id).await?;
            sign_in(&session, &req, ip, user.id)?;
            let message = if moved > 0 {
                format!(
                    "Welcome, {}. Your account is ready, and the {moved} picture{} you made are in it.",
                    user.username,
                    if moved == 1 { "" } else { "s" }
                )
            } else {
                format!(
                    "Welcome, {}. Your account is ready: start creating.",
                    user.username
                )
            };
            if json {
                return Ok(HttpResponse::Created().json(serde_json::json!({
                    "success": true,
                    "user": {"id": user.id, "username": user.username, "email": user.email},
                    "claimed_images": moved,
                    "message": message,
                })));
            }
            Flash::success(&session, message);
            // The documented answer is 303 to /login (SPEC §12); signed in, /login passes
            // the browser on to the dashboard.
            Ok(see_other("/login"))
        }
        Err(taken) => {
            let (field, message) = taken_message(&taken);
            errors.add(field, message);
            show_again(&session, StatusCode::CONFLICT, errors, None)
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
    /// With two-factor sign-in: the six-digit code (or a recovery code), for scripts and
    /// forms that send it with the password.
    code: Option<String>,
}

/// A sign-in waiting for its second factor: the account whose password was right, and
/// where to go afterwards.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
struct PendingSecondFactor {
    user_id: i64,
    next: String,
}

/// What a wrong second-factor code is told.
const BAD_CODE: &str = "That code is not right, or it was used already. Type the six digits your app shows now, or a recovery code.";

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage<'a> {
    layout: Layout,
    username: &'a str,
    next: &'a str,
    error: Option<&'a str>,
    /// Mail is on: "Forgot your password?" is offered.
    can_reset: bool,
}

async fn login_form(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    Query(query): Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(query.next.as_deref());
    if user.0.is_some() {
        return Ok(see_other(next));
    }
    render(
        StatusCode::OK,
        &LoginPage {
            layout: Layout::signed_out(&session),
            username: "",
            next,
            error: None,
            can_reset: state.mailer.is_some(),
        },
    )
}

/// The same answer for an unknown account and a wrong password.
const BAD_CREDENTIALS: &str = "Invalid username/email or password.";

async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    ip: ClientIp,
    Form(form): Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(form.next.as_deref()).to_owned();
    let show_again = |status: StatusCode, error: &str| {
        render(
            status,
            &LoginPage {
                layout: Layout::signed_out(&session),
                username: form.username.trim(),
                next: &next,
                error: Some(error),
                can_reset: state.mailer.is_some(),
            },
        )
    };
    let identifier = form.username.trim().to_lowercase();
    if identifier.is_empty() || form.password.is_empty() {
        return show_again(
            StatusCode::BAD_REQUEST,
            "Enter your username (or email) and password.",
        );
    }

    let settings = &state.settings;
    let ip_key = limit_key(ip.0, settings.ipv6_limit_prefix);
    let limit = FailureLimit::of(settings);
    let attempt = state
        .db
        .run(move |conn| login::start(conn, &identifier, ip_key, limit))
        .await?;
    let attempt = match attempt {
        Ok(id) => id,
        Err(Throttled { retry_after_secs }) => {
            let minutes = retry_after_secs.div_ceil(60);
            let throttled = AppError::TooManyRequests {
                message: format!(
                    "Too many failed logins from this network or for this account. \
                     Try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                ),
                retry_after_secs,
                limit: None,
            };
            let page = show_again(StatusCode::TOO_MANY_REQUESTS, &throttled.message())?;
            return Ok(with_refusal_headers(&throttled, page));
        }
    };

    let hash = attempt.user.as_ref().map(|user| user.password_hash.clone());
    let password_ok = state.hasher.verify(form.password.clone(), hash).await?;
    let user = match &attempt.user {
        Some(user) if password_ok => user.clone(),
        _ => return show_again(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS),
    };
    if user.disabled {
        return show_again(
            StatusCode::FORBIDDEN,
            "This account has been disabled. Contact the site's administrator.",
        );
    }
    if user.totp_enabled_at.is_some() {
        // The password was right; the failure counted in advance stays counted until the
        // code is right too.
        let typed = form
            .code
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned();
        if typed.is_empty() {
            if wants_json(&req) {
                return Err(AppError::Unauthorized(
                    "This account uses two-factor sign-in: send the six-digit code (or a \
                     recovery code) as `code` with the password, or use an API token."
                        .into(),
                ));
            }
            let pending = PendingSecondFactor {
                user_id: user.id,
                next: next.clone(),
            };
            session
                .insert(keys::PENDING_SECOND_FACTOR, pending)
                .map_err(AppError::internal)?;
            return Ok(see_other("/login/2fa"));
        }
        let user_id = user.id;
        let right = state
            .db
            .run(move |conn| second_factor::check_code(conn, user_id, &typed))
            .await?;
        if !right {
            return show_again(StatusCode::UNAUTHORIZED, BAD_CODE);
        }
    }
    let (signed_in, mailer) = (user.clone(), state.mailer.clone());
    let (from, browser) = (ip.0.to_string(), user_agent(&req));
    let reset_by_someone_else = state
        .db
        .run(move |conn| {
            let notice = mailer
                .as_ref()
                .map(|m| (m, from.as_str(), browser.as_str()));
            login::succeed(conn, &attempt, &signed_in, notice)
        })
        .await?;

    complete_sign_in(&state, &session, &req, ip, (user.id, reset_by_someone_else)).await?;
    Ok(see_other(&next))
}

/// Both factors were right: the visitor's anonymous pictures move in, the session id is
/// renewed, and a reset by someone else is said once.
async fn complete_sign_in(
    state: &AppState,
    session: &Session,
    req: &HttpRequest,
    ip: ClientIp,
    (user_id, reset_by_someone_else): (i64, bool),
) -> Result<(), AppError> {
    adopt_anonymous_images(state, session, user_id).await?;
    session.remove(keys::FLASH);
    session.remove(keys::PENDING_SECOND_FACTOR);
    sign_in(session, req, ip, user_id)?;
    if reset_by_someone_else {
        Flash::info(
            session,
            "Your password was reset by an administrator since you last signed in; \
             your other sessions and API tokens were ended.",
        );
    }
    tracing::info!(user_id, "logged in");
    Ok(())
}

#[derive(Template)]
#[template(path = "auth/two_factor.html")]
struct SecondFactorPage {
    layout: Layout,
    error: Option<&'static str>,
}

/// `GET /login/2fa`: the code form, for a sign-in whose password was right.
async fn second_factor_form(session: Session) -> Result<HttpResponse, AppError> {
    if session
        .get::<PendingSecondFactor>(keys::PENDING_SECOND_FACTOR)
        .ok()
        .flatten()
        .is_none()
    {
        return Ok(see_other("/login"));
    }
    render(
        StatusCode::OK,
        &SecondFactorPage {
            layout: Layout::signed_out(&session),
            error: None,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

/// `POST /login/2fa`: the code, throttled like passwords; right, and the sign-in completes.
async fn second_factor(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    ip: ClientIp,
    Form(form): Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let Some(pending) = session
        .get::<PendingSecondFactor>(keys::PENDING_SECOND_FACTOR)
        .ok()
        .flatten()
    else {
        return Ok(see_other("/login"));
    };
    let settings = &state.settings;
    let ip_key = limit_key(ip.0, settings.ipv6_limit_prefix);
    let limit = FailureLimit::of(settings);
    let (user_id, typed) = (pending.user_id, form.code.trim().to_owned());
    let checked = state
        .db
        .run(move |conn| login::second_step(conn, user_id, &typed, (ip_key, limit)))
        .await?;
    match checked {
        Err(Throttled { retry_after_secs }) => Err(AppError::TooManyRequests {
            message: format!(
                "Too many wrong codes from this network or for this account. Try again in {} minute{}.",
                retry_after_secs.div_ceil(60),
                if retry_after_secs.div_ceil(60) == 1 {
                    ""
                } else {
                    "s"
                }
            ),
            retry_after_secs,
            limit: None,
        }),
        Ok(None) => render(
            StatusCode::UNAUTHORIZED,
            &SecondFactorPage {
                layout: Layout::signed_out(&session),
                error: Some(BAD_CODE),
            },
        ),
        Ok(Some(reset_by_someone_else)) => {
            complete_sign_in(&state, &session, &req, ip, (user_id, reset_by_someone_else)).await?;
            Ok(see_other(&pending.next))
        }
    }
}

/// Signs `user_id` in on a fresh session id (which defeats session fixation), recording
/// where and with what the session was opened.
pub(super) fn sign_in(
    session: &Session,
    req: &HttpRequest,
    ip: ClientIp,
    user_id: i64,
) -> Result<(), AppError> {
    session.renew();
    session
        .insert(keys::USER_ID, user_id)
        .and(session.insert(keys::IP, ip.0.to_string()))
        .and(session.insert(keys::USER_AGENT, user_agent(req)))
        .map_err(AppError::internal)
}

/// The cookie that tells the next page (the landing page) it may say "logged out": the
/// session that could carry the message has just ended.
pub const SIGNED_OUT_COOKIE: &str = "atelier_signed_out";

async fn logout(session: Session) -> HttpResponse {
    session.purge();
    let mut response = see_other("/");
    let said = actix_web::cookie::Cookie::build(SIGNED_OUT_COOKIE, "1")
        .path("/")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::minutes(1))
        .finish();
    if let Err(err) = response.add_cookie(&said) {
        tracing::debug!(error = %err, "could not set the signed-out cookie");
    }
    response
}

/// Moves what this session generated anonymously into the account it just registered or
/// logged in to; the session forgets its anonymous id.
async fn adopt_anonymous_images(
    state: &AppState,
    session: &Session,
    user_id: i64,
) -> Result<usize, AppError> {
    let Some(anon_id) = anon_id(session) else {
        return Ok(0);
    };
    let library = state.library.clone();
    let moved = state
        .db
        .run(move |conn| accounts::adopt_anonymous(conn, &library, &anon_id, user_id))
        .await?;
    session.remove(keys::ANON_ID);
    if moved > 0 {
        tracing::info!(user_id, moved, "anonymous images moved into the account");
    }
    Ok(moved)
}
