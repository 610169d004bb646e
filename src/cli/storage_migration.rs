//! `atelier migrate-storage --to s3|local`: copies every stored file of every image from
//! one backend to the other and verifies each copy by reading it back, so an instance can
//! move between a local folder and a bucket. Idempotent: a file already there with the
//! same bytes is left alone, so an interrupted run is simply run again. The source is
//! never changed; once the run reports every file copied, switch `ATELIER_STORAGE` and
//! restart. One file in memory at a time. Blocking.

use diesel::PgConnection;

use crate::base::error::AppError;
use crate::db::models::Image;
use crate::services::library::{key_of, stored_variants};
use crate::storage::{Storage, StoreError};

/// What a run did.
#[derive(Debug, Default)]
pub struct Migrated {
    /// Files copied (and verified) by this run.
    pub copied: usize,
    /// Files the target already held, byte for byte.
    pub already_there: usize,
    pub bytes_copied: u64,
    /// Keys whose file the source does not have (`atelier doctor` reports these too).
    pub missing_in_source: Vec<String>,
}

/// Copies every image's files from `from` to `to`.
pub fn copy_all(
    conn: &mut PgConnection,
    from: &Storage,
    to: &Storage,
) -> Result<Migrated, AppError> {
    let mut migrated = Migrated::default();
    for owner in Image::owner_usernames(conn)? {
        for placed in Image::placed_for_username(conn, &owner)? {
            for variant in stored_variants(&placed.image) {
                let key = key_of(&placed, variant)?;
                let bytes = match from.get(&key) {
                    Ok(bytes) => bytes,
                    Err(StoreError::NotFound) => {
                        migrated.missing_in_source.push(key.to_string());
                        continue;
                    }
                    Err(err) => return Err(err.into()),
                };
                if to.size(&key)? == Some(bytes.len() as u64) && to.get(&key)? == bytes {
                    migrated.already_there += 1;
                    continue;
                }
                to.put(&key, &bytes)?;
                if to.get(&key)? != bytes {
                    return Err(AppError::internal(anyhow::anyhow!(
                        "{key} reads back different from what was written to {}",
                        to.describe()
                    )));
                }
                migrated.copied += 1;
                migrated.bytes_copied += bytes.len() as u64;
            }
        }
    }
    Ok(migrated)
}
