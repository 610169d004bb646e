//! The `api_tokens` table: personal tokens that let scripts use the JSON API and the image
//! proxy without a session cookie. Only SHA-256 digests are stored.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use ipnetwork::IpNetwork;

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
    /// [`TokenScope::as_str`].
    pub scope: String,
    pub last_used_ip: Option<IpNetwork>,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// Everything scripts can: the JSON API, the OpenAI-compatible API, the image proxy.
    Api,
    /// Only making and fetching pictures: `/v1/models`, `/v1/images/…`, ordering one
    /// (`/api/generate-image`), following its job and downloading through the proxy.
    Images,
}

impl TokenScope {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "api" => Some(TokenScope::Api),
            "images" => Some(TokenScope::Images),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Api => "api",
            TokenScope::Images => "images",
        }
    }

    /// Whether a request to `path` may use a token of this scope.
    pub fn allows(self, path: &str) -> bool {
        match self {
            TokenScope::Api => true,
            TokenScope::Images => {
                path == "/v1/models"
                    || path.starts_with("/v1/images/")
                    || path == "/api/generate-image"
                    || path.starts_with("/api/jobs/")
                    || path.starts_with("/media/")
            }
        }
    }
}

/// Whose a presented token is, and what it may do.
#[derive(Debug, Clone, Copy)]
pub struct TokenHolder {
    pub user_id: i64,
    pub scope: TokenScope,
}

/// Makes a token for `user_id`; returns it (the only time it exists in clear) and its row.
pub fn create(
    conn: &mut PgConnection,
    user_id: i64,
    name: &str,
    scope: TokenScope,
) -> Result<(String, ApiToken), crate::base::error::AppError> {
    let token = format!(
        "{PREFIX}{}",
        crate::domain::tokens::random_hex(32).map_err(crate::base::error::AppError::internal)?
    );
    let row = diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::user_id.eq(user_id),
            api_tokens::name.eq(name),
            api_tokens::token_hash.eq(crate::domain::tokens::digest(&token)),
            api_tokens::scope.eq(scope.as_str()),
        ))
        .returning(ApiToken::as_returning())
        .get_result(conn)?;
    Ok((token, row))
}

/// The holder of a presented token, noting when and from where it was last used (at most
/// once a minute, or at once from another address).
pub fn holder_of(
    conn: &mut PgConnection,
    token: &str,
    from: IpNetwork,
) -> QueryResult<Option<TokenHolder>> {
    if !token.starts_with(PREFIX) {
        return Ok(None);
    }
    let hash = crate::domain::tokens::digest(token);
    let Some(found) = api_tokens::table
        .filter(api_tokens::token_hash.eq(&hash))
        .select(ApiToken::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let now = Utc::now();
    let stale = found
        .last_used_at
        .is_none_or(|at| now - at > Duration::minutes(1));
    if stale || found.last_used_ip != Some(from) {
        diesel::update(api_tokens::table.find(found.id))
            .set((
                api_tokens::last_used_at.eq(now),
                api_tokens::last_used_ip.eq(from),
            ))
            .execute(conn)?;
    }
    Ok(Some(TokenHolder {
        user_id: found.user_id,
        // An unknown scope (a newer version's) gets the narrowest.
        scope: TokenScope::parse(&found.scope).unwrap_or(TokenScope::Images),
    }))
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
