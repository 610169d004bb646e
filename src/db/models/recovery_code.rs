//! The `recovery_codes` table: one-time codes that stand in for an authenticator app,
//! stored as digests; a used one stays, marked used.

use chrono::Utc;
use diesel::prelude::*;

use crate::db::schema::recovery_codes;

/// Replaces the account's codes with these digests (none: all gone).
pub fn replace(conn: &mut PgConnection, user_id: i64, digests: &[Vec<u8>]) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    let rows: Vec<_> = digests
        .iter()
        .map(|digest| {
            (
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(digest),
            )
        })
        .collect();
    diesel::insert_into(recovery_codes::table)
        .values(rows)
        .execute(conn)?;
    Ok(())
}

/// Uses the unused code with this digest; whether there was one.
pub fn take(conn: &mut PgConnection, user_id: i64, digest: &[u8]) -> QueryResult<bool> {
    let used = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(digest))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(Utc::now()))
    .execute(conn)?;
    Ok(used > 0)
}

pub fn left(conn: &mut PgConnection, user_id: i64) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}
