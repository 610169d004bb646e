//! The image proxy: `GET /media/{username}/{folder}/{variant}/{file}`, the only way a
//! user's files leave the server (shared links go through `share.rs`, which uses the same
//! [`serve_variant`]).
//!
//! actix matches routes on the still-encoded path, but `web::Path` hands us decoded
//! segments, so `%2F`, `%2e%2e` or `%00` arrive here as `/`, `..` or NUL: every segment is
//! validated *after* decoding against its strict pattern. Only the owner and admins get
//! the file (for `_anon/{anon-id}/…`, the session holding that anonymous id); everyone
//! else gets 404, so the proxy never confirms that a file exists.

use actix_web::http::header::{
    self, ContentDisposition, DispositionParam, DispositionType, HeaderValue, HttpDate,
};
use actix_web::{HttpRequest, HttpResponse, web};

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix_session::Session;

use crate::auth::extractors::token_owner;
use crate::auth::{anon_id, keys, load_user};
use crate::domain::{FolderSlug, Username};
use crate::error::AppError;
use crate::library::Library;
use crate::media_cache::CachedFile;
use crate::models::user::ANON_USERNAME;
use crate::models::{Image, PlacedImage};
use crate::state::AppState;
use crate::storage::{FileName, Variant};
use crate::views::variant_ext;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/media/{username}/{folder}/{variant}/{file}",
        super::get_or_head().to(media),
    );
}

/// The proxy's answer for uploaded bytes: never rendered as a document, never sniffed.
const MEDIA_CSP: &str = "default-src 'none'; sandbox";

async fn media(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (username, folder, variant, file) = path.into_inner();
    let username = Username::parse(&username)
        .ok()
        .filter(|parsed| parsed.as_str() == username)
        .ok_or(AppError::NotFound)?;
    let folder = FolderSlug::parse(&folder).ok_or(AppError::NotFound)?;
    let variant = Variant::parse(&variant).ok_or(AppError::NotFound)?;
    let file = FileName::parse(&file).ok_or(AppError::NotFound)?;
    // An anonymous visitor sees their own folder under `_anon/` and nothing else.
    let anonymous_owner = username.as_str() == ANON_USERNAME
        && anon_id(&session).is_some_and(|id| id == folder.as_str());
    if !anonymous_owner {
        // Live and enabled, as `CurrentUser` checks; cached, since thumbnails come two
        // dozen at a time. Scripts may present a personal API token instead of a session.
        let viewer = match session.get::<i64>(keys::USER_ID).ok().flatten() {
            Some(viewer_id) => load_user(&state, viewer_id).await?,
            None => token_owner(&req, &state).await?,
        }
        .filter(|user| !user.disabled)
        .ok_or(AppError::NotFound)?;
        // Admins see the working copy and thumbnail; `pristine` may hold GPS and other
        // metadata its owner never published, so it goes to the owner alone.
        let owner = viewer.username == username.as_str();
        let admin_may_see = viewer.is_admin() && variant != Variant::Pristine;
        if !(owner || admin_may_see) {
            return Err(AppError::NotFound);
        }
    }
    let key = format!("{username}/{folder}/{}", file.stem());
    let placed = match state.media_cache.row(&key) {
        Some(placed) => placed,
        None => {
            let stem = file.stem().to_owned();
            let placed = state
                .db
                .run(move |conn| {
                    Ok(Image::find_for_media(
                        conn,
                        username.as_str(),
                        folder.as_str(),
                        &stem,
                    )?)
                })
                .await?
                .ok_or(AppError::NotFound)?;
            state.media_cache.put_row(key, placed.clone());
            placed
        }
    };
    if variant_ext(&placed.image, variant) != file.ext() {
        return Err(AppError::NotFound);
    }
    serve_variant(&req, &state, &placed, variant, "private").await
}

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
    state: &AppState,
    placed: &PlacedImage,
    variant: Variant,
    cache_control: &'static str,
) -> Result<HttpResponse, AppError> {
    let file_key = (
        placed.image.id,
        variant,
        placed.image.updated_at.timestamp_micros(),
    );
    let opened = match state.media_cache.file(file_key) {
        Some(cached) => Opened::Small(cached),
        None => {
            let opened = open_variant(&state.library, placed, variant).await?;
            if let Opened::Small(file) = &opened {
                state.media_cache.put_file(file_key, file.clone());
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
