//! `/admin/invites`: invitations to register when `ATELIER_REGISTRATION=invite` (SPEC §3).
//! An admin makes one (optionally for one email address, valid a number of days) and sees
//! its link once; the list shows each invite's state and who joined with it; an unused
//! one can be withdrawn. Every change is audited.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AdminUser;
use crate::base::config::Registration;
use crate::base::error::AppError;
use crate::db::models::invite;
use crate::domain::Email;
use crate::operations::access::{self, MAX_INVITE_DAYS};
use crate::web::extract::{Form, public_origin};
use crate::web::state::AppState;
use crate::web::views::{Flash, Layout, render, see_other, timestamp};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/invites", web::get().to(list))
        .route("/invites", web::post().to(create))
        .route("/invites/{id}/revoke", web::post().to(revoke));
}

/// How many invites the page lists.
const LISTED: i64 = 100;

/// One invite as listed: (id, for whom, made, expires, state in words, open).
type InviteRow = (i64, String, String, String, String, bool);

#[derive(Template)]
#[template(path = "admin/invites.html")]
struct InvitesPage {
    layout: Layout,
    section: &'static str,
    invites: Vec<InviteRow>,
    /// Whether this server registers by invite (otherwise the page says invites are moot).
    invite_only: bool,
    /// A link just made: shown this once.
    new_link: Option<String>,
    email: String,
    days: String,
    error: Option<String>,
}

async fn page(
    state: &AppState,
    session: &Session,
    admin: &AdminUser,
    status: StatusCode,
    form: (Option<String>, String, String, Option<String>),
) -> Result<HttpResponse, AppError> {
    let (new_link, email, days, error) = form;
    let rows = state.db.run(|conn| invite::recent(conn, LISTED)).await?;
    let invites = rows
        .into_iter()
        .map(|(invite, used_by)| {
            let state = match (&invite.used_at, &invite.revoked_at) {
                (Some(at), _) => format!(
                    "used by {} on {}",
                    used_by.as_deref().unwrap_or("a deleted account"),
                    timestamp(*at)
                ),
                (None, Some(at)) => format!("withdrawn on {}", timestamp(*at)),
                _ if !invite.is_open() => "expired".to_owned(),
                _ => "open".to_owned(),
            };
            (
                invite.id,
                invite.email.clone().unwrap_or_else(|| "anyone".to_owned()),
                timestamp(invite.created_at),
                timestamp(invite.expires_at),
                state,
                invite.is_open(),
            )
        })
        .collect();
    render(
        status,
        &InvitesPage {
            layout: Layout::new(session, Some(&admin.current)),
            section: "users",
            invites,
            invite_only: state.settings.registration == Registration::Invite,
            new_link,
            email,
            days,
            error,
        },
    )
}

async fn list(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, AppError> {
    let blank = (None, String::new(), "7".to_owned(), None);
    page(&state, &session, &admin, StatusCode::OK, blank).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InviteForm {
    email: String,
    days: String,
}

async fn create(
    req: HttpRequest,
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    Form(form): Form<InviteForm>,
) -> Result<HttpResponse, AppError> {
    let checked = (|| {
        let email = match form.email.trim() {
            "" => None,
            raw => Some(Email::parse(raw).map_err(str::to_owned)?),
        };
        let days: i64 = form
            .days
            .trim()
            .parse()
            .ok()
            .filter(|days| (1..=MAX_INVITE_DAYS).contains(days))
            .ok_or(format!("Choose from 1 to {MAX_INVITE_DAYS} days."))?;
        Ok::<_, String>((email, days))
    })();
    let (email, days) = match checked {
        Ok(values) => values,
        Err(message) => {
            let typed = (None, form.email.clone(), form.days.clone(), Some(message));
            return page(&state, &session, &admin, StatusCode::BAD_REQUEST, typed).await;
        }
    };
    let (actor, mailer) = (admin.actor(), state.mailer.clone());
    let token = state
        .db
        .run(move |conn| {
            let by = (&actor, mailer.as_ref());
            access::create_invite(conn, by, email.as_ref().map(Email::as_str), days)
        })
        .await?;
    let link = format!(
        "{}/register?invite={token}",
        public_origin(&req).unwrap_or_default()
    );
    let made = (Some(link), String::new(), "7".to_owned(), None);
    page(&state, &session, &admin, StatusCode::OK, made).await
}

async fn revoke(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (actor, id) = (admin.actor(), id.into_inner());
    let revoked = state
        .db
        .run(move |conn| access::revoke_invite(conn, &actor, id))
        .await?;
    if !revoked {
        return Err(AppError::NotFound);
    }
    Flash::success(
        &session,
        "The invite is withdrawn: its link no longer works.",
    );
    Ok(see_other("/admin/invites"))
}
