//! A user's folders: making one (with the default folder, so the gallery always has it),
//! renaming one (its slug, URL and files stay), and deleting one with what is left of it
//! in the store: an empty one, or one whose pictures move to the default folder or to the
//! trash first.

use diesel::PgConnection;

use crate::base::error::AppError;
use crate::db::models::Folder;
use crate::db::models::folder::FolderDeleteRefusal;
use crate::domain::{FolderSlug, Username};
use crate::services::library::Library;

/// A new folder; `None` when the user already has one with that slug.
pub fn create(
    conn: &mut PgConnection,
    user_id: i64,
    slug: &FolderSlug,
    name: &str,
) -> Result<Option<Folder>, AppError> {
    Folder::ensure_default(conn, user_id)?;
    Ok(Folder::create(conn, user_id, slug, name)?)
}

/// The folder under its new name; `None` when it is not the user's.
pub fn rename(
    conn: &mut PgConnection,
    user_id: i64,
    id: i64,
    name: &str,
) -> Result<Option<Folder>, AppError> {
    Ok(Folder::rename(conn, user_id, id, name)?)
}

/// Deletes an empty folder of `owner`'s, then its empty directories in the store.
pub fn delete_empty(
    conn: &mut PgConnection,
    library: &Library,
    (user_id, owner): (i64, &Username),
    id: i64,
) -> Result<Result<Folder, FolderDeleteRefusal>, AppError> {
    let deleted = Folder::delete_if_empty(conn, user_id, id)?;
    if let Ok(folder) = &deleted {
        library.remove_empty_folder(owner, &folder.slug());
    }
    Ok(deleted)
}

/// What becomes of a folder's pictures when it is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderPictures {
    /// Only an empty folder may go (the default, and what scripts get).
    MustBeEmpty,
    /// They move to the default folder.
    MoveOut,
    /// They move to the trash (restorable there, into the default folder).
    Trash,
}

/// Deletes `owner`'s folder `id`, its pictures going as `pictures` says; the folder and
/// how many pictures moved, or why not.
pub fn delete(
    conn: &mut PgConnection,
    library: &Library,
    (user_id, owner): (i64, &Username),
    id: i64,
    pictures: FolderPictures,
) -> Result<Result<(Folder, usize), FolderDeleteRefusal>, AppError> {
    let trash = match pictures {
        FolderPictures::MustBeEmpty => {
            return Ok(delete_empty(conn, library, (user_id, owner), id)?.map(|f| (f, 0)));
        }
        FolderPictures::MoveOut => false,
        FolderPictures::Trash => true,
    };
    let Some(folder) = Folder::find_by_id_for(conn, user_id, id)? else {
        return Ok(Err(FolderDeleteRefusal::NotFound));
    };
    if folder.is_default() {
        return Ok(Err(FolderDeleteRefusal::IsDefault));
    }
    let moved = library.delete_folder_with_pictures(conn, &folder, trash)?;
    Ok(Ok((folder, moved)))
}
