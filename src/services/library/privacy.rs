//! What Atelier keeps about people, and how they get it back or get rid of it: erasing
//! client IPs older than the retention everywhere they are stored (the rows stay, so the
//! counts do), and a user's export (their images and a JSON record of everything about
//! them). Blocking: call inside `Db::run` or `web::block`.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::base::error::AppError;
use crate::db::batches::{Change, change_in_batches};
use crate::db::models::listing::ImageFilter;
use crate::db::models::{Folder, Image, SessionRow, User, api_token};
use crate::services::library::Library;
use crate::services::quota::credits;

/// How many rows lost their IP, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    pub images: usize,
    pub jobs: usize,
    pub sessions: usize,
    pub usage_events: usize,
    pub audit: usize,
    /// Bookkeeping rows that only exist for an address (login failures, free-image
    /// counters): deleted rather than emptied.
    pub deleted_counters: usize,
}

impl Purged {
    pub fn total(&self) -> usize {
        self.images
            + self.jobs
            + self.sessions
            + self.usage_events
            + self.audit
            + self.deleted_counters
    }
}

/// One kind of record that keeps an address: its table, what erasing does to it (rows
/// that only exist for the address are deleted), and which rows are old (`$1` is the
/// cutoff) in the order batches take them, each the order of an index. Pictures' and
/// counted jobs' origins go in address order: a batch then touches the rollup rows of a few
/// networks once, rather than the same /24 and /16 rows again in every batch (2.5× less
/// WAL per row). Tag jobs, counted nowhere, go by date.
struct PurgeStep {
    table: &'static str,
    change: Change,
    old: &'static str,
    /// Where the rows it touched are counted.
    tally: fn(&mut Purged) -> &mut usize,
}

const PURGE_STEPS: [PurgeStep; 8] = [
    PurgeStep {
        table: "image_origins",
        change: Change::Delete,
        old: "created_at < $1 ORDER BY client_ip",
        tally: |p| &mut p.images,
    },
    PurgeStep {
        table: "job_origins",
        change: Change::Delete,
        old: "created_at < $1 AND NOT tagging ORDER BY client_ip",
        tally: |p| &mut p.jobs,
    },
    PurgeStep {
        table: "job_origins",
        change: Change::Delete,
        old: "created_at < $1 AND tagging ORDER BY created_at",
        tally: |p| &mut p.jobs,
    },
    PurgeStep {
        table: "sessions",
        change: Change::Set("ip = NULL"),
        old: "created_at < $1 AND ip IS NOT NULL",
        tally: |p| &mut p.sessions,
    },
    PurgeStep {
        table: "usage_events",
        change: Change::Set("ip_key = NULL, client_ip = NULL"),
        old: "at < $1 AND (ip_key IS NOT NULL OR client_ip IS NOT NULL) ORDER BY at",
        tally: |p| &mut p.usage_events,
    },
    PurgeStep {
        table: "admin_audit",
        change: Change::Set("ip = NULL"),
        old: "at < $1 AND ip IS NOT NULL",
        tally: |p| &mut p.audit,
    },
    PurgeStep {
        table: "login_failures",
        change: Change::Delete,
        old: "at < $1 ORDER BY at",
        tally: |p| &mut p.deleted_counters,
    },
    PurgeStep {
        table: "free_image_allowances",
        change: Change::Delete,
        old: "updated_at < $1",
        tally: |p| &mut p.deleted_counters,
    },
];

/// Erases every client IP recorded before `before`, in batches (never one long lock over a
/// table; see [`change_in_batches`]); `progress` hears the running totals after every
/// batch. Rollups follow in each batch's transaction.
pub fn purge_ips(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
    mut progress: impl FnMut(&Purged),
) -> QueryResult<Purged> {
    let mut purged = Purged::default();
    for step in &PURGE_STEPS {
        change_in_batches(conn, step.table, step.change, step.old, before, |done| {
            *(step.tally)(&mut purged) += done;
            progress(&purged);
        })?;
    }
    Ok(purged)
}

/// What an export holds, read from the database in one go: the images to copy and the
/// JSON record. The files are read afterwards by [`write_export`], without a connection.
pub struct ExportPlan {
    images: Vec<(crate::db::models::PlacedImage, String)>,
    record: serde_json::Value,
}

/// Reads everything about `user` for the export: every image, those in the trash too (to
/// be stored under `images/{folder}/`), and the profile, images (prompts and client IPs included), folders,
/// credit ledger, sessions and API tokens for `atelier-export.json`.
pub fn plan_export(conn: &mut PgConnection, user: &User) -> Result<ExportPlan, AppError> {
    let mut images = Vec::new();
    let mut listed = Vec::new();
    let (mut offset, mut trash_offset) = (0, 0);
    loop {
        let mut page = Image::list_for_user(conn, user.id, &ImageFilter::default(), offset, 500)?;
        offset += page.items.len() as i64;
        if page.items.is_empty() {
            page = Image::trash_page(conn, user.id, trash_offset, 500)?;
            trash_offset += page.items.len() as i64;
        }
        if page.items.is_empty() {
            break;
        }
        let ids: Vec<i64> = page.items.iter().map(|placed| placed.image.id).collect();
        let origins = Image::origins(conn, &ids)?;
        for placed in page.items {
            let name = format!(
                "images/{}/{}.{}",
                placed.folder_slug, placed.image.stem, placed.image.original_ext
            );
            let image = &placed.image;
            listed.push(serde_json::json!({
                "id": image.id,
                "file": name,
                "folder": placed.folder_name,
                "kind": image.kind,
                "media": if image.is_video() { "video" } else { "image" },
                "seconds": image.duration_ms.map(|ms| f64::from(ms) / 1000.0),
                "title": image.title,
                "tags": image.tags,
                "width": image.width,
                "height": image.height,
                "prompt": image.prompt,
                "model": image.model,
                "provider": image.provider,
                "seed": image.seed,
                "credits_used": image.credits_used,
                "free": image.free,
                "client_ip": origins.get(&image.id).map(|ip| ip.ip().to_string()),
                "shared": image.share_token_hash.is_some(),
                "in_trash_since": image.trashed_at.map(|at| at.to_rfc3339()),
                "created": image.created_at.to_rfc3339(),
            }));
            images.push((placed, name));
        }
    }
    let folders: Vec<_> = Folder::list(conn, user.id)?
        .into_iter()
        .map(|folder| serde_json::json!({ "name": folder.name, "slug": folder.slug, "images": folder.image_count }))
        .collect();
    let ledger = credits::ledger(conn, user.id, i64::MAX)?;
    let sessions: Vec<_> = SessionRow::list_for_user(conn, user.id)?
        .into_iter()
        .map(|row| {
            serde_json::json!({
                "started": row.created_at.to_rfc3339(),
                "last_seen": row.last_seen_at.to_rfc3339(),
                "ip": row.ip.map(|ip| ip.ip().to_string()),
                "user_agent": row.user_agent,
            })
        })
        .collect();
    let tokens: Vec<_> = api_token::list_for_user(conn, user.id)?
        .into_iter()
        .map(|token| {
            serde_json::json!({
                "name": token.name,
                "created": token.created_at.to_rfc3339(),
                "last_used": token.last_used_at.map(|at| at.to_rfc3339()),
            })
        })
        .collect();
    let record = serde_json::json!({
        "exported_at": Utc::now().to_rfc3339(),
        "profile": {
            "username": user.username,
            "email": user.email,
            "role": user.role,
            "tier": user.tier,
            "credits": user.credits,
            "created": user.created_at.to_rfc3339(),
        },
        "folders": folders,
        "images": listed,
        "ledger": ledger,
        "sessions": sessions,
        "api_tokens": tokens,
    });
    Ok(ExportPlan { images, record })
}

/// Writes the planned export into `file` (a zip) and rewinds it. Reads the files only: call
/// it off the executor, with no database connection held.
pub fn write_export(library: &Library, plan: &ExportPlan, file: &mut File) -> Result<(), AppError> {
    use zip::write::SimpleFileOptions;
    // Images are compressed already; storing keeps the export fast.
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut zip = zip::ZipWriter::new(&mut *file);
    for (placed, name) in &plan.images {
        let bytes = match library.read(placed, crate::storage::Variant::Original) {
            Ok(bytes) => bytes,
            // Deleted since the plan was read: leave it out.
            Err(crate::storage::StoreError::NotFound) => continue,
            Err(err) => return Err(err.into()),
        };
        let dated = options.last_modified_time(zip_time(placed.image.created_at));
        zip.start_file(name.as_str(), dated)
            .map_err(AppError::internal)?;
        zip.write_all(&bytes).map_err(AppError::internal)?;
    }
    let json = serde_json::to_vec_pretty(&plan.record).map_err(AppError::internal)?;
    let dated = options.last_modified_time(zip_time(chrono::Utc::now()));
    zip.start_file("atelier-export.json", dated)
        .map_err(AppError::internal)?;
    zip.write_all(&json).map_err(AppError::internal)?;
    zip.finish().map_err(AppError::internal)?;
    file.flush().map_err(AppError::internal)?;
    file.seek(SeekFrom::Start(0)).map_err(AppError::internal)?;
    Ok(())
}

/// A moment as a zip entry's date (zip dates are local-time-less and 1980–2107; outside
/// that, the format's earliest date).
fn zip_time(at: chrono::DateTime<chrono::Utc>) -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    let part = |value: u32| u8::try_from(value).unwrap_or(0);
    zip::DateTime::from_date_and_time(
        u16::try_from(at.year()).unwrap_or(1980),
        part(at.month()),
        part(at.day()),
        part(at.hour()),
        part(at.minute()),
        part(at.second()),
    )
    .unwrap_or_default()
}

/// The accounts whose export this instance is building: one at a time per account, since
/// each reads every file the account has.
#[derive(Clone, Default)]
pub struct ExportsInProgress(std::sync::Arc<std::sync::Mutex<std::collections::HashSet<i64>>>);

/// Held while an account's export is built; dropping it lets the next one start.
pub struct ExportTurn {
    exports: ExportsInProgress,
    user_id: i64,
}

impl ExportsInProgress {
    /// The account's turn, or `None` while another export of it is being built.
    pub fn begin(&self, user_id: i64) -> Option<ExportTurn> {
        let mut running = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        running.insert(user_id).then(|| ExportTurn {
            exports: self.clone(),
            user_id,
        })
    }
}

impl Drop for ExportTurn {
    fn drop(&mut self) {
        self.exports
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&self.user_id);
    }
}

/// An unnamed temporary file in `dir` (gone when closed, even after a crash).
pub fn scratch_file(dir: &Path) -> Result<File, AppError> {
    crate::storage::create_private_dir(dir).map_err(AppError::internal)?;
    tempfile::tempfile_in(dir).map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::ExportsInProgress;

    #[test]
    fn one_export_at_a_time_per_account() {
        let exports = ExportsInProgress::default();
        let first = exports.begin(1).expect("first export starts");
        assert!(exports.begin(1).is_none(), "a second waits");
        assert!(exports.begin(2).is_some(), "other accounts are not held up");
        drop(first);
        assert!(
            exports.begin(1).is_some(),
            "the next may start once it is done"
        );
    }
}
