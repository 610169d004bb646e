//! The image proxy's short-lived memory: rows behind recently served media URLs and the
//! bytes of recently served small files. Owned by the application state; the proxy reads
//! it, and whatever changes or deletes an image forgets it here (on every instance, through
//! the `images` NOTIFY trigger heard in `web::auth::cache`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use actix_web::web;

use crate::db::models::PlacedImage;
use crate::storage::Variant;

/// What the proxy remembers for a short while (`ATELIER_MEDIA_CACHE_SECS`): recently served rows by
/// `{username}/{folder}/{stem}` (so a gallery's thumbnails cost no query each) and the
/// bytes of recently served small files by (image, variant, row's `updated_at`) (so they
/// cost no trip to the blocking pool). Safe to keep briefly: authorisation is checked on
/// every request before either is used, and every change to an image row (edit, move,
/// share, delete) is forgotten at once on every instance: here by the code that makes it,
/// elsewhere through the `images` table's NOTIFY trigger (see `web::auth::cache`).
#[derive(Clone)]
pub struct MediaCache {
    ttl: Duration,
    rows: Arc<Mutex<HashMap<String, (PlacedImage, Instant)>>>,
    files: Arc<Mutex<FileCache>>,
}
/// Memory the small-file cache may hold.
const FILE_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// A stored small file as served.
#[derive(Clone)]
pub struct CachedFile {
    pub bytes: web::Bytes,
    pub etag: String,
    pub modified: SystemTime,
    pub at: Instant,
}

/// (image id, variant, row `updated_at` in microseconds).
pub type FileKey = (i64, Variant, i64);

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
    /// A cache whose entries are used for at most `ttl`.
    pub fn new(ttl: Duration) -> Self {
        MediaCache {
            ttl,
            rows: Arc::default(),
            files: Arc::default(),
        }
    }

    pub fn row(&self, key: &str) -> Option<PlacedImage> {
        relock(&self.rows)
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(placed, _)| placed.clone())
    }

    pub fn put_row(&self, key: String, placed: PlacedImage) {
        let mut rows = relock(&self.rows);
        if rows.len() > 50_000 {
            rows.clear();
        }
        rows.insert(key, (placed, Instant::now()));
    }

    pub fn file(&self, key: FileKey) -> Option<CachedFile> {
        relock(&self.files)
            .entries
            .get(&key)
            .filter(|file| file.at.elapsed() < self.ttl)
            .cloned()
    }

    pub fn put_file(&self, key: FileKey, file: CachedFile) {
        let mut cache = relock(&self.files);
        if cache.bytes + file.bytes.len() > FILE_CACHE_BYTES {
            cache.entries.retain(|_, kept| kept.at.elapsed() < self.ttl);
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
