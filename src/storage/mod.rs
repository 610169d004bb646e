//! Every path under the uploads root is made here, and nowhere else.
//!
//! Layout: `{root}/{username}/{folder slug}/{original|thumb|pristine}/{stem}.{ext}`. Each
//! segment is a validated newtype, [`Storage::resolve`] refuses a path with a symlink on
//! the way (a planted link cannot lead outside the root), and files are written atomically
//! (temp file in the same folder, fsync, rename) so a failed request leaves no half files.

pub mod budget;
pub mod imaging;
pub mod jpeg;
pub mod video;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::domain::{FolderSlug, Username};

/// The three stored forms of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The working copy: re-encoded without metadata, orientation applied. Edits change it.
    Original,
    /// A small preview (longest side 320 px).
    Thumb,
    /// The exact bytes received or generated; owner only, used to revert edits.
    Pristine,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Original, Variant::Thumb, Variant::Pristine];

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "original" => Some(Variant::Original),
            "thumb" => Some(Variant::Thumb),
            "pristine" => Some(Variant::Pristine),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Original => "original",
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
        crate::tokens::random_hex(16).map_err(io::Error::other)
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

/// The uploads root.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
}

/// Creates `dir` and any missing parents private to the service user (0700). Users' files
/// are nobody else's business on the machine either.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

impl Storage {
    /// Creates the root if needed (0700, and made 0700 if it was not) and remembers its
    /// canonical path.
    pub fn open(root: &Path) -> io::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        create_private_dir(root)?;
        fs::set_permissions(root, fs::Permissions::from_mode(0o700))?;
        Ok(Storage {
            root: fs::canonicalize(root)?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder holding one variant of a user's folder.
    fn variant_dir(&self, user: &Username, folder: &FolderSlug, variant: Variant) -> PathBuf {
        self.root
            .join(user.as_str())
            .join(folder.as_str())
            .join(variant.as_str())
    }

    /// The path of a stored file, proven to stay under the root: every segment is a
    /// validated newtype (no `..`, `/`, NUL or absolute path can get in) and no component
    /// below the root may be a symlink.
    pub fn resolve(
        &self,
        user: &Username,
        folder: &FolderSlug,
        variant: Variant,
        file: &FileName,
    ) -> io::Result<PathBuf> {
        let path = self
            .variant_dir(user, folder, variant)
            .join(file.to_string());
        self.refuse_symlinks(&path)?;
        Ok(path)
    }

    /// Fails when any existing component between the root and `path` is a symlink.
    fn refuse_symlinks(&self, path: &Path) -> io::Result<()> {
        let relative = path.strip_prefix(&self.root).map_err(|_| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                "path escapes the uploads root",
            )
        })?;
        let mut current = self.root.clone();
        for component in relative.components() {
            match component {
                std::path::Component::Normal(part) => current.push(part),
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        "unexpected path component",
                    ));
                }
            }
            match fs::symlink_metadata(&current) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        "symlink inside the uploads root",
                    ));
                }
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Opens a stored file for reading without following a symlink at the last step.
    pub fn open_file(&self, path: &Path) -> io::Result<File> {
        self.refuse_symlinks(path)?;
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
    }

    pub fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut file = self.open_file(path)?;
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut file, &mut bytes)?;
        Ok(bytes)
    }

    /// Writes `bytes` to `path` atomically: a temp file in the same folder, fsync, rename,
    /// then fsync the folder so the rename itself survives a crash.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let dir = path
            .parent()
            .ok_or_else(|| io::Error::other("file has no parent folder"))?;
        create_private_dir(dir)?;
        self.refuse_symlinks(dir)?;
        let temp = dir.join(format!(".tmp-{}", FileName::random_stem()?));
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&temp, path)?;
            File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Moves a stored file to another folder (same filesystem: one atomic rename).
    pub fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let dir = to
            .parent()
            .ok_or_else(|| io::Error::other("file has no parent folder"))?;
        create_private_dir(dir)?;
        self.refuse_symlinks(dir)?;
        self.refuse_symlinks(from)?;
        fs::rename(from, to)
    }

    /// Removes a file; a missing file is not an error.
    pub fn remove(&self, path: &Path) -> io::Result<()> {
        match fs::remove_file(path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }

    /// Removes the (empty) variant folders and the folder itself, if empty.
    /// Removes a deleted account's directory tree (its files were deleted one by one
    /// already; this takes what is left: empty folders, stray temp files).
    pub fn remove_user_dir(&self, user: &Username) {
        let dir = self.root.join(user.as_str());
        // Never follow a symlink out of the root.
        if fs::symlink_metadata(&dir).is_ok_and(|meta| meta.is_dir()) {
            if let Err(err) = fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %err, "could not remove a deleted account's folder");
            }
        }
    }

    pub fn remove_empty_folder(&self, user: &Username, folder: &FolderSlug) {
        for variant in Variant::ALL {
            let _ = fs::remove_dir(self.variant_dir(user, folder, variant));
        }
        let _ = fs::remove_dir(self.root.join(user.as_str()).join(folder.as_str()));
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
        let storage = Storage::open(dir.path()).expect("storage");
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
                let path = storage
                    .resolve(&u, &f, v, &n)
                    .expect("valid segments resolve");
                let relative = path.strip_prefix(storage.root()).expect("inside the root");
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
        let storage = Storage::open(dir.path()).expect("storage");
        let user = Username::parse("alice").expect("user");
        let folder = FolderSlug::default_folder();
        let name = FileName::parse("0123456789abcdef0123456789abcdef.png").expect("name");
        let path = storage
            .resolve(&user, &folder, Variant::Original, &name)
            .expect("path");
        storage.write_atomic(&path, b"ok").expect("write");
        assert_eq!(storage.read(&path).expect("read"), b"ok");

        // A symlinked file.
        std::fs::write(outside.path().join("secret"), b"secret").expect("secret");
        std::fs::remove_file(&path).expect("rm");
        std::os::unix::fs::symlink(outside.path().join("secret"), &path).expect("link");
        assert!(storage.read(&path).is_err());
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
            storage
                .resolve(&user, &folder, Variant::Thumb, &name)
                .is_err()
        );
    }
}
