//! Fields from outside, read one way. [`Form`], [`Json`], [`FormOrJson`], [`FormPairs`]
//! and [`Query`] (taken apart in the handler's signature: `Form(form): Form<T>`) replace
//! actix's extractors (clippy refuses those in `src/`): each reads at
//! most [`BODY_LIMIT`] bytes, parses the fields and applies the control-character rule
//! ([`crate::domain::forbidden_control`]) to every string in them, names and values,
//! including fields the handler ignores, before the handler sees any. A body sent in a
//! content type none of them reads is refused with 415, so no format goes unchecked, and a
//! body that does not parse (a number JSON cannot hold, say) is a 400 naming the problem.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::base::error::AppError;
use crate::domain::{control_message, forbidden_control};

/// Largest form or JSON body read.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A form body (`application/x-www-form-urlencoded`).
pub struct Form<T>(pub T);

/// A JSON body (`application/json`, `text/json` or any `…+json`).
pub struct Json<T>(pub T);

/// A form or JSON body, as the content type says; an empty body is `T::default()`. For
/// actions scripts call both ways (`curl -d` or `--json`).
pub struct FormOrJson<T>(pub T);

/// A form body as its (name, value) pairs, in order, for forms that repeat a name.
pub struct FormPairs(pub Vec<(String, String)>);

/// The query string's fields.
pub struct Query<T>(pub T);

/// How a body is written, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Form,
    Json,
}

/// The body's format; `None` when the request names no content type.
fn format_of(req: &HttpRequest) -> Result<Option<Format>, AppError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(None);
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Ok(Some(Format::Form)),
        "application/json" | "text/json" => Ok(Some(Format::Json)),
        other if other.starts_with("application/") && other.ends_with("+json") => {
            Ok(Some(Format::Json))
        }
        _ => Err(unsupported()),
    }
}

fn unsupported() -> AppError {
    AppError::UnsupportedMediaType(
        "Send this as a form (application/x-www-form-urlencoded) or as JSON \
         (application/json)."
            .into(),
    )
}

/// Reads the whole body, refusing it past [`BODY_LIMIT`].
async fn read_body(mut payload: Payload) -> Result<web::Bytes, AppError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| {
            AppError::BadRequest(format!("The request body could not be read: {err}."))
        })?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(AppError::PayloadTooLarge(format!(
                "The request body is larger than {} KiB.",
                BODY_LIMIT / 1024
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

/// Form or query text as checked pairs.
fn pairs(text: &[u8], what: &str) -> Result<Vec<(String, String)>, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(text)
        .map_err(|err| AppError::BadRequest(format!("{what} does not parse: {err}.")))?;
    for (name, value) in &pairs {
        if let Some(found) = forbidden_control(name).or_else(|| forbidden_control(value)) {
            return Err(AppError::BadRequest(control_message(name, found)));
        }
    }
    Ok(pairs)
}

/// Form or query text as `T`, every field checked first.
fn parse_form<T: DeserializeOwned>(text: &[u8], what: &str) -> Result<T, AppError> {
    pairs(text, what)?;
    serde_urlencoded::from_bytes(text)
        .map_err(|err| AppError::BadRequest(format!("{what} does not parse: {err}.")))
}

/// A JSON body as `T`: parsed whole first, so every string is checked (keys and the
/// values of fields `T` ignores included), then read as `T`.
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| AppError::BadRequest(format!("The JSON body does not parse: {err}.")))?;
    if let Some(problem) = json_problem("body", &value) {
        return Err(AppError::BadRequest(problem));
    }
    serde_json::from_value(value)
        .map_err(|err| AppError::BadRequest(format!("The JSON body does not fit: {err}.")))
}

fn json_problem(field: &str, value: &serde_json::Value) -> Option<String> {
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

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

/// The body of a request that must be a form (a missing content type is taken as one).
async fn form_body(
    format: Result<Option<Format>, AppError>,
    payload: Payload,
) -> Result<web::Bytes, AppError> {
    if format? == Some(Format::Json) {
        return Err(AppError::UnsupportedMediaType(
            "This form takes application/x-www-form-urlencoded, not JSON.".into(),
        ));
    }
    read_body(payload).await
}

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = AppError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = form_body(format_of(req), payload.take());
        Box::pin(async move { parse_form(&body.await?, "The form").map(Form) })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = AppError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let format = format_of(req);
        let payload = payload.take();
        Box::pin(async move {
            if format? == Some(Format::Form) {
                return Err(AppError::UnsupportedMediaType(
                    "This address takes a JSON body (application/json), not a form.".into(),
                ));
            }
            let body = read_body(payload).await?;
            if is_blank(&body) {
                return Err(AppError::BadRequest(
                    "This address needs a JSON body (application/json).".into(),
                ));
            }
            parse_json(&body).map(Json)
        })
    }
}

impl<T: DeserializeOwned + Default + 'static> FromRequest for FormOrJson<T> {
    type Error = AppError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let format = format_of(req);
        let payload = payload.take();
        Box::pin(async move {
            let format = format?;
            let body = read_body(payload).await?;
            if is_blank(&body) {
                return Ok(FormOrJson(T::default()));
            }
            match format {
                Some(Format::Json) => parse_json(&body).map(FormOrJson),
                Some(Format::Form) | None => parse_form(&body, "The form").map(FormOrJson),
            }
        })
    }
}

impl FromRequest for FormPairs {
    type Error = AppError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = form_body(format_of(req), payload.take());
        Box::pin(async move { pairs(&body.await?, "The form").map(FormPairs) })
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            parse_form(req.query_string().as_bytes(), "The address's query").map(Query),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Prompt {
        prompt: String,
    }

    #[test]
    fn every_string_is_checked_even_ignored_ones() {
        let ok: Prompt = parse_json(br#"{"prompt":"a fox","x":1}"#).expect("plain");
        assert_eq!(ok.prompt, "a fox");
        for body in [
            &br#"{"prompt":"a\u0000fox"}"#[..],
            br#"{"prompt":"a fox","note":"\u001b[31m"}"#,
            br#"{"prompt":"a fox","x":["\u0007"]}"#,
            br#"{"prompt":"a fox","\u0000":1}"#,
        ] {
            assert!(
                matches!(parse_json::<Prompt>(body), Err(AppError::BadRequest(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(
            matches!(
                parse_json::<Prompt>(br#"{"prompt":"a\u0000fox","x":1e400}"#),
                Err(AppError::BadRequest(_))
            ),
            "a number JSON cannot hold is a 400, not a way around the check"
        );
        assert!(parse_form::<Prompt>(b"prompt=a%00fox", "The form").is_err());
        assert!(parse_form::<Prompt>(b"prompt=ok&other=%1B", "The form").is_err());
        assert!(parse_form::<Prompt>(b"prompt=ok%0D%0Aline%09", "The form").is_ok());
    }
}
