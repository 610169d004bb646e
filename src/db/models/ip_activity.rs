//! What the IP gallery reads: generations (every job, failed and anonymous ones included)
//! and uploads, by the client address they came from, grouped per address or per network
//! (/24 for IPv4, /64 for IPv6), and the "case file" of one address or range.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Cidr, Integer, Jsonb, Nullable, Text, Timestamptz};
use ipnetwork::IpNetwork;

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One row per address.
    Address,
    /// One row per /24 (IPv4) or /64 (IPv6).
    Prefix,
}

impl Grouping {
    fn prefixes(self) -> (i32, i32) {
        match self {
            Grouping::Address => (32, 128),
            Grouping::Prefix => (24, 64),
        }
    }
}

/// How groups are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpSort {
    Activity,
    LastSeen,
    FirstSeen,
    Address,
}

impl IpSort {
    pub fn parse(raw: &str) -> Self {
        match raw {
            "last" => IpSort::LastSeen,
            "first" => IpSort::FirstSeen,
            "ip" => IpSort::Address,
            _ => IpSort::Activity,
        }
    }

    fn order_by(self) -> &'static str {
        match self {
            IpSort::Activity => "count(*) DESC, max(at) DESC, net",
            IpSort::LastSeen => "max(at) DESC, net",
            IpSort::FirstSeen => "min(at) ASC, net",
            IpSort::Address => "net",
        }
    }
}

/// What the gallery filters by (all optional).
#[derive(Debug, Clone, Default)]
pub struct IpFilter {
    pub within: Option<IpNetwork>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub username: Option<String>,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct IpGroup {
    #[diesel(sql_type = Cidr)]
    pub network: IpNetwork,
    #[diesel(sql_type = BigInt)]
    pub generations: i64,
    #[diesel(sql_type = BigInt)]
    pub uploads: i64,
    #[diesel(sql_type = BigInt)]
    pub anonymous: i64,
    #[diesel(sql_type = Timestamptz)]
    pub first_seen: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub last_seen: DateTime<Utc>,
    #[diesel(sql_type = Array<Text>)]
    pub accounts: Vec<String>,
    #[diesel(sql_type = Bool)]
    pub blocked: bool,
    #[diesel(sql_type = BigInt)]
    pub total_groups: i64,
}

/// Every generation and upload with its address and (if any) account. Tagging jobs make
/// no pictures and are not counted as generations anywhere an admin looks for content.
const ACTIVITY: &str = "
    SELECT j.client_ip AS ip, 'generation' AS kind, j.user_id, (j.anon_id IS NOT NULL) AS anonymous,
           j.created_at AS at
    FROM generation_jobs j WHERE j.client_ip IS NOT NULL AND j.kind <> 'tag'
    UNION ALL
    SELECT i.client_ip, 'upload', i.user_id, FALSE, i.created_at
    FROM images i WHERE i.kind = 'upload' AND i.client_ip IS NOT NULL";

/// A live block covering or inside `net`.
const BLOCKED: &str = "EXISTS (SELECT 1 FROM ip_blocks b
      WHERE b.lifted_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > now())
        AND (b.network >>= net OR b.network <<= net))";

/// One page of groups, and the number of groups.
pub fn groups(
    conn: &mut PgConnection,
    grouping: Grouping,
    filter: &IpFilter,
    sort: IpSort,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<IpGroup>> {
    let (v4, v6) = grouping.prefixes();
    let sql = format!(
        "WITH activity AS ({ACTIVITY}),
         filtered AS (
           SELECT a.*, u.username,
                  network(set_masklen(a.ip, CASE WHEN family(a.ip) = 4 THEN $1 ELSE $2 END)) AS net
           FROM activity a LEFT JOIN users u ON u.id = a.user_id
           WHERE ($3::cidr IS NULL OR a.ip <<= $3)
             AND ($4::timestamptz IS NULL OR a.at >= $4)
             AND ($5::timestamptz IS NULL OR a.at < $5)
             AND ($6::text IS NULL OR u.username = $6))
         SELECT net AS network,
                count(*) FILTER (WHERE kind = 'generation') AS generations,
                count(*) FILTER (WHERE kind = 'upload') AS uploads,
                count(*) FILTER (WHERE anonymous) AS anonymous,
                min(at) AS first_seen, max(at) AS last_seen,
                coalesce(array_agg(DISTINCT username ORDER BY username)
                         FILTER (WHERE username IS NOT NULL AND username <> '_anon'), '{{}}') AS accounts,
                {BLOCKED} AS blocked,
                count(*) OVER () AS total_groups
         FROM filtered GROUP BY net
         ORDER BY {}
         OFFSET $7 LIMIT $8",
        sort.order_by()
    );
    diesel::sql_query(sql)
        .bind::<Integer, _>(v4)
        .bind::<Integer, _>(v6)
        .bind::<Nullable<Cidr>, _>(filter.within)
        .bind::<Nullable<Timestamptz>, _>(filter.since)
        .bind::<Nullable<Timestamptz>, _>(filter.until)
        .bind::<Nullable<Text>, _>(filter.username.as_deref())
        .bind::<BigInt, _>(offset)
        .bind::<BigInt, _>(limit)
        .load(conn)
}

#[derive(QueryableByName)]
struct RecentImage {
    #[diesel(sql_type = Cidr)]
    network: IpNetwork,
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The ids of the `per_network` most recent images from each network, newest first.
pub fn recent_image_ids(
    conn: &mut PgConnection,
    networks: &[IpNetwork],
    per_network: i64,
) -> QueryResult<Vec<(IpNetwork, i64)>> {
    let rows: Vec<RecentImage> = diesel::sql_query(
        "SELECT g.net AS network, i.id
         FROM unnest($1::cidr[]) AS g(net)
         CROSS JOIN LATERAL (
           SELECT id FROM images WHERE client_ip <<= g.net ORDER BY created_at DESC, id DESC LIMIT $2
         ) i",
    )
    .bind::<Array<Cidr>, _>(networks)
    .bind::<BigInt, _>(per_network)
    .load(conn)?;
    Ok(rows.into_iter().map(|row| (row.network, row.id)).collect())
}

/// One line of a case file: a generation (job) or an upload.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct CaseRow {
    #[diesel(sql_type = Text)]
    pub kind: String,
    /// The job id (generations) or image id (uploads).
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub user_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub username: Option<String>,
    #[diesel(sql_type = Bool)]
    pub anonymous: bool,
    #[diesel(sql_type = Text)]
    pub prompt: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = Cidr)]
    pub ip: IpNetwork,
    /// The images it produced (uploads: the image itself).
    #[diesel(sql_type = Array<BigInt>)]
    pub image_ids: Vec<i64>,
    /// What was charged (the job's reservation), if anything.
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub charge: Option<serde_json::Value>,
    /// Videos: the clip's length as ordered, in seconds.
    #[diesel(sql_type = Nullable<Integer>)]
    pub seconds: Option<i32>,
}

const CASE_ROWS: &str = "
    SELECT CASE WHEN j.kind = 'video' THEN 'video' ELSE 'generation' END AS kind, j.id,
           j.user_id, u.username, (j.anon_id IS NOT NULL) AS anonymous,
           j.prompt, j.status, j.created_at AS at, j.client_ip::cidr AS ip, j.image_ids,
           j.params -> 'charge' AS charge, (j.params ->> 'seconds')::integer AS seconds
    FROM generation_jobs j LEFT JOIN users u ON u.id = j.user_id
    WHERE j.client_ip <<= $1 AND j.kind <> 'tag'
    UNION ALL
    SELECT 'upload', i.id, i.user_id, u.username, FALSE, i.title, 'stored', i.created_at,
           i.client_ip::cidr, ARRAY[i.id], NULL, NULL
    FROM images i JOIN users u ON u.id = i.user_id
    WHERE i.kind = 'upload' AND i.client_ip <<= $1";

/// Every generation and upload from `network`, newest first.
pub fn case_rows(
    conn: &mut PgConnection,
    network: IpNetwork,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<CaseRow>> {
    diesel::sql_query(format!(
        "SELECT * FROM ({CASE_ROWS}) rows ORDER BY at DESC, kind, id DESC OFFSET $2 LIMIT $3"
    ))
    .bind::<Cidr, _>(network)
    .bind::<BigInt, _>(offset)
    .bind::<BigInt, _>(limit)
    .load(conn)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

pub fn case_row_count(conn: &mut PgConnection, network: IpNetwork) -> QueryResult<i64> {
    diesel::sql_query(format!("SELECT count(*) AS count FROM ({CASE_ROWS}) rows"))
        .bind::<Cidr, _>(network)
        .get_result::<Count>(conn)
        .map(|row| row.count)
}

/// What deleting everything from `network` would remove.
#[derive(Debug, Clone, Copy, Default, QueryableByName, serde::Serialize)]
pub struct Footprint {
    #[diesel(sql_type = BigInt)]
    pub images: i64,
    #[diesel(sql_type = BigInt)]
    pub jobs: i64,
    #[diesel(sql_type = BigInt)]
    pub disk_bytes: i64,
    #[diesel(sql_type = BigInt)]
    pub accounts: i64,
}

pub fn footprint(conn: &mut PgConnection, network: IpNetwork) -> QueryResult<Footprint> {
    diesel::sql_query(
        "SELECT (SELECT count(*) FROM images WHERE client_ip <<= $1) AS images,
                (SELECT count(*) FROM generation_jobs WHERE client_ip <<= $1 AND kind <> 'tag') AS jobs,
                (SELECT coalesce(sum(disk_bytes), 0)::bigint FROM images WHERE client_ip <<= $1) AS disk_bytes,
                (SELECT count(DISTINCT user_id) FROM images WHERE client_ip <<= $1) AS accounts",
    )
    .bind::<Cidr, _>(network)
    .get_result(conn)
}

/// The ids of every image from `network`.
pub fn image_ids_from(conn: &mut PgConnection, network: IpNetwork) -> QueryResult<Vec<i64>> {
    use crate::db::schema::images;
    images::table
        .filter(images::client_ip.is_contained_by_or_eq(network))
        .select(images::id)
        .load(conn)
}

/// Deletes every job from `network` (their images are deleted by the caller first).
pub fn delete_jobs_from(conn: &mut PgConnection, network: IpNetwork) -> QueryResult<usize> {
    use crate::db::schema::generation_jobs;
    diesel::delete(
        generation_jobs::table.filter(generation_jobs::client_ip.is_contained_by_or_eq(network)),
    )
    .execute(conn)
}

/// The addresses a user was seen on (sessions, images, jobs), most recent first.
#[derive(Debug, Clone, QueryableByName)]
pub struct SeenAddress {
    #[diesel(sql_type = Cidr)]
    pub ip: IpNetwork,
    #[diesel(sql_type = BigInt)]
    pub uses: i64,
    #[diesel(sql_type = Timestamptz)]
    pub last_seen: DateTime<Utc>,
}

pub fn addresses_of_user(conn: &mut PgConnection, user_id: i64) -> QueryResult<Vec<SeenAddress>> {
    diesel::sql_query(
        "SELECT ip::cidr AS ip, count(*) AS uses, max(at) AS last_seen FROM (
           SELECT ip, last_seen_at AS at FROM sessions WHERE user_id = $1 AND ip IS NOT NULL
           UNION ALL SELECT client_ip, created_at FROM images WHERE user_id = $1 AND client_ip IS NOT NULL
           UNION ALL SELECT client_ip, created_at FROM generation_jobs WHERE user_id = $1 AND client_ip IS NOT NULL
         ) seen GROUP BY ip ORDER BY max(at) DESC LIMIT 100",
    )
    .bind::<BigInt, _>(user_id)
    .load(conn)
}
