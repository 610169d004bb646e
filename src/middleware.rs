//! Cross-cutting request handling, outermost first: request logging (which also turns
//! errors raised by other middleware into pages), security headers, CSRF defence, and the
//! error renderer that gives every 4xx/5xx the site's layout or a JSON body.

use std::time::Instant;

use actix_session::SessionExt;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, web};

use crate::auth::keys;
use crate::error::{AppError, ErrorInfo};
use crate::state::AppState;
use crate::views::errors;

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
    let (method, path) = (req.method().clone(), req.path().to_owned());
    // The route's pattern, not the path, labels the metrics (a bounded set).
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "(unmatched)".to_owned());
    let result = next.call(req).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    let took = started.elapsed();
    crate::metrics::request(&route, method.as_str(), status.as_u16(), took);
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
                    false,
                );
                page.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                page
            } else {
                errors::render(json, status, &default_message(status, None), false)
            };
            Err(PreparedError(std::cell::RefCell::new(Some(page))).into())
        }
    }
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
            false,
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

/// Largest form or JSON body read here; the extractors have the same limit.
const TEXT_BODY_LIMIT: usize = 64 * 1024;

/// Applies [`crate::domain::forbidden_control`] to every query value and to every field of
/// a form or JSON body before any handler sees them: 400 with a sentence naming the field,
/// and nothing changes. Multipart uploads check their text parts themselves.
pub async fn refuse_control_characters(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // Answered here as a response (not an `Err`), so the error renderer gives it a page.
    let refuse = |req: ServiceRequest, err: AppError| {
        let response = actix_web::ResponseError::error_response(&err);
        Ok(req.into_response(response))
    };
    if let Some(problem) = query_problem(req.query_string()) {
        return refuse(req, AppError::BadRequest(problem));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let form = content_type.starts_with("application/x-www-form-urlencoded");
    let json = content_type.starts_with("application/json");
    if form || json {
        let mut body = web::BytesMut::new();
        let mut payload = req.take_payload();
        while let Some(chunk) = futures_util::StreamExt::next(&mut payload).await {
            let chunk: web::Bytes = chunk?;
            body.extend_from_slice(&chunk);
            if body.len() > TEXT_BODY_LIMIT {
                let too_large = AppError::PayloadTooLarge(format!(
                    "The request body is larger than {} KiB.",
                    TEXT_BODY_LIMIT / 1024
                ));
                return refuse(req, too_large);
            }
        }
        let body = body.freeze();
        let problem = if form {
            form_problem(&body)
        } else {
            serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|value| json_problem("body", &value))
        };
        if let Some(problem) = problem {
            return refuse(req, AppError::BadRequest(problem));
        }
        req.set_payload(actix_web::dev::Payload::from(body));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn query_problem(query: &str) -> Option<String> {
    if query.is_empty() {
        return None;
    }
    form_problem(query.as_bytes())
}

fn form_problem(body: &[u8]) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.iter().find_map(|(name, value)| {
        crate::domain::forbidden_control(name)
            .or_else(|| crate::domain::forbidden_control(value))
            .map(|found| crate::domain::control_message(name, found))
    })
}

fn json_problem(field: &str, value: &serde_json::Value) -> Option<String> {
    use crate::domain::{control_message, forbidden_control};
    match value {
        serde_json::Value::String(text) => {
            forbidden_control(text).map(|found| control_message(field, found))
        }
        serde_json::Value::Array(items) => items.iter().find_map(|item| json_problem(field, item)),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(name, item)| {
            forbidden_control(name)
                .map(|found| control_message(name, found))
                .or_else(|| json_problem(name, item))
        }),
        _ => None,
    }
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
            format!("/login?next={}", crate::views::url_encode(here))
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
    let signed_in = http_req
        .get_session()
        .get::<i64>(keys::USER_ID)
        .ok()
        .flatten()
        .is_some();
    let json = errors::wants_json(&http_req);
    let mut page = errors::render(json, status, &message, signed_in);
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
