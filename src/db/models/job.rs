//! The `generation_jobs` table as a queue. Workers claim with `FOR UPDATE SKIP LOCKED`, so
//! any number of workers in any number of server processes never run a job twice; the
//! claim prefers the oldest job of the owner with the fewest jobs running (fair between
//! users). A running job carries a lease its worker renews; an expired lease means the
//! worker died, and the job is retried once, then failed (and refunded by the caller).
//! What a job was charged lives in its `params` under `charge`
//! (see `quota::charge::Reservation::of_job`).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use ipnetwork::IpNetwork;

use crate::db::schema::{generation_jobs, job_origins};
use crate::domain::{JobKind, JobStatus};

/// How long a claim lasts without renewal.
pub const LEASE_SECS: i64 = 30;
/// Attempts before an interrupted job is failed instead of retried.
pub const MAX_ATTEMPTS: i32 = 2;

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = generation_jobs)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Job {
    pub id: i64,
    pub user_id: Option<i64>,
    pub owner_key: String,
    pub kind: JobKind,
    pub prompt: String,
    pub params: serde_json::Value,
    pub status: JobStatus,
    pub error: Option<String>,
    pub attempts: i32,
    pub lease_until: Option<DateTime<Utc>>,
    pub image_ids: Vec<i64>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The anonymous visitor who asked, until they sign in (then `user_id` is set).
    pub anon_id: Option<String>,
    /// How far the provider says it is, 0 to 1 over all the job's images.
    pub progress: f32,
    /// The provider's estimate of the seconds left, when it gives one.
    pub eta_secs: Option<i32>,
}

impl Job {
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }
}

/// What a job asks for, kept in `params`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ImageParams {
    pub count: u32,
    pub width: u32,
    pub height: u32,
    pub seed: u64,
    /// Stories: one prompt per image, all painted with the same seed (a shared style).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenes: Vec<String>,
    /// The folder (slug) results go to; the owner's default folder when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Prompt edits: the image to start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_image_id: Option<i64>,
    /// The provider the order asked for; the default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Videos: the clip's length in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u32>,
}

impl ImageParams {
    /// The prompt and seed of image `index`.
    pub fn image(&self, job_prompt: &str, index: u32) -> (String, u64) {
        match self.scenes.get(index as usize) {
            Some(scene) => (scene.clone(), self.seed),
            // Image `index` of a batch is what `seed + index` alone makes, kept within the
            // seeds a form accepts so every picture's seed can be typed in again.
            None => (
                job_prompt.to_owned(),
                self.seed.wrapping_add(u64::from(index)) & ((1 << 53) - 1),
            ),
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = generation_jobs)]
pub struct NewJob<'a> {
    /// From [`next_id`]; `None` takes the next one.
    pub id: Option<i64>,
    pub user_id: Option<i64>,
    pub owner_key: &'a str,
    pub kind: JobKind,
    pub prompt: &'a str,
    pub params: serde_json::Value,
    /// The address it was asked from, kept in `job_origins` beside the row.
    #[diesel(skip_insertion)]
    pub client_ip: Option<IpNetwork>,
    pub anon_id: Option<&'a str>,
}

/// Inserts the job and, when it has one, its origin (the address it was asked from).
pub fn enqueue(conn: &mut PgConnection, new: &NewJob<'_>) -> QueryResult<Job> {
    let job: Job = diesel::insert_into(generation_jobs::table)
        .values(new)
        .returning(Job::as_returning())
        .get_result(conn)?;
    if let Some(client_ip) = new.client_ip {
        diesel::insert_into(job_origins::table)
            .values((
                job_origins::job_id.eq(job.id),
                job_origins::user_id.eq(job.user_id),
                job_origins::client_ip.eq(client_ip),
                job_origins::anonymous.eq(job.anon_id.is_some()),
                job_origins::tagging.eq(job.kind == JobKind::Tag),
                job_origins::created_at.eq(job.created_at),
            ))
            .execute(conn)?;
    }
    Ok(job)
}

/// The address job `id` was asked from, while retention keeps it.
pub fn origin(conn: &mut PgConnection, id: i64) -> QueryResult<Option<IpNetwork>> {
    job_origins::table
        .find(id)
        .select(job_origins::client_ip)
        .first(conn)
        .optional()
}

/// An id for a job about to be queued, so what it is charged can name it before the row
/// exists (the ledger's foreign key is checked at commit).
pub fn next_id(conn: &mut PgConnection) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct NextId {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    diesel::sql_query("SELECT nextval(pg_get_serial_sequence('generation_jobs', 'id')) AS id")
        .get_result::<NextId>(conn)
        .map(|row| row.id)
}

/// Hands an anonymous visitor's jobs, and their origins, to the account they signed in to.
pub fn adopt_anonymous(conn: &mut PgConnection, anon_id: &str, user_id: i64) -> QueryResult<usize> {
    let adopted: Vec<i64> = diesel::update(
        generation_jobs::table
            .filter(generation_jobs::anon_id.eq(anon_id))
            .filter(generation_jobs::user_id.is_null()),
    )
    .set((
        generation_jobs::user_id.eq(user_id),
        generation_jobs::owner_key.eq(format!("user:{user_id}")),
    ))
    .returning(generation_jobs::id)
    .get_results(conn)?;
    diesel::update(job_origins::table.filter(job_origins::job_id.eq_any(&adopted)))
        .set(job_origins::user_id.eq(user_id))
        .execute(conn)?;
    Ok(adopted.len())
}

/// The user's latest jobs that made something (pictures, stories, clips, edits; not tag
/// suggestions, which have no prompt to show), newest first.
pub fn recent_for_user(conn: &mut PgConnection, user_id: i64, limit: i64) -> QueryResult<Vec<Job>> {
    generation_jobs::table
        .filter(generation_jobs::user_id.eq(user_id))
        .filter(generation_jobs::kind.ne(JobKind::Tag.as_str()))
        .order((
            generation_jobs::created_at.desc(),
            generation_jobs::id.desc(),
        ))
        .limit(limit)
        .select(Job::as_select())
        .load(conn)
}

pub fn find(conn: &mut PgConnection, id: i64) -> QueryResult<Option<Job>> {
    generation_jobs::table
        .find(id)
        .select(Job::as_select())
        .first(conn)
        .optional()
}

/// Claims the next job fairly, or `None` when the queue is empty.
pub fn claim(conn: &mut PgConnection) -> QueryResult<Option<Job>> {
    diesel::sql_query(
        "WITH next AS (
             SELECT j.id FROM generation_jobs j
             WHERE j.status = 'queued'
             ORDER BY (SELECT count(*) FROM generation_jobs r
                       WHERE r.status = 'running' AND r.owner_key = j.owner_key),
                      j.created_at, j.id
             LIMIT 1
             FOR UPDATE SKIP LOCKED)
         UPDATE generation_jobs SET status = 'running', attempts = attempts + 1,
                started_at = now(), lease_until = now() + make_interval(secs => $1)
         FROM next WHERE generation_jobs.id = next.id
         RETURNING generation_jobs.*",
    )
    .bind::<diesel::sql_types::Double, _>(LEASE_SECS as f64)
    .get_result(conn)
    .optional()
}

type RunningJob = diesel::dsl::Filter<
    diesel::dsl::Find<generation_jobs::table, i64>,
    diesel::dsl::Eq<generation_jobs::status, JobStatus>,
>;
type ClaimedJob = diesel::dsl::Filter<RunningJob, diesel::dsl::Eq<generation_jobs::attempts, i32>>;

/// The running job as claimed by attempt `attempt`: a worker whose lease expired and whose
/// job was claimed again cannot renew, finish or fail it any more.
fn claimed(id: i64, attempt: i32) -> ClaimedJob {
    generation_jobs::table
        .find(id)
        .filter(generation_jobs::status.eq(JobStatus::Running))
        .filter(generation_jobs::attempts.eq(attempt))
}

/// Records how far a running job is and extends its lease, since its worker is plainly
/// alive (ignored once another attempt holds it).
pub fn report_progress(
    conn: &mut PgConnection,
    id: i64,
    attempt: i32,
    progress: f32,
    eta_secs: Option<i32>,
) -> QueryResult<()> {
    diesel::update(claimed(id, attempt))
        .set((
            generation_jobs::progress.eq(progress.clamp(0.0, 1.0)),
            generation_jobs::eta_secs.eq(eta_secs.map(|secs| secs.max(0))),
            generation_jobs::lease_until.eq(Utc::now() + Duration::seconds(LEASE_SECS)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Extends a running job's lease; `false` when the job is no longer this worker's.
pub fn renew_lease(conn: &mut PgConnection, id: i64, attempt: i32) -> QueryResult<bool> {
    let renewed = diesel::update(claimed(id, attempt))
        .set(generation_jobs::lease_until.eq(Utc::now() + Duration::seconds(LEASE_SECS)))
        .execute(conn)?;
    Ok(renewed == 1)
}

pub fn succeed(
    conn: &mut PgConnection,
    id: i64,
    attempt: i32,
    image_ids: &[i64],
) -> QueryResult<bool> {
    let updated = diesel::update(claimed(id, attempt))
        .set((
            generation_jobs::status.eq(JobStatus::Succeeded),
            generation_jobs::image_ids.eq(image_ids),
            generation_jobs::progress.eq(1.0f32),
            generation_jobs::eta_secs.eq(None::<i32>),
            generation_jobs::finished_at.eq(Utc::now()),
            generation_jobs::lease_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Marks a running job failed; `true` only for the call that did it (refund once, in the
/// same transaction).
pub fn fail(conn: &mut PgConnection, id: i64, attempt: i32, error: &str) -> QueryResult<bool> {
    let updated = diesel::update(claimed(id, attempt))
        .set((
            generation_jobs::status.eq(JobStatus::Failed),
            generation_jobs::error.eq(error),
            generation_jobs::finished_at.eq(Utc::now()),
            generation_jobs::lease_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Jobs whose worker died: requeued if they have an attempt left, otherwise failed.
/// Returns the failed ones, to be refunded and cleaned up in the caller's transaction.
pub fn recover_expired(conn: &mut PgConnection) -> QueryResult<Vec<Job>> {
    conn.transaction(|conn| {
        let expired = generation_jobs::table
            .filter(generation_jobs::status.eq(JobStatus::Running))
            .filter(generation_jobs::lease_until.lt(Utc::now()));
        diesel::update(expired.filter(generation_jobs::attempts.lt(MAX_ATTEMPTS)))
            .set((
                generation_jobs::status.eq(JobStatus::Queued),
                generation_jobs::lease_until.eq(None::<DateTime<Utc>>),
            ))
            .execute(conn)?;
        diesel::update(expired)
            .set((
                generation_jobs::status.eq(JobStatus::Failed),
                generation_jobs::error
                    .eq("The generation was interrupted twice and has been cancelled."),
                generation_jobs::finished_at.eq(Utc::now()),
                generation_jobs::lease_until.eq(None::<DateTime<Utc>>),
            ))
            .returning(Job::as_returning())
            .get_results(conn)
    })
}

/// The tagging job for the image that is queued or running, if there is one. The
/// predicate is written as `generation_jobs_pending_tagging_idx` is (literal words, so even
/// a generic plan can prove the partial index applies): a lookup among the unfinished
/// tagging jobs, whatever the queue's history.
pub fn tagging_pending(conn: &mut PgConnection, image_id: i64) -> QueryResult<Option<i64>> {
    // Static (so prepared once per connection): the image's id compared as the text the
    // job's parameters hold.
    generation_jobs::table
        .filter(generation_jobs::kind.eq(JobKind::Tag))
        .filter(
            generation_jobs::status
                .eq(JobStatus::Queued)
                .or(generation_jobs::status.eq(JobStatus::Running)),
        )
        .filter(
            generation_jobs::params
                .retrieve_as_text("image_id")
                .eq(image_id.to_string()),
        )
        .select(generation_jobs::id)
        .order(generation_jobs::id.desc())
        .first(conn)
        .optional()
}

/// How many jobs are queued and running, cluster-wide (for `/metrics`).
pub fn queue_depth(conn: &mut PgConnection) -> QueryResult<Vec<(String, i64)>> {
    generation_jobs::table
        .filter(
            generation_jobs::status
                .eq(JobStatus::Queued)
                .or(generation_jobs::status.eq(JobStatus::Running)),
        )
        .group_by(generation_jobs::status)
        .select((
            diesel::dsl::sql::<diesel::sql_types::Text>("status::text"),
            diesel::dsl::count_star(),
        ))
        .load(conn)
}
