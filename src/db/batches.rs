//! Changing many rows a bounded batch at a time, each batch its own short transaction:
//! how retention (`purge-ips`) and housekeeping (expired sessions, old login failures and
//! uses) touch rows by the million without holding a lock for long or writing one burst of
//! WAL that every other commit waits behind.

use std::time::Instant;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

/// How many rows one batch touches: short enough that an upload or generation waiting on
/// a row it locked (a network's rollup row) waits a moment.
pub const BATCH: i64 = 500;

/// What a batch does to the rows it picks.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    Delete,
    /// `UPDATE … SET` this (SQL over constants).
    Set(&'static str),
}

/// Applies `change` to every row of `table` that `which` picks (SQL over constants, `$1`
/// the cutoff, ordered as an index is so each batch starts where the last one ended),
/// [`BATCH`] rows per transaction until none is left; `after_each` hears how many rows
/// each batch changed. Returns how many it changed in all.
///
/// After each batch it rests as long as the batch took, so it never takes more than half
/// of the disk: a batch's WAL and the pages it dirties are what every other commit's fsync
/// waits behind. Twice as long a purge is the price of uploads that do not notice it.
pub fn change_in_batches(
    conn: &mut PgConnection,
    table: &str,
    change: Change,
    which: &str,
    cutoff: DateTime<Utc>,
    mut after_each: impl FnMut(usize),
) -> QueryResult<usize> {
    let rows = format!("SELECT ctid FROM {table} WHERE {which} LIMIT {BATCH}");
    let statement = match change {
        Change::Set(set) => format!("UPDATE {table} SET {set} WHERE ctid = ANY (ARRAY({rows}))"),
        Change::Delete => format!("DELETE FROM {table} WHERE ctid = ANY (ARRAY({rows}))"),
    };
    let mut total = 0;
    loop {
        let started = Instant::now();
        let done = conn.transaction(|conn| {
            diesel::sql_query(&statement)
                .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
                .execute(conn)
        })?;
        total += done;
        after_each(done);
        if (done as i64) < BATCH {
            return Ok(total);
        }
        std::thread::sleep(started.elapsed());
    }
}
