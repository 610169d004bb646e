//! The `email_verifications` table: one-time links that confirm an address belongs to its
//! account, stored as a digest of their token, each with the address it was sent to.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::email_verifications;

pub fn create(
    conn: &mut PgConnection,
    token_hash: &[u8],
    user_id: i64,
    email: &str,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(email_verifications::table)
        .values((
            email_verifications::token_hash.eq(token_hash),
            email_verifications::user_id.eq(user_id),
            email_verifications::email.eq(email),
            email_verifications::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Uses a live link: its account and address, or `None` (unknown, used or expired).
pub fn take(conn: &mut PgConnection, token_hash: &[u8]) -> QueryResult<Option<(i64, String)>> {
    diesel::update(
        email_verifications::table
            .find(token_hash)
            .filter(email_verifications::used_at.is_null())
            .filter(email_verifications::expires_at.gt(Utc::now())),
    )
    .set(email_verifications::used_at.eq(Utc::now()))
    .returning((email_verifications::user_id, email_verifications::email))
    .get_result(conn)
    .optional()
}
