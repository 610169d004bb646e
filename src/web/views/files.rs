//! Serving one stored file as HTTP, for the image proxy and share links alike: the stored
//! content type, ETag / Last-Modified (304), a single byte range (206, 416), `HEAD`,
//! `nosniff` and a sandboxing CSP. Small files are read whole in one trip to the storage
//! backend (and kept briefly in the [`MediaCache`]); larger ones stream in chunks, by byte
//! range from an object store. Authorisation is the caller's: call this only for a file
//! the requester may see.

use std::time::{Instant, SystemTime};

use actix_web::http::header::{
    self, ContentDisposition, DispositionParam, DispositionType, HeaderValue, HttpDate,
};
use actix_web::{HttpRequest, HttpResponse};

use super::VersionTag;
use crate::base::error::AppError;
use crate::db::models::PlacedImage;
use crate::services::library::Library;
use crate::services::library::media_cache::{CachedFile, MediaCache};
use crate::services::library::stored_ext;
use crate::storage::{Source, Variant};

/// The proxy's answer for uploaded bytes: never rendered as a document, never sniffed.
const MEDIA_CSP: &str = "default-src 'none'; sandbox";

/// Files up to this size are read whole in one trip to the backend and sent as one body;
/// larger ones stream in chunks.
const SMALL_FILE_BYTES: u64 = 256 * 1024;

/// How browsers may keep a served file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaCaching {
    /// The owner's proxy: a URL carrying the row's current version (`?v=`, see
    /// [`super::media_url`]) never changes content, so it is kept for a year; any other
    /// URL is revalidated every time (a cheap 304 by ETag), so an edit shows at once.
    Private,
    /// A share link: always revalidated, so revoking a link takes effect at once.
    Shared,
}

impl MediaCaching {
    fn header(self, req: &HttpRequest, placed: &PlacedImage) -> &'static str {
        match self {
            MediaCaching::Shared => "no-cache",
            MediaCaching::Private => {
                let current = VersionTag::of(&placed.image).to_string();
                let versioned = req
                    .query_string()
                    .split('&')
                    .any(|pair| pair.strip_prefix("v=") == Some(current.as_str()));
                if versioned {
                    "private, max-age=31536000, immutable"
                } else {
                    "private, no-cache"
                }
            }
        }
    }
}

/// What [`serve_variant`] found.
enum Opened {
    Small(CachedFile),
    Large {
        source: Source,
        len: u64,
        etag: String,
        modified: SystemTime,
    },
}

/// Serves one stored variant with the stored content type, ETag / Last-Modified (304),
/// Range (206), `HEAD`, `nosniff` and a sandboxing CSP. Opening and reading a small file
/// happen in one trip to the backend, unless the small file was just served (see
/// [`MediaCache`]). A refused or missing file is a 404, never a 500; an object store that
/// does not answer is a 503.
pub async fn serve_variant(
    req: &HttpRequest,
    cache: &MediaCache,
    library: &Library,
    placed: &PlacedImage,
    variant: Variant,
    caching: MediaCaching,
) -> Result<HttpResponse, AppError> {
    // A picture without its display copy yet is served its working copy.
    let variant = match stored_ext(&placed.image, variant) {
        Some(_) => variant,
        None => Variant::Original,
    };
    let file_key = (
        placed.image.id,
        variant,
        placed.image.updated_at.timestamp_micros(),
    );
    let opened = match cache.file(file_key) {
        Some(cached) => Opened::Small(cached),
        None => {
            let opened = open_variant(library, placed, variant).await?;
            if let Opened::Small(file) = &opened {
                cache.put_file(file_key, file.clone());
            }
            opened
        }
    };
    let ext = stored_ext(&placed.image, variant).unwrap_or_default();
    let disposition = ContentDisposition {
        disposition: DispositionType::Inline,
        parameters: vec![DispositionParam::Filename(format!(
            "{}.{ext}",
            placed.image.stem
        ))],
    };
    let (etag, modified, len) = match &opened {
        Opened::Small(file) => (file.etag.clone(), file.modified, file.bytes.len() as u64),
        Opened::Large {
            etag,
            modified,
            len,
            ..
        } => (etag.clone(), *modified, *len),
    };
    let last_modified = HttpDate::from(modified);
    let plan = plan(req, &etag, last_modified, len);
    let mut response = match plan {
        Plan::NotModified => HttpResponse::NotModified(),
        Plan::Unsatisfiable => HttpResponse::RangeNotSatisfiable(),
        Plan::Send { partial: true, .. } => HttpResponse::PartialContent(),
        Plan::Send { .. } => HttpResponse::Ok(),
    };
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::LAST_MODIFIED, last_modified.to_string()))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, MEDIA_CSP))
        .insert_header((header::CACHE_CONTROL, caching.header(req, placed)));
    let response = match plan {
        Plan::NotModified => response.finish(),
        Plan::Unsatisfiable => response
            .insert_header((header::CONTENT_RANGE, format!("bytes */{len}")))
            .finish(),
        Plan::Send {
            start,
            end,
            partial,
        } => {
            response
                .insert_header((header::CONTENT_TYPE, crate::storage::mime_for(ext)))
                .insert_header((header::CONTENT_DISPOSITION, disposition));
            if partial {
                response
                    .insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")));
            }
            let length = if len == 0 { 0 } else { end - start + 1 };
            match opened {
                Opened::Small(file) => {
                    if length == 0 {
                        response.finish()
                    } else {
                        response.body(file.bytes.slice(start as usize..=end as usize))
                    }
                }
                Opened::Large { source, .. } => response.body(actix_web::body::SizedStream::new(
                    length,
                    source.stream(start, length),
                )),
            }
        }
    };
    Ok(response)
}

/// What to answer to a request for a file of `len` bytes with this ETag and modification
/// time: conditional requests first (`If-None-Match`, else `If-Modified-Since`), then a
/// single byte range. Range units other than `bytes` are ignored (RFC 9110 §14.2), and so
/// are several ranges at once: the whole file is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    NotModified,
    Unsatisfiable,
    Send { start: u64, end: u64, partial: bool },
}

fn plan(req: &HttpRequest, etag: &str, last_modified: HttpDate, len: u64) -> Plan {
    let header_text = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let not_modified = match header_text(header::IF_NONE_MATCH) {
        Some(tags) => tags.split(',').any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        }),
        // HTTP dates have whole seconds, and so does `Last-Modified` as sent; actix's
        // `HttpDate` keeps the file's nanoseconds, so compare seconds.
        None => header_text(header::IF_MODIFIED_SINCE)
            .and_then(|since| since.parse::<HttpDate>().ok())
            .is_some_and(|since| whole_seconds(last_modified) <= whole_seconds(since)),
    };
    if not_modified {
        return Plan::NotModified;
    }
    let whole = Plan::Send {
        start: 0,
        end: len.saturating_sub(1),
        partial: false,
    };
    let Some(range) = header_text(header::RANGE).map(str::trim) else {
        return whole;
    };
    if !range.starts_with("bytes=") || range.contains(',') {
        return whole;
    }
    match single_range(range, len) {
        Some((start, end)) => Plan::Send {
            start,
            end,
            partial: true,
        },
        None => Plan::Unsatisfiable,
    }
}

fn whole_seconds(date: HttpDate) -> u64 {
    SystemTime::from(date)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Opens the stored file: a small one is read whole.
async fn open_variant(
    library: &Library,
    placed: &PlacedImage,
    variant: Variant,
) -> Result<Opened, AppError> {
    let opened = library.open(placed, variant, SMALL_FILE_BYTES).await?;
    Ok(match opened.whole {
        Some(bytes) => Opened::Small(CachedFile {
            bytes,
            etag: opened.etag,
            modified: opened.modified,
            at: Instant::now(),
        }),
        None => Opened::Large {
            source: opened.source,
            len: opened.len,
            etag: opened.etag,
            modified: opened.modified,
        },
    })
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against a length; `None` when it does not
/// fit (or names several ranges).
fn single_range(range: &str, total: u64) -> Option<(u64, u64)> {
    let spec = range.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || total == 0 {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let len: u64 = suffix.parse().ok()?;
            if len == 0 {
                return None;
            }
            (total.checked_sub(len.min(total))?, total - 1)
        }
        (start, "") => (start.parse().ok()?, total - 1),
        (start, end) => (start.parse().ok()?, end.parse::<u64>().ok()?.min(total - 1)),
    };
    (start <= end && start < total).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::single_range;

    #[test]
    fn byte_ranges() {
        assert_eq!(single_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(single_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(single_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(single_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(single_range("bytes=100-", 100), None);
        assert_eq!(single_range("bytes=9-0", 100), None);
        assert_eq!(single_range("bytes=0-1,5-6", 100), None);
        assert_eq!(single_range("items=0-1", 100), None);
        assert_eq!(single_range("bytes=x-y", 100), None);
    }
}
