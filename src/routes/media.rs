//! The image proxy: `GET /media/{username}/{folder}/{variant}/{file}`, the only way a
//! user's files leave the server (shared links go through `share.rs`, which uses the same
//! [`serve_variant`]).
//!
//! actix matches routes on the still-encoded path, but `web::Path` hands us decoded
//! segments, so `%2F`, `%2e%2e` or `%00` arrive here as `/`, `..` or NUL: every segment is
//! validated *after* decoding against its strict pattern. Only the owner and admins get
//! the file (for `_anon/{anon-id}/…`, the session holding that anonymous id); everyone
//! else gets 404, so the proxy never confirms that a file exists.

use actix_files::NamedFile;
use actix_web::http::header::{
    self, ContentDisposition, DispositionParam, DispositionType, HeaderValue, HttpDate,
};
use actix_web::{HttpRequest, HttpResponse, web};

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use actix_session::Session;

use crate::auth::extractors::token_owner;
use crate::auth::{anon_id, keys, load_user};
use crate::domain::{FolderSlug, Username};
use crate::error::AppError;
use crate::library::Library;
use crate::models::user::ANON_USERNAME;
use crate::models::{Image, PlacedImage};
use crate::startup::AppState;
use crate::storage::{FileName, Variant};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/media/{username}/{folder}/{variant}/{file}",
        web::get().to(media),
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
        if viewer.username != username.as_str() && !viewer.is_admin() {
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

/// What the proxy remembers for [`MEDIA_CACHE_TTL`]: recently served rows by
/// `{username}/{folder}/{stem}` (so a gallery's thumbnails cost no query each) and the
/// bytes of recently served small files by (image, variant, row's `updated_at`) (so they
/// cost no trip to the blocking pool). Safe to keep briefly: authorisation is checked on
/// every request before either is used, the instance that changes an image forgets it
/// here, an edit or move changes `updated_at` and so the file key, and on other instances
/// a moved or deleted image's row expires within the TTL. At worst another instance serves
/// a just-edited image's previous bytes, to its owner, for [`MEDIA_CACHE_TTL`].
#[derive(Clone, Default)]
pub struct MediaCache {
    rows: Arc<Mutex<HashMap<String, (PlacedImage, Instant)>>>,
    files: Arc<Mutex<FileCache>>,
}

const MEDIA_CACHE_TTL: Duration = Duration::from_secs(10);
/// Memory the small-file cache may hold.
const FILE_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// A stored small file as served.
#[derive(Clone)]
struct CachedFile {
    bytes: web::Bytes,
    etag: String,
    modified: SystemTime,
    at: Instant,
}

type FileKey = (i64, Variant, i64);

#[derive(Default)]
struct FileCache {
    entries: HashMap<FileKey, CachedFile>,
    bytes: usize,
}

fn relock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MediaCache {
    fn row(&self, key: &str) -> Option<PlacedImage> {
        relock(&self.rows)
            .get(key)
            .filter(|(_, at)| at.elapsed() < MEDIA_CACHE_TTL)
            .map(|(placed, _)| placed.clone())
    }

    fn put_row(&self, key: String, placed: PlacedImage) {
        let mut rows = relock(&self.rows);
        if rows.len() > 50_000 {
            rows.clear();
        }
        rows.insert(key, (placed, Instant::now()));
    }

    fn file(&self, key: FileKey) -> Option<CachedFile> {
        relock(&self.files)
            .entries
            .get(&key)
            .filter(|file| file.at.elapsed() < MEDIA_CACHE_TTL)
            .cloned()
    }

    fn put_file(&self, key: FileKey, file: CachedFile) {
        let mut cache = relock(&self.files);
        if cache.bytes + file.bytes.len() > FILE_CACHE_BYTES {
            cache
                .entries
                .retain(|_, kept| kept.at.elapsed() < MEDIA_CACHE_TTL);
            cache.bytes = cache.entries.values().map(|kept| kept.bytes.len()).sum();
            if cache.bytes + file.bytes.len() > FILE_CACHE_BYTES {
                cache.entries.clear();
                cache.bytes = 0;
            }
        }
        cache.bytes += file.bytes.len();
        if let Some(replaced) = cache.entries.insert(key, file) {
            cache.bytes -= replaced.bytes.len();
        }
    }

    /// Called by whatever changes or deletes an image.
    pub fn forget_image(&self, id: i64) {
        relock(&self.rows).retain(|_, (placed, _)| placed.image.id != id);
        let mut files = relock(&self.files);
        files.entries.retain(|(image, _, _), _| *image != id);
        files.bytes = files.entries.values().map(|kept| kept.bytes.len()).sum();
    }

    /// Called after bulk deletions (a network's images, an account).
    pub fn clear(&self) {
        relock(&self.rows).clear();
        *relock(&self.files) = FileCache::default();
    }
}

pub fn variant_ext(image: &Image, variant: Variant) -> &str {
    match variant {
        Variant::Original => &image.original_ext,
        Variant::Thumb => &image.thumb_ext,
        Variant::Pristine => &image.pristine_ext,
    }
}

/// The proxy URL of one variant.
pub fn media_url(placed: &PlacedImage, variant: Variant) -> String {
    format!(
        "/media/{}/{}/{}/{}.{}",
        placed.username,
        placed.folder_slug,
        variant.as_str(),
        placed.image.stem,
        variant_ext(&placed.image, variant)
    )
}

/// Files up to this size are read whole in one blocking call and sent as one body; larger
/// ones stream through `NamedFile`.
const SMALL_FILE_BYTES: u64 = 256 * 1024;

/// What the blocking half of [`serve_variant`] found.
enum Opened {
    Small(CachedFile),
    Large(Box<NamedFile>),
}

/// Serves one stored variant with the stored content type, ETag / Last-Modified (304),
/// Range (206), `nosniff` and a sandboxing CSP. Resolving (which checks every folder on the
/// way for symlinks), opening without following a final symlink, and reading all happen in
/// one trip to the blocking pool, unless the small file was just served (see
/// [`MediaCache`]). A refused or missing file is a 404, never a 500.
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
    let mime = crate::storage::mime_for(ext);
    let disposition = ContentDisposition {
        disposition: DispositionType::Inline,
        parameters: vec![DispositionParam::Filename(format!(
            "{}.{ext}",
            placed.image.stem
        ))],
    };
    let mut response = match opened {
        Opened::Large(file) => file
            .set_content_type(mime.parse().map_err(AppError::internal)?)
            .set_content_disposition(disposition)
            .use_etag(true)
            .use_last_modified(true)
            .into_response(req),
        Opened::Small(file) => small_response(
            req,
            file.bytes,
            &file.etag,
            file.modified,
            mime,
            disposition,
        ),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(MEDIA_CSP),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    Ok(response)
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
        if meta.len() > SMALL_FILE_BYTES {
            return NamedFile::from_file(file, &path)
                .map(|file| Opened::Large(Box::new(file)))
                .map_err(AppError::internal);
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::io::Read::read_to_end(&mut file, &mut bytes).map_err(AppError::internal)?;
        let modified = meta.modified().map_err(AppError::internal)?;
        let nanos = modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(Opened::Small(CachedFile {
            bytes: bytes.into(),
            etag: format!("\"{:x}-{nanos:x}-{:x}\"", meta.ino(), meta.len()),
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

/// A whole small file as one body, honouring If-None-Match / If-Modified-Since (304) and a
/// single byte range (206, or 416 when it cannot be satisfied).
fn small_response(
    req: &HttpRequest,
    bytes: web::Bytes,
    etag: &str,
    modified: SystemTime,
    mime: &'static str,
    disposition: ContentDisposition,
) -> HttpResponse {
    let header_text = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let last_modified = HttpDate::from(modified);
    let not_modified = match header_text(header::IF_NONE_MATCH) {
        Some(tags) => tags
            .split(',')
            .any(|tag| tag.trim() == etag || tag.trim() == "*"),
        None => header_text(header::IF_MODIFIED_SINCE)
            .and_then(|since| since.parse::<HttpDate>().ok())
            .is_some_and(|since| SystemTime::from(last_modified) <= SystemTime::from(since)),
    };
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::LAST_MODIFIED, last_modified.to_string()))
        .insert_header((header::ACCEPT_RANGES, "bytes"));
    if not_modified {
        return response.finish();
    }
    response
        .insert_header((header::CONTENT_TYPE, mime))
        .insert_header((header::CONTENT_DISPOSITION, disposition));
    let Some(range) = header_text(header::RANGE) else {
        return response.body(bytes);
    };
    let total = bytes.len() as u64;
    match single_range(range, total) {
        Some((start, end)) => {
            response
                .status(actix_web::http::StatusCode::PARTIAL_CONTENT)
                .insert_header((
                    header::CONTENT_RANGE,
                    format!("bytes {start}-{end}/{total}"),
                ));
            response.body(bytes.slice(start as usize..=end as usize))
        }
        // Several ranges are legal but rare for images: send the whole file.
        None if range.contains(',') => response.body(bytes),
        None => HttpResponse::RangeNotSatisfiable()
            .insert_header((header::CONTENT_RANGE, format!("bytes */{total}")))
            .finish(),
    }
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
