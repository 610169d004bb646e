//! Static assets compiled into the binary, so the server needs no files beside it and can
//! never be tricked into serving anything else. Served with a content hash as ETag.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::base::error::AppError;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "css/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../static/css/app.css"),
    },
    Asset {
        name: "js/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../static/js/app.js"),
    },
    Asset {
        name: "js/theme.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../static/js/theme.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../../static/favicon.svg"),
    },
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    // In a scope: the prefix is a string comparison, so other requests never run the
    // `.+` pattern's regex (it showed in the media proxy's profile).
    cfg.service(web::scope("/static").route("/{name:.+}", web::get().to(asset)));
}

async fn asset(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, AppError> {
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == name.as_str())
        .ok_or(AppError::NotFound)?;
    let etag = format!(
        "\"{}\"",
        &crate::domain::tokens::hex(&crate::domain::tokens::digest_bytes(asset.body))[..16]
    );
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"));
    if fresh {
        return Ok(response.finish());
    }
    Ok(response
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ))
        .body(asset.body))
}
