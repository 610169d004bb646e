//! Getting back in with a one-time link (SPEC §3): `GET /password/reset?token=…` shows the
//! form while the link is live, `POST /password/reset` sets the new password with the
//! register rules, ends every session and API token of the account and signs in here.
//! A used, expired or unknown link says so and changes nothing.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::auth::sign_in;
use crate::base::error::AppError;
use crate::domain::{NewPassword, PasswordProblem};
use crate::operations::access;
use crate::services::quota::ClientIp;
use crate::web::extract::{Form, Query};
use crate::web::state::AppState;
use crate::web::views::errors::wants_json;
use crate::web::views::{FieldErrors, Flash, Layout, render, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/password/reset", web::get().to(reset_form))
        .route("/password/reset", web::post().to(reset));
}

/// What a dead link says.
const DEAD_LINK: &str =
    "This link cannot be used: it was used already or has expired. Ask for a new one.";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenQuery {
    token: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResetForm {
    token: String,
    password: String,
    confirm_password: String,
}

#[derive(Template)]
#[template(path = "auth/reset.html")]
struct ResetPage<'a> {
    layout: Layout,
    token: &'a str,
    username: String,
    errors: FieldErrors,
    /// The link is dead: no form, this sentence.
    dead: Option<&'static str>,
}

async fn reset_form(
    state: web::Data<AppState>,
    session: Session,
    Query(query): Query<TokenQuery>,
) -> Result<HttpResponse, AppError> {
    let token = query.token.trim().to_owned();
    let lookup = token.clone();
    let account = state
        .db
        .run(move |conn| access::reset_link_account(conn, &lookup))
        .await?;
    let (status, username, dead) = match account {
        Some(user) => (StatusCode::OK, user.username, None),
        None => (StatusCode::GONE, String::new(), Some(DEAD_LINK)),
    };
    render(
        status,
        &ResetPage {
            layout: Layout::signed_out(&session),
            token: &token,
            username,
            errors: FieldErrors::default(),
            dead,
        },
    )
}

async fn reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    ip: ClientIp,
    Form(form): Form<ResetForm>,
) -> Result<HttpResponse, AppError> {
    let token = form.token.trim().to_owned();
    let json = wants_json(&req);
    let password = match NewPassword::parse(&form.password, &form.confirm_password) {
        Ok(password) => password,
        Err(problem) => {
            let field = match problem {
                PasswordProblem::Mismatch => "confirm_password",
                _ => "password",
            };
            let mut errors = FieldErrors::default();
            errors.add(field, problem.message());
            if json {
                return Ok(errors.json(StatusCode::BAD_REQUEST));
            }
            let lookup = token.clone();
            let username = state
                .db
                .run(move |conn| access::reset_link_account(conn, &lookup))
                .await?
                .map(|user| user.username)
                .unwrap_or_default();
            return render(
                StatusCode::BAD_REQUEST,
                &ResetPage {
                    layout: Layout::signed_out(&session),
                    token: &token,
                    username,
                    errors,
                    dead: None,
                },
            );
        }
    };
    let hash = state.hasher.hash(password.expose().to_owned()).await?;
    let used = token.clone();
    let account = state
        .db
        .run(move |conn| access::reset_with_link(conn, &used, &hash))
        .await?;
    let Some(user) = account else {
        if json {
            return Err(AppError::Gone(DEAD_LINK.into()));
        }
        return render(
            StatusCode::GONE,
            &ResetPage {
                layout: Layout::signed_out(&session),
                token: "",
                username: String::new(),
                errors: FieldErrors::default(),
                dead: Some(DEAD_LINK),
            },
        );
    };
    sign_in(&session, &req, ip, user.id)?;
    let message = "Your new password is set; every other session and API token was ended.";
    tracing::info!(user_id = user.id, "password reset with a link");
    if json {
        return Ok(
            HttpResponse::Ok().json(serde_json::json!({ "success": true, "message": message }))
        );
    }
    Flash::success(&session, message);
    Ok(see_other("/dashboard"))
}
