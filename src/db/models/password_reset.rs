//! The `password_resets` table: one-time links that set a new password, stored as a digest
//! of their token, each with its account, who made it and when it expires.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::password_resets;

pub fn create(
    conn: &mut PgConnection,
    token_hash: &[u8],
    user_id: i64,
    created_by: Option<i64>,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(password_resets::table)
        .values((
            password_resets::token_hash.eq(token_hash),
            password_resets::user_id.eq(user_id),
            password_resets::created_by.eq(created_by),
            password_resets::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The account a live (unused, unexpired) link is for, without using it.
pub fn live_account(conn: &mut PgConnection, token_hash: &[u8]) -> QueryResult<Option<i64>> {
    password_resets::table
        .find(token_hash)
        .filter(password_resets::used_at.is_null())
        .filter(password_resets::expires_at.gt(Utc::now()))
        .select(password_resets::user_id)
        .first(conn)
        .optional()
}

/// Uses a live link: the account it was for, or `None` when it is unknown, used or
/// expired. Of two requests racing with one link, one gets the account.
pub fn take(conn: &mut PgConnection, token_hash: &[u8]) -> QueryResult<Option<i64>> {
    diesel::update(
        password_resets::table
            .find(token_hash)
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(Utc::now())),
    )
    .set(password_resets::used_at.eq(Utc::now()))
    .returning(password_resets::user_id)
    .get_result(conn)
    .optional()
}

/// Ends every other live link of the account (a new password makes them pointless).
pub fn retire_all(conn: &mut PgConnection, user_id: i64) -> QueryResult<usize> {
    diesel::update(
        password_resets::table
            .filter(password_resets::user_id.eq(user_id))
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(Utc::now()))
    .execute(conn)
}
