//! Keeping a running job alive: while a provider works, its lease is renewed and its
//! progress recorded on the job every [`PROGRESS_POLL`], so every instance's job page shows
//! how far it is and a long clip never looks like a dead worker.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;

use super::Generator;
use crate::db::Db;
use crate::db::models::job::{self, Job};

/// How often a running provider is asked how far it is.
const PROGRESS_POLL: Duration = Duration::from_millis(500);

/// Waits for the provider's `work`, meanwhile renewing the job's lease and recording what
/// `progress` says every [`PROGRESS_POLL`] (so every instance's job page shows it and a
/// long clip never looks like a dead worker).
pub(super) async fn while_alive<T, P>(
    db: &Db,
    job: &Job,
    work: impl std::future::Future<
        Output = Result<Result<T, super::GenerateError>, actix_web::error::BlockingError>,
    >,
    progress: impl Fn() -> P,
) -> Result<T, String>
where
    P: std::future::Future<Output = Option<super::Progress>>,
{
    tokio::pin!(work);
    let mut poll = tokio::time::interval(PROGRESS_POLL);
    poll.tick().await;
    loop {
        tokio::select! {
            done = &mut work => break done,
            _ = poll.tick() => {
                let (id, attempt) = (job.id, job.attempts);
                let report = progress().await;
                let beat = db.run(move |conn| match report {
                    Some(report) => job::report_progress(
                        conn,
                        id,
                        attempt,
                        report.done,
                        report.eta_secs.and_then(|secs| i32::try_from(secs).ok()),
                    ),
                    None => job::renew_lease(conn, id, attempt).map(|_| ()),
                });
                if let Err(err) = beat.await {
                    tracing::debug!(job = id, error = %err, "could not record progress");
                }
            }
        }
    }
    .map_err(|err| err.to_string())?
    .map_err(|err| err.0)
}

/// Waits for the picture provider's `work`, recording its progress reports on the job
/// (as a share of the whole job: picture `index` of `count`).
pub(super) async fn with_progress<T>(
    db: &Db,
    generator: &Arc<dyn Generator>,
    job: &Job,
    (index, count): (u32, u32),
    work: impl std::future::Future<
        Output = Result<Result<T, super::GenerateError>, actix_web::error::BlockingError>,
    >,
) -> Result<T, String> {
    let progress = || {
        let asking = Arc::clone(generator);
        async move {
            let progress = web::block(move || asking.progress()).await.ok().flatten()?;
            Some(super::Progress {
                done: (index as f32 + progress.done.clamp(0.0, 1.0)) / count.max(1) as f32,
                eta_secs: progress.eta_secs,
            })
        }
    };
    while_alive(db, job, work, progress).await
}
