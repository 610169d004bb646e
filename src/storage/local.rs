//! The `local` backend: stored files under one folder on this machine's disk.
//!
//! A key `{username}/{folder}/{variant}/{file}` is the path below the root. Keys are built
//! from validated segments only, [`Disk::path`] refuses a path with a symlink on the way
//! (a planted link cannot lead outside the root), files open without following a final
//! symlink, and writes are atomic (temp file in the same folder, fsync, rename, fsync of
//! the folder) so a failed request leaves no half files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::{FileName, Listed, Listing, ObjectKey, Opened, StoreError};

/// Names of interrupted atomic writes start with this.
pub const TEMP_PREFIX: &str = ".tmp-";

#[derive(Debug)]
pub struct Disk {
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

/// Runs each step on a thread of its own (the first on the caller's) and waits for them
/// all; the first error wins. For fsyncs that a filesystem can commit as one.
fn all_at_once<F>(steps: impl IntoIterator<Item = F>) -> io::Result<()>
where
    F: FnOnce() -> io::Result<()> + Send,
{
    let mut steps = steps.into_iter();
    let Some(first) = steps.next() else {
        return Ok(());
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = steps
            .map(|step| std::thread::Builder::new().spawn_scoped(scope, step))
            .collect();
        let mine = first();
        others.into_iter().fold(mine, |so_far, started| {
            let outcome = started.and_then(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("a write thread panicked")))
            });
            so_far.and(outcome)
        })
    })
}

impl From<io::Error> for StoreError {
    fn from(err: io::Error) -> Self {
        match (err.kind(), err.raw_os_error()) {
            (io::ErrorKind::NotFound, _) => StoreError::NotFound,
            (_, Some(libc::ENOSPC | libc::EDQUOT)) => StoreError::Full(err),
            _ => StoreError::Failed(err.into()),
        }
    }
}

impl Disk {
    /// Creates the root if needed (0700, and made 0700 if it was not) and remembers its
    /// canonical path.
    pub fn open(root: &Path) -> io::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        create_private_dir(root)?;
        fs::set_permissions(root, fs::Permissions::from_mode(0o700))?;
        Ok(Disk {
            root: fs::canonicalize(root)?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of a key (or of a listed name), proven to stay under the root: only plain
    /// components, and no existing component below the root may be a symlink.
    pub fn path(&self, relative: &str) -> io::Result<PathBuf> {
        let path = self.root.join(relative);
        self.refuse_symlinks(&path)?;
        Ok(path)
    }

    /// Fails when `path` leaves the root or any existing component on the way is a symlink.
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
                Component::Normal(part) => current.push(part),
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
    fn open_file(&self, key: &ObjectKey) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.path(key.as_str())?)
    }

    pub fn get(&self, key: &ObjectKey) -> io::Result<Vec<u8>> {
        let mut file = self.open_file(key)?;
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut file, &mut bytes)?;
        Ok(bytes)
    }

    pub fn size(&self, key: &ObjectKey) -> io::Result<Option<u64>> {
        match fs::symlink_metadata(self.path(key.as_str())?) {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Opens a file to serve: read whole when it has at most `small` bytes.
    pub fn open_to_serve(&self, key: &ObjectKey, small: u64) -> io::Result<Opened> {
        let mut file = self.open_file(key)?;
        let meta = file.metadata()?;
        let modified = meta.modified()?;
        let nanos = modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let etag = format!("\"{:x}-{nanos:x}-{:x}\"", meta.ino(), meta.len());
        let whole = if meta.len() <= small {
            let mut bytes = Vec::with_capacity(meta.len() as usize);
            io::Read::read_to_end(&mut file, &mut bytes)?;
            Some(bytes.into())
        } else {
            None
        };
        Ok(Opened {
            len: meta.len(),
            etag,
            modified,
            whole,
            source: super::Source::File(Arc::new(file)),
        })
    }

    /// Writes `bytes` to `key` atomically: a temp file in the same folder, fsync, rename,
    /// then fsync the folder so the rename itself survives a crash.
    pub fn put(&self, key: &ObjectKey, bytes: &[u8]) -> io::Result<()> {
        self.put_all(&[(key, bytes)])
    }

    /// Writes several files, each atomically as [`Disk::put`] does, waiting for the disk
    /// twice in all rather than twice per file: the files' fsyncs are issued together,
    /// then the renames made, then their folders' fsyncs issued together. A journaling
    /// filesystem commits fsyncs that arrive together as one, so an upload's variants in
    /// three folders wait for two commits instead of six, which is what a busy disk
    /// makes long. On failure no temp file is left; files already renamed into place are
    /// the caller's to remove.
    pub fn put_all(&self, files: &[(&ObjectKey, &[u8])]) -> io::Result<()> {
        let mut temps = Vec::with_capacity(files.len());
        let result = self.stage_and_place(files, &mut temps);
        for temp in &temps {
            match fs::remove_file(temp) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => {
                    tracing::warn!(file = %temp.display(), error = %err, "temp file left behind");
                }
                _ => {}
            }
        }
        result
    }

    /// The steps of [`Disk::put_all`]; every temp file it creates is pushed to `temps`.
    fn stage_and_place(
        &self,
        files: &[(&ObjectKey, &[u8])],
        temps: &mut Vec<PathBuf>,
    ) -> io::Result<()> {
        let mut staged = Vec::with_capacity(files.len());
        for (key, bytes) in files {
            let path = self.root.join(key.as_str());
            let dir = self.ready_folder(&path)?;
            let temp = dir.join(format!("{TEMP_PREFIX}{}", FileName::random_stem()?));
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&temp)?;
            temps.push(temp.clone());
            file.write_all(bytes)?;
            staged.push((file, temp, path));
        }
        all_at_once(staged.iter().map(|(file, _, _)| || file.sync_all()))?;
        let mut dirs: Vec<&Path> = Vec::new();
        for (_, temp, path) in &staged {
            fs::rename(temp, path)?;
            let dir = path.parent().unwrap_or(&self.root);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        all_at_once(
            dirs.into_iter()
                .map(|dir| move || File::open(dir)?.sync_all()),
        )
    }

    /// Moves a stored file to another folder (same filesystem: one atomic rename).
    pub fn rename(&self, from: &ObjectKey, to: &ObjectKey) -> io::Result<()> {
        let to = self.root.join(to.as_str());
        self.ready_folder(&to)?;
        fs::rename(self.path(from.as_str())?, to)
    }

    /// The folder a file at `path` goes in: created if missing, refused if a symlink was
    /// planted on the way.
    fn ready_folder<'p>(&self, path: &'p Path) -> io::Result<&'p Path> {
        let dir = path
            .parent()
            .ok_or_else(|| io::Error::other("file has no parent folder"))?;
        create_private_dir(dir)?;
        self.refuse_symlinks(dir)?;
        Ok(dir)
    }

    /// Removes a file by key or listed name; a missing file is not an error. A planted
    /// symlink is removed itself, never followed (only the folders on the way are checked).
    pub fn remove(&self, relative: &str) -> io::Result<()> {
        let path = self.root.join(relative);
        if let Some(dir) = path.parent() {
            self.refuse_symlinks(dir)?;
        }
        if path == self.root {
            return Err(io::Error::other("cannot remove the uploads root"));
        }
        match fs::remove_file(path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }

    /// Removes a deleted account's folder tree (its files were deleted one by one already;
    /// this takes what is left: empty folders, stray temp files). Never follows a symlink.
    pub fn remove_prefix(&self, prefix: &str) -> io::Result<()> {
        let dir = self.path(prefix)?;
        if fs::symlink_metadata(&dir).is_ok_and(|meta| meta.is_dir()) {
            fs::remove_dir_all(&dir)?;
        }
        Ok(())
    }

    /// Removes the variant folders of `prefix` (a user's folder) and the folder itself,
    /// where empty.
    pub fn remove_empty_dirs(&self, prefix: &str) {
        let dir = self.root.join(prefix);
        for variant in super::Variant::ALL {
            let _ = fs::remove_dir(dir.join(variant.as_str()));
        }
        let _ = fs::remove_dir(dir);
    }

    /// The top of the root: folder names, and any other entries (which do not belong).
    pub fn top_level(&self) -> io::Result<Listing> {
        let mut listing = Listing::default();
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type()?.is_dir() {
                listing.prefixes.push(name);
            } else if name != ".gitkeep" {
                // `.gitkeep` keeps the folder in a checkout.
                listing.names.push(name);
            }
        }
        Ok(listing)
    }

    /// Every file (and symlink, which never belongs here) below `prefix`, as names
    /// relative to the root.
    pub fn list(&self, prefix: &str) -> io::Result<Vec<Listed>> {
        let mut found = Vec::new();
        walk(&self.root, &self.root.join(prefix), &mut found)?;
        Ok(found)
    }

    /// When a file was last written (a symlink's own time); `None` when it is gone.
    pub fn modified(&self, relative: &str) -> io::Result<Option<SystemTime>> {
        match fs::symlink_metadata(self.root.join(relative)) {
            Ok(meta) => Ok(Some(meta.modified()?)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<Listed>) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            walk(root, &entry.path(), found)?;
        } else if let Ok(relative) = entry.path().strip_prefix(root) {
            // A file removed since the folder was read is simply not listed.
            match fs::symlink_metadata(entry.path()) {
                Ok(meta) => found.push(Listed {
                    name: relative.to_string_lossy().into_owned(),
                    modified: meta.modified()?,
                }),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
    }
    Ok(())
}
