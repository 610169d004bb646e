//! A short-lived in-process cache of sessions and users, so the steady state of a page
//! that pulls two dozen thumbnails costs no database round trip per thumbnail.
//!
//! Correctness comes from invalidation, not from the TTL: database triggers send
//! `NOTIFY atelier_auth` whenever a user or session row changes or goes (from any instance,
//! the CLI or plain SQL), and [`spawn_listener`] makes every instance forget those entries;
//! the instance making a change also forgets them itself at once, so its very next request
//! sees it. The TTL only bounds the damage of a missed notification; when the listener
//! loses its connection it clears everything.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::db::models::User;

/// The channel instances tell each other about invalidations on.
const CHANNEL: &str = "atelier_auth";

#[derive(Clone)]
pub struct AuthCache {
    inner: Arc<Mutex<Inner>>,
    ttl: Duration,
    /// Set when the server has stopped: the listener then ends quietly.
    closed: Arc<AtomicBool>,
    /// Told of what other caches hold (images, the policy) when it changes, and when
    /// everything must be forgotten: the image proxy's cache and the quota policy.
    subscribers: Arc<Mutex<Vec<Subscriber>>>,
}

/// Someone told of [`Heard`] news.
pub type Subscriber = Arc<dyn Fn(Heard) + Send + Sync>;

/// What a subscriber hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// The image with this id changed or went.
    Image(i64),
    /// Blocks, overrides or disposable domains changed.
    Policy,
    /// Anything may have changed (the listener was not listening for a while).
    Everything,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<Vec<u8>, CachedSession>,
    users: HashMap<i64, (User, Instant)>,
}

#[derive(Clone)]
pub struct CachedSession {
    pub id: i64,
    pub user_id: Option<i64>,
    pub state: serde_json::Value,
    at: Instant,
    /// The row's own expiry: a cached session never outlives it.
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// What changed, as carried in a notification's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    Session(i64),
    User(i64),
    Image(i64),
    Policy,
}

impl Invalidation {
    fn parse(payload: &str) -> Option<Self> {
        let (kind, id) = payload.split_once(':')?;
        let id = id.parse().ok()?;
        match kind {
            "session" => Some(Invalidation::Session(id)),
            "user" => Some(Invalidation::User(id)),
            "image" => Some(Invalidation::Image(id)),
            "policy" => Some(Invalidation::Policy),
            _ => None,
        }
    }
}

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        AuthCache {
            inner: Arc::default(),
            ttl,
            closed: Arc::default(),
            subscribers: Arc::default(),
        }
    }

    /// Adds someone to tell of image and policy changes from every instance (at startup).
    pub fn subscribe(&self, subscriber: Subscriber) {
        self.subscribers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(subscriber);
    }

    fn tell_subscribers(&self, what: Heard) {
        let subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        for subscriber in subscribers {
            subscriber(what);
        }
    }

    /// Stops the listener (before the database goes away on shutdown).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn session(&self, key_hash: &[u8]) -> Option<CachedSession> {
        let inner = self.lock();
        inner
            .sessions
            .get(key_hash)
            .filter(|cached| {
                cached.at.elapsed() < self.ttl && cached.expires_at > chrono::Utc::now()
            })
            .cloned()
    }

    pub fn put_session(
        &self,
        key_hash: Vec<u8>,
        id: i64,
        user_id: Option<i64>,
        state: serde_json::Value,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) {
        let mut inner = self.lock();
        if inner.sessions.len() > 100_000 {
            inner.sessions.clear();
        }
        inner.sessions.insert(
            key_hash,
            CachedSession {
                id,
                user_id,
                state,
                at: Instant::now(),
                expires_at,
            },
        );
    }

    pub fn forget_session_key(&self, key_hash: &[u8]) {
        self.lock().sessions.remove(key_hash);
    }

    pub fn user(&self, id: i64) -> Option<User> {
        let inner = self.lock();
        inner
            .users
            .get(&id)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(user, _)| user.clone())
    }

    pub fn put_user(&self, user: User) {
        let mut inner = self.lock();
        if inner.users.len() > 100_000 {
            inner.users.clear();
        }
        inner.users.insert(user.id, (user, Instant::now()));
    }

    /// Applies an invalidation to this instance only.
    pub fn forget(&self, what: Invalidation) {
        match what {
            Invalidation::Image(id) => return self.tell_subscribers(Heard::Image(id)),
            Invalidation::Policy => return self.tell_subscribers(Heard::Policy),
            Invalidation::Session(_) | Invalidation::User(_) => {}
        }
        let mut inner = self.lock();
        match what {
            Invalidation::Image(_) | Invalidation::Policy => {}
            Invalidation::Session(id) => inner.sessions.retain(|_, cached| cached.id != id),
            Invalidation::User(id) => {
                inner.users.remove(&id);
                inner
                    .sessions
                    .retain(|_, cached| cached.user_id != Some(id));
            }
        }
    }

    pub fn clear(&self) {
        {
            let mut inner = self.lock();
            inner.sessions.clear();
            inner.users.clear();
        }
        self.tell_subscribers(Heard::Everything);
    }
}

/// Listens for other instances' invalidations on a dedicated connection (its own thread:
/// Diesel is blocking). Reconnects with a cleared cache after any error.
pub fn spawn_listener(cache: AuthCache, database_url: String) {
    let spawned = std::thread::Builder::new()
        .name("atelier-auth-listener".into())
        .spawn(move || {
            while !cache.closed.load(Ordering::Relaxed) {
                let result = PgConnection::establish(&database_url)
                    .map_err(|err| err.to_string())
                    .and_then(|mut conn| listen(&cache, &mut conn).map_err(|err| err.to_string()));
                if let Err(err) = result {
                    if cache.closed.load(Ordering::Relaxed) {
                        break;
                    }
                    tracing::warn!(error = %err, "cache listener lost its database connection");
                }
                // Whatever happened while we were not listening is unknown: start clean.
                cache.clear();
                std::thread::sleep(Duration::from_secs(1));
            }
        });
    if let Err(err) = spawned {
        tracing::error!(error = %err, "cannot start the cache listener");
    }
}

fn listen(cache: &AuthCache, conn: &mut PgConnection) -> diesel::QueryResult<()> {
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(conn)?;
    cache.clear();
    let mut last_ping = Instant::now();
    while !cache.closed.load(Ordering::Relaxed) {
        for notification in conn.notifications_iter() {
            let notification = notification?;
            if let Some(what) = Invalidation::parse(&notification.payload) {
                cache.forget(what);
            }
        }
        if last_ping.elapsed() > Duration::from_secs(5) {
            // Notices a dead connection, which polling for notifications alone would not.
            diesel::sql_query("SELECT 1").execute(conn)?;
            last_ping = Instant::now();
        }
        // Polled, as Diesel offers no wait on the socket: 5 ms bounds how long another
        // instance's block, logout or edit takes to reach this one.
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse() {
        assert_eq!(
            Invalidation::parse("session:7"),
            Some(Invalidation::Session(7))
        );
        assert_eq!(Invalidation::parse("user:42"), Some(Invalidation::User(42)));
        assert_eq!(Invalidation::parse("image:7"), Some(Invalidation::Image(7)));
        assert_eq!(Invalidation::parse("policy:0"), Some(Invalidation::Policy));
        assert_eq!(Invalidation::parse("user:x"), None);
        assert_eq!(Invalidation::parse("nonsense"), None);
    }

    #[test]
    fn forgetting_a_user_forgets_their_sessions() {
        let cache = AuthCache::new(Duration::from_secs(60));
        let later = chrono::Utc::now() + chrono::Duration::hours(1);
        cache.put_session(b"a".to_vec(), 1, Some(42), serde_json::json!({}), later);
        cache.put_session(b"b".to_vec(), 2, Some(43), serde_json::json!({}), later);
        cache.forget(Invalidation::User(42));
        assert!(cache.session(b"a").is_none());
        assert!(cache.session(b"b").is_some());
        cache.forget(Invalidation::Session(2));
        assert!(cache.session(b"b").is_none());
    }

    #[test]
    fn a_cached_session_never_outlives_its_expiry() {
        let cache = AuthCache::new(Duration::from_secs(60));
        let past = chrono::Utc::now() - chrono::Duration::seconds(1);
        cache.put_session(b"gone".to_vec(), 1, Some(42), serde_json::json!({}), past);
        assert!(cache.session(b"gone").is_none());
    }
}
