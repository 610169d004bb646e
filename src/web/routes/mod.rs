//! HTTP routes, one module per area, with each page's template struct beside its handler:
//! extract, call one operation, render. The rule: every write goes through
//! `crate::operations`. No route module opens a database transaction (a grep of this
//! folder for the call finds none) or touches the store; reads may call models directly
//! and read files through the library. What pages share (layout,
//! cards, pager, formatting, error pages, refused forms) lives in `crate::web::views`.

pub mod account;
pub mod admin;
pub mod api;
pub mod assets;
pub mod auth;
pub mod bulk;
pub mod dashboard;
pub mod gallery;
pub mod generate;
pub mod health;
pub mod home;
pub mod images;
pub mod jobs;
pub mod media;
pub mod openai_api;
pub mod password;
pub mod second_factor;
pub mod share;
pub mod tagging;
pub mod trash;
pub mod upload;
pub mod video;

use actix_web::{HttpResponse, web};

use crate::base::error::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Routes are tried in order: the image proxy, by far the most requested, goes first.
    media::configure(cfg);
    health::configure(cfg);
    assets::configure(cfg);
    home::configure(cfg);
    auth::configure(cfg);
    password::configure(cfg);
    second_factor::configure(cfg);
    account::configure(cfg);
    dashboard::configure(cfg);
    gallery::configure(cfg);
    bulk::configure(cfg);
    trash::configure(cfg);
    images::configure(cfg);
    tagging::configure(cfg);
    generate::configure(cfg);
    video::configure(cfg);
    jobs::configure(cfg);
    upload::configure(cfg);
    share::configure(cfg);
    api::configure(cfg);
    openai_api::configure(cfg);
    admin::configure(cfg);
}

/// A route answering `GET` and `HEAD` (the body is dropped for `HEAD`): files served to
/// scripts and browsers, which probe with `HEAD`.
pub fn get_or_head() -> actix_web::Route {
    use actix_web::guard;
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}
