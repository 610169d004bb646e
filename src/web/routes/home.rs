//! The landing page and the privacy statement.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::base::error::AppError;
use crate::services::quota::ClientIp;
use crate::web::extract::MaybeUser;
use crate::web::state::AppState;
use crate::web::views::{Flash, Layout, render};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/privacy", web::get().to(privacy));
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    /// For visitors: how many anonymous generations their network has left, and whether
    /// one more may be made (Generate is disabled otherwise; `cost` says why).
    cost: String,
    can_generate: bool,
}

async fn home(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let signed_out = req.cookie(super::auth::SIGNED_OUT_COOKIE).is_some();
    let (cost, can_generate) = match &user.0 {
        Some(_) => (String::new(), true),
        None => {
            let usage = state.usage_of(None, ip).await?;
            (usage.next_image_cost(), usage.can_make_an_image())
        }
    };
    let mut layout = Layout::new(&session, user.0.as_ref());
    if signed_out && layout.flash.is_none() {
        layout.flash = Some(Flash {
            kind: "info".into(),
            message: "You are logged out. See you soon.".into(),
        });
    }
    let mut page = render(
        StatusCode::OK,
        &HomePage {
            layout,
            cost,
            can_generate,
        },
    )?;
    if signed_out {
        // Said once.
        let mut gone = actix_web::cookie::Cookie::new(super::auth::SIGNED_OUT_COOKIE, "");
        gone.set_path("/");
        gone.make_removal();
        if let Err(err) = page.add_cookie(&gone) {
            tracing::debug!(error = %err, "could not clear the signed-out cookie");
        }
    }
    Ok(page)
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct PrivacyPage {
    layout: Layout,
    retention_days: u32,
    anon_hours: u64,
    login_window_minutes: u64,
    /// The remote tagger's model and host, when pictures may be sent to one.
    remote_tagger: Option<(String, String)>,
}

async fn privacy(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
) -> Result<HttpResponse, AppError> {
    let settings = &state.settings;
    render(
        StatusCode::OK,
        &PrivacyPage {
            layout: Layout::new(&session, user.0.as_ref()),
            retention_days: settings.ip_retention_days,
            anon_hours: settings.anon_retention_secs.div_ceil(3600),
            login_window_minutes: settings.login_failure_window_secs.div_ceil(60),
            remote_tagger: state
                .tagger
                .remote()
                .map(|(model, host)| (model.to_owned(), host.to_owned())),
        },
    )
}
