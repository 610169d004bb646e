//! `atelier doctor`: checks that the uploads folder and the images table agree. It finds
//! files no row points to (what a crash between writing a file and committing its row
//! leaves), rows whose files are missing, and temp files an interrupted write left behind;
//! `--fix` removes the files without rows and the temp files, and reports the rows it
//! cannot repair (their files are gone: only the owner or an admin can delete them).
//!
//! It works one account at a time, so its memory is bounded by the largest account, not
//! by the whole library. Blocking: it reads the disk and the database directly.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use diesel::PgConnection;

use crate::error::AppError;
use crate::library::stored_path;
use crate::models::Image;
use crate::storage::{Storage, Variant};

/// What the check found.
#[derive(Debug, Default)]
pub struct Report {
    /// Regular files under the uploads root that no row points to.
    pub files_without_rows: Vec<PathBuf>,
    /// Rows (image id) whose variant file is missing.
    pub rows_without_files: Vec<(i64, PathBuf)>,
    /// `.tmp-*` files left by an interrupted atomic write.
    pub temp_files: Vec<PathBuf>,
    /// Images and files that are as they should be.
    pub rows_checked: usize,
    pub files_checked: usize,
}

impl Report {
    pub fn is_consistent(&self) -> bool {
        self.files_without_rows.is_empty()
            && self.rows_without_files.is_empty()
            && self.temp_files.is_empty()
    }
}

/// Compares every account's rows with its folder under the uploads root.
pub fn check(conn: &mut PgConnection, storage: &Storage) -> Result<Report, AppError> {
    let root = storage.root().to_path_buf();
    let mut report = Report::default();
    let mut owners: Vec<String> = Image::owner_usernames(conn)?;
    for entry in fs::read_dir(&root).map_err(AppError::internal)? {
        let entry = entry.map_err(AppError::internal)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().map_err(AppError::internal)?.is_dir() {
            owners.push(name);
        } else if name.starts_with(".tmp-") {
            report.temp_files.push(entry.path());
        } else if name != ".gitkeep" {
            // Only account folders belong at the top (`.gitkeep` keeps it in a checkout).
            report.files_without_rows.push(entry.path());
        }
    }
    owners.sort();
    owners.dedup();
    for owner in &owners {
        let mut expected = HashSet::new();
        for placed in Image::placed_for_username(conn, owner)? {
            report.rows_checked += 1;
            for variant in Variant::ALL {
                let path = stored_path(storage, &placed, variant)?;
                if fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_file()) {
                    expected.insert(path);
                } else {
                    report.rows_without_files.push((placed.image.id, path));
                }
            }
        }
        walk(&root.join(owner), &mut |path| {
            let is_temp = path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(".tmp-"));
            if is_temp {
                report.temp_files.push(path);
            } else if expected.contains(&path) {
                report.files_checked += 1;
            } else {
                report.files_without_rows.push(path);
            }
        })?;
    }
    Ok(report)
}

/// Every regular file (and symlink, which never belongs here) below `dir`.
fn walk(dir: &Path, found: &mut impl FnMut(PathBuf)) -> Result<(), AppError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(AppError::internal(err)),
    };
    for entry in entries {
        let entry = entry.map_err(AppError::internal)?;
        let kind = entry.file_type().map_err(AppError::internal)?;
        if kind.is_dir() {
            walk(&entry.path(), found)?;
        } else {
            found(entry.path());
        }
    }
    Ok(())
}

/// Removes the files without rows and the temp files; returns how many went.
pub fn fix(report: &Report, storage: &Storage) -> Result<usize, AppError> {
    let mut removed = 0;
    for path in report.files_without_rows.iter().chain(&report.temp_files) {
        storage.remove(path).map_err(AppError::internal)?;
        removed += 1;
    }
    Ok(removed)
}
