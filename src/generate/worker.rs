//! The server's own generation workers: async tasks that claim jobs, run the provider on
//! the blocking pool, store every result through the library and finish the job, renewing
//! the lease as they go. A failed job removes what it stored and is refunded exactly once.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use diesel::Connection;
use tokio::sync::Notify;

use super::{GeneratedImage, GenerationRequest, Generator, Providers, with_png_text};
use crate::db::Db;
use crate::domain::ImageKind;
use crate::error::AppError;
use crate::library::Library;
use crate::library::{MediaFiles, NewImageInput};
use crate::models::image::Provenance;
use crate::models::job::{self, ImageParams, Job};
use crate::models::{Folder, Image, User};
use crate::quota::charge::{self, Reservation};
use crate::storage::imaging;

/// How often an idle worker looks for work queued by another instance.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often expired leases are looked for.
const RECOVERY_EVERY: Duration = Duration::from_secs(10);

/// Wakes this instance's workers when a job is queued here.
#[derive(Default)]
pub struct JobSignal(Notify);

impl JobSignal {
    pub fn job_queued(&self) {
        self.0.notify_waiters();
    }
}

/// What the workers use: the pool, the library, and the signal that wakes them.
#[derive(Clone)]
pub struct WorkerContext {
    pub db: Db,
    pub library: Library,
    pub jobs: Arc<JobSignal>,
}

pub fn spawn_workers(ctx: WorkerContext, providers: Providers, count: usize) {
    for index in 0..count {
        let (ctx, providers) = (ctx.clone(), providers.clone());
        tokio::spawn(async move {
            let mut last_recovery = None::<tokio::time::Instant>;
            loop {
                if last_recovery.is_none_or(|at| at.elapsed() >= RECOVERY_EVERY) {
                    last_recovery = Some(tokio::time::Instant::now());
                    if let Err(err) = recover(&ctx).await {
                        tracing::warn!(worker = index, error = %err, "lease recovery failed");
                    }
                }
                match ctx.db.run(job::claim).await {
                    Ok(Some(job)) => run(&ctx, &providers, job).await,
                    Ok(None) => {
                        let _ = tokio::time::timeout(IDLE_POLL, ctx.jobs.0.notified()).await;
                    }
                    Err(err) => {
                        tracing::warn!(worker = index, error = %err, "cannot claim jobs");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }
}

/// Requeues or fails jobs whose worker died. A failed one is refunded and loses what it
/// stored before the crash in the same transaction, so a second crash cannot lose the
/// refund; the files go once that has committed.
async fn recover(ctx: &WorkerContext) -> Result<(), AppError> {
    let library = ctx.library.clone();
    let failed = ctx
        .db
        .run(move |conn| {
            let (failed, files) = conn.transaction(|conn| {
                let failed = job::recover_expired(conn)?;
                let mut files = Vec::new();
                for job in &failed {
                    charge::refund(conn, job.user_id, Reservation::of_job(job), Some(job.id))?;
                    for placed in Image::placed_for_job(conn, job.id)? {
                        files.extend(library.delete_row(conn, &placed)?);
                    }
                }
                Ok::<_, AppError>((failed, files))
            })?;
            library.remove_files(&files);
            Ok::<_, AppError>(failed)
        })
        .await?;
    for job in failed {
        tracing::warn!(job = job.id, "job interrupted twice: failed and refunded");
    }
    Ok(())
}

async fn run(ctx: &WorkerContext, providers: &Providers, job: Job) {
    let (id, attempt) = (job.id, job.attempts);
    match produce(ctx, providers, &job).await {
        Ok(image_ids) => {
            let done = ctx
                .db
                .run(move |conn| job::succeed(conn, id, attempt, &image_ids))
                .await;
            match done {
                Ok(true) => tracing::info!(job = id, "generation succeeded"),
                Ok(false) => tracing::warn!(job = id, "job was taken away while running"),
                Err(err) => tracing::error!(job = id, error = %err, "cannot record a finished job"),
            }
        }
        Err(message) => {
            // Failing and refunding are one transaction: a crash between them would lose
            // the refund, and recovery would never find the job again.
            let failed = {
                let message = message.clone();
                let (user_id, reservation) = (job.user_id, Reservation::of_job(&job));
                ctx.db
                    .run(move |conn| {
                        conn.transaction(|conn| {
                            let failed = job::fail(conn, id, attempt, &message)?;
                            if failed {
                                charge::refund(conn, user_id, reservation, Some(id))?;
                            }
                            Ok::<_, diesel::result::Error>(failed)
                        })
                    })
                    .await
            };
            match failed {
                Ok(true) => {
                    tracing::warn!(job = id, error = %message, "generation failed and was refunded")
                }
                Ok(false) => {}
                Err(err) => tracing::error!(job = id, error = %err, "cannot record a failed job"),
            }
        }
    }
}

/// A job claimed again after a crash starts clean: whatever its earlier attempt stored is
/// removed first, so every picture belongs to exactly one finished job and the pictures
/// match what was charged.
async fn discard_earlier_attempt(ctx: &WorkerContext, job: &Job) -> Result<(), String> {
    let (library, id) = (ctx.library.clone(), job.id);
    ctx.db
        .run(move |conn| {
            let files = conn.transaction(|conn| {
                let mut files = Vec::new();
                for placed in Image::placed_for_job(conn, id)? {
                    files.extend(library.delete_row(conn, &placed)?);
                }
                Ok::<_, AppError>(files)
            })?;
            library.remove_files(&files);
            Ok::<_, AppError>(files.len() / 3)
        })
        .await
        .map(|removed| {
            if removed > 0 {
                tracing::info!(
                    job = id,
                    removed,
                    "removed what the interrupted attempt stored"
                );
            }
        })
        .map_err(|err| err.message())
}

/// Generates and stores every image of the job; on failure removes what it stored and
/// returns the message for the user.
async fn produce(
    ctx: &WorkerContext,
    providers: &Providers,
    job: &Job,
) -> Result<Vec<i64>, String> {
    let params: ImageParams = serde_json::from_value(job.params.clone())
        .map_err(|_| "This job's parameters are unreadable.".to_owned())?;
    let generator = providers.get(params.provider.as_deref());
    if job.attempts > 1 {
        discard_earlier_attempt(ctx, job).await?;
    }
    let mut stored = Vec::new();
    let result = async {
        // Providers that make several pictures in one call (AUTOMATIC1111's batch_size) do
        // so for a plain multi-image order; each is then stored as if made alone.
        let mut batch = make_batch(ctx, &generator, job, &params).await?.into_iter();
        for index in 0..params.count {
            let (id, attempt) = (job.id, job.attempts);
            let renewed = ctx
                .db
                .run(move |conn| job::renew_lease(conn, id, attempt))
                .await;
            if !renewed.map_err(|err| err.message())? {
                return Err(format!("job {id} lost its lease"));
            }
            let (prompt, seed) = params.image(&job.prompt, index);
            let request = GenerationRequest {
                prompt,
                width: params.width,
                height: params.height,
                seed,
            };
            let target = Target {
                folder: params.folder.clone(),
                source_image_id: params.source_image_id,
                credits_used: Reservation::of_job(job).credits_per_image(params.count),
                free: Reservation::of_job(job).free_image.is_some(),
                position: (index, params.count),
            };
            let made = (request, batch.next());
            let image_id = generate_one(ctx, generator.clone(), job, made, target).await?;
            stored.push(image_id);
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(stored),
        Err(message) => {
            remove_images(ctx, &stored).await;
            Err(message)
        }
    }
}

/// Makes (unless the provider already made it in a batch) and stores one image of the job.
async fn generate_one(
    ctx: &WorkerContext,
    generator: Arc<dyn Generator>,
    job: &Job,
    (request, premade): (GenerationRequest, Option<GeneratedImage>),
    target: Target,
) -> Result<i64, String> {
    let provider = generator.provider();
    let source = match (target.source_image_id, job.user_id) {
        (Some(id), Some(user_id)) => Some(source_bytes(ctx, user_id, id).await?),
        (Some(_), None) => return Err("Only signed-in users can edit images.".into()),
        (None, _) => None,
    };
    let generated = match premade {
        Some(generated) => generated,
        None => {
            let (request, making) = (request.clone(), Arc::clone(&generator));
            let made = web::block(move || match source {
                Some(source) => making.edit(&source, &request),
                None => making.generate(&request),
            });
            with_progress(ctx, &generator, job, target.position, made).await?
        }
    };
    let Target {
        folder,
        source_image_id,
        credits_used,
        free,
        ..
    } = target;
    let (max_pixels, budget) = (ctx.library.max_pixels, ctx.library.decode_budget.clone());
    let model = generated.model;
    // The pristine copy keeps the prompt and model as PNG text; the working copy, like every
    // original, carries no metadata.
    let mut text = vec![("prompt", job.prompt.as_str()), ("model", model.as_str())];
    if let Some(parameters) = &generated.parameters {
        text.push(("parameters", parameters));
    }
    let pristine = with_png_text(&generated.bytes, &text);
    let (format, sanitised, pristine) = web::block(move || {
        imaging::sanitise_upload(&pristine, max_pixels, &budget)
            .map(|(format, sanitised)| (format, sanitised, pristine))
    })
    .await
    .map_err(|err| err.to_string())?
    .map_err(|problem| format!("The provider's image was unusable: {}", problem.message()))?;
    let library = ctx.library.clone();
    let (job_id, prompt, client_ip) = (job.id, request.prompt.clone(), job.client_ip);
    let anon_id = job.anon_id.clone();
    let seed = i64::from_ne_bytes(request.seed.to_ne_bytes());
    let stored = ctx
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                let (user, folder) =
                    destination(conn, job_id, anon_id.as_deref(), folder.as_deref())?;
                let username = user.folder_owner()?;
                let title: String = prompt.chars().take(80).collect();
                library.store(
                    conn,
                    NewImageInput {
                        user_id: user.id,
                        username: &username,
                        folder: &folder,
                        kind: if source_image_id.is_some() {
                            ImageKind::Edited
                        } else {
                            ImageKind::Generated
                        },
                        files: MediaFiles::Picture {
                            pristine: &pristine,
                            pristine_format: format,
                            sanitised,
                        },
                        title: &title,
                        tags: &[],
                        client_ip,
                        provenance: Provenance {
                            prompt: Some(prompt.clone()),
                            model: Some(model),
                            provider: Some(provider.to_owned()),
                            seed: Some(seed),
                            job_id: Some(job_id),
                            source_image_id,
                            credits_used,
                            free,
                        },
                    },
                )
            })
        })
        .await
        .map_err(|err| err.message())?;
    Ok(stored.id)
}

/// Where a result goes, what it starts from, what it cost, and which of the job's images
/// it is (index, count), for progress.
struct Target {
    folder: Option<String>,
    source_image_id: Option<i64>,
    credits_used: i32,
    free: bool,
    position: (u32, u32),
}

/// The whole order in one provider call, when the provider batches and the order is
/// several images of one prompt; empty otherwise (each image is then made on its own).
async fn make_batch(
    ctx: &WorkerContext,
    generator: &Arc<dyn Generator>,
    job: &Job,
    params: &ImageParams,
) -> Result<Vec<GeneratedImage>, String> {
    if params.count < 2 || !params.scenes.is_empty() || params.source_image_id.is_some() {
        return Ok(Vec::new());
    }
    let (prompt, seed) = params.image(&job.prompt, 0);
    let request = GenerationRequest {
        prompt,
        width: params.width,
        height: params.height,
        seed,
    };
    let (making, count) = (Arc::clone(generator), params.count);
    let made = web::block(move || making.generate_batch(&request, count).transpose());
    let batch = with_progress(ctx, generator, job, (0, 1), made)
        .await?
        .unwrap_or_default();
    if !batch.is_empty() && batch.len() != params.count as usize {
        return Err("The image provider sent a different number of pictures.".into());
    }
    Ok(batch)
}

/// Waits for the provider's `work`, recording its progress reports on the job meanwhile
/// (so every instance's job page shows them).
async fn with_progress<T>(
    ctx: &WorkerContext,
    generator: &Arc<dyn Generator>,
    job: &Job,
    position: (u32, u32),
    work: impl std::future::Future<
        Output = Result<Result<T, super::GenerateError>, actix_web::error::BlockingError>,
    >,
) -> Result<T, String> {
    tokio::pin!(work);
    let mut poll = tokio::time::interval(PROGRESS_POLL);
    poll.tick().await;
    loop {
        tokio::select! {
            done = &mut work => break done,
            _ = poll.tick() => report_progress(ctx, generator, job, position).await,
        }
    }
    .map_err(|err| err.to_string())?
    .map_err(|err| err.0)
}

/// How often a running provider is asked how far it is.
const PROGRESS_POLL: Duration = Duration::from_millis(500);

/// Asks the provider how far the current picture is and records it on the job, as a share
/// of the whole job. Failures only cost the report.
async fn report_progress(
    ctx: &WorkerContext,
    generator: &Arc<dyn Generator>,
    job: &Job,
    (index, count): (u32, u32),
) {
    let asking = Arc::clone(generator);
    let Ok(Some(progress)) = web::block(move || asking.progress()).await else {
        return;
    };
    let done = (index as f32 + progress.done.clamp(0.0, 1.0)) / count.max(1) as f32;
    let eta = progress.eta_secs.and_then(|secs| i32::try_from(secs).ok());
    let (id, attempt) = (job.id, job.attempts);
    if let Err(err) = ctx
        .db
        .run(move |conn| job::report_progress(conn, id, attempt, done, eta))
        .await
    {
        tracing::debug!(job = id, error = %err, "could not record progress");
    }
}

/// The account and folder a result is stored in. An anonymous job's results go to the
/// visitor's folder under the `_anon` account, unless the visitor has signed in since: the
/// job then belongs to the account, and so does the result. The advisory lock orders this
/// against [`crate::library::Library::adopt_anonymous`], so no result lands in the
/// anonymous area after its images were moved.
fn destination(
    conn: &mut diesel::PgConnection,
    job_id: i64,
    anon_id: Option<&str>,
    folder: Option<&str>,
) -> Result<(User, Folder), AppError> {
    if let Some(anon_id) = anon_id {
        crate::db::advisory_lock(conn, &format!("anon:{anon_id}"))?;
    }
    let job = job::find(conn, job_id)?.ok_or(AppError::NotFound)?;
    let (user, folder) = match (job.user_id, anon_id) {
        (Some(user_id), _) => {
            let user = User::find(conn, user_id)?.ok_or(AppError::NotFound)?;
            // A job adopted from the anonymous area goes to the default folder.
            let named = match folder.filter(|_| job.anon_id.is_none()) {
                Some(slug) => Folder::find_by_slug(conn, user_id, slug)?,
                None => None,
            };
            let folder = match named {
                Some(folder) => folder,
                None => Folder::ensure_default(conn, user_id)?,
            };
            (user, folder)
        }
        (None, Some(anon_id)) => {
            let holder = User::anonymous_holder(conn)?;
            let folder = Folder::find_or_create(conn, holder.id, anon_id, anon_id)?;
            (holder, folder)
        }
        (None, None) => {
            return Err(AppError::internal(anyhow::anyhow!(
                "job {job_id} has no owner"
            )));
        }
    };
    Ok((user, folder))
}

/// The working copy of the user's own image `id`.
async fn source_bytes(ctx: &WorkerContext, user_id: i64, id: i64) -> Result<Vec<u8>, String> {
    let library = ctx.library.clone();
    ctx.db
        .run(move |conn| {
            let placed = Image::find_placed(conn, id)?
                .filter(|placed| placed.image.user_id == user_id)
                .ok_or(AppError::NotFound)?;
            let path = library.path_of(&placed, crate::storage::Variant::Original)?;
            library.storage.read(&path).map_err(AppError::internal)
        })
        .await
        .map_err(|_| "The image to edit no longer exists.".to_owned())
}

async fn remove_images(ctx: &WorkerContext, ids: &[i64]) {
    for id in ids.iter().copied() {
        let library = ctx.library.clone();
        let removed = ctx
            .db
            .run(move |conn| match Image::find_placed(conn, id)? {
                Some(placed) => library.delete(conn, &placed),
                None => Ok(()),
            })
            .await;
        if let Err(err) = removed {
            tracing::warn!(image = id, error = %err, "could not remove a failed job's image");
        }
    }
}
