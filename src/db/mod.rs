//! The connection pool, embedded migrations, and [`Db::run`]: the one way request code
//! touches the database. Diesel is synchronous, so every query runs on the pool's own
//! threads ([`threads`]), never on the async executor.
//!
//! Checkouts are not pinged: a `SELECT 1` per checkout would be a round trip per request.
//! A connection the server dropped is found out by using it instead: libpq then reports
//! an unknown transaction state, Diesel marks the connection broken, r2d2 throws it away,
//! and the request answers 503. For a few seconds after that, checkouts are pinged, so
//! the other idle connections that died with it are replaced before anyone uses them.

pub mod batches;
pub mod models;
pub mod pg_embedded;
pub mod schema;
pub mod threads;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use diesel::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool, R2D2Connection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::base::error::AppError;
use threads::DbThreads;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type PgPool = Pool<ConnectionManager<PgConnection>>;

/// How long after a failed checkout an unexplained 500 is reported as a 503, and how
/// long after a lost connection checkouts are pinged.
const UNAVAILABLE_MEMORY_SECS: i64 = 10;

/// The pool plus a note of when the database was last unreachable.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
    last_unavailable_at: Arc<AtomicI64>,
    /// One permit per database thread: requests beyond that wait here, on the executor,
    /// and give up after `wait_limit` (a 503) rather than queue without end.
    permits: Arc<tokio::sync::Semaphore>,
    wait_limit: Duration,
    /// The threads queries run on, warm ones first (the rest of the pool's connections
    /// serve background work: generation, maintenance).
    threads: DbThreads,
}

impl Db {
    /// A pool of `max_size` connections that gives up on a checkout after `connect_timeout`
    /// so a dead database turns into a 503 within seconds (r2d2 would wait 30 s by
    /// default), and up to `threads` of them (at most `max_size`) serving requests at once.
    /// Does not connect yet.
    pub fn new(url: &str, max_size: u32, threads: usize, connect_timeout: Duration) -> Self {
        let threads = threads.clamp(1, max_size as usize);
        let pool = Pool::builder()
            .max_size(max_size)
            .min_idle(Some(1))
            .test_on_check_out(false)
            .connection_timeout(connect_timeout)
            .build_unchecked(ConnectionManager::new(url));
        Db {
            pool,
            last_unavailable_at: Arc::new(AtomicI64::new(0)),
            permits: Arc::new(tokio::sync::Semaphore::new(threads)),
            wait_limit: connect_timeout,
            threads: DbThreads::new(threads),
        }
    }

    /// Runs `query` with a pooled connection on the database threads. The query may fail with
    /// any error that becomes an `AppError` (a Diesel error, a refusal): the closure is
    /// just the query, without `Ok(…?)` around it.
    pub async fn run<T, E, F>(&self, query: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        E: Into<AppError>,
        T: Send + 'static,
    {
        let permit = tokio::time::timeout(self.wait_limit, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| AppError::Busy {
                message: "The server is busy right now; please try again in a moment.".into(),
                retry_after_secs: 1,
            })?
            .map_err(AppError::internal)?;
        let db = self.clone();
        self.threads
            .run(move || {
                let _permit = permit;
                let mut conn = db.checkout()?;
                let result = query(&mut conn).map_err(Into::into);
                if result.is_err() && conn.is_broken() {
                    db.note_unavailable();
                    return Err(AppError::DatabaseUnavailable);
                }
                result
            })
            .await
            .map_err(|_| AppError::internal(anyhow::anyhow!("a database task panicked")))?
    }

    /// A connection for code already off the executor (CLI, background tasks).
    pub fn checkout(
        &self,
    ) -> Result<diesel::r2d2::PooledConnection<ConnectionManager<PgConnection>>, AppError> {
        // After a lost connection, its idle siblings are likely dead too: ping until one
        // answers (each failed ping discards its connection), then trust them again.
        let attempts = if self.recently_unavailable() {
            self.pool.max_size() + 1
        } else {
            1
        };
        for _ in 0..attempts {
            let mut conn = self.pool.get().map_err(|err| {
                self.note_unavailable();
                tracing::warn!(error = %err, "database checkout failed");
                AppError::DatabaseUnavailable
            })?;
            if attempts == 1 || conn.ping().is_ok() {
                return Ok(conn);
            }
        }
        self.note_unavailable();
        Err(AppError::DatabaseUnavailable)
    }

    fn note_unavailable(&self) {
        self.last_unavailable_at
            .store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
    }

    /// True when a checkout failed in the last few seconds; used to report failures from
    /// layers that cannot return an `AppError` (the session store) as 503 instead of 500.
    pub fn recently_unavailable(&self) -> bool {
        let at = self.last_unavailable_at.load(Ordering::Relaxed);
        chrono::Utc::now().timestamp() - at <= UNAVAILABLE_MEMORY_SECS
    }

    /// Applies pending migrations.
    pub fn migrate(&self) -> anyhow::Result<()> {
        let mut conn = self
            .pool
            .get()
            .map_err(|err| anyhow::anyhow!("cannot connect to the database: {err}"))?;
        run_migrations(&mut conn)
    }
}

/// Applies pending migrations under a session-level advisory lock, so instances starting
/// together take turns: the first migrates, the others find nothing left to do.
pub fn run_migrations(conn: &mut PgConnection) -> anyhow::Result<()> {
    use diesel::RunQueryDsl;
    const LOCK: &str = "SELECT pg_advisory_lock(hashtextextended('atelier migrations', 0))";
    const UNLOCK: &str = "SELECT pg_advisory_unlock(hashtextextended('atelier migrations', 0))";
    diesel::sql_query(LOCK).execute(conn)?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|_| ())
        .map_err(|err| anyhow::anyhow!("migrations failed: {err}"));
    diesel::sql_query(UNLOCK).execute(conn)?;
    result
}

/// Runs `read` in a transaction whose sorts, hashes and bitmaps may each use `megabytes`
/// of memory (PostgreSQL's default is 4): for the few reads that gather far more rows than
/// a page and would otherwise spill to disk or turn a bitmap lossy.
pub fn with_work_mem<T>(
    conn: &mut PgConnection,
    megabytes: u16,
    read: impl FnOnce(&mut PgConnection) -> diesel::QueryResult<T>,
) -> diesel::QueryResult<T> {
    use diesel::{Connection, RunQueryDsl};
    conn.transaction(|conn| {
        diesel::sql_query(format!("SET LOCAL work_mem = '{megabytes}MB'")).execute(conn)?;
        read(conn)
    })
}

/// Takes a transaction-scoped advisory lock named by `key`.
pub fn advisory_lock(conn: &mut PgConnection, key: &str) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl;
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind::<diesel::sql_types::Text, _>(key)
        .execute(conn)?;
    Ok(())
}

/// True when the error is a unique-constraint violation on `constraint`.
pub fn is_unique_violation(err: &diesel::result::Error, constraint: &str) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some(constraint)
    )
}
