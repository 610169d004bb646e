//! Error pages (HTML in the site's layout) and JSON errors, chosen by what the client asked
//! for. Used by the middleware in `middleware.rs` and by handlers that answer JSON.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::{Layout, NavUser};

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// JSON for `/api/…` and for clients that accept JSON but not HTML.
pub fn wants_json(req: &HttpRequest) -> bool {
    if req.path().starts_with("/api/") {
        return true;
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/html")
}

/// The error as a page, or as JSON when `json`; `signed_in` picks the navigation links.
pub fn render(json: bool, status: StatusCode, message: &str, signed_in: bool) -> HttpResponse {
    if json {
        return HttpResponse::build(status).json(serde_json::json!({
            "success": false,
            "error": message,
        }));
    }
    let page = ErrorPage {
        layout: Layout {
            // The nav only needs to know whether to offer "log in" or "log out".
            user: signed_in.then(|| NavUser {
                username: String::new(),
                is_admin: false,
            }),
            flash: None,
        },
        status: status.as_u16(),
        title: status.canonical_reason().unwrap_or("Error"),
        message,
    };
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type(ContentType::html())
            .body(html),
        Err(err) => {
            tracing::error!(error = %err, "error page failed to render");
            HttpResponse::build(status)
                .content_type(ContentType::plaintext())
                .body(message.to_owned())
        }
    }
}
