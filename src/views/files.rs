//! Serving one stored file as HTTP, for the image proxy and share links alike: the stored
//! content type, ETag / Last-Modified (304), a single byte range (206, 416), `HEAD`,
//! `nosniff` and a sandboxing CSP. Small files are read whole off the executor (and kept
//! briefly in the [`MediaCache`]); larger ones stream in chunks. Authorisation is the
//! caller's: call this only for a file the requester may see.

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix_web::http::header::{
    self, ContentDisposition, DispositionParam, DispositionType, HeaderValue, HttpDate,
};
use actix_web::{HttpRequest, HttpResponse, web};

use super::variant_ext;
use crate::error::AppError;
use crate::library::Library;
use crate::media_cache::{CachedFile, MediaCache};
use crate::models::PlacedImage;
use crate::storage::Variant;

/// The proxy's answer for uploaded bytes: never rendered as a document, never sniffed.
const MEDIA_CSP: &str = "default-src 'none'; sandbox";

/// Files up to this size are read whole in one blocking call and sent as one body; larger
/// ones stream in chunks, each read off the executor.
const SMALL_FILE_BYTES: u64 = 256 * 1024;
/// Bytes read per blocking hop when streaming a large file.
const STREAM_CHUNK_BYTES: usize = 64 * 1024;

/// What the blocking half of [`serve_variant`] found.
enum Opened {
    Small(CachedFile),
    Large {
        file: std::fs::File,
        len: u64,
        etag: String,
        modified: SystemTime,
    },
}

/// Serves one stored variant with the stored content type, ETag / Last-Modified (304),
/// Range (206), `HEAD`, `nosniff` and a sandboxing CSP. Resolving (which checks every
/// folder on the way for symlinks), opening without following a final symlink, and reading
/// a small file all happen in one trip to the blocking pool, unless the small file was just
/// served (see [`MediaCache`]). A refused or missing file is a 404, never a 500.
pub async fn serve_variant(
    req: &HttpRequest,
    cache: &MediaCache,
    library: &Library,
    placed: &PlacedImage,
    variant: Variant,
    cache_control: &'static str,
) -> Result<HttpResponse, AppError> {
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
    let ext = variant_ext(&placed.image, variant);
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
        .insert_header((header::CACHE_CONTROL, cache_control));
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
                Opened::Large { file, .. } => response.body(actix_web::body::SizedStream::new(
                    length,
                    read_chunks(file, start, length),
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

/// Streams `length` bytes of `file` from `start`, one blocking read per chunk.
fn read_chunks(
    file: std::fs::File,
    start: u64,
    length: u64,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> {
    let file = Arc::new(file);
    futures_util::stream::try_unfold((start, length), move |(offset, left)| {
        let file = Arc::clone(&file);
        async move {
            if left == 0 {
                return Ok(None);
            }
            let want = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(STREAM_CHUNK_BYTES);
            let chunk = web::block(move || -> std::io::Result<Vec<u8>> {
                let mut buf = vec![0u8; want];
                std::os::unix::fs::FileExt::read_exact_at(&*file, &mut buf, offset)?;
                Ok(buf)
            })
            .await
            .map_err(actix_web::error::ErrorInternalServerError)?
            .map_err(actix_web::error::ErrorInternalServerError)?;
            let read = chunk.len() as u64;
            Ok(Some((
                web::Bytes::from(chunk),
                (offset + read, left - read),
            )))
        }
    })
}

/// The blocking half: resolve, open, and read a small file whole.
async fn open_variant(
    library: &Library,
    placed: &PlacedImage,
    variant: Variant,
) -> Result<Opened, AppError> {
    let (library, target) = (library.clone(), placed.clone());
    web::block(move || -> Result<Opened, AppError> {
        let path = library.path_of(&target, variant)?;
        let mut file = library
            .storage
            .open_file(&path)
            .map_err(AppError::internal)?;
        let meta = file.metadata().map_err(AppError::internal)?;
        let modified = meta.modified().map_err(AppError::internal)?;
        let nanos = modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let etag = format!("\"{:x}-{nanos:x}-{:x}\"", meta.ino(), meta.len());
        if meta.len() > SMALL_FILE_BYTES {
            return Ok(Opened::Large {
                file,
                len: meta.len(),
                etag,
                modified,
            });
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::io::Read::read_to_end(&mut file, &mut bytes).map_err(AppError::internal)?;
        Ok(Opened::Small(CachedFile {
            bytes: bytes.into(),
            etag,
            modified,
            at: Instant::now(),
        }))
    })
    .await
    .map_err(AppError::internal)?
    .map_err(|err| {
        tracing::warn!(image = placed.image.id, error = %err, "stored file missing or refused");
        AppError::NotFound
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
