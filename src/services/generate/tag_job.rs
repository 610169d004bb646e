//! The `tag` job (SPEC §14): suggestions for one picture, run by the same workers as
//! generation so a slow model never holds a request. Ownership is checked again here, as
//! the design note asks: the image must still exist and still be the job's owner's, a
//! remote tagger must still have the owner's consent, the picture is read only through
//! the owner's own storage key (the thumbnail: never `pristine`, never EXIF), and the
//! suggestions are written under the image's row lock after one more look. A job whose
//! image was deleted or given away meanwhile stores nothing.

use actix_web::web;
use diesel::Connection;

use super::GenerateError;
use super::heartbeat::while_alive;
use crate::base::error::AppError;
use crate::db::Db;
use crate::db::models::camera;
use crate::db::models::job::Job;
use crate::db::models::tag_suggestion;
use crate::db::models::{Image, User};
use crate::domain::ImageKind;
use crate::services::library::Library;
use crate::services::tagging::{TagRequest, Tagger};
use crate::storage::{Variant, mime_for};

/// How many of the owner's tags are shown to a tagger limited by a vocabulary.
const OWNER_TAGS: i64 = 500;

/// Tags the job's picture with `tagger`. A tagging job makes no picture, so it lists
/// none (`image_ids` stays the pictures a job made); its page finds the image in its
/// parameters.
pub(super) async fn produce_tags(
    (db, library, tagger): (&Db, &Library, &Tagger),
    job: &Job,
) -> Result<Vec<i64>, String> {
    let image_id = job.params["image_id"]
        .as_i64()
        .ok_or_else(|| "This job's parameters are unreadable.".to_owned())?;
    let owner_id = job
        .user_id
        .ok_or_else(|| "Only an account's pictures are tagged.".to_owned())?;
    let tagger = tagger.clone();
    let owner_tags_needed = tagger.needs_owner_tags();
    let seen = db
        .run(move |conn| {
            let owner = User::find(conn, owner_id)?;
            let placed = Image::find_placed(conn, image_id)?;
            let (Some(owner), Some(placed)) = (owner, placed) else {
                return Ok(None);
            };
            if placed.image.user_id != owner_id {
                return Ok(None);
            }
            let from_camera = camera::find(conn, image_id)?.is_some();
            let owner_tags = if owner_tags_needed {
                tag_suggestion::owner_tags(conn, owner_id, OWNER_TAGS)?
            } else {
                Vec::new()
            };
            Ok::<_, AppError>(Some((owner, placed, from_camera, owner_tags)))
        })
        .await
        .map_err(|err| err.message())?;
    let Some((owner, placed, from_camera, owner_tags)) = seen else {
        return Err(gone());
    };
    if !tagger.may_tag(&owner) {
        return Err(
            "Tag suggestions by this server's tagger are turned off for this account.".into(),
        );
    }

    let source = tagger.source();
    let (library, placed_for_read) = (library.clone(), placed.clone());
    let work = web::block(move || {
        let picture = library
            .read(&placed_for_read, Variant::Thumb)
            .map_err(|_| GenerateError("The picture could not be read for tagging.".into()))?;
        let image = &placed_for_read.image;
        let request = TagRequest {
            picture,
            mime: mime_for(&image.thumb_ext).to_owned(),
            painted: painted_by_builtin(image),
            width: u32::try_from(image.width).unwrap_or(0),
            height: u32::try_from(image.height).unwrap_or(0),
            from_camera,
            language: owner.tag_language.clone(),
            owner_tags,
        };
        tagger
            .suggest(&request)
            .map_err(|error| GenerateError(error.0))
    });
    let found = while_alive(db, job, work, || async { None }).await?;

    let stored = db
        .run(move |conn| {
            conn.transaction(|conn| {
                // One more look under the row lock: deleted or given away meanwhile, the
                // image gets nothing.
                if !Image::lock(conn, image_id)? {
                    return Ok(false);
                }
                let Some(now) = Image::find_placed(conn, image_id)? else {
                    return Ok(false);
                };
                if now.image.user_id != owner_id {
                    return Ok(false);
                }
                let fresh: Vec<(String, f32)> = found
                    .into_iter()
                    .filter(|suggestion| !now.image.tags.contains(&suggestion.tag))
                    .map(|suggestion| (suggestion.tag, suggestion.confidence))
                    .collect();
                tag_suggestion::replace(conn, image_id, &source, &fresh)?;
                Ok::<_, AppError>(true)
            })
        })
        .await
        .map_err(|err| err.message())?;
    if stored { Ok(Vec::new()) } else { Err(gone()) }
}

fn gone() -> String {
    "The picture was deleted or moved to another account before it was tagged; nothing was stored."
        .to_owned()
}

/// The prompt and seed Atelier's own painter was given, when it made this picture.
fn painted_by_builtin(image: &Image) -> Option<(String, u64)> {
    let painted = image.kind == ImageKind::Generated
        && image.provider.as_deref() == Some("builtin")
        && image.duration_ms.is_none();
    match (painted, &image.prompt, image.seed) {
        (true, Some(prompt), Some(seed)) => Some((prompt.clone(), u64::try_from(seed).ok()?)),
        _ => None,
    }
}
