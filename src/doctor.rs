//! `atelier doctor`: checks that the storage backend (the uploads folder or the bucket) and
//! the images table agree. It finds files or objects no row points to (what a crash
//! between storing a file and committing its row leaves), rows whose files are missing,
//! and temp files an interrupted local write left behind; `--fix` removes the files without
//! rows and the temp files, and reports the rows it cannot repair (their files are gone:
//! only the owner or an admin can delete them).
//!
//! It works one account at a time, so its memory is bounded by the largest account, not
//! by the whole library. Blocking: it reads the store and the database directly.

use std::collections::HashSet;

use diesel::PgConnection;

use crate::error::AppError;
use crate::library::key_of;
use crate::models::Image;
use crate::storage::local::TEMP_PREFIX;
use crate::storage::{Storage, Variant};

/// What the check found; names are keys relative to the uploads folder or bucket.
#[derive(Debug, Default)]
pub struct Report {
    /// Stored files that no row points to.
    pub files_without_rows: Vec<String>,
    /// Rows (image id) whose variant file is missing.
    pub rows_without_files: Vec<(i64, String)>,
    /// `.tmp-*` files left by an interrupted atomic write.
    pub temp_files: Vec<String>,
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

fn is_temp(name: &str) -> bool {
    name.rsplit('/')
        .next()
        .is_some_and(|last| last.starts_with(TEMP_PREFIX))
}

/// Compares every account's rows with what is stored under its name.
pub fn check(conn: &mut PgConnection, storage: &Storage) -> Result<Report, AppError> {
    let mut report = Report::default();
    let top = storage.top_level()?;
    for name in top.names {
        // Only account folders belong at the top.
        if is_temp(&name) {
            report.temp_files.push(name);
        } else {
            report.files_without_rows.push(name);
        }
    }
    let mut owners: Vec<String> = Image::owner_usernames(conn)?;
    owners.extend(
        top.prefixes
            .into_iter()
            .map(|prefix| prefix.trim_end_matches('/').to_owned()),
    );
    owners.sort();
    owners.dedup();
    for owner in &owners {
        let stored: HashSet<String> = storage.list_user(owner)?.into_iter().collect();
        let mut expected = HashSet::new();
        for placed in Image::placed_for_username(conn, owner)? {
            report.rows_checked += 1;
            for variant in Variant::ALL {
                let key = key_of(&placed, variant)?.as_str().to_owned();
                if stored.contains(&key) {
                    expected.insert(key);
                } else {
                    report.rows_without_files.push((placed.image.id, key));
                }
            }
        }
        let mut stored: Vec<String> = stored.into_iter().collect();
        stored.sort();
        for name in stored {
            if is_temp(&name) {
                report.temp_files.push(name);
            } else if expected.contains(&name) {
                report.files_checked += 1;
            } else {
                report.files_without_rows.push(name);
            }
        }
    }
    Ok(report)
}

/// Removes the files without rows and the temp files; returns how many went.
pub fn fix(report: &Report, storage: &Storage) -> Result<usize, AppError> {
    let mut removed = 0;
    for name in report.files_without_rows.iter().chain(&report.temp_files) {
        storage.remove_listed(name)?;
        removed += 1;
    }
    Ok(removed)
}
