//! Where users' files are kept: the key of every stored file is made here, and nowhere
//! else, and [`Storage`] is the one door to the backend holding them.
//!
//! Key layout: `{username}/{folder slug}/{original|display|thumb|pristine}/{stem}.{ext}`, each
//! segment a validated newtype. The backend is chosen by `ATELIER_STORAGE`: `local`, a
//! folder on this machine ([`local`]), or `s3`, a bucket of any S3-compatible store
//! ([`s3`]). Every call here is blocking (run it in `Db::run` or `web::block`) except
//! [`Storage::open`], which the proxy awaits.

pub mod budget;
pub mod exif;
pub mod imaging;
pub mod jpeg;
pub mod local;
pub mod media;
pub mod s3;
pub mod video;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use crate::domain::{FolderSlug, Username};
pub use local::create_private_dir;

/// The stored forms of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The working copy: re-encoded without metadata, orientation applied. Edits change it.
    Original,
    /// The working copy at screen size (longest side 1600 px), what pages show. Pictures
    /// only, and optional: older pictures get theirs from `atelier display-copies`.
    Display,
    /// A small preview (longest side 320 px).
    Thumb,
    /// The exact bytes received or generated; owner only, used to revert edits.
    Pristine,
}

impl Variant {
    pub const ALL: [Variant; 4] = [
        Variant::Original,
        Variant::Display,
        Variant::Thumb,
        Variant::Pristine,
    ];

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "original" => Some(Variant::Original),
            "display" => Some(Variant::Display),
            "thumb" => Some(Variant::Thumb),
            "pristine" => Some(Variant::Pristine),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::Display => "display",
            Variant::Thumb => "thumb",
            Variant::Pristine => "pristine",
        }
    }
}

/// A stored file's name: a 32-hex-digit random stem and one of [`EXTENSIONS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    stem: String,
    ext: &'static str,
}

/// The only extensions ever stored or served (rasters and two video containers; never SVG
/// or HTML).
pub const EXTENSIONS: [&str; 6] = ["jpg", "png", "webp", "gif", "mp4", "webm"];

impl FileName {
    pub fn new(stem: &str, ext: &str) -> Option<Self> {
        let stem_ok =
            stem.len() == 32 && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let ext = EXTENSIONS.iter().find(|known| **known == ext)?;
        stem_ok.then(|| FileName {
            stem: stem.to_owned(),
            ext,
        })
    }

    /// Parses `stem.ext` exactly as it appears in a URL, after percent-decoding.
    pub fn parse(raw: &str) -> Option<Self> {
        let (stem, ext) = raw.split_once('.')?;
        Self::new(stem, ext)
    }

    /// A fresh random stem from the OS generator.
    pub fn random_stem() -> io::Result<String> {
        crate::domain::tokens::random_hex(16).map_err(io::Error::other)
    }

    pub fn stem(&self) -> &str {
        &self.stem
    }

    pub fn ext(&self) -> &'static str {
        self.ext
    }
}

impl std::fmt::Display for FileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.stem, self.ext)
    }
}

/// MIME type for a stored extension.
pub fn mime_for(ext: &str) -> &'static str {
    match ext {
        "jpg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ => "application/octet-stream",
    }
}

/// The key of one stored file, `{username}/{folder}/{variant}/{file}`, built from
/// validated segments only: no `..`, `/`, NUL or absolute path can get in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn new(user: &Username, folder: &FolderSlug, variant: Variant, file: &FileName) -> Self {
        ObjectKey(format!(
            "{}/{}/{}/{file}",
            user.as_str(),
            folder.as_str(),
            variant.as_str()
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why the store did not do what was asked.
#[derive(Debug)]
pub enum StoreError {
    /// No such file or object.
    NotFound,
    /// The object store did not answer, or answered with an error: the request can be
    /// retried once it is back (503).
    Unavailable(String),
    /// The local disk is full, or the service user's disk quota is used up.
    Full(io::Error),
    /// The local disk refused (permissions, a symlink): a fault to log.
    Failed(anyhow::Error),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::NotFound => f.write_str("no such stored file"),
            StoreError::Unavailable(why) => write!(f, "the object store is unavailable: {why}"),
            StoreError::Full(err) => write!(f, "the storage is full: {err}"),
            StoreError::Failed(err) => write!(f, "storage failed: {err:#}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The backend a `Storage` talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    Local,
    S3,
}

impl StorageKind {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "local" => Some(StorageKind::Local),
            "s3" => Some(StorageKind::S3),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StorageKind::Local => "local",
            StorageKind::S3 => "s3",
        }
    }
}

/// A stored file opened to serve. `whole` holds the bytes when the file is small; larger
/// files stream from `source`.
pub struct Opened {
    pub len: u64,
    pub etag: String,
    pub modified: SystemTime,
    pub whole: Option<Bytes>,
    pub source: Source,
}

/// Where the bytes of an opened file come from.
pub enum Source {
    File(Arc<std::fs::File>),
    Object {
        store: Arc<dyn object_store::ObjectStore>,
        location: object_store::path::Path,
    },
}

/// Bytes read per step when streaming a large local file.
const STREAM_CHUNK_BYTES: usize = 64 * 1024;

impl Source {
    /// The bytes `start..start + length`, a chunk at a time.
    pub fn stream(
        self,
        start: u64,
        length: u64,
    ) -> futures_util::stream::BoxStream<'static, Result<Bytes, io::Error>> {
        use futures_util::StreamExt;
        match self {
            Source::Object { store, location } => {
                s3::stream_range(store, location, start..start + length).boxed()
            }
            Source::File(file) => {
                futures_util::stream::try_unfold((start, length), move |(offset, left)| {
                    let file = Arc::clone(&file);
                    async move {
                        if left == 0 {
                            return Ok(None);
                        }
                        let want = usize::try_from(left)
                            .unwrap_or(usize::MAX)
                            .min(STREAM_CHUNK_BYTES);
                        let chunk = tokio::task::spawn_blocking(move || {
                            let mut buf = vec![0u8; want];
                            std::os::unix::fs::FileExt::read_exact_at(&*file, &mut buf, offset)
                                .map(|()| buf)
                        })
                        .await
                        .map_err(io::Error::other)??;
                        let read = chunk.len() as u64;
                        Ok(Some((Bytes::from(chunk), (offset + read, left - read))))
                    }
                })
                .boxed()
            }
        }
    }
}

/// What a stored name is, by the key layout above. Maintenance (`doctor`, deleting an
/// account's leftovers) touches only names that are Atelier's: a bucket may be shared with
/// backups or a website, and their objects are none of Atelier's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredName {
    /// `{username}/{folder}/{variant}/{stem}.{ext}`: a file Atelier stored.
    File { stem: String },
    /// `{username}/{folder}/{variant}/.tmp-{32 hex}`: a local write in progress, or one a
    /// crash interrupted.
    Temp,
    /// Anything else.
    Foreign,
}

impl StoredName {
    pub fn of(name: &str) -> Self {
        let segments: Vec<&str> = name.split('/').collect();
        let [user, folder, variant, file] = segments[..] else {
            return StoredName::Foreign;
        };
        let ours = Username::parse(user).is_ok_and(|parsed| parsed.as_str() == user)
            && FolderSlug::parse(folder).is_some()
            && Variant::parse(variant).is_some();
        if !ours {
            return StoredName::Foreign;
        }
        if let Some(parsed) = FileName::parse(file) {
            return StoredName::File {
                stem: parsed.stem().to_owned(),
            };
        }
        let temp = file
            .strip_prefix(local::TEMP_PREFIX)
            .is_some_and(|rest| FileName::new(rest, "jpg").is_some());
        if temp {
            StoredName::Temp
        } else {
            StoredName::Foreign
        }
    }

    pub fn is_atelier(&self) -> bool {
        !matches!(self, StoredName::Foreign)
    }
}

/// One entry of a listing, with when it was last written.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub modified: SystemTime,
}

/// What the top of the store holds: key prefixes (accounts) and anything else.
#[derive(Debug, Default)]
pub struct Listing {
    pub prefixes: Vec<String>,
    pub names: Vec<String>,
}

enum Backend {
    Local(Arc<local::Disk>),
    S3(s3::Bucket),
}

/// The backend holding users' files; cheap to clone.
#[derive(Clone)]
pub struct Storage(Arc<Backend>);

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Storage {
    /// The `local` backend: the folder `root`, created private if missing.
    pub fn local(root: &Path) -> io::Result<Self> {
        Ok(Storage(Arc::new(Backend::Local(Arc::new(
            local::Disk::open(root)?,
        )))))
    }

    /// The `s3` backend, checked to answer before it is used.
    pub fn s3(config: s3::S3Config) -> Result<Self, StoreError> {
        let bucket = s3::Bucket::connect(config)?;
        bucket.check()?;
        Ok(Storage(Arc::new(Backend::S3(bucket))))
    }

    pub fn kind(&self) -> StorageKind {
        match &*self.0 {
            Backend::Local(_) => StorageKind::Local,
            Backend::S3(_) => StorageKind::S3,
        }
    }

    /// Where the files are, in words, for logs and the CLI.
    pub fn describe(&self) -> String {
        match &*self.0 {
            Backend::Local(disk) => format!("the folder {}", disk.root().display()),
            Backend::S3(bucket) => format!(
                "the S3 bucket {} at {}",
                bucket.config.bucket, bucket.config.endpoint
            ),
        }
    }

    /// Where a stored name is, for people: a path, or an `s3://bucket/key` address.
    pub fn locate(&self, name: &str) -> String {
        match &*self.0 {
            Backend::Local(disk) => disk.root().join(name).display().to_string(),
            Backend::S3(bucket) => format!("s3://{}/{name}", bucket.config.bucket),
        }
    }

    /// The local folder, for the local backend.
    pub fn local_root(&self) -> Option<&Path> {
        match &*self.0 {
            Backend::Local(disk) => Some(disk.root()),
            Backend::S3(_) => None,
        }
    }

    /// Stores `bytes` under `key` (atomically: whole or not at all).
    pub fn put(&self, key: &ObjectKey, bytes: &[u8]) -> Result<(), StoreError> {
        match &*self.0 {
            Backend::Local(disk) => Ok(disk.put(key, bytes)?),
            Backend::S3(bucket) => bucket.put(key, bytes),
        }
    }

    /// Stores several files, each atomically, at once: on the local disk their fsyncs are
    /// issued together ([`local::Disk::put_all`]), on S3 their uploads run together. On
    /// failure some may be stored: remove them all (a missing key is no error).
    pub fn put_all(&self, files: &[(&ObjectKey, &[u8])]) -> Result<(), StoreError> {
        match &*self.0 {
            Backend::Local(disk) => Ok(disk.put_all(files)?),
            Backend::S3(bucket) => bucket.put_all(files),
        }
    }

    pub fn get(&self, key: &ObjectKey) -> Result<Vec<u8>, StoreError> {
        match &*self.0 {
            Backend::Local(disk) => Ok(disk.get(key)?),
            Backend::S3(bucket) => bucket.get(key),
        }
    }

    /// The stored size, or `None` when nothing is stored under `key`.
    pub fn size(&self, key: &ObjectKey) -> Result<Option<u64>, StoreError> {
        match &*self.0 {
            Backend::Local(disk) => Ok(disk.size(key)?),
            Backend::S3(bucket) => bucket.size(key),
        }
    }

    /// Moves a stored file to another key.
    pub fn rename(&self, from: &ObjectKey, to: &ObjectKey) -> Result<(), StoreError> {
        match &*self.0 {
            Backend::Local(disk) => Ok(disk.rename(from, to)?),
            Backend::S3(bucket) => bucket.rename(from, to),
        }
    }

    /// Removes a stored file; a missing one is not an error.
    pub fn remove(&self, key: &ObjectKey) -> Result<(), StoreError> {
        self.remove_listed(key.as_str())
    }

    /// Removes a file by the name a listing gave (which may not fit the key layout).
    pub fn remove_listed(&self, name: &str) -> Result<(), StoreError> {
        match &*self.0 {
            Backend::Local(disk) => Ok(disk.remove(name)?),
            Backend::S3(bucket) => bucket.remove(name),
        }
    }

    /// Removes whatever is left under a deleted account (its files were deleted one by one
    /// already; this takes empty folders and strays of Atelier's layout, never another
    /// program's objects in a shared bucket). Failures are logged.
    pub fn remove_user(&self, user: &Username) {
        let result = match &*self.0 {
            Backend::Local(disk) => disk.remove_prefix(user.as_str()).map_err(StoreError::from),
            Backend::S3(bucket) => bucket
                .list(&format!("{}/", user.as_str()))
                .and_then(|listed| {
                    listed
                        .iter()
                        .filter(|entry| StoredName::of(&entry.name).is_atelier())
                        .try_for_each(|entry| bucket.remove(&entry.name))
                }),
        };
        if let Err(err) = result {
            tracing::warn!(user = user.as_str(), error = %err, "could not remove a deleted account's files");
        }
    }

    /// Removes an emptied folder's directories (objects need no folders: nothing to do).
    pub fn remove_empty_folder(&self, user: &Username, folder: &FolderSlug) {
        if let Backend::Local(disk) = &*self.0 {
            disk.remove_empty_dirs(&format!("{}/{}", user.as_str(), folder.as_str()));
        }
    }

    /// Account prefixes at the top of the store, and anything else found there.
    pub fn top_level(&self) -> Result<Listing, StoreError> {
        match &*self.0 {
            Backend::Local(disk) => Ok(disk.top_level()?),
            Backend::S3(bucket) => bucket.top_level(),
        }
    }

    /// Every stored name under an account, with when it was written.
    pub fn list_user(&self, user: &str) -> Result<Vec<Listed>, StoreError> {
        match &*self.0 {
            Backend::Local(disk) => Ok(disk.list(user)?),
            Backend::S3(bucket) => bucket.list(&format!("{user}/")),
        }
    }

    /// When a listed name was last written; `None` when it is gone.
    pub fn modified(&self, name: &str) -> Result<Option<SystemTime>, StoreError> {
        match &*self.0 {
            Backend::Local(disk) => Ok(disk.modified(name)?),
            Backend::S3(bucket) => bucket.modified(name),
        }
    }

    /// Opens a stored file to serve: read whole when it has at most `small` bytes.
    pub async fn open(&self, key: &ObjectKey, small: u64) -> Result<Opened, StoreError> {
        match &*self.0 {
            Backend::Local(disk) => {
                let (disk, key) = (Arc::clone(disk), key.clone());
                tokio::task::spawn_blocking(move || Ok(disk.open_to_serve(&key, small)?))
                    .await
                    .map_err(|err| StoreError::Failed(err.into()))?
            }
            Backend::S3(bucket) => bucket.open(key, small).await,
        }
    }
}

/// What the store's failure means for the request: 503 while it does not answer, 507 when
/// the disk is full, otherwise a fault to log.
impl From<StoreError> for crate::base::error::AppError {
    fn from(err: StoreError) -> Self {
        use crate::base::error::AppError;
        match err {
            StoreError::Unavailable(why) => {
                tracing::warn!(%why, "object store unavailable");
                crate::base::metrics::storage_unavailable();
                AppError::StoreUnavailable
            }
            StoreError::Full(err) => {
                log_storage_full(&err);
                AppError::StorageFull
            }
            other => AppError::Internal(other.into()),
        }
    }
}

/// A full disk fails every write until someone makes room: said in the log once a minute,
/// not once a request.
fn log_storage_full(err: &std::io::Error) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_LOGGED: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let last = LAST_LOGGED.load(Ordering::Relaxed);
    if now >= last + 60
        && LAST_LOGGED
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::error!(error = %err, "the uploads storage is full: writes are refused (507) until there is room");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_strict() {
        let stem = "0123456789abcdef0123456789abcdef";
        assert!(FileName::parse(&format!("{stem}.png")).is_some());
        for bad in [
            format!("{stem}.svg"),
            format!("{stem}.html"),
            format!("{stem}.png.html"),
            stem.to_string(),
            format!("../{stem}.png"),
            format!("{}.png", stem.to_uppercase()),
            format!("{stem}\0.png"),
            format!("{stem}.png/"),
            "..".into(),
            "".into(),
        ] {
            assert!(FileName::parse(&bad).is_none(), "{bad:?}");
        }
    }

    /// Property test: whatever four segments arrive, resolution either refuses them or
    /// yields a path strictly inside the root whose components are exactly those segments.
    #[test]
    fn resolver_never_leaves_the_root_on_random_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = local::Disk::open(dir.path()).expect("storage");
        let alphabet: Vec<char> = "ab09_-./\\\0%2eE:~ ".chars().collect();
        struct XorShift(u64);
        impl XorShift {
            fn next(&mut self) -> u64 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0
            }
            fn segment(&mut self, alphabet: &[char], max: u64) -> String {
                let len = self.next() % max;
                (0..len)
                    .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize])
                    .collect()
            }
        }
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let stem = "0123456789abcdef0123456789abcdef";
        let mut accepted = 0;
        for _ in 0..20_000 {
            // Mostly-valid names half the time, so both paths are exercised.
            let user = if rng.next() % 2 == 0 {
                "alice".to_owned()
            } else {
                rng.segment(&alphabet, 12)
            };
            let folder = if rng.next() % 2 == 0 {
                "default".to_owned()
            } else {
                rng.segment(&alphabet, 12)
            };
            let variant = ["original", "thumb", "pristine", "..", "x"][(rng.next() % 5) as usize];
            let file = if rng.next() % 2 == 0 {
                format!("{stem}.png")
            } else {
                rng.segment(&alphabet, 40)
            };
            let parsed = (
                Username::parse(&user).ok().filter(|u| u.as_str() == user),
                FolderSlug::parse(&folder),
                Variant::parse(variant),
                FileName::parse(&file),
            );
            if let (Some(u), Some(f), Some(v), Some(n)) = parsed {
                let path = disk
                    .path(ObjectKey::new(&u, &f, v, &n).as_str())
                    .expect("valid segments resolve");
                let relative = path.strip_prefix(disk.root()).expect("inside the root");
                let parts: Vec<_> = relative
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect();
                assert_eq!(parts, [user, folder, variant.to_owned(), file]);
                accepted += 1;
            }
        }
        assert!(
            accepted > 100,
            "the generator must also produce valid segments ({accepted})"
        );
    }

    #[test]
    fn symlinks_inside_the_root_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("outside");
        let disk = local::Disk::open(dir.path()).expect("storage");
        let user = Username::parse("alice").expect("user");
        let folder = FolderSlug::default_folder();
        let name = FileName::parse("0123456789abcdef0123456789abcdef.png").expect("name");
        let key = ObjectKey::new(&user, &folder, Variant::Original, &name);
        let path = disk.path(key.as_str()).expect("path");
        disk.put(&key, b"ok").expect("write");
        assert_eq!(disk.get(&key).expect("read"), b"ok");

        // A symlinked file.
        std::fs::write(outside.path().join("secret"), b"secret").expect("secret");
        std::fs::remove_file(&path).expect("rm");
        std::os::unix::fs::symlink(outside.path().join("secret"), &path).expect("link");
        assert!(disk.get(&key).is_err());
        // A symlinked folder on the way.
        std::fs::remove_file(&path).expect("rm");
        let thumb_dir = path
            .parent()
            .expect("dir")
            .parent()
            .expect("folder")
            .join("thumb");
        std::os::unix::fs::symlink(outside.path(), &thumb_dir).expect("link dir");
        std::fs::write(outside.path().join(name.to_string()), b"secret").expect("file");
        assert!(
            disk.path(ObjectKey::new(&user, &folder, Variant::Thumb, &name).as_str())
                .is_err()
        );
    }
}
