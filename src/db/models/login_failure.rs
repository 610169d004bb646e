//! The `login_failures` table: failed (and in-flight) login attempts, counted per client-IP
//! key and per account over a rolling window.
//!
//! An attempt is recorded *before* the password is checked, inside a transaction holding
//! advisory locks on both keys, so parallel guesses cannot slip past the limit while bcrypt
//! runs; a successful login deletes its own row and the account's earlier failures.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use ipnetwork::IpNetwork;

use crate::db::advisory_lock as lock;
use crate::db::batches::{Change, change_in_batches};
use crate::db::schema::login_failures;
use crate::domain::rolling_window::retry_after;

/// The limit is reached; the earliest moment one more attempt would count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after_secs: u64,
}

/// Records an attempt unless the IP key or the account already has `limit` attempts in
/// `window`. Returns the attempt's id, to delete if the password turns out right.
pub fn check_and_record(
    conn: &mut PgConnection,
    ip_key: IpNetwork,
    account_key: &str,
    limit: u32,
    window: Duration,
) -> QueryResult<Result<i64, Throttled>> {
    conn.transaction(|conn| {
        // Always IP first, then account: a fixed order cannot deadlock.
        lock(conn, &format!("login-ip:{ip_key}"))?;
        lock(conn, &format!("login-account:{account_key}"))?;
        let now = Utc::now();
        let since = now - window;
        let by_ip: Vec<DateTime<Utc>> = login_failures::table
            .filter(login_failures::ip_key.eq(ip_key))
            .filter(login_failures::at.gt(since))
            .select(login_failures::at)
            .order(login_failures::at.asc())
            .load(conn)?;
        let by_account: Vec<DateTime<Utc>> = login_failures::table
            .filter(login_failures::account_key.eq(account_key))
            .filter(login_failures::at.gt(since))
            .select(login_failures::at)
            .order(login_failures::at.asc())
            .load(conn)?;
        let wait = [&by_ip, &by_account]
            .into_iter()
            .filter_map(|times| retry_after(times, limit, window, now))
            .max();
        if let Some(retry_after_secs) = wait {
            return Ok(Err(Throttled { retry_after_secs }));
        }
        let id = diesel::insert_into(login_failures::table)
            .values((
                login_failures::ip_key.eq(ip_key),
                login_failures::account_key.eq(account_key),
                login_failures::at.eq(now),
            ))
            .returning(login_failures::id)
            .get_result(conn)?;
        Ok(Ok(id))
    })
}

/// After a successful login: forget this attempt and the account's earlier failures.
pub fn clear_after_success(
    conn: &mut PgConnection,
    attempt: i64,
    account_key: &str,
) -> QueryResult<()> {
    diesel::delete(
        login_failures::table.filter(
            login_failures::id
                .eq(attempt)
                .or(login_failures::account_key.eq(account_key)),
        ),
    )
    .execute(conn)?;
    Ok(())
}

/// Deletes attempts older than the window.
pub fn prune(conn: &mut PgConnection, window: Duration) -> QueryResult<usize> {
    change_in_batches(
        conn,
        "login_failures",
        Change::Delete,
        "at <= $1 ORDER BY at",
        Utc::now() - window,
        |_| {},
    )
}
