//! The one error type of the request path, and how it reaches the client.
//!
//! Handlers return `Result<_, AppError>`. `AppError::error_response` only sets the status,
//! the headers (`Retry-After`) and an [`ErrorInfo`] extension; the `error_pages` middleware
//! (see `web::middleware`) then renders it as an HTML page in the site's layout or as
//! `{"success":false,"error":…}` for JSON clients, because only it can see the request.
//! Form validation failures are not `AppError`s: the form is rendered again with the
//! errors beside the fields.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

#[derive(Debug)]
pub enum AppError {
    /// The thing does not exist, or this client may not know that it exists.
    NotFound,
    /// A page or action that needs a signed-in user, asked for anonymously.
    LoginRequired,
    /// As `LoginRequired`, with a sentence on why (what needs the account).
    Unauthorized(String),
    /// Refused for a reason the client may know (blocked IP, cross-site form post).
    Forbidden(String),
    /// The request itself is malformed or its values are out of range.
    BadRequest(String),
    /// A one-time link that was used or has expired.
    Gone(String),
    /// An admin without two-factor sign-in where `ATELIER_ADMIN_REQUIRE_2FA` is on: sent
    /// to set it up (303 to `/account/2fa`).
    SecondFactorRequired,
    /// The body is larger than allowed (an upload over the size or pixel limit).
    PayloadTooLarge(String),
    /// The body is of a type Atelier does not take (an upload that is not an image).
    UnsupportedMediaType(String),
    /// The body is of the right type but unusable (a corrupt image).
    Unprocessable(String),
    /// A generation the account cannot pay for (no credits, no free image).
    PaymentRequired(String),
    /// A rate limit was hit; the client may retry after `retry_after_secs`. `limit` is
    /// the quota that was used up, sent as `RateLimit-*` headers like the allowed requests
    /// that counted against it (`None` for a one-at-a-time rule).
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
        limit: Option<u64>,
    },
    /// The database could not be reached in time.
    DatabaseUnavailable,
    /// A shared resource (the image memory budget, the database connections) is full;
    /// retry after `retry_after_secs`.
    Busy {
        message: String,
        retry_after_secs: u64,
    },
    /// A feature this server has turned off (video without ffmpeg), in words.
    Unavailable(String),
    /// The object store holding users' files did not answer; retry in a moment.
    StoreUnavailable,
    /// The image provider failed the job (it was refunded); the sentence says why (502).
    ProviderFailed(String),
    /// The disk holding users' files is full (or the service user's quota is used up):
    /// nothing was saved, and an operator has to make room (507).
    StorageFull,
    /// A bug or an unexpected failure; the detail is logged, never shown.
    Internal(anyhow::Error),
}

/// What the error renderer needs, left on the response by `AppError::error_response`.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub message: String,
}

impl AppError {
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(err.into())
    }

    /// Whether this is a refusal the visitor can act on, shown beside the form they sent
    /// with what they typed (see `web::views::form_refused`), rather than an error page.
    pub fn is_form_refusal(&self) -> bool {
        matches!(
            self,
            AppError::BadRequest(_)
                | AppError::Unauthorized(_)
                | AppError::PayloadTooLarge(_)
                | AppError::UnsupportedMediaType(_)
                | AppError::Unprocessable(_)
                | AppError::PaymentRequired(_)
                | AppError::TooManyRequests { .. }
                | AppError::Busy { .. }
                | AppError::Unavailable(_)
                | AppError::StorageFull
        )
    }

    /// The sentence shown to the user.
    pub fn message(&self) -> String {
        match self {
            AppError::NotFound => "The page or item you asked for does not exist.".into(),
            AppError::LoginRequired => "Please log in to continue.".into(),
            AppError::SecondFactorRequired => {
                "Administrators here sign in with two factors: set yours up first.".into()
            }
            AppError::Forbidden(msg)
            | AppError::Unauthorized(msg)
            | AppError::BadRequest(msg)
            | AppError::Gone(msg)
            | AppError::PayloadTooLarge(msg)
            | AppError::UnsupportedMediaType(msg)
            | AppError::Unprocessable(msg)
            | AppError::PaymentRequired(msg)
            | AppError::Unavailable(msg)
            | AppError::ProviderFailed(msg)
            | AppError::TooManyRequests { message: msg, .. }
            | AppError::Busy { message: msg, .. } => msg.clone(),
            AppError::DatabaseUnavailable => {
                "The database is not reachable right now. Please try again in a moment.".into()
            }
            AppError::StoreUnavailable => {
                "The file store is not answering right now, so nothing was saved or changed. \
                 Please try again in a moment."
                    .into()
            }
            AppError::StorageFull => {
                "The server's storage is full; nothing was saved. Please tell the site's \
                 administrator."
                    .into()
            }
            AppError::Internal(_) => {
                "Something went wrong on our side. It has been logged; please try again.".into()
            }
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Internal(err) => write!(f, "internal error: {err:#}"),
            other => f.write_str(&other.message()),
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::LoginRequired | AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::SecondFactorRequired => StatusCode::SEE_OTHER,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::DatabaseUnavailable
            | AppError::StoreUnavailable
            | AppError::Busy { .. }
            | AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            AppError::ProviderFailed(_) => StatusCode::BAD_GATEWAY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::Internal(err) = self {
            tracing::error!(error = format!("{err:#}"), "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let AppError::TooManyRequests {
            retry_after_secs,
            limit: Some(limit),
            ..
        } = self
        {
            response
                .insert_header(("ratelimit-limit", limit.to_string()))
                .insert_header(("ratelimit-remaining", "0"))
                .insert_header(("ratelimit-reset", retry_after_secs.to_string()));
        }
        match self {
            AppError::TooManyRequests {
                retry_after_secs, ..
            }
            | AppError::Busy {
                retry_after_secs, ..
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            AppError::DatabaseUnavailable | AppError::StoreUnavailable => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            AppError::SecondFactorRequired => {
                response
                    .insert_header((header::LOCATION, HeaderValue::from_static("/account/2fa")));
            }
            _ => {}
        }
        let mut response = response.finish();
        response.extensions_mut().insert(ErrorInfo {
            message: self.message(),
        });
        response
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        AppError::Internal(err.into())
    }
}

impl From<askama::Error> for AppError {
    fn from(err: askama::Error) -> Self {
        AppError::Internal(err.into())
    }
}
