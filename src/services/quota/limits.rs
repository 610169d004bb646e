//! Anonymous limits: uses per IP key and action over a rolling window, counted exactly.
//!
//! Every use is a `usage_events` row. Check and insert happen in one transaction holding a
//! transaction-scoped advisory lock on (key, action), so concurrent requests from one
//! network are serialised at the database and N of them can never pass a limit of M < N,
//! however many server instances share the database. The window rolls: a use counts until
//! exactly `window` after it happened, and `Retry-After` is the time until the oldest
//! counted use leaves it. Refusals are remembered in memory for a few seconds
//! ([`RecentRefusals`]) so a flood costs the database nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use ipnetwork::IpNetwork;

use crate::db::batches::{Change, change_in_batches};
use crate::db::schema::usage_events;
use crate::domain::rolling_window::{retry_after, secs_until};

/// What anonymous visitors are limited in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Generate,
    Story,
    Video,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Generate => "generate",
            Action::Story => "story",
            Action::Video => "video",
        }
    }

    /// How the limit is named to the visitor.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Generate => "anonymous image generations",
            Action::Story => "anonymous stories",
            Action::Video => "anonymous videos",
        }
    }
}

/// Where a key stands against its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Standing {
    pub limit: u32,
    pub used: u32,
    /// Seconds until the oldest counted use leaves the window (0 when nothing is counted).
    pub reset_secs: u64,
}

impl Standing {
    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.used)
    }
}

/// The limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: u32,
    pub retry_after_secs: u64,
}

/// A use that was counted, so that a failed job can give it back.
#[derive(Debug, Clone, Copy)]
pub struct Counted {
    pub event_id: i64,
    pub standing: Standing,
}

/// Counts one use of `action` by `key` unless `limit` uses already fall in the window.
/// Must run inside the caller's transaction (the lock is released when it ends).
pub fn check_and_count(
    conn: &mut PgConnection,
    key: IpNetwork,
    client_ip: IpNetwork,
    action: Action,
    limit: u32,
    window: Duration,
) -> QueryResult<Result<Counted, Exceeded>> {
    crate::db::advisory_lock(conn, &format!("usage:{key}:{}", action.as_str()))?;
    let now = Utc::now();
    let times = counted_times(conn, key, action, now - window)?;
    if let Some(retry_after_secs) = retry_after(&times, limit, window, now) {
        return Ok(Err(Exceeded {
            limit,
            retry_after_secs,
        }));
    }
    let event_id = diesel::insert_into(usage_events::table)
        .values((
            usage_events::ip_key.eq(key),
            usage_events::action.eq(action.as_str()),
            usage_events::client_ip.eq(client_ip),
            usage_events::at.eq(now),
        ))
        .returning(usage_events::id)
        .get_result(conn)?;
    let oldest = times.first().copied().unwrap_or(now);
    Ok(Ok(Counted {
        event_id,
        standing: Standing {
            limit,
            used: u32::try_from(times.len() + 1).unwrap_or(u32::MAX),
            reset_secs: secs_until(oldest + window, now),
        },
    }))
}

/// Where `key` stands for `action`, without counting anything.
pub fn standing(
    conn: &mut PgConnection,
    key: IpNetwork,
    action: Action,
    limit: u32,
    window: Duration,
) -> QueryResult<Standing> {
    let now = Utc::now();
    let times = counted_times(conn, key, action, now - window)?;
    Ok(Standing {
        limit,
        used: u32::try_from(times.len()).unwrap_or(u32::MAX),
        reset_secs: times
            .first()
            .map_or(0, |oldest| secs_until(*oldest + window, now)),
    })
}

/// Gives a use back (its job failed).
pub fn uncount(conn: &mut PgConnection, event_id: i64) -> QueryResult<()> {
    diesel::delete(usage_events::table.find(event_id)).execute(conn)?;
    Ok(())
}

/// Deletes uses that no window counts any more, oldest first, in batches.
pub fn prune(conn: &mut PgConnection, window: Duration) -> QueryResult<usize> {
    change_in_batches(
        conn,
        "usage_events",
        Change::Delete,
        "at <= $1 ORDER BY at",
        Utc::now() - window,
        |_| {},
    )
}

fn counted_times(
    conn: &mut PgConnection,
    key: IpNetwork,
    action: Action,
    since: DateTime<Utc>,
) -> QueryResult<Vec<DateTime<Utc>>> {
    usage_events::table
        .filter(usage_events::ip_key.eq(key))
        .filter(usage_events::action.eq(action.as_str()))
        .filter(usage_events::at.gt(since))
        .select(usage_events::at)
        .order(usage_events::at.asc())
        .load(conn)
}

/// "Over the limit" answers remembered for a few seconds per (key, action), so a flood
/// from one network is refused from memory instead of costing a transaction (and a turn
/// at the key's advisory lock) per request. Only refusals are remembered, never grants, so
/// this can refuse for at most its lifetime (`ATELIER_REFUSAL_MEMORY_SECS`) after a use
/// freed up early (a refund), and never lets anything through.
#[derive(Clone)]
pub struct RecentRefusals {
    remembered: Arc<Mutex<HashMap<(IpNetwork, Action), Remembered>>>,
    lifetime: StdDuration,
}

#[derive(Debug, Clone, Copy)]
struct Remembered {
    fresh_until: Instant,
    frees_at: Instant,
    limit: u32,
}

impl RecentRefusals {
    /// Refusals answered from memory for `lifetime` each.
    pub fn new(lifetime: StdDuration) -> Self {
        Self {
            remembered: Arc::default(),
            lifetime,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(IpNetwork, Action), Remembered>> {
        self.remembered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A remembered refusal still fresh, with `Retry-After` counted from now.
    pub fn check(&self, key: IpNetwork, action: Action) -> Option<Exceeded> {
        let now = Instant::now();
        let remembered = *self.lock().get(&(key, action))?;
        (remembered.fresh_until > now && remembered.frees_at > now).then(|| Exceeded {
            limit: remembered.limit,
            retry_after_secs: remembered.frees_at.duration_since(now).as_secs().max(1),
        })
    }

    /// Forgets every refusal (an admin changed the limits).
    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn remember(&self, key: IpNetwork, action: Action, exceeded: Exceeded) {
        let now = Instant::now();
        let mut refusals = self.lock();
        if refusals.len() > 10_000 {
            refusals.retain(|_, remembered| remembered.fresh_until > now);
        }
        refusals.insert(
            (key, action),
            Remembered {
                fresh_until: now + self.lifetime,
                frees_at: now + StdDuration::from_secs(exceeded.retry_after_secs),
                limit: exceeded.limit,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_remembered_briefly_and_count_down() {
        let refusals = RecentRefusals::new(StdDuration::from_secs(5));
        let key: IpNetwork = "203.0.113.1/32".parse().expect("key");
        assert!(refusals.check(key, Action::Generate).is_none());
        refusals.remember(
            key,
            Action::Generate,
            Exceeded {
                limit: 3,
                retry_after_secs: 100,
            },
        );
        let answer = refusals.check(key, Action::Generate).expect("remembered");
        assert_eq!(answer.limit, 3);
        assert!((99..=100).contains(&answer.retry_after_secs));
        assert!(refusals.check(key, Action::Story).is_none(), "per action");
        let other: IpNetwork = "203.0.113.2/32".parse().expect("key");
        assert!(refusals.check(other, Action::Generate).is_none(), "per key");
        // A use that frees up sooner than the memory lasts is not refused past it.
        refusals.remember(
            other,
            Action::Generate,
            Exceeded {
                limit: 3,
                retry_after_secs: 0,
            },
        );
        assert!(refusals.check(other, Action::Generate).is_none());
    }
}
