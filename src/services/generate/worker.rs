//! The server's own generation workers: async tasks that claim jobs, run the provider on
//! the blocking pool, store every result through the library and finish the job, renewing
//! the lease as they go. A failed job removes what it stored and is refunded exactly once.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use diesel::Connection;
use tokio::sync::Notify;

use super::heartbeat::{while_alive, with_progress};
use super::video::{ProgressCell, VideoRequest};
use super::{
    GeneratedImage, GenerationRequest, Generator, Providers, VideoProvider, with_png_text,
};
use crate::base::error::AppError;
use crate::db::Db;
use crate::db::models::image::Provenance;
use crate::db::models::job::{self, ImageParams, Job};
use crate::db::models::{Folder, Image, User};
use crate::domain::{ImageKind, JobKind};
use crate::services::library::Library;
use crate::services::library::NewImageInput;
use crate::services::quota::charge::{self, Reservation};
use crate::services::tagging::Tagger;
use crate::storage::budget::NoRoom;
use crate::storage::imaging;
use crate::storage::media::MediaFiles;

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

/// What the workers use: the pool, the library, the tagger, and the signal that wakes
/// them.
#[derive(Clone)]
pub struct WorkerContext {
    pub db: Db,
    pub library: Library,
    pub jobs: Arc<JobSignal>,
    pub tagger: Tagger,
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
    let started = std::time::Instant::now();
    let outcome = produce(ctx, providers, &job).await;
    let asked = serde_json::from_value::<ImageParams>(job.params.clone())
        .ok()
        .and_then(|params| params.provider);
    let provider = providers.get(asked.as_deref()).provider();
    crate::base::metrics::job(
        provider,
        job.kind.as_str(),
        outcome.is_ok(),
        started.elapsed(),
    );
    match outcome {
        Ok(image_ids) => {
            let (tagger, made) = (ctx.tagger.clone(), job.kind != JobKind::Tag);
            let owner_id = job.user_id;
            let done = ctx
                .db
                .run(move |conn| {
                    conn.transaction(|conn| {
                        let succeeded = job::succeed(conn, id, attempt, &image_ids)?;
                        // New pictures of an account get their suggestions unasked.
                        if let (true, true, Some(owner_id)) = (succeeded, made, owner_id)
                            && let Some(owner) = User::find(conn, owner_id)?
                        {
                            let client_ip = job::origin(conn, id)?;
                            tagger.suggest_unasked(conn, &owner, &image_ids, client_ip)?;
                        }
                        Ok::<_, diesel::result::Error>(succeeded)
                    })
                })
                .await;
            ctx.jobs.job_queued();
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
    if job.kind == JobKind::Tag {
        return super::tag_job::produce_tags((&ctx.db, &ctx.library, &ctx.tagger), job).await;
    }
    let params: ImageParams = serde_json::from_value(job.params.clone())
        .map_err(|_| "This job's parameters are unreadable.".to_owned())?;
    if job.attempts > 1 {
        discard_earlier_attempt(ctx, job).await?;
    }
    if job.kind == JobKind::Video {
        let video = providers.video().map_err(str::to_owned)?;
        return produce_video(ctx, video, job, &params)
            .await
            .map(|id| vec![id]);
    }
    let generator = providers.get(params.provider.as_deref());
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

/// Makes the job's clip, checks it and makes its served copy and poster with ffmpeg, and
/// stores it. Nothing is stored unless all of that worked.
async fn produce_video(
    ctx: &WorkerContext,
    video: &VideoProvider,
    job: &Job,
    params: &ImageParams,
) -> Result<i64, String> {
    let request = VideoRequest {
        prompt: job.prompt.clone(),
        seconds: params.seconds.unwrap_or(super::video::DEFAULT_SECONDS),
        width: params.width,
        height: params.height,
        seed: params.seed,
    };
    let progress = Arc::new(ProgressCell::default());
    let making = {
        let (generator, progress, request, ffmpeg) = (
            Arc::clone(&video.generator),
            Arc::clone(&progress),
            request.clone(),
            video.ffmpeg.clone(),
        );
        web::block(move || {
            let mut clip = ffmpeg
                .stage()
                .map_err(|problem| super::GenerateError(problem.message()))?;
            let generated = generator.generate_video(&request, &progress, &mut clip)?;
            Ok::<_, super::GenerateError>((generated, clip))
        })
    };
    let (generated, clip) = while_alive(&ctx.db, job, making, || {
        let report = progress.get();
        async move { report }
    })
    .await?;
    // The clip and its served copy come into memory only with room reserved for both in
    // the decode budget (they are stored next), so parallel jobs cannot exhaust it.
    let (ffmpeg, max_pixels) = (video.ffmpeg.clone(), ctx.library.max_pixels());
    let budget = ctx.library.decode_budget().clone();
    let (prepared, pristine, _held) = web::block(move || {
        let size = clip.size().map_err(|err| err.to_string())?;
        let held = budget
            .reserve(size.saturating_mul(2))
            .map_err(|no_room| match no_room {
                NoRoom::TooLarge => format!(
                    "The provider's video ({} MB) is larger than this server can take in.",
                    size / 1_000_000
                ),
                NoRoom::Busy => {
                    "The server was too busy to take the video in; please try again.".to_owned()
                }
            })?;
        let prepared = ffmpeg
            .prepare_staged(&clip, max_pixels)
            .map_err(|problem| {
                format!("The provider's video was unusable: {}", problem.message())
            })?;
        let pristine = clip.read().map_err(|err| err.to_string())?;
        Ok::<_, String>((prepared, pristine, held))
    })
    .await
    .map_err(|err| err.to_string())??;
    let charge = Reservation::of_job(job);
    let made = Made {
        kind: ImageKind::Generated,
        files: MediaFiles::Video { pristine, prepared },
        prompt: request.prompt,
        model: generated.model,
        provider: video.generator.provider(),
        seed: request.seed,
        folder: params.folder.clone(),
        source_image_id: None,
        credits_used: charge.credits_per_image(1),
        free: false,
    };
    store_made(ctx, job, made).await
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
            with_progress(&ctx.db, &generator, job, target.position, made).await?
        }
    };
    let Target {
        folder,
        source_image_id,
        credits_used,
        free,
        ..
    } = target;
    let (max_pixels, budget) = (
        ctx.library.max_pixels(),
        ctx.library.decode_budget().clone(),
    );
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
    let kind = if source_image_id.is_some() {
        ImageKind::Edited
    } else {
        ImageKind::Generated
    };
    let made = Made {
        kind,
        files: MediaFiles::Picture {
            pristine,
            pristine_format: format,
            sanitised,
        },
        prompt: request.prompt,
        model,
        provider,
        seed: request.seed,
        folder,
        source_image_id,
        credits_used,
        free,
    };
    store_made(ctx, job, made).await
}

/// A finished result, ready to store.
struct Made {
    kind: ImageKind,
    files: MediaFiles,
    prompt: String,
    model: String,
    provider: &'static str,
    seed: u64,
    folder: Option<String>,
    source_image_id: Option<i64>,
    credits_used: i32,
    free: bool,
}

/// Stores one result of `job` in the library (files first, then the row).
async fn store_made(ctx: &WorkerContext, job: &Job, made: Made) -> Result<i64, String> {
    let library = ctx.library.clone();
    let (job_id, anon_id) = (job.id, job.anon_id.clone());
    let seed = i64::from_ne_bytes(made.seed.to_ne_bytes());
    let stored = ctx
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                let (user, folder) =
                    destination(conn, job_id, anon_id.as_deref(), made.folder.as_deref())?;
                let client_ip = job::origin(conn, job_id)?;
                let username = user.folder_owner()?;
                let title: String = made.prompt.chars().take(80).collect();
                library.store(
                    conn,
                    NewImageInput {
                        user_id: user.id,
                        username: &username,
                        folder: &folder,
                        kind: made.kind,
                        files: made.files,
                        title: &title,
                        tags: &[],
                        client_ip,
                        provenance: Provenance {
                            prompt: Some(made.prompt),
                            model: Some(made.model),
                            provider: Some(made.provider.to_owned()),
                            seed: Some(seed),
                            job_id: Some(job_id),
                            source_image_id: made.source_image_id,
                            credits_used: made.credits_used,
                            free: made.free,
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
    let batch = with_progress(&ctx.db, generator, job, (0, 1), made)
        .await?
        .unwrap_or_default();
    if !batch.is_empty() && batch.len() != params.count as usize {
        return Err("The image provider sent a different number of pictures.".into());
    }
    Ok(batch)
}

/// The account and folder a result is stored in. An anonymous job's results go to the
/// visitor's folder under the `_anon` account, unless the visitor has signed in since: the
/// job then belongs to the account, and so does the result. The advisory lock orders this
/// against [`crate::services::library::Library::adopt_anonymous`], so no result lands in the
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
            Ok::<_, AppError>(library.read(&placed, crate::storage::Variant::Original)?)
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
