//! The `invites` table: single-use invitations to register when `ATELIER_REGISTRATION` is
//! `invite`, made by admins, stored as a digest of their token, optionally for one email
//! address, with an expiry; a used one names who joined with it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::{invites, users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invites)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Invite {
    pub id: i64,
    pub token_hash: Vec<u8>,
    pub email: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub used_by: Option<i64>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Invite {
    /// Neither used, revoked nor expired.
    pub fn is_open(&self) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && self.expires_at > Utc::now()
    }
}

pub fn create(
    conn: &mut PgConnection,
    token_hash: &[u8],
    email: Option<&str>,
    created_by: i64,
    expires_at: DateTime<Utc>,
) -> QueryResult<Invite> {
    diesel::insert_into(invites::table)
        .values((
            invites::token_hash.eq(token_hash),
            invites::email.eq(email),
            invites::created_by.eq(created_by),
            invites::expires_at.eq(expires_at),
        ))
        .returning(Invite::as_returning())
        .get_result(conn)
}

/// The invite with this token digest, locked until the transaction ends (two
/// registrations with one invite take turns; the second finds it used).
pub fn lock_by_hash(conn: &mut PgConnection, token_hash: &[u8]) -> QueryResult<Option<Invite>> {
    invites::table
        .filter(invites::token_hash.eq(token_hash))
        .select(Invite::as_select())
        .for_update()
        .first(conn)
        .optional()
}

pub fn mark_used(conn: &mut PgConnection, id: i64, user_id: i64) -> QueryResult<()> {
    diesel::update(invites::table.find(id))
        .set((
            invites::used_at.eq(Utc::now()),
            invites::used_by.eq(user_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// Revokes an invite not yet used; `false` when there is no such open invite.
pub fn revoke(conn: &mut PgConnection, id: i64) -> QueryResult<bool> {
    let revoked = diesel::update(
        invites::table
            .find(id)
            .filter(invites::used_at.is_null())
            .filter(invites::revoked_at.is_null()),
    )
    .set(invites::revoked_at.eq(Utc::now()))
    .execute(conn)?;
    Ok(revoked == 1)
}

/// The newest invites with the name of whoever used each.
pub fn recent(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<(Invite, Option<String>)>> {
    invites::table
        .left_join(users::table.on(users::id.nullable().eq(invites::used_by)))
        .order((invites::created_at.desc(), invites::id.desc()))
        .limit(limit)
        .select((Invite::as_select(), users::username.nullable()))
        .load(conn)
}
