//! The landing page.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Layout, render};
use crate::auth::MaybeUser;
use crate::error::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home));
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
}

async fn home(session: Session, user: MaybeUser) -> Result<HttpResponse, AppError> {
    render(
        StatusCode::OK,
        &HomePage {
            layout: Layout::new(&session, user.0.as_ref()),
        },
    )
}
