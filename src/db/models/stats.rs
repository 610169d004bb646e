//! Aggregate counts across tables for the admin overview.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Cidr};
use ipnetwork::IpNetwork;

#[derive(Debug, Clone, QueryableByName)]
pub struct Overview {
    #[diesel(sql_type = BigInt)]
    pub users: i64,
    #[diesel(sql_type = BigInt)]
    pub users_today: i64,
    #[diesel(sql_type = BigInt)]
    pub generations_today: i64,
    #[diesel(sql_type = BigInt)]
    pub generations_week: i64,
    #[diesel(sql_type = BigInt)]
    pub uploads_today: i64,
    #[diesel(sql_type = BigInt)]
    pub jobs_queued: i64,
    #[diesel(sql_type = BigInt)]
    pub jobs_running: i64,
    #[diesel(sql_type = BigInt)]
    pub jobs_failed_today: i64,
    #[diesel(sql_type = BigInt)]
    pub images: i64,
    #[diesel(sql_type = BigInt)]
    pub disk_bytes: i64,
}

pub fn overview(conn: &mut PgConnection) -> QueryResult<Overview> {
    diesel::sql_query(
        "SELECT
           (SELECT count(*) FROM users WHERE username <> '_anon') AS users,
           (SELECT count(*) FROM users WHERE username <> '_anon' AND created_at >= date_trunc('day', now())) AS users_today,
           (SELECT count(*) FROM generation_jobs WHERE kind <> 'tag' AND created_at >= date_trunc('day', now())) AS generations_today,
           (SELECT count(*) FROM generation_jobs WHERE kind <> 'tag' AND created_at >= now() - interval '7 days') AS generations_week,
           (SELECT count(*) FROM images WHERE kind = 'upload' AND created_at >= date_trunc('day', now())) AS uploads_today,
           (SELECT count(*) FROM generation_jobs WHERE status = 'queued') AS jobs_queued,
           (SELECT count(*) FROM generation_jobs WHERE status = 'running') AS jobs_running,
           (SELECT count(*) FROM generation_jobs WHERE status = 'failed' AND created_at >= date_trunc('day', now())) AS jobs_failed_today,
           -- The folders' counters, not a pass over every image (pictures in the trash are
           -- in the bytes, not the count).
           (SELECT coalesce(sum(image_count), 0)::bigint FROM folders) AS images,
           (SELECT coalesce(sum(disk_bytes), 0)::bigint FROM folders) AS disk_bytes",
    )
    .get_result(conn)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct TopAddress {
    #[diesel(sql_type = Cidr)]
    pub ip: IpNetwork,
    #[diesel(sql_type = BigInt)]
    pub generations: i64,
}

/// The addresses with the most generations in the last 24 hours.
pub fn top_addresses(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<TopAddress>> {
    diesel::sql_query(
        "SELECT client_ip::cidr AS ip, count(*) AS generations FROM job_origins
         WHERE NOT tagging AND created_at >= now() - interval '24 hours'
         GROUP BY client_ip ORDER BY count(*) DESC, client_ip LIMIT $1",
    )
    .bind::<BigInt, _>(limit)
    .load(conn)
}
