//! Blocked addresses and ranges, and per-network limit overrides.
//!
//! A block is live from its creation until it expires or is lifted; lifting stamps the row
//! so the history stays. Of the live overrides covering an address, the most specific
//! (longest prefix) wins.

use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::Inet;
use ipnetwork::IpNetwork;

use crate::db::schema::{ip_blocks, limit_overrides};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = ip_blocks)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Block {
    pub id: i64,
    pub network: IpNetwork,
    pub reason: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lifted_by: Option<i64>,
}

impl Block {
    /// The sentence a blocked client reads.
    pub fn message(&self) -> String {
        let until = match self.expires_at {
            Some(at) => format!(" until {}", at.format("%Y-%m-%d %H:%M UTC")),
            None => String::new(),
        };
        format!(
            "Requests from your network ({}) are blocked{until}: {}. \
             If you think this is a mistake, contact the site's administrator.",
            self.network, self.reason
        )
    }
}

/// An address or CIDR range as typed by an admin (`203.0.113.7`, `198.51.100.0/24`,
/// `2001:db8::/48`), normalised to its network (host bits cleared, as `CIDR` requires).
pub fn parse_network(raw: &str) -> Result<IpNetwork, String> {
    let raw = raw.trim();
    let parsed: IpNetwork = raw
        .parse()
        .map_err(|_| format!("{raw:?} is not an IP address or a CIDR range."))?;
    IpNetwork::new(parsed.network(), parsed.prefix())
        .map_err(|_| format!("{raw:?} is not a valid CIDR range."))
}

/// Blocks `network`. An existing live block of the same network is replaced (lifted by the
/// same actor), so there is at most one live block per network.
pub fn block(
    conn: &mut PgConnection,
    network: IpNetwork,
    reason: &str,
    expires_at: Option<DateTime<Utc>>,
    actor: Option<i64>,
) -> QueryResult<Block> {
    conn.transaction(|conn| {
        lift(conn, network, actor)?;
        diesel::insert_into(ip_blocks::table)
            .values((
                ip_blocks::network.eq(network),
                ip_blocks::reason.eq(reason),
                ip_blocks::expires_at.eq(expires_at),
                ip_blocks::created_by.eq(actor),
            ))
            .returning(Block::as_returning())
            .get_result(conn)
    })
}

/// Lifts the live blocks of exactly `network`; returns how many there were.
pub fn lift(conn: &mut PgConnection, network: IpNetwork, actor: Option<i64>) -> QueryResult<usize> {
    diesel::update(
        ip_blocks::table
            .filter(ip_blocks::network.eq(network))
            .filter(ip_blocks::lifted_at.is_null()),
    )
    .set((ip_blocks::lifted_at.eq(now), ip_blocks::lifted_by.eq(actor)))
    .execute(conn)
}

/// Every block (live or not) of networks overlapping `network`, newest first.
pub fn history(conn: &mut PgConnection, network: IpNetwork) -> QueryResult<Vec<Block>> {
    ip_blocks::table
        .filter(
            ip_blocks::network
                .contains_or_eq(network)
                .or(ip_blocks::network.is_contained_by_or_eq(network)),
        )
        .order(ip_blocks::created_at.desc())
        .select(Block::as_select())
        .load(conn)
}

/// Live blocks, newest first.
pub fn live(conn: &mut PgConnection) -> QueryResult<Vec<Block>> {
    ip_blocks::table
        .filter(ip_blocks::lifted_at.is_null())
        .filter(
            ip_blocks::expires_at
                .is_null()
                .or(ip_blocks::expires_at.gt(now)),
        )
        .order(ip_blocks::created_at.desc())
        .select(Block::as_select())
        .load(conn)
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = limit_overrides)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct LimitOverride {
    pub id: i64,
    pub network: IpNetwork,
    pub anon_generate: Option<i32>,
    pub anon_story: Option<i32>,
    pub free_images: Option<i32>,
    pub reason: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub anon_video: Option<i32>,
}

/// What an override sets (`None`: keep the default).
#[derive(Debug, Clone, Default)]
pub struct OverrideValues {
    pub anon_generate: Option<u32>,
    pub anon_story: Option<u32>,
    pub anon_video: Option<u32>,
    pub free_images: Option<u32>,
}

impl OverrideValues {
    pub fn is_empty(&self) -> bool {
        self.anon_generate.is_none()
            && self.anon_story.is_none()
            && self.anon_video.is_none()
            && self.free_images.is_none()
    }

    /// The values an existing override sets.
    pub fn of(over: &LimitOverride) -> Self {
        let to_u32 = |value: Option<i32>| value.and_then(|v| u32::try_from(v).ok());
        OverrideValues {
            anon_generate: to_u32(over.anon_generate),
            anon_story: to_u32(over.anon_story),
            anon_video: to_u32(over.anon_video),
            free_images: to_u32(over.free_images),
        }
    }

    /// The override in words, for flashes and the audit log.
    pub fn describe(&self) -> String {
        let one = |name: &str, value: Option<u32>| match value {
            Some(n) => format!("{name} {n}"),
            None => format!("{name} default"),
        };
        [
            one("anonymous generations", self.anon_generate),
            one("anonymous stories", self.anon_story),
            one("anonymous videos", self.anon_video),
            one("free images", self.free_images),
        ]
        .join(", ")
    }
}

/// The override of exactly `network`, live or expired.
pub fn override_of(
    conn: &mut PgConnection,
    network: IpNetwork,
) -> QueryResult<Option<LimitOverride>> {
    limit_overrides::table
        .filter(limit_overrides::network.eq(network))
        .select(LimitOverride::as_select())
        .first(conn)
        .optional()
}

/// The most specific live override covering all of `network` (the case file; checks on
/// requests use the in-memory [`super::policy`]).
pub fn override_for(conn: &mut PgConnection, ip: IpNetwork) -> QueryResult<Option<LimitOverride>> {
    diesel::sql_query(
        "SELECT * FROM limit_overrides
         WHERE (expires_at IS NULL OR expires_at > now()) AND network >>= $1
         ORDER BY masklen(network) DESC
         LIMIT 1",
    )
    .bind::<Inet, _>(ip)
    .get_result(conn)
    .optional()
}

/// Sets (or replaces) the override of `network`.
pub fn set_override(
    conn: &mut PgConnection,
    network: IpNetwork,
    values: &OverrideValues,
    reason: &str,
    expires_at: Option<DateTime<Utc>>,
    actor: Option<i64>,
) -> QueryResult<LimitOverride> {
    let to_i32 = |value: Option<u32>| value.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
    let row = (
        limit_overrides::network.eq(network),
        limit_overrides::anon_generate.eq(to_i32(values.anon_generate)),
        limit_overrides::anon_story.eq(to_i32(values.anon_story)),
        limit_overrides::anon_video.eq(to_i32(values.anon_video)),
        limit_overrides::free_images.eq(to_i32(values.free_images)),
        limit_overrides::reason.eq(reason),
        limit_overrides::expires_at.eq(expires_at),
        limit_overrides::created_by.eq(actor),
    );
    diesel::insert_into(limit_overrides::table)
        .values(row)
        .on_conflict(limit_overrides::network)
        .do_update()
        .set(row)
        .returning(LimitOverride::as_returning())
        .get_result(conn)
}

/// Removes the override of exactly `network`.
pub fn remove_override(conn: &mut PgConnection, network: IpNetwork) -> QueryResult<usize> {
    diesel::delete(limit_overrides::table.filter(limit_overrides::network.eq(network)))
        .execute(conn)
}

/// Every override, most specific first.
pub fn overrides(conn: &mut PgConnection) -> QueryResult<Vec<LimitOverride>> {
    diesel::sql_query("SELECT * FROM limit_overrides ORDER BY masklen(network) DESC, network")
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::parse_network;

    #[test]
    fn networks_are_normalised() {
        assert_eq!(
            parse_network("203.0.113.7").map(|n| n.to_string()),
            Ok("203.0.113.7/32".into())
        );
        assert_eq!(
            parse_network(" 198.51.100.77/24 ").map(|n| n.to_string()),
            Ok("198.51.100.0/24".into())
        );
        assert_eq!(
            parse_network("2001:db8:1:2::5/64").map(|n| n.to_string()),
            Ok("2001:db8:1:2::/64".into())
        );
        for bad in ["", "example.com", "1.2.3.4/33", "1.2.3", "::1/129"] {
            assert!(parse_network(bad).is_err(), "{bad}");
        }
    }
}
