//! The `api_tokens` table: personal tokens that let scripts use the JSON API and the image
//! proxy without a session cookie. Only SHA-256 digests are stored.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::db::schema::api_tokens;

/// Tokens start with this, so a leaked one is recognisable (and greppable in logs).
pub const PREFIX: &str = "atl_";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub token_hash: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Makes a token for `user_id`; returns it (the only time it exists in clear) and its row.
pub fn create(
    conn: &mut PgConnection,
    user_id: i64,
    name: &str,
) -> Result<(String, ApiToken), crate::error::AppError> {
    let token = format!(
        "{PREFIX}{}",
        crate::domain::tokens::random_hex(32).map_err(crate::error::AppError::internal)?
    );
    let row = diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::user_id.eq(user_id),
            api_tokens::name.eq(name),
            api_tokens::token_hash.eq(crate::domain::tokens::digest(&token)),
        ))
        .returning(ApiToken::as_returning())
        .get_result(conn)?;
    Ok((token, row))
}

/// The owner of a presented token, noting when it was last used (at most once a minute).
pub fn user_of(conn: &mut PgConnection, token: &str) -> QueryResult<Option<i64>> {
    if !token.starts_with(PREFIX) {
        return Ok(None);
    }
    let hash = crate::domain::tokens::digest(token);
    let found: Option<(i64, i64, Option<DateTime<Utc>>)> = api_tokens::table
        .filter(api_tokens::token_hash.eq(&hash))
        .select((
            api_tokens::id,
            api_tokens::user_id,
            api_tokens::last_used_at,
        ))
        .first(conn)
        .optional()?;
    let Some((id, user_id, last_used)) = found else {
        return Ok(None);
    };
    let now = Utc::now();
    if last_used.is_none_or(|at| now - at > Duration::minutes(1)) {
        diesel::update(api_tokens::table.find(id))
            .set(api_tokens::last_used_at.eq(now))
            .execute(conn)?;
    }
    Ok(Some(user_id))
}

pub fn list_for_user(conn: &mut PgConnection, user_id: i64) -> QueryResult<Vec<ApiToken>> {
    api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .order(api_tokens::created_at.desc())
        .select(ApiToken::as_select())
        .load(conn)
}

/// Deletes one of the user's tokens; `false` when it is not theirs.
pub fn revoke(conn: &mut PgConnection, user_id: i64, id: i64) -> QueryResult<bool> {
    let deleted = diesel::delete(
        api_tokens::table
            .filter(api_tokens::id.eq(id))
            .filter(api_tokens::user_id.eq(user_id)),
    )
    .execute(conn)?;
    Ok(deleted == 1)
}

/// Deletes every token of the user (a password change ends them, as it ends sessions).
pub fn revoke_all(conn: &mut PgConnection, user_id: i64) -> QueryResult<usize> {
    diesel::delete(api_tokens::table.filter(api_tokens::user_id.eq(user_id))).execute(conn)
}
