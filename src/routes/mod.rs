//! HTTP routes, one module per area, with each page's template struct beside its handler.
//! This module holds what pages share: the layout context, flash messages, field errors
//! and the render helper.

pub mod account;
pub mod admin;
pub mod api;
pub mod assets;
pub mod auth;
pub mod errors;
pub mod gallery;
pub mod generate;
pub mod health;
pub mod home;
pub mod media;
pub mod share;
pub mod upload;

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};

use crate::auth::{CurrentUser, keys};
use crate::error::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    assets::configure(cfg);
    home::configure(cfg);
    auth::configure(cfg);
    account::configure(cfg);
    gallery::configure(cfg);
    generate::configure(cfg);
    upload::configure(cfg);
    media::configure(cfg);
    share::configure(cfg);
    api::configure(cfg);
    admin::configure(cfg);
}

/// Form bodies are small; refuse anything else before reading it.
/// A route answering `GET` and `HEAD` (the body is dropped for `HEAD`): files served to
/// scripts and browsers, which probe with `HEAD`.
pub fn get_or_head() -> actix_web::Route {
    use actix_web::guard;
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

pub fn form_config() -> web::FormConfig {
    web::FormConfig::default().limit(64 * 1024)
}

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(64 * 1024)
}

pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}

/// What every page's layout needs: who is signed in and a pending flash message.
pub struct Layout {
    pub user: Option<NavUser>,
    pub flash: Option<Flash>,
}

pub struct NavUser {
    pub username: String,
    pub is_admin: bool,
}

impl Layout {
    /// Takes (and so clears) the session's flash message. Only touches the session when
    /// there is one: `remove` marks the session changed, which would cost every page view
    /// a write (and every instance its cached copy).
    pub fn new(session: &Session, user: Option<&CurrentUser>) -> Self {
        let flash = session
            .contains_key(keys::FLASH)
            .then(|| session.remove_as::<Flash>(keys::FLASH))
            .flatten()
            .and_then(Result::ok);
        Layout {
            user: user.map(|current| NavUser {
                username: current.user.username.clone(),
                is_admin: current.user.is_admin(),
            }),
            flash,
        }
    }
}

/// Page count and previous/next links of a paginated listing, for `partials/pager.html`.
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    pub prev_link: Option<String>,
    pub next_link: Option<String>,
}

impl Pager {
    /// `page` of `total` items, `per_page` to a page; `link` makes a page's URL.
    pub fn new(page: i64, total: i64, per_page: i64, link: impl Fn(i64) -> String) -> Self {
        let pages = ((total + per_page - 1) / per_page).max(1);
        Pager {
            page,
            pages,
            prev_link: (page > 1).then(|| link(page - 1)),
            next_link: (page < pages).then(|| link(page + 1)),
        }
    }
}

/// A moment as pages show it: `2026-12-02 15:04 UTC`.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A one-shot message shown at the top of the next page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    /// `success`, `info` or `error`; also the CSS class.
    pub kind: String,
    pub message: String,
}

impl Flash {
    pub fn success(session: &Session, message: impl Into<String>) {
        Self::set(session, "success", message.into());
    }

    pub fn error(session: &Session, message: impl Into<String>) {
        Self::set(session, "error", message.into());
    }

    fn set(session: &Session, kind: &str, message: String) {
        let flash = Flash {
            kind: kind.to_owned(),
            message,
        };
        if let Err(err) = session.insert(keys::FLASH, flash) {
            tracing::warn!(error = %err, "could not store a flash message");
        }
    }
}

/// Errors shown beside form fields, by field name.
#[derive(Debug, Default)]
pub struct FieldErrors(HashMap<&'static str, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Renders a page with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::build(status)
        .content_type(ContentType::html())
        .body(page.render()?))
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}

/// A local path to return to after login; anything else (absolute URLs, `//host`,
/// backslashes) falls back to the dashboard, so `next` cannot redirect off-site.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/dashboard",
    }
}

pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The request's user agent, for the session list.
pub fn user_agent(req: &HttpRequest) -> String {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(512)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pager_counts_pages_and_links_neighbours() {
        let link = |p: i64| format!("/x?page={p}");
        let first = Pager::new(1, 25, 24, link);
        assert_eq!(
            (first.pages, first.prev_link, first.next_link.as_deref()),
            (2, None, Some("/x?page=2"))
        );
        let last = Pager::new(2, 25, 24, link);
        assert_eq!(
            (last.prev_link.as_deref(), last.next_link),
            (Some("/x?page=1"), None)
        );
        let empty = Pager::new(1, 0, 24, link);
        assert_eq!((empty.pages, empty.next_link), (1, None));
        assert_eq!(Pager::new(1, 48, 24, link).pages, 2);
    }

    #[test]
    fn next_stays_on_site() {
        assert_eq!(safe_next(Some("/gallery?page=2")), "/gallery?page=2");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "",
            "dashboard",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), "/dashboard", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/dashboard");
    }
}
