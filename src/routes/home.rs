//! The landing page.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::generate::usage_for;
use super::{Layout, render};
use crate::auth::MaybeUser;
use crate::error::AppError;
use crate::quota::ClientIp;
use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home));
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    /// For visitors: how many anonymous generations their network has left.
    cost: String,
}

async fn home(
    state: web::Data<AppState>,
    session: Session,
    user: MaybeUser,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let cost = match &user.0 {
        Some(_) => String::new(),
        None => usage_for(&state, None, ip).await?.next_image_cost(),
    };
    render(
        StatusCode::OK,
        &HomePage {
            layout: Layout::new(&session, user.0.as_ref()),
            cost,
        },
    )
}
