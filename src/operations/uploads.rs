//! Storing an upload: the account's storage quota and hourly allowance checked, the folder
//! found or made, the files and row written by the library, and (when the server suggests
//! tags unasked) a tagging job queued, in one transaction (so a refused quota check, a new
//! folder, the image and its job stand or fall together).

use diesel::{Connection, PgConnection};
use ipnetwork::IpNetwork;

use crate::base::error::AppError;
use crate::db::models::{Folder, Image, User};
use crate::domain::{FolderSlug, ImageKind};
use crate::services::library::{Library, NewImageInput};
use crate::services::quota::storage::{self, UploadLimits};
use crate::services::tagging::Tagger;
use crate::storage::media::MediaFiles;

/// An upload whose picture has been checked and re-encoded (off the executor), with its
/// fields parsed.
pub struct Upload {
    pub files: MediaFiles,
    pub title: String,
    pub tags: Vec<String>,
    /// The folder's name and slug; `None` for the default folder.
    pub folder: Option<(String, FolderSlug)>,
    pub client_ip: IpNetwork,
}

/// Stores `upload` for `owner`.
pub fn store(
    conn: &mut PgConnection,
    (library, tagger): (&Library, &Tagger),
    owner: &User,
    limits: UploadLimits,
    upload: Upload,
) -> Result<Image, AppError> {
    let (user_id, username) = (owner.id, &owner.folder_owner()?);
    let new_bytes = upload
        .files
        .variants()
        .iter()
        .map(|(_, _, bytes)| bytes.len() as u64)
        .sum();
    conn.transaction(|conn| {
        storage::check_upload(conn, user_id, new_bytes, limits)?;
        let folder = match &upload.folder {
            Some((name, slug)) => Folder::find_or_create(conn, user_id, slug.as_str(), name)?,
            None => Folder::ensure_default(conn, user_id)?,
        };
        let image = library.store(
            conn,
            NewImageInput {
                user_id,
                username,
                folder: &folder,
                kind: ImageKind::Upload,
                files: upload.files,
                title: &upload.title,
                tags: &upload.tags,
                client_ip: Some(upload.client_ip),
                provenance: Default::default(),
            },
        )?;
        tagger.suggest_unasked(conn, owner, &[image.id], Some(upload.client_ip))?;
        Ok(image)
    })
}
