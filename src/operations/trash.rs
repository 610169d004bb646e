//! The trash: what its owner does there (restore pictures, remove some for good, empty
//! it) and the expiry the periodic clean-up runs. Putting a picture in is a delete
//! (`images::delete`, a bulk delete, a folder deleted with its pictures).

use chrono::{DateTime, Utc};
use diesel::PgConnection;

use crate::base::error::AppError;
use crate::db::models::Image;
use crate::services::library::Library;

/// Takes these of the owner's pictures out of the trash; how many came back.
pub fn restore(
    conn: &mut PgConnection,
    library: &Library,
    owner: i64,
    ids: &[i64],
) -> Result<usize, AppError> {
    let mut restored = 0;
    for id in ids {
        restored += usize::from(library.restore(conn, owner, *id)?);
    }
    Ok(restored)
}

/// Removes these of the owner's trashed pictures for good, files and all; how many went.
pub fn remove(
    conn: &mut PgConnection,
    library: &Library,
    owner: i64,
    ids: &[i64],
) -> Result<usize, AppError> {
    let mut removed = 0;
    for placed in Image::placed_by_ids(conn, ids)? {
        if placed.image.user_id == owner && placed.image.is_trashed() {
            library.delete(conn, &placed)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Empties the owner's trash; how many pictures went.
pub fn empty(conn: &mut PgConnection, library: &Library, owner: i64) -> Result<usize, AppError> {
    library.purge_trash(conn, Some(owner), Utc::now())
}

/// Removes every picture that has been in a trash since before `before`.
pub fn expire(
    conn: &mut PgConnection,
    library: &Library,
    before: DateTime<Utc>,
) -> Result<usize, AppError> {
    library.purge_trash(conn, None, before)
}
