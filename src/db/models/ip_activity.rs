//! What the IP gallery reads: generations (every job, failed and anonymous ones included)
//! and uploads, by the client address they came from, grouped per address or per network
//! (/24 for IPv4, /64 for IPv6), and the "case file" of one address or range.
//!
//! Groups come from the rollups triggers keep as activity happens (`ip_activity_totals`,
//! `_days`, `_months` and `_accounts`, see the `ip_rollups` migration): a page of groups is read
//! through an index, whatever the size of the activity tables. Only a filter by account
//! reads activity rows, that account's alone.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Cidr, Date, Integer, Jsonb, Nullable, Text, Timestamptz,
};
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
    /// The rollups' `level` column.
    fn level(self) -> i16 {
        match self {
            Grouping::Address => 0,
            Grouping::Prefix => 1,
        }
    }

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

    /// The order over a group's columns (as `groups` names them).
    fn order_by(self) -> &'static str {
        match self {
            IpSort::Activity => "generations + uploads DESC, last_seen DESC, network",
            IpSort::LastSeen => "last_seen DESC, network",
            IpSort::FirstSeen => "first_seen ASC, network",
            IpSort::Address => "network",
        }
    }

    /// The same order over `ip_activity_totals`, as its indexes hold it.
    fn totals_order_by(self) -> &'static str {
        match self {
            IpSort::Activity => "activity DESC, last_at DESC, net",
            IpSort::LastSeen => "last_at DESC, net",
            IpSort::FirstSeen => "first_at ASC, net",
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

/// A window of days (`since`/`until` as UTC dates) split into three spans, each read
/// through an index as a range: the whole months inside it, from the monthly rollups, and
/// the ragged days before and after them, from the daily ones. A window holding no whole
/// month is all head. An open end is a date no activity reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WindowSpans {
    head: (NaiveDate, NaiveDate),
    months: (NaiveDate, NaiveDate),
    tail: (NaiveDate, NaiveDate),
}

impl WindowSpans {
    fn of(filter: &IpFilter) -> Self {
        let open = |year| NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or_default();
        let from = filter.since.map_or(open(1), |at| at.date_naive());
        let to = filter.until.map_or(open(9999), |at| at.date_naive());
        let month_of = |day: NaiveDate| day.with_day(1).unwrap_or(day);
        // The first month starting on or after `from`; the months ending by `to` are
        // those before its own.
        let months_from = match from.day() {
            1 => from,
            _ => month_of(from)
                .checked_add_months(Months::new(1))
                .unwrap_or(to),
        };
        let months_to = month_of(to);
        if months_from < months_to && from < to {
            WindowSpans {
                head: (from, months_from),
                months: (months_from, months_to),
                tail: (months_to, to),
            }
        } else {
            WindowSpans {
                head: (from, to),
                months: (to, to),
                tail: (to, to),
            }
        }
    }
}

/// The rows of a window of days (`$3`–`$8`: the spans of [`WindowSpans`]) for groups of
/// level `$1` within `$2`.
const WINDOW_ROWS: &str = "
    SELECT net, generations, uploads, anonymous, first_at, last_at FROM ip_activity_days
    WHERE level = $1 AND ($2::cidr IS NULL OR net <<= $2) AND day >= $3 AND day < $4
    UNION ALL
    SELECT net, generations, uploads, anonymous, first_at, last_at FROM ip_activity_months
    WHERE level = $1 AND ($2::cidr IS NULL OR net <<= $2) AND month >= $5 AND month < $6
    UNION ALL
    SELECT net, generations, uploads, anonymous, first_at, last_at FROM ip_activity_days
    WHERE level = $1 AND ($2::cidr IS NULL OR net <<= $2) AND day >= $7 AND day < $8";

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
    /// The accounts seen there most, at most three ("alice, bob and 1,204 more").
    #[diesel(sql_type = Array<Text>)]
    pub accounts: Vec<String>,
    /// How many more accounts were seen there.
    #[diesel(sql_type = BigInt)]
    pub more_accounts: i64,
    #[diesel(sql_type = Bool)]
    pub blocked: bool,
}

/// How many groups a listing counts at most: past that, the gallery says "10,000 or more"
/// (counting every group of a busy year would read them all).
pub const GROUPS_COUNTED: i64 = 10_000;

/// A live block covering or inside the group's network. (Tagging jobs make no pictures
/// and are counted as generations nowhere an admin looks for content.)
const BLOCKED: &str = "EXISTS (SELECT 1 FROM ip_blocks b
      WHERE b.lifted_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > now())
        AND (b.network >>= g.network OR b.network <<= g.network))";

/// The accounts seen on the group, most active first: the first three names (from the
/// index of each group's accounts by use) and how many more (the count its totals keep).
const ACCOUNTS_OF_NET: &str = "
    coalesce((SELECT array_agg(u.username ORDER BY top.uses DESC, top.user_id) FROM (
        SELECT a.user_id, a.uses FROM ip_activity_accounts a WHERE a.net = g.network
        ORDER BY a.uses DESC, a.user_id LIMIT 3) top JOIN users u ON u.id = top.user_id), '{}') AS accounts,
    greatest(coalesce((SELECT t.accounts FROM ip_activity_totals t WHERE t.net = g.network), 0) - 3, 0)
        AS more_accounts";

/// One page of groups (`grouping`, filtered, in `sort` order).
pub fn groups(
    conn: &mut PgConnection,
    grouping: Grouping,
    filter: &IpFilter,
    sort: IpSort,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<IpGroup>> {
    let level = grouping.level();
    if let Some(username) = &filter.username {
        return groups_of_account(conn, grouping, filter, username, sort, offset, limit);
    }
    let window = filter.since.is_some() || filter.until.is_some();
    let page = if !window {
        // Everything ever: the totals, a page read through the sort's index.
        format!(
            "SELECT net AS network, generations, uploads, anonymous,
                    first_at AS first_seen, last_at AS last_seen
             FROM ip_activity_totals
             WHERE level = $1 AND ($2::cidr IS NULL OR net <<= $2)
             ORDER BY {} OFFSET $9 LIMIT $10",
            sort.totals_order_by()
        )
    } else {
        // A window of days: its months' and days' rows, summed per group.
        format!(
            "SELECT * FROM (
               SELECT net AS network, sum(generations) AS generations,
                      sum(uploads) AS uploads, sum(anonymous) AS anonymous,
                      min(first_at) AS first_seen, max(last_at) AS last_seen
               FROM ({WINDOW_ROWS}) rows
               GROUP BY net) summed
             ORDER BY {} OFFSET $9 LIMIT $10",
            sort.order_by()
        )
    };
    let spans = WindowSpans::of(filter);
    let query = diesel::sql_query(format!(
        "SELECT g.*, {ACCOUNTS_OF_NET}, {BLOCKED} AS blocked
         FROM ({page}) g ORDER BY {}",
        sort.order_by()
    ))
    .bind::<diesel::sql_types::SmallInt, _>(level)
    .bind::<Nullable<Cidr>, _>(filter.within)
    .bind::<Date, _>(spans.head.0)
    .bind::<Date, _>(spans.head.1)
    .bind::<Date, _>(spans.months.0)
    .bind::<Date, _>(spans.months.1)
    .bind::<Date, _>(spans.tail.0)
    .bind::<Date, _>(spans.tail.1)
    .bind::<BigInt, _>(offset)
    .bind::<BigInt, _>(limit);
    if !window {
        return query.load(conn);
    }
    summing_a_window(conn, |conn| query.load(conn))
}

/// Runs a read that sums a window's rows per group. The sums are held in memory (about 260
/// bytes a group: a month of 100,000 addresses is 26 MB), not spilled to disk in batches
/// at the default 4 MB; and without parallel workers: the page and its count already run
/// at once on two connections, and PostgreSQL, which cannot estimate how many groups a
/// union of months and days holds, planned each as two workers' partial sums merged by a
/// sort that spilled (the count 72 ms against 45 ms done in one process).
fn summing_a_window<T>(
    conn: &mut PgConnection,
    read: impl FnOnce(&mut PgConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    crate::db::with_work_mem(conn, 64, |conn| {
        diesel::sql_query("SET LOCAL max_parallel_workers_per_gather = 0").execute(conn)?;
        read(conn)
    })
}

/// How many groups the listing has, counted up to [`GROUPS_COUNTED`] (one more means
/// "more than that").
pub fn group_count(
    conn: &mut PgConnection,
    grouping: Grouping,
    filter: &IpFilter,
) -> QueryResult<i64> {
    let window = filter.since.is_some() || filter.until.is_some();
    let groups = if filter.username.is_some() {
        return Ok(groups(
            conn,
            grouping,
            filter,
            IpSort::Address,
            0,
            GROUPS_COUNTED + 1,
        )?
        .len() as i64);
    } else if !window {
        "SELECT net FROM ip_activity_totals
         WHERE level = $1 AND ($2::cidr IS NULL OR net <<= $2)"
            .to_owned()
    } else {
        format!("SELECT DISTINCT net FROM ({WINDOW_ROWS}) rows")
    };
    let spans = WindowSpans::of(filter);
    let count = diesel::sql_query(format!(
        "SELECT count(*) AS count FROM ({groups} LIMIT $9) counted"
    ))
    .bind::<diesel::sql_types::SmallInt, _>(grouping.level())
    .bind::<Nullable<Cidr>, _>(filter.within)
    .bind::<Date, _>(spans.head.0)
    .bind::<Date, _>(spans.head.1)
    .bind::<Date, _>(spans.months.0)
    .bind::<Date, _>(spans.months.1)
    .bind::<Date, _>(spans.tail.0)
    .bind::<Date, _>(spans.tail.1)
    .bind::<BigInt, _>(GROUPS_COUNTED + 1);
    let counted = match window {
        true => summing_a_window(conn, |conn| count.get_result::<Count>(conn))?,
        false => count.get_result::<Count>(conn)?,
    };
    Ok(counted.count)
}

/// The groups one account was active in, from that account's own jobs and uploads (the
/// counts are its own).
fn groups_of_account(
    conn: &mut PgConnection,
    grouping: Grouping,
    filter: &IpFilter,
    username: &str,
    sort: IpSort,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<IpGroup>> {
    let (v4, v6) = grouping.prefixes();
    let sql = format!(
        "WITH account AS (SELECT id FROM users WHERE username = $6),
         activity AS (
           SELECT j.client_ip AS ip, 'generation' AS kind, j.anonymous, j.created_at AS at
           FROM job_origins j WHERE j.user_id = (SELECT id FROM account) AND NOT j.tagging
           UNION ALL
           SELECT o.client_ip, 'upload', FALSE, o.created_at
           FROM image_origins o WHERE o.user_id = (SELECT id FROM account) AND o.upload),
         filtered AS (
           SELECT a.*,
                  network(set_masklen(a.ip, CASE WHEN family(a.ip) = 4 THEN $1 ELSE $2 END)) AS net
           FROM activity a
           WHERE ($3::cidr IS NULL OR a.ip <<= $3)
             AND ($4::timestamptz IS NULL OR a.at >= $4)
             AND ($5::timestamptz IS NULL OR a.at < $5)),
         g AS (
           SELECT net AS network,
                  count(*) FILTER (WHERE kind = 'generation') AS generations,
                  count(*) FILTER (WHERE kind = 'upload') AS uploads,
                  count(*) FILTER (WHERE anonymous) AS anonymous,
                  min(at) AS first_seen, max(at) AS last_seen
           FROM filtered GROUP BY net)
         SELECT g.*, ARRAY[$6::text] AS accounts, 0::bigint AS more_accounts, {BLOCKED} AS blocked
         FROM g ORDER BY {} OFFSET $7 LIMIT $8",
        sort.order_by()
    );
    diesel::sql_query(sql)
        .bind::<Integer, _>(v4)
        .bind::<Integer, _>(v6)
        .bind::<Nullable<Cidr>, _>(filter.within)
        .bind::<Nullable<Timestamptz>, _>(filter.since)
        .bind::<Nullable<Timestamptz>, _>(filter.until)
        .bind::<Text, _>(username)
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

/// The ids of the `per_network` most recent images from each network (all of one
/// `grouping`), newest first, each read in order from an index.
pub fn recent_image_ids(
    conn: &mut PgConnection,
    grouping: Grouping,
    networks: &[IpNetwork],
    per_network: i64,
) -> QueryResult<Vec<(IpNetwork, i64)>> {
    let own_images = match grouping {
        // A /24 or /64: the index on each image's network.
        Grouping::Prefix => {
            "SELECT image_id AS id FROM image_origins
             WHERE atelier_ip_prefix(client_ip) = g.net
             ORDER BY created_at DESC, image_id DESC LIMIT $2"
        }
        // One address: the address index, as the range of host addresses the group is
        // (a `<<=` against a value from another table is not one the planner can turn
        // into an index range), and only then ordered (`OFFSET 0` keeps the planner from
        // walking every image by time looking for an address that may have none).
        Grouping::Address => {
            "SELECT id FROM (
               SELECT image_id AS id, created_at FROM image_origins
               WHERE client_ip >= set_masklen(network(g.net)::inet, CASE family(g.net) WHEN 4 THEN 32 ELSE 128 END)
                 AND client_ip <= set_masklen(broadcast(g.net), CASE family(g.net) WHEN 4 THEN 32 ELSE 128 END)
                 AND client_ip <<= g.net
               OFFSET 0) own
             ORDER BY created_at DESC, id DESC LIMIT $2"
        }
    };
    let rows: Vec<RecentImage> = diesel::sql_query(format!(
        "SELECT g.net AS network, i.id
         FROM unnest($1::cidr[]) AS g(net) CROSS JOIN LATERAL ({own_images}) i"
    ))
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

/// Where a page of a case file starts: just after this row (keyset paging, so page 900 is
/// as cheap as page 1). Written in links as `at_micros.kind.id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseCursor {
    pub at: DateTime<Utc>,
    /// `j` for a job, `u` for an upload: the order's tie-breaker after the time.
    pub source: char,
    pub id: i64,
}

impl CaseCursor {
    /// The cursor after `row`.
    pub fn after(row: &CaseRow) -> Self {
        CaseCursor {
            at: row.at,
            source: if row.kind == "upload" { 'u' } else { 'j' },
            id: row.id,
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split('.');
        let micros: i64 = parts.next()?.parse().ok()?;
        let source = match parts.next()? {
            "j" => 'j',
            "u" => 'u',
            _ => return None,
        };
        let id = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(CaseCursor {
            at: DateTime::from_timestamp_micros(micros)?,
            source,
            id,
        })
    }

    pub fn to_param(&self) -> String {
        format!("{}.{}.{}", self.at.timestamp_micros(), self.source, self.id)
    }
}

/// One side of a case file (jobs or uploads) from `$1`, newest first, after the cursor
/// (`$2` time, `$3` source, `$4` id), at most `$5`: each side reads its own index from the
/// cursor on, then the two are merged.
const CASE_JOBS: &str = "
    SELECT CASE WHEN j.kind = 'video' THEN 'video' ELSE 'generation' END AS kind, j.id,
           j.user_id, u.username, (j.anon_id IS NOT NULL) AS anonymous,
           j.prompt, j.status, o.created_at AS at, o.client_ip::cidr AS ip, j.image_ids,
           j.params -> 'charge' AS charge, (j.params ->> 'seconds')::integer AS seconds,
           'j' AS source
    FROM job_origins o JOIN generation_jobs j ON j.id = o.job_id
         LEFT JOIN users u ON u.id = j.user_id
    WHERE o.client_ip <<= $1 AND NOT o.tagging
      AND ($2::timestamptz IS NULL OR o.created_at < $2
           OR (o.created_at = $2 AND ('j' < $3 OR ('j' = $3 AND o.job_id < $4))))
    ORDER BY o.created_at DESC, o.job_id DESC LIMIT $5";
const CASE_UPLOADS: &str = "
    SELECT 'upload' AS kind, o.image_id AS id, o.user_id, u.username, FALSE AS anonymous,
           i.title AS prompt, 'stored' AS status, o.created_at AS at, o.client_ip::cidr AS ip,
           ARRAY[o.image_id] AS image_ids, NULL::jsonb AS charge, NULL::integer AS seconds,
           'u' AS source
    FROM image_origins o JOIN images i ON i.id = o.image_id JOIN users u ON u.id = o.user_id
    WHERE o.upload AND o.client_ip <<= $1
      AND ($2::timestamptz IS NULL OR o.created_at < $2
           OR (o.created_at = $2 AND ('u' < $3 OR ('u' = $3 AND o.image_id < $4))))
    ORDER BY o.created_at DESC, o.image_id DESC LIMIT $5";

/// Generations and uploads from `network`, newest first: `limit` of them after `after`.
pub fn case_rows(
    conn: &mut PgConnection,
    network: IpNetwork,
    after: Option<&CaseCursor>,
    limit: i64,
) -> QueryResult<Vec<CaseRow>> {
    diesel::sql_query(format!(
        "SELECT kind, id, user_id, username, anonymous, prompt, status, at, ip, image_ids, charge, seconds
         FROM (({CASE_JOBS}) UNION ALL ({CASE_UPLOADS})) rows
         ORDER BY at DESC, source DESC, id DESC LIMIT $5"
    ))
    .bind::<Cidr, _>(network)
    .bind::<Nullable<Timestamptz>, _>(after.map(|c| c.at))
    .bind::<Text, _>(after.map_or("j".to_owned(), |c| c.source.to_string()))
    .bind::<BigInt, _>(after.map_or(0, |c| c.id))
    .bind::<BigInt, _>(limit)
    .load(conn)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// How many generations and uploads came from `network`, from the rollups: its own group
/// when it is one (an address, a /24, a /64), otherwise the sum of its addresses'.
pub fn case_row_count(conn: &mut PgConnection, network: IpNetwork) -> QueryResult<i64> {
    diesel::sql_query(
        "SELECT coalesce(
           (SELECT activity FROM ip_activity_totals WHERE net = $1),
           (SELECT sum(activity)::bigint FROM ip_activity_totals WHERE level = 0 AND net <<= $1),
           0) AS count",
    )
    .bind::<Cidr, _>(network)
    .get_result::<Count>(conn)
    .map(|row| row.count)
}

/// Who was seen on `network`, from the rollups, for the case file's header: the accounts
/// of a group (an address, a /24, a /64), or for a wider range how many of its addresses
/// were active (distinct accounts across thousands of addresses would be a pass over
/// them all).
pub enum Seen {
    Accounts(i64),
    Addresses(i64),
}

pub fn seen_on(conn: &mut PgConnection, network: IpNetwork) -> QueryResult<Seen> {
    let accounts_of_group =
        diesel::sql_query("SELECT accounts AS count FROM ip_activity_totals WHERE net = $1")
            .bind::<Cidr, _>(network)
            .get_result::<Count>(conn)
            .optional()?;
    Ok(match accounts_of_group {
        Some(accounts) => Seen::Accounts(accounts.count),
        None => Seen::Addresses(
            diesel::sql_query(
                "SELECT count(*) AS count FROM ip_activity_totals WHERE level = 0 AND net <<= $1",
            )
            .bind::<Cidr, _>(network)
            .get_result::<Count>(conn)?
            .count,
        ),
    })
}

/// What deleting everything from `network` would remove (read on the delete review,
/// where it is worth a pass over that network's rows).
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
        "WITH own AS (SELECT o.user_id, i.disk_bytes FROM image_origins o
                      JOIN images i ON i.id = o.image_id WHERE o.client_ip <<= $1)
         SELECT (SELECT count(*) FROM own) AS images,
                (SELECT count(*) FROM job_origins WHERE client_ip <<= $1 AND NOT tagging) AS jobs,
                (SELECT coalesce(sum(disk_bytes), 0)::bigint FROM own) AS disk_bytes,
                (SELECT count(DISTINCT user_id) FROM own) AS accounts",
    )
    .bind::<Cidr, _>(network)
    .get_result(conn)
}

/// The ids of every image from `network`.
pub fn image_ids_from(conn: &mut PgConnection, network: IpNetwork) -> QueryResult<Vec<i64>> {
    use crate::db::schema::image_origins;
    image_origins::table
        .filter(image_origins::client_ip.is_contained_by_or_eq(network))
        .select(image_origins::image_id)
        .load(conn)
}

/// Deletes every job from `network` (their images are deleted by the caller first).
pub fn delete_jobs_from(conn: &mut PgConnection, network: IpNetwork) -> QueryResult<usize> {
    use crate::db::schema::{generation_jobs, job_origins};
    let from_network = job_origins::table
        .filter(job_origins::client_ip.is_contained_by_or_eq(network))
        .select(job_origins::job_id);
    diesel::delete(generation_jobs::table.filter(generation_jobs::id.eq_any(from_network)))
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
           UNION ALL SELECT client_ip, created_at FROM image_origins WHERE user_id = $1
           UNION ALL SELECT client_ip, created_at FROM job_origins WHERE user_id = $1
         ) seen GROUP BY ip ORDER BY max(at) DESC LIMIT 100",
    )
    .bind::<BigInt, _>(user_id)
    .load(conn)
}
