//! The signed-in user's own pages: the dashboard and `/account` (password, email, sessions).

use actix_files::NamedFile;
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::base::error::AppError;
use crate::db::models::api_token::TokenScope;
use crate::db::models::user::taken_message;
use crate::domain::{Email, NewPassword};
use crate::operations::accounts::{self, Ended};
use crate::operations::{access, pages, tagging};
use crate::services::library::privacy;
use crate::web::auth::Invalidation;
use crate::web::extract::{CurrentUser, Form};
use crate::web::state::AppState;
use crate::web::views::{FieldErrors, Flash, Layout, done, errors, render, see_other, timestamp};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/account", web::get().to(account))
        .route("/account/password", web::post().to(change_password))
        .route("/account/email", web::post().to(change_email))
        .route(
            "/account/sessions/sign-out-others",
            web::post().to(sign_out_others),
        )
        .route(
            "/account/sessions/{id}/revoke",
            web::post().to(revoke_session),
        )
        .route("/account/tagging", web::post().to(tagging_preferences))
        .route("/account/tokens", web::post().to(create_token))
        .route("/account/tokens/{id}/revoke", web::post().to(revoke_token))
        .route("/account/export", web::get().to(export))
        .route("/account/delete", web::post().to(delete_account));
}

/// One line of the session list.
struct SessionView {
    id: i64,
    current: bool,
    browser: String,
    user_agent: String,
    ip: String,
    started: String,
    last_seen: String,
}

#[derive(Template)]
#[template(path = "account/account.html")]
struct AccountPage {
    layout: Layout,
    email: String,
    sessions: Vec<SessionView>,
    /// Personal API tokens: (id, name, what it may do, created, last used and where).
    tokens: Vec<(i64, String, &'static str, String, String)>,
    retention_days: u32,
    forms: AccountForms,
    /// Tag suggestions: whether the server makes any, the remote tagger's model and
    /// host when there is one, the owner's consent and language.
    tagger_on: bool,
    two_factor_on: bool,
    remote_tagger: Option<(String, String)>,
    remote_tagging: bool,
    tag_language: String,
}

/// What the account page's forms show again after a failed post: one form's errors (and
/// the typed email).
#[derive(Default)]
struct AccountForms {
    new_email: String,
    password_errors: FieldErrors,
    email_errors: FieldErrors,
    delete_errors: FieldErrors,
    token_errors: FieldErrors,
    /// A token just made: shown this once.
    new_token: Option<String>,
}

async fn account(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
) -> Result<HttpResponse, AppError> {
    account_page(
        &state,
        &session,
        current,
        StatusCode::OK,
        AccountForms::default(),
    )
    .await
}

/// Renders `/account`, optionally with one form's errors (and its typed email).
async fn account_page(
    state: &AppState,
    session: &Session,
    current: CurrentUser,
    status: StatusCode,
    forms: AccountForms,
) -> Result<HttpResponse, AppError> {
    let user_id = current.user.id;
    let pages::AccountData {
        sessions: rows,
        tokens,
    } = state
        .db
        .run(move |conn| pages::account(conn, user_id))
        .await?;
    let sessions = rows
        .into_iter()
        .map(|row| {
            let user_agent = row.user_agent.unwrap_or_default();
            SessionView {
                id: row.id,
                current: Some(row.id) == current.session_id,
                browser: describe_browser(&user_agent),
                user_agent,
                ip: row.ip.map(|net| net.ip().to_string()).unwrap_or_default(),
                started: timestamp(row.created_at),
                last_seen: timestamp(row.last_seen_at),
            }
        })
        .collect();
    render(
        status,
        &AccountPage {
            tagger_on: !state.tagger.is_off(),
            two_factor_on: current.user.totp_enabled_at.is_some(),
            remote_tagger: state
                .tagger
                .remote()
                .map(|(model, host)| (model.to_owned(), host.to_owned())),
            remote_tagging: current.user.remote_tagging,
            tag_language: current.user.tag_language.clone(),
            layout: Layout::new(session, Some(&current)),
            email: current.user.email.clone(),
            sessions,
            tokens: tokens
                .into_iter()
                .map(|token| {
                    let last_used = match (token.last_used_at, token.last_used_ip) {
                        (Some(at), Some(ip)) => format!("{} from {}", timestamp(at), ip.ip()),
                        (Some(at), None) => timestamp(at),
                        (None, _) => "never".to_owned(),
                    };
                    let scope = match TokenScope::parse(&token.scope) {
                        Some(TokenScope::Images) => "Images only",
                        _ => "API",
                    };
                    (
                        token.id,
                        token.name,
                        scope,
                        timestamp(token.created_at),
                        last_used,
                    )
                })
                .collect(),
            retention_days: state.settings.ip_retention_days,
            forms,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm_password: String,
}

/// Changes the password and ends every other session of the account.
async fn change_password(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    Form(form): Form<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let ok = state
        .hasher
        .verify(
            form.current_password,
            Some(current.user.password_hash.clone()),
        )
        .await?;
    if !ok {
        errors.add("current_password", "Your current password is not right.");
    }
    let new_password = NewPassword::parse(&form.new_password, &form.confirm_password)
        .map_err(|problem| errors.add("new_password", problem.message()))
        .ok();
    let Some(new_password) = new_password.filter(|_| errors.is_empty()) else {
        return account_page(
            &state,
            &session,
            current,
            StatusCode::BAD_REQUEST,
            AccountForms {
                password_errors: errors,
                ..AccountForms::default()
            },
        )
        .await;
    };
    let hash = state.hasher.hash(new_password.expose().to_owned()).await?;
    let (user_id, keep) = (current.user.id, current.session_id);
    let Ended { sessions, tokens } = state
        .db
        .run(move |conn| accounts::change_password(conn, user_id, &hash, keep))
        .await?;
    state.auth_cache.forget(Invalidation::User(user_id));
    let others = match sessions {
        0 => String::new(),
        1 => " Your other session was signed out.".to_owned(),
        n => format!(" Your {n} other sessions were signed out."),
    };
    let tokens = match tokens {
        0 => String::new(),
        1 => " Your API token was revoked: make a new one for your scripts.".to_owned(),
        n => format!(" Your {n} API tokens were revoked: make new ones for your scripts."),
    };
    Flash::success(&session, format!("Password changed.{others}{tokens}"));
    Ok(see_other("/account"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EmailForm {
    email: String,
    password: String,
}

async fn change_email(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    Form(form): Form<EmailForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let email = Email::parse(&form.email)
        .map_err(|msg| errors.add("email", msg))
        .ok();
    let ok = state
        .hasher
        .verify(form.password, Some(current.user.password_hash.clone()))
        .await?;
    if !ok {
        errors.add("password", "Your password is not right.");
    }
    let typed = form.email.trim().to_owned();
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        return account_page(
            &state,
            &session,
            current,
            StatusCode::BAD_REQUEST,
            AccountForms {
                new_email: typed,
                email_errors: errors,
                ..AccountForms::default()
            },
        )
        .await;
    };
    let (user_id, user, mailer) = (current.user.id, current.user.clone(), state.mailer.clone());
    let changed = state
        .db
        .run(move |conn| accounts::change_email(conn, mailer.as_ref(), &user, &email))
        .await?;
    state.auth_cache.forget(Invalidation::User(user_id));
    if let Err(taken) = changed {
        errors.add("email", taken_message(&taken).1);
        return account_page(
            &state,
            &session,
            current,
            StatusCode::CONFLICT,
            AccountForms {
                new_email: typed,
                email_errors: errors,
                ..AccountForms::default()
            },
        )
        .await;
    }
    Flash::success(&session, "Email address updated.");
    Ok(see_other("/account"))
}

async fn revoke_session(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (user_id, id) = (current.user.id, id.into_inner());
    let revoked = state
        .db
        .run(move |conn| accounts::end_session(conn, user_id, id))
        .await?;
    if !revoked {
        return Err(AppError::NotFound);
    }
    state.auth_cache.forget(Invalidation::Session(id));
    if Some(id) == current.session_id {
        session.purge();
        return Ok(see_other("/login"));
    }
    Flash::success(&session, "That session has been signed out.");
    Ok(see_other("/account"))
}

/// "Sign out everywhere else": every session but this one ends.
async fn sign_out_others(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
) -> Result<HttpResponse, AppError> {
    let (user_id, keep) = (current.user.id, current.session_id);
    let ended = state
        .db
        .run(move |conn| access::sign_out_elsewhere(conn, user_id, keep))
        .await?;
    state.auth_cache.forget(Invalidation::User(user_id));
    let message = match ended {
        0 => "You were not signed in anywhere else.".to_owned(),
        1 => "Signed out of 1 other session.".to_owned(),
        n => format!("Signed out of {n} other sessions."),
    };
    Ok(done(
        &req,
        &session,
        &message,
        "/account",
        serde_json::json!({ "ended": ended }),
    ))
}

/// "Firefox on Linux" from a user agent string; good enough to recognise one's devices.
fn describe_browser(user_agent: &str) -> String {
    if user_agent.is_empty() {
        return "Unknown client".into();
    }
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(needle, _)| user_agent.contains(needle))
    .map_or("Browser", |(_, name)| name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| user_agent.contains(needle))
    .map(|(_, name)| *name);
    match os {
        Some(os) => format!("{browser} on {os}"),
        None => browser.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe_browser;

    #[test]
    fn browsers_are_recognised() {
        assert_eq!(
            describe_browser(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Chrome/120.0 Safari/537.36"
            ),
            "Chrome on Linux"
        );
        assert_eq!(describe_browser("curl/8.5.0"), "curl");
        assert_eq!(describe_browser(""), "Unknown client");
    }
}

/// `GET /account/export`: a zip of the user's images (original variant) and
/// `atelier-export.json`, built in an unnamed temporary file and streamed from it.
async fn export(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
) -> Result<HttpResponse, AppError> {
    let Some(_turn) = state.exports.begin(current.user.id) else {
        return Err(AppError::TooManyRequests {
            message: "Your export is already being prepared; it will download in a moment. \
                      Try again once it has finished."
                .into(),
            retry_after_secs: 10,
            limit: None,
        });
    };
    let user = current.user.clone();
    let plan = state
        .db
        .run(move |conn| privacy::plan_export(conn, &user))
        .await?;
    // The files are read with no database connection held.
    let library = state.library.clone();
    let scratch = state.settings.data_dir.join("exports");
    let file = web::block(move || -> Result<std::fs::File, AppError> {
        let mut file = privacy::scratch_file(&scratch)?;
        privacy::write_export(&library, &plan, &mut file)?;
        Ok(file)
    })
    .await
    .map_err(AppError::internal)??;
    let name = format!(
        "atelier-export-{}-{}.zip",
        current.user.username,
        chrono::Utc::now().format("%Y%m%d")
    );
    let named = NamedFile::from_file(file, &name)
        .map_err(AppError::internal)?
        .set_content_disposition(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(name)],
        })
        .use_etag(false)
        .use_last_modified(false);
    tracing::info!(user_id = current.user.id, "data export downloaded");
    let mut response = named.into_response(&req);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteAccountForm {
    /// The page's field is `delete_password`; scripts may post `password`.
    #[serde(alias = "delete_password")]
    password: String,
}

/// `POST /account/delete`: with the password, deletes the account, its files and rows, and
/// its sessions; ledger rows stay, no longer linked to anyone.
async fn delete_account(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    Form(form): Form<DeleteAccountForm>,
) -> Result<HttpResponse, AppError> {
    let ok = state
        .hasher
        .verify(form.password, Some(current.user.password_hash.clone()))
        .await?;
    if !ok {
        let mut errors = FieldErrors::default();
        errors.add(
            "delete_password",
            "Your password is not right; nothing was deleted.",
        );
        return account_page(
            &state,
            &session,
            current,
            StatusCode::BAD_REQUEST,
            AccountForms {
                delete_errors: errors,
                ..AccountForms::default()
            },
        )
        .await;
    }
    let library = state.library.clone();
    let user_id = current.user.id;
    let images = state
        .db
        .run(move |conn| accounts::delete_own_account(conn, &library, user_id))
        .await?;
    state.media_cache.clear();
    state.auth_cache.forget(Invalidation::User(user_id));
    session.purge();
    tracing::info!(user_id, images, "account deleted by its owner");
    render(
        StatusCode::OK,
        &AccountDeletedPage {
            layout: Layout {
                user: None,
                flash: None,
            },
            images,
        },
    )
}

#[derive(Template)]
#[template(path = "account/deleted.html")]
struct AccountDeletedPage {
    layout: Layout,
    images: usize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenForm {
    name: String,
    /// `api` (the default) or `images`.
    scope: String,
}

/// `POST /account/tokens`: makes a personal API token and shows it once (JSON clients get
/// `{"success":true,"token":…}`).
async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    Form(form): Form<TokenForm>,
) -> Result<HttpResponse, AppError> {
    let name = form.name.trim().to_owned();
    let scope = match form.scope.trim() {
        "" => Some(TokenScope::Api),
        raw => TokenScope::parse(raw),
    };
    let Some(scope) = scope else {
        return Err(AppError::BadRequest(
            "scope is api (everything scripts can do) or images (only make and fetch pictures)."
                .into(),
        ));
    };
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        let message = "Name the token (1 to 64 characters), e.g. the script or machine using it.";
        if errors::wants_json(&req) {
            return Err(AppError::BadRequest(message.into()));
        }
        let mut token_errors = FieldErrors::default();
        token_errors.add("token_name", message);
        return account_page(
            &state,
            &session,
            current,
            StatusCode::BAD_REQUEST,
            AccountForms {
                token_errors,
                ..AccountForms::default()
            },
        )
        .await;
    }
    let user_id = current.user.id;
    let (token, row) = state
        .db
        .run(move |conn| accounts::create_token(conn, user_id, &name, scope))
        .await?;
    tracing::info!(user_id, token_id = row.id, "API token created");
    if errors::wants_json(&req) {
        return Ok(HttpResponse::Created().json(serde_json::json!({
            "success": true,
            "id": row.id,
            "name": row.name,
            "token": token,
            "message": "Keep this token: it is shown only once.",
        })));
    }
    account_page(
        &state,
        &session,
        current,
        StatusCode::CREATED,
        AccountForms {
            new_token: Some(token),
            ..AccountForms::default()
        },
    )
    .await
}

async fn revoke_token(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (user_id, id) = (current.user.id, id.into_inner());
    let revoked = state
        .db
        .run(move |conn| accounts::revoke_token(conn, user_id, id))
        .await?;
    if !revoked {
        return Err(AppError::NotFound);
    }
    Flash::success(
        &session,
        "The token is revoked: scripts using it are refused from now on.",
    );
    Ok(see_other("/account"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TaggingForm {
    /// A checkbox: present ("on") when ticked.
    remote_tagging: Option<String>,
    language: String,
}

/// `POST /account/tagging`: consent to the remote tagger, and the tags' language.
async fn tagging_preferences(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    Form(form): Form<TaggingForm>,
) -> Result<HttpResponse, AppError> {
    let language = form.language.trim();
    let language = if language.is_empty() {
        "English"
    } else {
        language
    };
    if language.chars().count() > 40
        || !language
            .chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '(' | ')'))
    {
        return Err(AppError::BadRequest(
            "Name the language in words, up to 40 letters (for example \"English\" or \"Deutsch\").".into(),
        ));
    }
    let consent = matches!(form.remote_tagging.as_deref(), Some("on" | "1" | "true"));
    let (user_id, language_kept) = (current.user.id, language.to_owned());
    state
        .db
        .run(move |conn| tagging::set_preferences(conn, user_id, consent, &language_kept))
        .await?;
    state.auth_cache.forget(Invalidation::User(user_id));
    Flash::success(&session, "Tag suggestion settings saved.");
    Ok(see_other("/account#tagging"))
}
