//! A user's folders: making one (with the default folder, so the gallery always has it),
//! renaming one (its slug, URL and files stay), and deleting an empty one with what is left
//! of it in the store.

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
