//! What one account may keep and how fast it may add to it: a storage quota (bytes of
//! stored files, all variants) and a rolling hourly upload rate. The check runs inside the
//! transaction that inserts the upload's row, under a per-account advisory lock, so
//! parallel uploads cannot pass either limit together. Blocking: call inside `Db::run`.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::base::error::AppError;
use crate::db::advisory_lock;
use crate::db::models::Image;
use crate::db::schema::images;
use crate::domain::ImageKind;

/// The limits, from the settings (0: none).
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub storage_bytes: u64,
    pub uploads_per_hour: u32,
}

impl UploadLimits {
    pub fn of(settings: &crate::base::config::Settings) -> Self {
        UploadLimits {
            storage_bytes: settings.user_storage_bytes,
            uploads_per_hour: settings.uploads_per_hour,
        }
    }
}

/// Where an account stands against [`UploadLimits`], for the dashboard and the check.
#[derive(Debug, Clone, Copy, Default)]
pub struct UploadStanding {
    pub stored_bytes: u64,
    pub uploads_last_hour: u32,
    /// When the oldest upload of the last hour leaves the window.
    pub next_frees_at: Option<DateTime<Utc>>,
}

pub fn standing(conn: &mut PgConnection, user_id: i64) -> QueryResult<UploadStanding> {
    let (_, bytes) = Image::usage_for_user(conn, user_id)?;
    let (uploads_last_hour, oldest) = recent_uploads(conn, user_id)?;
    Ok(UploadStanding {
        stored_bytes: u64::try_from(bytes).unwrap_or(0),
        uploads_last_hour,
        next_frees_at: oldest.map(|at| at + Duration::hours(1)),
    })
}

/// The account's uploads that count against the hourly rate: those of the last hour. One
/// definition for the limit ([`recent_uploads`]) and the dashboard (beside the balance).
#[diesel::dsl::auto_type]
pub fn uploads_of_last_hour(user_id: i64) -> _ {
    let upload: ImageKind = ImageKind::Upload;
    let since: DateTime<Utc> = Utc::now() - Duration::hours(1);
    images::table
        .filter(images::user_id.eq(user_id))
        .filter(images::kind.eq(upload))
        .filter(images::created_at.gt(since))
}

/// The account's uploads of the last hour: how many, and when the oldest was made.
pub fn recent_uploads(
    conn: &mut PgConnection,
    user_id: i64,
) -> QueryResult<(u32, Option<DateTime<Utc>>)> {
    let (count, oldest): (i64, Option<DateTime<Utc>>) = uploads_of_last_hour(user_id)
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(images::created_at),
        ))
        .first(conn)?;
    Ok((u32::try_from(count).unwrap_or(u32::MAX), oldest))
}

/// Refuses an upload of `new_bytes` (all variants) that would pass a limit. Takes the
/// account's lock, held until the caller's transaction ends: call it in the transaction
/// that stores the upload.
pub fn check_upload(
    conn: &mut PgConnection,
    user_id: i64,
    new_bytes: u64,
    limits: UploadLimits,
) -> Result<(), AppError> {
    advisory_lock(conn, &format!("uploads:{user_id}"))?;
    let standing = standing(conn, user_id)?;
    if limits.uploads_per_hour > 0 && standing.uploads_last_hour >= limits.uploads_per_hour {
        let retry_after_secs = standing
            .next_frees_at
            .map_or(60, |at| (at - Utc::now()).num_seconds().max(1))
            .unsigned_abs();
        return Err(AppError::TooManyRequests {
            message: format!(
                "You have uploaded {} images in the last hour, the most allowed. The next \
                 upload is possible in {} minutes.",
                limits.uploads_per_hour,
                retry_after_secs.div_ceil(60)
            ),
            retry_after_secs,
            limit: Some(u64::from(limits.uploads_per_hour)),
        });
    }
    if limits.storage_bytes > 0 && standing.stored_bytes + new_bytes > limits.storage_bytes {
        return Err(AppError::PayloadTooLarge(format!(
            "Your storage is full: {} of {} used, and this image needs {}. Delete some \
             images to make room.",
            mib(standing.stored_bytes),
            mib(limits.storage_bytes),
            mib(new_bytes)
        )));
    }
    Ok(())
}

/// Refuses new work (a generation) when the account's storage is already full.
pub fn check_room(
    conn: &mut PgConnection,
    user_id: i64,
    limits: UploadLimits,
) -> Result<(), AppError> {
    if limits.storage_bytes == 0 {
        return Ok(());
    }
    let stored = standing(conn, user_id)?.stored_bytes;
    if stored >= limits.storage_bytes {
        return Err(AppError::PayloadTooLarge(format!(
            "Your storage is full ({} of {} used). Delete some images to make room.",
            mib(stored),
            mib(limits.storage_bytes)
        )));
    }
    Ok(())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
