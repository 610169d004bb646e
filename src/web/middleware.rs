//! Cross-cutting request handling, outermost first: request logging (which also turns
//! errors raised by other middleware into pages), security headers, CSRF defence,
//! `no-store` for signed-in answers, and the error renderer that gives every 4xx/5xx the
//! site's layout or a JSON body.

use std::time::Instant;

use actix_session::SessionExt;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};

use crate::base::error::{AppError, ErrorInfo};
use crate::web::auth::keys;
use crate::web::state::AppState;
use crate::web::views::errors;

/// Logs one line per request and renders errors that escaped the inner layers (for example
/// a session store that cannot reach the database: 503, not a bare 500).
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    // Cloning the HttpRequest here would break routing; keep what the error path needs.
    let json = errors::wants_json(req.request());
    let db = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.db.clone());
    // Only bounded values are kept: the method by name (made-up ones as `OTHER`), the
    // route's pattern rather than the path, and at most a line's worth of the path in logs.
    let method = crate::base::metrics::method_label(req.method());
    let path = log_excerpt(req.path()).to_owned();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| crate::base::metrics::UNMATCHED_ROUTE.to_owned());
    let result = next.call(req).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    let took = started.elapsed();
    crate::base::metrics::request(&route, method, status.as_u16(), took);
    tracing::info!(
        %method,
        %path,
        status = status.as_u16(),
        ms = took.as_secs_f64() * 1000.0,
        "request"
    );
    match result {
        Ok(response) => Ok(response.map_into_boxed_body()),
        Err(err) => {
            tracing::warn!(error = %err, %status, "request failed in middleware");
            let db_down = db.is_some_and(|db| db.recently_unavailable());
            let page = if status == StatusCode::INTERNAL_SERVER_ERROR && db_down {
                let mut page = errors::render(
                    json,
                    StatusCode::SERVICE_UNAVAILABLE,
                    &AppError::DatabaseUnavailable.message(),
                    None,
                );
                page.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                page
            } else {
                errors::render(json, status, &default_message(status, None), None)
            };
            Err(PreparedError(std::cell::RefCell::new(Some(page))).into())
        }
    }
}

/// The start of a request path for the log line: paths are bounded only by the header
/// limit, and one log line should stay one line's worth.
fn log_excerpt(path: &str) -> &str {
    const MAX: usize = 200;
    if path.len() <= MAX {
        return path;
    }
    let mut end = MAX;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

/// An error whose page is already rendered; lets the outermost middleware answer with our
/// page through actix's error path (it has no request left to build a response with).
struct PreparedError(std::cell::RefCell<Option<HttpResponse>>);

impl std::fmt::Debug for PreparedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreparedError")
    }
}

impl std::fmt::Display for PreparedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request failed")
    }
}

impl actix_web::ResponseError for PreparedError {
    fn status_code(&self) -> StatusCode {
        self.0
            .borrow()
            .as_ref()
            .map_or(StatusCode::INTERNAL_SERVER_ERROR, HttpResponse::status)
    }

    fn error_response(&self) -> HttpResponse {
        self.0
            .borrow_mut()
            .take()
            .unwrap_or_else(|| HttpResponse::InternalServerError().finish())
    }
}

/// Content-Security-Policy for pages: no inline script, no framing.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Adds the baseline headers unless the handler chose its own (the image proxy does).
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    let defaults = [
        (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    Ok(response)
}

/// Refuses state-changing requests that a browser sent on behalf of another site.
///
/// `Sec-Fetch-Site` is authoritative when present (`cross-site` and `same-site` are
/// refused). Without it, an `Origin` naming another origin is refused. Requests carrying
/// neither header are not from a modern browser's cross-site form (curl, scripts): they
/// pass, and the session cookie's `SameSite=Lax` covers old browsers.
pub async fn csrf(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if is_cross_site_write(&req) {
        let page = errors::render(
            errors::wants_json(req.request()),
            StatusCode::FORBIDDEN,
            "This request came from another site and was refused. If you clicked a link \
             elsewhere, open Atelier directly and try again.",
            None,
        );
        return Ok(req.into_response(page));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn is_cross_site_write(req: &ServiceRequest) -> bool {
    if matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return false;
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return !matches!(site.trim(), "same-origin" | "none");
    }
    if let Some(origin) = header("origin") {
        // The whole origin must match, scheme included: a page on http:// must not post
        // to the https:// site (or the other way round).
        let info = req.connection_info();
        let own = format!("{}://{}", info.scheme(), info.host());
        return !origin.trim().eq_ignore_ascii_case(&own);
    }
    false
}

/// Pages and JSON shown to a signed-in user (or a token's owner), and the pages that carry
/// a one-time secret (reset and invite links, the second sign-in step), are
/// `Cache-Control: no-store`: Back after logout on a shared computer, or a cache on the
/// way, must not show them again. Runs inside the session layer, after the handler (and the
/// error pages), so a sign-in or logout counts at once.
pub async fn private_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut response = next.call(req).await?;
    let private_kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html") || ct.starts_with("application/json"));
    let request = response.request();
    let carries_a_secret = request.path().starts_with("/password/")
        || request.path() == "/login/2fa"
        || (request.path() == "/register" && request.query_string().contains("invite="));
    let private = private_kind
        && (carries_a_secret
            || request.headers().contains_key(header::AUTHORIZATION)
            || request
                .get_session()
                .get::<i64>(keys::USER_ID)
                .ok()
                .flatten()
                .is_some());
    if private {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

/// Gives 4xx/5xx responses the site's error page (or JSON), unless the handler rendered a
/// page of its own (a form shown again with its errors). A 401 on a page becomes a redirect
/// to the login form.
pub async fn error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let response = next.call(req).await?;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(response.map_into_boxed_body());
    }
    let info = response.response().extensions().get::<ErrorInfo>().cloned();
    let rendered_by_handler = info.is_none()
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/html") || ct.starts_with("application/json"));
    if rendered_by_handler {
        return Ok(response.map_into_boxed_body());
    }
    let (http_req, old) = response.into_parts();
    if status == StatusCode::UNAUTHORIZED && !errors::wants_json(&http_req) {
        let target = if http_req.method() == Method::GET {
            let here = http_req
                .uri()
                .path_and_query()
                .map_or("/", |pq| pq.as_str());
            format!("/login?next={}", crate::web::views::url_encode(here))
        } else {
            "/login".to_owned()
        };
        let redirect = HttpResponse::SeeOther()
            .insert_header((header::LOCATION, target))
            .finish();
        return Ok(ServiceResponse::new(http_req, redirect));
    }
    let message = match info {
        Some(info) => info.message,
        None => default_message(status, old.error()),
    };
    let user = nav_user(&http_req);
    let json = errors::wants_json(&http_req);
    let mut page = if errors::is_openai_path(&http_req) {
        errors::openai(status, &message)
    } else {
        errors::render(json, status, &message, user)
    };
    // What the client needs to act on the error survives the page: when to retry, what is
    // allowed, the size a range must fit, and where a rate limit stands.
    for (name, value) in old.headers() {
        let kept = [header::RETRY_AFTER, header::ALLOW, header::CONTENT_RANGE].contains(name)
            || name.as_str().starts_with("ratelimit-");
        if kept {
            page.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(http_req, page))
}

/// Who the error page's navigation greets: the user the request's handler found signed
/// in, by name; else the session's user as the auth cache knows them (no database trip on
/// an error path); `None` (the signed-out menu) for nobody.
fn nav_user(req: &actix_web::HttpRequest) -> Option<crate::web::views::NavUser> {
    let found = actix_web::HttpMessage::extensions(req)
        .get::<crate::web::extract::SignedIn>()
        .cloned();
    if let Some(signed_in) = found {
        return Some(crate::web::views::NavUser {
            username: signed_in.username,
            is_admin: signed_in.is_admin,
        });
    }
    let id = req.get_session().get::<i64>(keys::USER_ID).ok().flatten()?;
    let cached = req
        .app_data::<actix_web::web::Data<crate::web::state::AppState>>()
        .and_then(|state| state.auth_cache.user(id));
    Some(crate::web::views::NavUser {
        username: cached
            .as_ref()
            .map(|user| user.username.clone())
            .unwrap_or_default(),
        is_admin: cached.is_some_and(|user| user.is_admin()),
    })
}

/// A message for errors raised outside `AppError` (actix's own 404/405/400s).
fn default_message(status: StatusCode, error: Option<&Error>) -> String {
    match status {
        StatusCode::NOT_FOUND => AppError::NotFound.message(),
        StatusCode::METHOD_NOT_ALLOWED => "This address does not accept that method.".into(),
        StatusCode::PAYLOAD_TOO_LARGE => "The request is too large.".into(),
        s if s.is_client_error() => match error {
            Some(err) => format!("The request could not be understood: {err}"),
            None => "The request could not be understood.".into(),
        },
        StatusCode::SERVICE_UNAVAILABLE => AppError::DatabaseUnavailable.message(),
        _ => AppError::internal(anyhow::anyhow!("unreachable")).message(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn post(headers: &[(&str, &str)]) -> ServiceRequest {
        let mut req = TestRequest::post()
            .uri("/login")
            .insert_header(("host", "127.0.0.1:8080"));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        req.to_srv_request()
    }

    #[test]
    fn csrf_rules() {
        assert!(
            !is_cross_site_write(&post(&[])),
            "curl without headers passes"
        );
        assert!(!is_cross_site_write(&post(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(!is_cross_site_write(&post(&[("sec-fetch-site", "none")])));
        assert!(is_cross_site_write(&post(&[(
            "sec-fetch-site",
            "cross-site"
        )])));
        assert!(is_cross_site_write(&post(&[(
            "sec-fetch-site",
            "same-site"
        )])));
        assert!(!is_cross_site_write(&post(&[(
            "origin",
            "http://127.0.0.1:8080"
        )])));
        assert!(is_cross_site_write(&post(&[(
            "origin",
            "http://evil.example"
        )])));
        assert!(is_cross_site_write(&post(&[("origin", "null")])));
        assert!(is_cross_site_write(&post(&[(
            "origin",
            "http://127.0.0.1:8080.evil.example"
        )])));
        // Sec-Fetch-Site wins over a matching Origin.
        assert!(is_cross_site_write(&post(&[
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "cross-site")
        ])));
        let get = TestRequest::get()
            .insert_header(("sec-fetch-site", "cross-site"))
            .to_srv_request();
        assert!(!is_cross_site_write(&get), "safe methods are never refused");
    }
}
