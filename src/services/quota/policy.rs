//! The admins' exceptions to the quota rules, held in memory: live blocks, limit overrides
//! and the disposable-email domains they added. A check is a few hash lookups, not a query,
//! however many blocks there are.
//!
//! The tables stay the truth. Triggers on them send `NOTIFY atelier_auth 'policy'` (from any
//! instance, the CLI or plain SQL); the cache listener then marks the snapshot stale and the
//! next check reloads it, in the blocking hop it already runs in. The instance making a
//! change marks it stale itself too, so its very next request sees the change. Expiry needs
//! no notification: every lookup compares `expires_at` with the clock.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use ipnetwork::IpNetwork;

use super::blocks::{Block, LimitOverride};
use super::free;
use crate::db::schema::{disposable_domains, ip_blocks, limit_overrides};

/// Entries keyed by the networks they cover, for longest-prefix matching: one map per
/// (address family, prefix length) present, searched from the most specific.
struct NetworkIndex<T> {
    levels: Vec<(bool, u8, HashMap<IpAddr, Vec<T>>)>,
}

impl<T> NetworkIndex<T> {
    fn build(entries: Vec<T>, network_of: impl Fn(&T) -> IpNetwork) -> Self {
        let mut levels: Vec<(bool, u8, HashMap<IpAddr, Vec<T>>)> = Vec::new();
        for entry in entries {
            let network = network_of(&entry);
            let key = (network.is_ipv6(), network.prefix());
            let position = match levels
                .iter()
                .position(|(v6, prefix, _)| (*v6, *prefix) == key)
            {
                Some(position) => position,
                None => {
                    levels.push((key.0, key.1, HashMap::new()));
                    levels.len() - 1
                }
            };
            levels[position]
                .2
                .entry(network.network())
                .or_default()
                .push(entry);
        }
        levels.sort_by_key(|level| std::cmp::Reverse(level.1));
        NetworkIndex { levels }
    }

    /// The first entry, most specific network first, that covers `ip` and is `live`.
    fn lookup(&self, ip: IpAddr, live: impl Fn(&T) -> bool) -> Option<&T> {
        self.levels
            .iter()
            .filter(|(v6, _, _)| *v6 == ip.is_ipv6())
            .find_map(|(_, prefix, map)| {
                let network = IpNetwork::new(ip, *prefix).ok()?.network();
                map.get(&network)?.iter().find(|entry| live(entry))
            })
    }
}

/// One snapshot of the tables.
struct Policy {
    /// Live blocks, newest first within a network.
    blocks: NetworkIndex<Block>,
    overrides: NetworkIndex<LimitOverride>,
    /// The domains admins added (the shipped list is in `free`).
    disposable: HashSet<String>,
}

fn unexpired(expires_at: Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
    expires_at.is_none_or(|expires_at| expires_at > at)
}

impl Policy {
    fn load(conn: &mut PgConnection) -> QueryResult<Policy> {
        let blocks: Vec<Block> = ip_blocks::table
            .filter(ip_blocks::lifted_at.is_null())
            .filter(
                ip_blocks::expires_at
                    .is_null()
                    .or(ip_blocks::expires_at.gt(now)),
            )
            .order((ip_blocks::created_at.desc(), ip_blocks::id.desc()))
            .select(Block::as_select())
            .load(conn)?;
        let overrides: Vec<LimitOverride> = limit_overrides::table
            .filter(
                limit_overrides::expires_at
                    .is_null()
                    .or(limit_overrides::expires_at.gt(now)),
            )
            .select(LimitOverride::as_select())
            .load(conn)?;
        let disposable = disposable_domains::table
            .select(disposable_domains::domain)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        Ok(Policy {
            blocks: NetworkIndex::build(blocks, |block| block.network),
            overrides: NetworkIndex::build(overrides, |over| over.network),
            disposable,
        })
    }
}

/// The shared, self-refreshing snapshot (cheap to clone).
#[derive(Clone, Default)]
pub struct PolicyCache {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every change heard of; a snapshot is fresh while it matches.
    generation: AtomicU64,
    snapshot: RwLock<Option<(u64, Arc<Policy>)>>,
}

/// What applies to one address (or account), read from one snapshot.
#[derive(Clone)]
pub struct PolicyView {
    policy: Arc<Policy>,
}

impl PolicyCache {
    /// Forgets the snapshot: the tables changed (or may have).
    pub fn invalidate(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn fresh(&self) -> Option<Arc<Policy>> {
        let generation = self.inner.generation.load(Ordering::Acquire);
        let snapshot = self
            .inner
            .snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        snapshot
            .as_ref()
            .filter(|(loaded, _)| *loaded == generation)
            .map(|(_, policy)| policy.clone())
    }

    /// The current policy, reloading it on `conn` when a change made it stale.
    pub fn current(&self, conn: &mut PgConnection) -> QueryResult<PolicyView> {
        if let Some(policy) = self.fresh() {
            return Ok(PolicyView { policy });
        }
        // Read the generation first: a change heard while loading leaves it stale.
        let generation = self.inner.generation.load(Ordering::Acquire);
        let policy = Arc::new(Policy::load(conn)?);
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((generation, policy.clone()));
        Ok(PolicyView { policy })
    }

    /// The current policy when it is fresh, without touching the database.
    pub fn cached(&self) -> Option<PolicyView> {
        self.fresh().map(|policy| PolicyView { policy })
    }
}

impl PolicyView {
    /// The most specific live block covering `ip`.
    pub fn block_for(&self, ip: IpAddr) -> Option<&Block> {
        let at = Utc::now();
        self.policy
            .blocks
            .lookup(ip, |block| unexpired(block.expires_at, at))
    }

    /// The most specific live override covering `ip`.
    pub fn override_for(&self, ip: IpAddr) -> Option<&LimitOverride> {
        let at = Utc::now();
        self.policy
            .overrides
            .lookup(ip, |over| unexpired(over.expires_at, at))
    }

    /// True when `email`'s domain, or a domain it is under, is a known throwaway provider:
    /// the shipped list or one an admin added.
    pub fn is_disposable_email(&self, email: &str) -> bool {
        free::email_domains(email).iter().any(|domain| {
            free::is_shipped_disposable(domain) || self.policy.disposable.contains(domain)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(id: i64, network: &str, expires_at: Option<DateTime<Utc>>) -> Block {
        Block {
            id,
            network: network.parse().expect("network"),
            reason: format!("block {id}"),
            expires_at,
            created_by: None,
            created_at: Utc::now(),
            lifted_at: None,
            lifted_by: None,
        }
    }

    fn index(blocks: Vec<Block>) -> NetworkIndex<Block> {
        NetworkIndex::build(blocks, |block| block.network)
    }

    fn found(index: &NetworkIndex<Block>, ip: &str) -> Option<i64> {
        let at = Utc::now();
        index
            .lookup(ip.parse().expect("ip"), |b| unexpired(b.expires_at, at))
            .map(|b| b.id)
    }

    #[test]
    fn the_most_specific_live_network_wins_for_both_families() {
        let past = Some(Utc::now() - chrono::Duration::minutes(1));
        let index = index(vec![
            block(1, "198.51.100.0/24", None),
            block(2, "198.51.100.128/25", None),
            block(3, "198.51.100.7/32", past),
            block(4, "2001:db8::/32", None),
            block(5, "2001:db8:1::/48", None),
            block(6, "0.0.0.0/0", past),
        ]);
        assert_eq!(found(&index, "198.51.100.7"), Some(1));
        assert_eq!(found(&index, "198.51.100.200"), Some(2));
        assert_eq!(found(&index, "198.51.101.1"), None);
        assert_eq!(found(&index, "2001:db8:1::9"), Some(5));
        assert_eq!(found(&index, "2001:db8:2::9"), Some(4));
        assert_eq!(found(&index, "2001:db9::1"), None);
        // An IPv4 range never covers an IPv6 address, as in PostgreSQL's `>>=`.
        assert_eq!(found(&index, "::ffff:198.51.100.7"), None);
    }

    #[test]
    fn a_hundred_thousand_blocks_cost_lookups_not_a_scan() {
        let blocks = (0..100_000u32)
            .map(|n| {
                let [_, b, c, d] = n.to_be_bytes();
                block(i64::from(n), &format!("10.{b}.{c}.{d}/32"), None)
            })
            .chain([block(-1, "172.16.0.0/12", None)])
            .collect();
        let index = index(blocks);
        assert_eq!(index.levels.len(), 2);
        assert_eq!(found(&index, "10.1.134.159"), Some(100_000 - 1));
        assert_eq!(found(&index, "172.20.1.1"), Some(-1));
        assert_eq!(found(&index, "10.9.0.0"), None);
    }
}
