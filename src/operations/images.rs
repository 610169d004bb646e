//! Changes to one of a user's images: its facts (title, tags, folder), its pixels (an edit
//! or a revert), a favourite star, its share link, and deleting it (to the trash, whose
//! own doors are in `trash`). The library keeps
//! files and rows in step; these are the doors routes go through.

use chrono::{DateTime, Utc};
use diesel::PgConnection;

use crate::base::error::AppError;
use crate::db::models::{Folder, Image, PlacedImage, listing};
use crate::domain::ShareChoice;
use crate::services::library::Library;
use crate::storage::imaging::{Edit, ImageProblem};

/// New title and tags, and a move to the owner's folder `folder_slug`; the inner error
/// when there is no such folder.
pub fn update(
    conn: &mut PgConnection,
    library: &Library,
    placed: &PlacedImage,
    folder_slug: &str,
    title: &str,
    tags: &[String],
) -> Result<Result<(), NoSuchFolder>, AppError> {
    let Some(folder) = Folder::find_by_slug(conn, placed.image.user_id, folder_slug)? else {
        return Ok(Err(NoSuchFolder));
    };
    library.update(conn, placed, &folder, title, tags)?;
    Ok(Ok(()))
}

/// The folder an update named is not the owner's.
#[derive(Debug, Clone, Copy)]
pub struct NoSuchFolder;

/// Applies `edit` to the working copy (`None`: back to the pristine file); the inner
/// error when the picture cannot take it.
pub fn edit(
    conn: &mut PgConnection,
    library: &Library,
    placed: &PlacedImage,
    edit: Option<Edit>,
) -> Result<Result<(), ImageProblem>, AppError> {
    library.edit(conn, placed, edit)
}

pub fn set_favourite(
    conn: &mut PgConnection,
    user_id: i64,
    image_id: i64,
    favourite: bool,
) -> Result<(), AppError> {
    Ok(listing::set_favourite(conn, user_id, image_id, favourite)?)
}

/// A new share link (the old one stops working): its token and when it expires.
pub fn share(
    conn: &mut PgConnection,
    library: &Library,
    image_id: i64,
    choice: ShareChoice,
) -> Result<(String, Option<DateTime<Utc>>), AppError> {
    library.share(conn, image_id, choice)
}

/// Revokes the image's share link.
pub fn unshare(conn: &mut PgConnection, image_id: i64) -> Result<(), AppError> {
    Ok(Image::clear_share(conn, image_id)?)
}

/// Deletes the picture: to the trash, or (`for_good`) its row, then its files.
pub fn delete(
    conn: &mut PgConnection,
    library: &Library,
    placed: &PlacedImage,
    for_good: bool,
) -> Result<(), AppError> {
    if for_good {
        library.delete(conn, placed)
    } else {
        library.trash(conn, placed.image.id)
    }
}
