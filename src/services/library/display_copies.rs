//! Display copies for pictures stored before they existed: `atelier display-copies` makes
//! them in batches, oldest first, each picture under its row lock so an edit or a delete
//! running meanwhile is never undone. Pages show the working copy until a picture has its
//! copy, so the command can run beside a live server, and again after an interruption.

use diesel::{Connection, PgConnection};

use crate::base::error::AppError;
use crate::db::models::Image;
use crate::services::library::{key_of, new_key};
use crate::storage::budget::DecodeBudget;
use crate::storage::imaging;
use crate::storage::{Storage, Variant};

/// Pictures looked up at a time.
const BATCH: i64 = 100;

/// What a run did.
#[derive(Debug, Default)]
pub struct Backfilled {
    pub made: u64,
    pub bytes: u64,
    /// Pictures whose working copy could not be read or decoded: (image id, why).
    pub failed: Vec<(i64, String)>,
}

/// Makes every missing display copy; `progress` hears after each batch.
pub fn backfill(
    conn: &mut PgConnection,
    storage: &Storage,
    max_pixels: u64,
    budget: &DecodeBudget,
    mut progress: impl FnMut(&Backfilled),
) -> Result<Backfilled, AppError> {
    let mut done = Backfilled::default();
    let mut after = 0;
    loop {
        let ids = Image::missing_display_copy(conn, after, BATCH)?;
        let Some(&last) = ids.last() else {
            return Ok(done);
        };
        for id in ids {
            match make_one(conn, storage, max_pixels, budget, id)? {
                Ok(Some(bytes)) => {
                    done.made += 1;
                    done.bytes += bytes;
                }
                Ok(None) => {}
                Err(why) => done.failed.push((id, why)),
            }
        }
        after = last;
        progress(&done);
    }
}

/// One picture's copy, under its row lock: `Ok(None)` when it is gone or has one already.
fn make_one(
    conn: &mut PgConnection,
    storage: &Storage,
    max_pixels: u64,
    budget: &DecodeBudget,
    id: i64,
) -> Result<Result<Option<u64>, String>, AppError> {
    conn.transaction(|conn| {
        if !Image::lock(conn, id)? {
            return Ok(Ok(None));
        }
        let Some(placed) = Image::find_placed(conn, id)? else {
            return Ok(Ok(None));
        };
        if placed.image.display_ext.is_some() || placed.image.is_video() {
            return Ok(Ok(None));
        }
        let working = match storage.get(&key_of(&placed, Variant::Original)?) {
            Ok(bytes) => bytes,
            Err(err) => return Ok(Err(format!("its working copy could not be read: {err}"))),
        };
        let display = match imaging::display_copy(&working, max_pixels, budget) {
            Ok(display) => display,
            Err(problem) => return Ok(Err(problem.message())),
        };
        let key = new_key(&placed, Variant::Display, display.format.ext())?;
        storage.put(&key, &display.bytes)?;
        let bytes = display.bytes.len() as i64;
        Image::set_display_copy(conn, id, display.format.ext(), bytes)?;
        Ok(Ok(Some(bytes as u64)))
    })
}
