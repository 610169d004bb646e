//! `atelier doctor`: checks that the storage backend (the uploads folder or the bucket) and
//! the images table agree. It finds files no row points to (what a crash between storing
//! a file and committing its row leaves), rows whose files are missing, and temp files an
//! interrupted local write left behind. By default it only says what it would remove;
//! `--fix` removes them, and reports the rows it cannot repair (their files are gone: only
//! the owner or an admin can delete them).
//!
//! It is safe beside a running server, and on a bucket shared with other programs:
//! - it looks only at names of Atelier's own layout ([`StoredName`]); anything else is
//!   listed as "not Atelier's" and never touched;
//! - a file younger than the grace period is never removed (an upload in flight writes
//!   its files before its row commits; a temp file must also be [`TEMP_MIN_AGE`] old);
//! - before removing a file, it takes the file's lock (held by an upload until its row
//!   commits) and the row's lock (held by a move, edit or delete), and looks again: a file
//!   whose row appeared meanwhile, or that was written again, stays.
//!
//! It works one account at a time, so its memory is bounded by the largest account, not
//! by the whole library. Blocking: it reads the store and the database directly.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use diesel::{Connection, PgConnection};

use crate::base::error::AppError;
use crate::db::models::Image;
use crate::services::library::{file_lock, key_of, stored_variants};
use crate::storage::{Storage, StoredName};

/// A temp file is a write in progress until it is at least this old, whatever the grace.
pub const TEMP_MIN_AGE: Duration = Duration::from_secs(15 * 60);

/// The grace period when none is given: an hour is far longer than any upload takes.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// A stored file that should not be there, and how old it is.
#[derive(Debug, Clone)]
pub struct Stray {
    /// The key relative to the uploads folder or bucket.
    pub name: String,
    /// The stem of an Atelier file (`None` for a temp file).
    pub stem: Option<String>,
    pub age: Duration,
}

/// What the check found; names are keys relative to the uploads folder or bucket.
#[derive(Debug, Default)]
pub struct Report {
    /// Atelier files that no row points to.
    pub files_without_rows: Vec<Stray>,
    /// Rows (image id) whose variant file is missing.
    pub rows_without_files: Vec<(i64, String)>,
    /// `.tmp-*` files of a local write.
    pub temp_files: Vec<Stray>,
    /// Names that are not of Atelier's layout: another program's, left alone.
    pub foreign: Vec<String>,
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

    /// The strays old enough to remove with `grace`.
    pub fn removable(&self, grace: Duration) -> impl Iterator<Item = &Stray> {
        let temp_grace = grace.max(TEMP_MIN_AGE);
        self.files_without_rows
            .iter()
            .filter(move |stray| stray.age >= grace)
            .chain(
                self.temp_files
                    .iter()
                    .filter(move |stray| stray.age >= temp_grace),
            )
    }
}

/// What `--fix` did.
#[derive(Debug, Default)]
pub struct Fixed {
    pub removed: Vec<String>,
    /// Files that looked removable but were not when looked at again, and why.
    pub kept: Vec<(String, &'static str)>,
}

fn age(modified: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(modified).unwrap_or_default()
}

/// Compares every account's rows with what is stored under its name.
pub fn check(conn: &mut PgConnection, storage: &Storage) -> Result<Report, AppError> {
    let mut report = Report::default();
    let top = storage.top_level()?;
    // Atelier keeps nothing at the top: whatever is there belongs to someone else.
    report.foreign.extend(top.names);
    let mut owners: Vec<String> = Image::owner_usernames(conn)?;
    for prefix in top.prefixes {
        let owner = prefix.trim_end_matches('/').to_owned();
        if crate::domain::Username::parse(&owner).is_ok_and(|name| name.as_str() == owner) {
            owners.push(owner);
        } else {
            report.foreign.push(format!("{owner}/"));
        }
    }
    owners.sort();
    owners.dedup();
    for owner in &owners {
        check_owner(conn, storage, owner, &mut report)?;
    }
    Ok(report)
}

fn check_owner(
    conn: &mut PgConnection,
    storage: &Storage,
    owner: &str,
    report: &mut Report,
) -> Result<(), AppError> {
    // Files first, rows second: a row deleted in between leaves a file that looks
    // removable (and is, once its lock is free); a row added in between is looked up again.
    let mut stored = storage.list_user(owner)?;
    stored.sort_by(|a, b| a.name.cmp(&b.name));
    let now = SystemTime::now();
    let names: HashSet<&str> = stored.iter().map(|entry| entry.name.as_str()).collect();
    let mut expected = HashSet::new();
    for placed in Image::placed_for_username(conn, owner)? {
        report.rows_checked += 1;
        let keys = stored_variants(&placed.image)
            .map(|variant| Ok(key_of(&placed, variant)?.as_str().to_owned()))
            .collect::<Result<Vec<_>, AppError>>()?;
        if keys.iter().all(|key| names.contains(key.as_str())) {
            expected.extend(keys);
        } else {
            // Stored, moved or deleted since the listing: look again under the row's lock.
            let (current, missing) = files_now(conn, storage, placed.image.id)?;
            expected.extend(current);
            report
                .rows_without_files
                .extend(missing.into_iter().map(|key| (placed.image.id, key)));
        }
    }
    for entry in stored {
        let age = age(entry.modified, now);
        match StoredName::of(&entry.name) {
            StoredName::Foreign => report.foreign.push(entry.name),
            StoredName::Temp => report.temp_files.push(Stray {
                name: entry.name,
                stem: None,
                age,
            }),
            StoredName::File { .. } if expected.contains(&entry.name) => {
                report.files_checked += 1;
            }
            StoredName::File { stem } => report.files_without_rows.push(Stray {
                name: entry.name,
                stem: Some(stem),
                age,
            }),
        }
    }
    Ok(())
}

/// The keys of image `id` now, and those of them that are missing, looked up under the
/// row's lock (a move, edit or delete holds it while it changes the files); nothing when
/// the row is gone.
fn files_now(
    conn: &mut PgConnection,
    storage: &Storage,
    id: i64,
) -> Result<(Vec<String>, Vec<String>), AppError> {
    conn.transaction(|conn| {
        let (mut current, mut missing) = (Vec::new(), Vec::new());
        if !Image::lock(conn, id)? {
            return Ok((current, missing));
        }
        for placed in Image::placed_by_ids(conn, &[id])? {
            for variant in stored_variants(&placed.image) {
                let key = key_of(&placed, variant)?.as_str().to_owned();
                if storage.modified(&key)?.is_none() {
                    missing.push(key.clone());
                }
                current.push(key);
            }
        }
        Ok((current, missing))
    })
}

/// Removes the strays older than `grace`, each after looking again under its locks.
pub fn fix(
    conn: &mut PgConnection,
    report: &Report,
    storage: &Storage,
    grace: Duration,
) -> Result<Fixed, AppError> {
    let mut fixed = Fixed::default();
    for stray in report.removable(grace) {
        let outcome = match &stray.stem {
            Some(stem) => remove_without_row(conn, storage, stray, stem, grace)?,
            None => remove_if_old(storage, &stray.name, grace.max(TEMP_MIN_AGE))?,
        };
        match outcome {
            Ok(()) => fixed.removed.push(stray.name.clone()),
            Err(why) => fixed.kept.push((stray.name.clone(), why)),
        }
    }
    Ok(fixed)
}

/// Removes a file whose stem had no row, unless, under the upload's and the row's locks,
/// it turns out to be a live image's file.
fn remove_without_row(
    conn: &mut PgConnection,
    storage: &Storage,
    stray: &Stray,
    stem: &str,
    grace: Duration,
) -> Result<Result<(), &'static str>, AppError> {
    conn.transaction(|conn| {
        file_lock(conn, stem)?;
        if let Some(id) = Image::lock_by_stem(conn, stem)? {
            let live = Image::placed_by_ids(conn, &[id])?
                .iter()
                .flat_map(|placed| {
                    stored_variants(&placed.image).map(|variant| key_of(placed, variant))
                })
                .any(|key| key.is_ok_and(|key| key.as_str() == stray.name));
            if live {
                return Ok(Err("its image's row appeared meanwhile"));
            }
        }
        // Still under the locks, so nothing of Atelier's writes it while we look.
        remove_if_old(storage, &stray.name, grace)
    })
}

/// Removes `name` if it is still at least `min_age` old.
fn remove_if_old(
    storage: &Storage,
    name: &str,
    min_age: Duration,
) -> Result<Result<(), &'static str>, AppError> {
    match storage.modified(name)? {
        None => Ok(Err("it was gone already")),
        Some(modified) if age(modified, SystemTime::now()) < min_age => {
            Ok(Err("it was written again meanwhile"))
        }
        Some(_) => {
            storage.remove_listed(name)?;
            Ok(Ok(()))
        }
    }
}
