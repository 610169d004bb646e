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

/// JSON for `/api/…`, the OpenAI-compatible `/v1/…`, and clients that accept JSON but
/// not HTML.
pub fn wants_json(req: &HttpRequest) -> bool {
    if req.path().starts_with("/api/") || is_openai_path(req) {
        return true;
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/html")
}

/// The error as a page, or as JSON when `json`; `user` is who the navigation greets (the
/// signed-in menu with their name, or the signed-out one).
pub fn render(
    json: bool,
    status: StatusCode,
    message: &str,
    user: Option<NavUser>,
) -> HttpResponse {
    if json {
        return HttpResponse::build(status).json(serde_json::json!({
            "success": false,
            "error": message,
        }));
    }
    let page = ErrorPage {
        layout: Layout { user, flash: None },
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

/// The OpenAI-compatible API (`/v1/…`), whose errors take OpenAI's shape.
pub fn is_openai_path(req: &HttpRequest) -> bool {
    req.path().starts_with("/v1/")
}

/// An error as OpenAI's API answers it, which the `openai` SDKs turn into typed
/// exceptions: `{"error": {"message", "type", "param", "code"}}`. Out of credits is a 429
/// `insufficient_quota` (not 402); `x-should-retry: false` stops the SDKs' automatic
/// retries wherever asking again cannot help (bad input, no credits, a refusal, a failed
/// generation that was refunded).
pub fn openai(status: StatusCode, message: &str) -> HttpResponse {
    let (status, kind, code, retry) = match status.as_u16() {
        401 => (
            status,
            "invalid_request_error",
            Some("invalid_api_key"),
            false,
        ),
        402 => (
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            Some("insufficient_quota"),
            false,
        ),
        429 => (status, "requests", Some("rate_limit_exceeded"), true),
        403 => (
            status,
            "invalid_request_error",
            Some("permission_denied"),
            false,
        ),
        404 => (status, "invalid_request_error", Some("not_found"), false),
        502 => (status, "server_error", None, false),
        s if s >= 500 => (status, "server_error", None, true),
        _ => (status, "invalid_request_error", None, false),
    };
    let message = if status == StatusCode::UNAUTHORIZED {
        "Incorrect or missing API key: send a personal API token (made on /account) as \
         Authorization: Bearer atl_…"
    } else {
        message
    };
    let mut response = HttpResponse::build(status);
    if !retry {
        response.insert_header(("x-should-retry", "false"));
    }
    response.json(serde_json::json!({
        "error": {"message": message, "type": kind, "param": null, "code": code}
    }))
}
