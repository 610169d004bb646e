//! The `sessions` table behind actix-session (see `web::auth::session_store`). Keys arrive here
//! already hashed.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ipnetwork::IpNetwork;

use crate::db::batches::{Change, change_in_batches};
use crate::db::schema::sessions;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct SessionRow {
    pub id: i64,
    pub user_id: Option<i64>,
    pub state: serde_json::Value,
    pub ip: Option<IpNetwork>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The columns written on every save: derived from the session state by the store.
#[derive(Debug, AsChangeset, Insertable)]
#[diesel(table_name = sessions)]
#[diesel(treat_none_as_null = true)]
pub struct SessionWrite {
    pub user_id: Option<i64>,
    pub state: serde_json::Value,
    pub ip: Option<IpNetwork>,
    pub user_agent: Option<String>,
    pub expires_at: DateTime<Utc>,
}

impl SessionRow {
    /// The live (unexpired) session with this key hash.
    pub fn find_live(conn: &mut PgConnection, key_hash: &[u8]) -> QueryResult<Option<SessionRow>> {
        sessions::table
            .filter(sessions::key_hash.eq(key_hash))
            .filter(sessions::expires_at.gt(Utc::now()))
            .select(SessionRow::as_select())
            .first(conn)
            .optional()
    }

    pub fn insert(
        conn: &mut PgConnection,
        key_hash: &[u8],
        row: &SessionWrite,
    ) -> QueryResult<i64> {
        diesel::insert_into(sessions::table)
            .values((sessions::key_hash.eq(key_hash), row))
            .returning(sessions::id)
            .get_result(conn)
    }

    /// Rewrites a live session's state; `false` when it no longer exists (revoked or expired).
    pub fn update(
        conn: &mut PgConnection,
        key_hash: &[u8],
        row: &SessionWrite,
    ) -> QueryResult<bool> {
        let updated = diesel::update(
            sessions::table
                .filter(sessions::key_hash.eq(key_hash))
                .filter(sessions::expires_at.gt(Utc::now())),
        )
        .set((row, sessions::last_seen_at.eq(Utc::now())))
        .execute(conn)?;
        Ok(updated > 0)
    }

    pub fn extend(
        conn: &mut PgConnection,
        key_hash: &[u8],
        expires_at: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::update(sessions::table.filter(sessions::key_hash.eq(key_hash)))
            .set((
                sessions::expires_at.eq(expires_at),
                sessions::last_seen_at.eq(Utc::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn touch(conn: &mut PgConnection, id: i64) -> QueryResult<()> {
        diesel::update(sessions::table.find(id))
            .set(sessions::last_seen_at.eq(Utc::now()))
            .execute(conn)?;
        Ok(())
    }

    pub fn delete_by_key(conn: &mut PgConnection, key_hash: &[u8]) -> QueryResult<()> {
        diesel::delete(sessions::table.filter(sessions::key_hash.eq(key_hash))).execute(conn)?;
        Ok(())
    }

    /// The user's live sessions, most recently used first.
    pub fn list_for_user(conn: &mut PgConnection, user_id: i64) -> QueryResult<Vec<SessionRow>> {
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::expires_at.gt(Utc::now()))
            .order(sessions::last_seen_at.desc())
            .select(SessionRow::as_select())
            .load(conn)
    }

    /// Ends one of the user's sessions; `false` when it was not theirs or is gone.
    pub fn revoke(conn: &mut PgConnection, user_id: i64, id: i64) -> QueryResult<bool> {
        let deleted = diesel::delete(
            sessions::table
                .filter(sessions::id.eq(id))
                .filter(sessions::user_id.eq(user_id)),
        )
        .execute(conn)?;
        Ok(deleted > 0)
    }

    /// Ends every session of the user except `keep` (the one making the request).
    pub fn revoke_others(
        conn: &mut PgConnection,
        user_id: i64,
        keep: Option<i64>,
    ) -> QueryResult<usize> {
        // -1 never matches a row id: with no session to keep, every session ends.
        let keep = keep.unwrap_or(-1);
        diesel::delete(
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::id.ne(keep)),
        )
        .execute(conn)
    }

    pub fn purge_expired(conn: &mut PgConnection) -> QueryResult<usize> {
        change_in_batches(
            conn,
            "sessions",
            Change::Delete,
            "expires_at <= $1 ORDER BY expires_at",
            Utc::now(),
            |_| {},
        )
    }
}
