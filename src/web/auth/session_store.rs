//! actix-session's `SessionStore` over PostgreSQL.
//!
//! The cookie carries 256 random bits (and is encrypted by actix-session on top); the table
//! keeps only their SHA-256. Because the state lives here, logging out or revoking really
//! ends a session (a copied cookie stops working), the account page can list sessions, and
//! several server instances share them. `load` adds the row id to the state under
//! `keys::SESSION_ID` so handlers know which session is "this one".

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use chrono::{Duration, Utc};

use super::{AuthCache, keys};
use crate::base::error::AppError;
use crate::db::Db;
use crate::db::models::SessionRow;
use crate::db::models::session::SessionWrite;

type State = HashMap<String, String>;

/// How stale `last_seen_at` may get before a request refreshes it (one write a minute at
/// most per session, not one per request).
const LAST_SEEN_RESOLUTION_SECS: i64 = 60;

#[derive(Clone)]
pub struct PgSessionStore {
    db: Db,
    cache: AuthCache,
}

impl PgSessionStore {
    pub fn new(db: Db, cache: AuthCache) -> Self {
        PgSessionStore { db, cache }
    }
}

use crate::domain::tokens;

fn hash_key(key: &str) -> Vec<u8> {
    tokens::digest(key)
}

fn expiry(ttl: &CookieDuration) -> chrono::DateTime<Utc> {
    Utc::now() + Duration::seconds(ttl.whole_seconds())
}

/// The row columns derived from the state; the state itself is stored without `_sid`.
fn to_row(mut state: State, ttl: &CookieDuration) -> SessionWrite {
    state.remove(keys::SESSION_ID);
    let text = |state: &State, key: &str| {
        state
            .get(key)
            .and_then(|raw| serde_json::from_str::<String>(raw).ok())
    };
    SessionWrite {
        user_id: state.get(keys::USER_ID).and_then(|raw| raw.parse().ok()),
        ip: text(&state, keys::IP).and_then(|ip| ip.parse().ok()),
        user_agent: text(&state, keys::USER_AGENT).map(|ua| ua.chars().take(512).collect()),
        state: serde_json::to_value(&state).unwrap_or_default(),
        expires_at: expiry(ttl),
    }
}

/// The stored state plus the row id under `keys::SESSION_ID`.
fn with_session_id(state: serde_json::Value, id: i64) -> Result<State, LoadError> {
    let mut state: State =
        serde_json::from_value(state).map_err(|err| LoadError::Deserialization(err.into()))?;
    state.insert(keys::SESSION_ID.to_owned(), id.to_string());
    Ok(state)
}

fn anyhow_of(err: AppError) -> anyhow::Error {
    anyhow::anyhow!("session store: {err}")
}

impl SessionStore for PgSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<State>, LoadError> {
        let key_hash = hash_key(session_key.as_ref());
        if let Some(cached) = self.cache.session(&key_hash) {
            return with_session_id(cached.state, cached.id).map(Some);
        }
        let lookup = key_hash.clone();
        let row = self
            .db
            .run(move |conn| {
                let key_hash = lookup;
                let row = SessionRow::find_live(conn, &key_hash)?;
                if let Some(row) = &row {
                    if (Utc::now() - row.last_seen_at).num_seconds() > LAST_SEEN_RESOLUTION_SECS {
                        SessionRow::touch(conn, row.id)?;
                    }
                }
                Ok::<_, AppError>(row)
            })
            .await
            .map_err(|err| LoadError::Other(anyhow_of(err)))?;
        let Some(row) = row else { return Ok(None) };
        self.cache.put_session(
            key_hash,
            row.id,
            row.user_id,
            row.state.clone(),
            row.expires_at,
        );
        with_session_id(row.state, row.id).map(Some)
    }

    async fn save(&self, state: State, ttl: &CookieDuration) -> Result<SessionKey, SaveError> {
        let key = tokens::random_hex(32).map_err(|err| SaveError::Other(err.into()))?;
        let key_hash = hash_key(&key);
        let row = to_row(state, ttl);
        self.db
            .run(move |conn| SessionRow::insert(conn, &key_hash, &row))
            .await
            .map_err(|err| SaveError::Other(anyhow_of(err)))?;
        SessionKey::try_from(key).map_err(|err| SaveError::Other(err.into()))
    }

    async fn update(
        &self,
        session_key: SessionKey,
        state: State,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        let key_hash = hash_key(session_key.as_ref());
        self.cache.forget_session_key(&key_hash);
        let row = to_row(state.clone(), ttl);
        let updated = self
            .db
            .run(move |conn| SessionRow::update(conn, &key_hash, &row))
            .await
            .map_err(|err| UpdateError::Other(anyhow_of(err)))?;
        if updated {
            return Ok(session_key);
        }
        // The session was revoked or expired while this request ran. Keep what the request
        // stored (a flash message, say) in a fresh session, but never the sign-in.
        let mut state = state;
        for key in [keys::USER_ID, keys::IP, keys::USER_AGENT] {
            state.remove(key);
        }
        self.save(state, ttl)
            .await
            .map_err(|err| UpdateError::Other(anyhow::anyhow!("{err}")))
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &CookieDuration,
    ) -> anyhow::Result<()> {
        let key_hash = hash_key(session_key.as_ref());
        let expires_at = expiry(ttl);
        self.db
            .run(move |conn| SessionRow::extend(conn, &key_hash, expires_at))
            .await
            .map_err(anyhow_of)
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        let key_hash = hash_key(session_key.as_ref());
        self.cache.forget_session_key(&key_hash);
        self.db
            .run(move |conn| SessionRow::delete_by_key(conn, &key_hash))
            .await
            .map_err(anyhow_of)
    }
}
