//! A user's image library: storing new images, moving, editing, deleting and sharing them,
//! keeping files and rows consistent.
//!
//! The rule is "no row without its files", on either storage backend: new files are put
//! (atomically) before the row is inserted and removed again if the insert fails; a delete
//! removes the row first and the files after (a leftover file is harmless and `atelier
//! doctor --fix` removes it; a row without files would be a broken image). Every function
//! here is blocking: call it inside `Db::run` or `web::block`.

pub mod display_copies;
pub mod media_cache;
pub mod privacy;
pub mod summary_cache;

use diesel::{Connection, PgConnection};
use hmac::{Hmac, Mac};
use ipnetwork::IpNetwork;
use sha2::Sha256;

use crate::base::error::AppError;
use crate::db::advisory_lock;
use crate::db::models::audit::{self, Actor};
use crate::db::models::image::{NewImage, Provenance, StoredExts};
use crate::db::models::{Folder, Image, ImageTile, PlacedImage, User};
use crate::db::models::{camera, job};
use crate::domain::tokens;
use crate::domain::{FolderSlug, ImageKind, ShareChoice, Username};
use crate::storage::budget::DecodeBudget;
use crate::storage::imaging::{self, Edit, Format, ImageProblem};
use crate::storage::media::MediaFiles;
use crate::storage::{FileName, ObjectKey, Storage, StoreError, Variant, mime_for};

/// Bytes of randomness in a share token (192 bits; at least 128 are required).
const SHARE_TOKEN_BYTES: usize = 24;

#[derive(Clone)]
pub struct Library {
    storage: Storage,
    /// Derives share tokens from a stored nonce, so the database alone cannot rebuild them.
    share_key: [u8; 32],
    max_pixels: u64,
    /// The process-wide memory budget every decode and encode reserves from.
    decode_budget: DecodeBudget,
}

/// Where an image goes and what it is.
pub struct NewImageInput<'a> {
    pub user_id: i64,
    pub username: &'a Username,
    pub folder: &'a Folder,
    pub kind: ImageKind,
    pub files: MediaFiles,
    pub title: &'a str,
    pub tags: &'a [String],
    pub client_ip: Option<IpNetwork>,
    pub provenance: Provenance,
}

impl Library {
    pub fn new(
        storage: Storage,
        secret: &[u8],
        max_pixels: u64,
        decode_budget: DecodeBudget,
    ) -> Self {
        let share_key = hmac_sha256(secret, &[b"atelier share links v1"]);
        Library {
            storage,
            share_key,
            max_pixels,
            decode_budget,
        }
    }

    /// Writes the three variants and inserts the row; on failure nothing is left behind.
    /// Until the row is committed, the files' lock ([`file_lock`]) is held, so `doctor
    /// --fix` never takes them for files without a row.
    pub fn store(
        &self,
        conn: &mut PgConnection,
        input: NewImageInput<'_>,
    ) -> Result<Image, AppError> {
        let stem = FileName::random_stem().map_err(AppError::internal)?;
        let folder = input.folder.slug();
        let files = input.files.variants();
        let keys = files
            .iter()
            .map(|&(variant, ext, _)| {
                let name = FileName::new(&stem, ext)
                    .ok_or_else(|| AppError::internal(anyhow::anyhow!("bad stem")))?;
                Ok(ObjectKey::new(input.username, &folder, variant, &name))
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        let result = conn.transaction(|conn| {
            file_lock(conn, &stem)?;
            let writes: Vec<_> = keys
                .iter()
                .zip(&files)
                .map(|(key, &(_, _, bytes))| (key, bytes))
                .collect();
            self.storage.put_all(&writes)?;
            let disk_bytes = files.iter().map(|(_, _, bytes)| bytes.len() as i64).sum();
            let ext = |variant| {
                input.files.ext_of(variant).ok_or_else(|| {
                    AppError::internal(anyhow::anyhow!("no {} file", variant.as_str()))
                })
            };
            let (pristine_ext, original_ext, thumb_ext) = (
                ext(Variant::Pristine)?,
                ext(Variant::Original)?,
                ext(Variant::Thumb)?,
            );
            let original_bytes = files
                .iter()
                .find(|(variant, _, _)| *variant == Variant::Original)
                .map_or(0, |(_, _, bytes)| bytes.len() as i64);
            let (width, height) = input.files.dimensions();
            let image = Image::insert(
                conn,
                &NewImage {
                    user_id: input.user_id,
                    folder_id: input.folder.id,
                    kind: input.kind,
                    stem: &stem,
                    original_ext,
                    thumb_ext,
                    pristine_ext,
                    display_ext: input.files.ext_of(Variant::Display),
                    mime: mime_for(original_ext),
                    width: to_i32(width),
                    height: to_i32(height),
                    bytes: original_bytes,
                    disk_bytes,
                    title: input.title,
                    tags: input.tags,
                    client_ip: input.client_ip,
                    duration_ms: input.files.duration_ms(),
                    provenance: input.provenance.clone(),
                },
            )?;
            if let Some(camera) = input.files.camera() {
                camera::insert(conn, image.id, &camera)?;
            }
            Ok::<_, AppError>(image)
        });
        if result.is_err() {
            for key in &keys {
                let _ = self.storage.remove(key);
            }
        }
        result
    }

    /// Pixels a picture may have.
    pub fn max_pixels(&self) -> u64 {
        self.max_pixels
    }

    /// The process-wide memory budget every decode and encode reserves from.
    pub fn decode_budget(&self) -> &DecodeBudget {
        &self.decode_budget
    }

    /// Opens one variant of a placed image to serve: read whole when it has at most
    /// `small` bytes.
    pub async fn open(
        &self,
        placed: &PlacedImage,
        variant: Variant,
        small: u64,
    ) -> Result<crate::storage::Opened, AppError> {
        let key = key_of(placed, variant)?;
        self.storage.open(&key, small).await.map_err(|err| match err {
            StoreError::Unavailable(why) => StoreError::Unavailable(why).into(),
            other => {
                tracing::warn!(image = placed.image.id, error = %other, "stored file missing or refused");
                AppError::NotFound
            }
        })
    }

    /// Removes the folders a deleted (empty) folder leaves in the store.
    pub fn remove_empty_folder(&self, username: &Username, folder: &FolderSlug) {
        self.storage.remove_empty_folder(username, folder);
    }

    /// The bytes of one variant of a placed image.
    pub fn read(&self, placed: &PlacedImage, variant: Variant) -> Result<Vec<u8>, StoreError> {
        let key =
            key_of(placed, variant).map_err(|err| StoreError::Failed(anyhow::anyhow!("{err}")))?;
        self.storage.get(&key)
    }

    /// Moves the image's files into `to` and records it, with title and tags.
    pub fn update(
        &self,
        conn: &mut PgConnection,
        placed: &PlacedImage,
        to: &Folder,
        title: &str,
        tags: &[String],
    ) -> Result<(), AppError> {
        conn.transaction(|conn| {
            let placed = &self.locked(conn, placed.image.id)?;
            if to.id == placed.image.folder_id {
                Image::update_meta(conn, placed.image.id, title, tags, to.id)?;
                return Ok(());
            }
            let owner = place(placed, Variant::Original)?.0;
            self.relocate(placed, &owner, &to.slug(), || {
                Ok(Image::update_meta(
                    conn,
                    placed.image.id,
                    title,
                    tags,
                    to.id,
                )?)
            })
        })
    }

    /// The image as it is now, its row locked until the caller's transaction ends: every
    /// change to an image's files goes through here, so two changes to one image (a move
    /// and a delete, two edits) take turns and the second sees where the first left the
    /// files. A row deleted meanwhile is `NotFound`.
    pub fn locked(&self, conn: &mut PgConnection, image_id: i64) -> Result<PlacedImage, AppError> {
        if !Image::lock(conn, image_id)? {
            return Err(AppError::NotFound);
        }
        Image::find_placed(conn, image_id)?.ok_or(AppError::NotFound)
    }

    /// Renames the image's files to `user`/`folder`, then runs `record`; if anything
    /// fails, the files go back where they were.
    fn relocate(
        &self,
        placed: &PlacedImage,
        user: &Username,
        folder: &FolderSlug,
        record: impl FnOnce() -> Result<(), AppError>,
    ) -> Result<(), AppError> {
        let mut moved: Vec<(ObjectKey, ObjectKey)> = Vec::new();
        let result = (|| {
            for variant in stored_variants(&placed.image) {
                let (_, _, name) = place(placed, variant)?;
                let from = key_of(placed, variant)?;
                let target = ObjectKey::new(user, folder, variant, &name);
                self.storage.rename(&from, &target)?;
                moved.push((from, target));
            }
            record()
        })();
        if result.is_err() {
            for (from, target) in moved.iter().rev() {
                let _ = self.storage.rename(target, from);
            }
        }
        result
    }

    /// Moves an anonymous visitor's images (files and rows) into `user`'s default folder
    /// and hands their jobs over, when the visitor registers or logs in. One transaction,
    /// under the same advisory lock the workers take before storing an anonymous result,
    /// so a result finishing meanwhile lands in the account too. Returns how many moved.
    pub fn adopt_anonymous(
        &self,
        conn: &mut PgConnection,
        anon_id: &str,
        user_id: i64,
    ) -> Result<usize, AppError> {
        conn.transaction(|conn| {
            advisory_lock(conn, &format!("anon:{anon_id}"))?;
            job::adopt_anonymous(conn, anon_id, user_id)?;
            let holder = User::anonymous_holder(conn)?;
            let Some(anon_folder) = Folder::find_by_slug(conn, holder.id, anon_id)? else {
                return Ok(0);
            };
            let user = User::find(conn, user_id)?.ok_or(AppError::NotFound)?;
            let username = user.folder_owner()?;
            let target = Folder::ensure_default(conn, user_id)?;
            let images = Image::placed_in_folder(conn, anon_folder.id)?;
            let to_folder = target.slug();
            for (index, placed) in images.iter().enumerate() {
                let result = self.relocate(placed, &username, &to_folder, || {
                    Ok(Image::reassign(conn, placed.image.id, user_id, target.id)?)
                });
                if let Err(err) = result {
                    // The transaction rolls every row back: put the earlier files back too.
                    for earlier in images[..index].iter().rev() {
                        self.move_back(earlier, &username, &to_folder);
                    }
                    return Err(err);
                }
            }
            Folder::delete_if_empty(conn, holder.id, anon_folder.id)?
                .map_err(|refusal| AppError::internal(anyhow::anyhow!("{refusal:?}")))?;
            let anon_user = holder.folder_owner()?;
            self.storage
                .remove_empty_folder(&anon_user, &anon_folder.slug());
            Ok(images.len())
        })
    }

    /// Moves every picture of the owner's folder `from` (those in the trash too) into
    /// their default folder, files and rows, putting the live ones in the trash when
    /// `trash` says so, then deletes `from`: all in one transaction, the files moved back
    /// if anything fails. Returns how many pictures moved.
    pub fn delete_folder_with_pictures(
        &self,
        conn: &mut PgConnection,
        from: &Folder,
        trash: bool,
    ) -> Result<usize, AppError> {
        let moved = conn.transaction(|conn| {
            let user = User::find(conn, from.user_id)?.ok_or(AppError::NotFound)?;
            let username = user.folder_owner()?;
            let target = Folder::ensure_default(conn, from.user_id)?;
            let to_folder = target.slug();
            let images = Image::placed_in_folder(conn, from.id)?;
            for (index, listed) in images.iter().enumerate() {
                let result = self.locked(conn, listed.image.id).and_then(|placed| {
                    self.relocate(&placed, &username, &to_folder, || {
                        Image::reassign(conn, placed.image.id, from.user_id, target.id)?;
                        if trash && !placed.image.is_trashed() {
                            Image::trash(conn, placed.image.id)?;
                        }
                        Ok(())
                    })
                });
                if let Err(err) = result {
                    for earlier in images[..index].iter().rev() {
                        self.move_back(earlier, &username, &to_folder);
                    }
                    return Err(err);
                }
            }
            match Folder::delete_if_empty(conn, from.user_id, from.id)? {
                Ok(_) => Ok((images.len(), username)),
                Err(refusal) => {
                    for earlier in images.iter().rev() {
                        self.move_back(earlier, &username, &to_folder);
                    }
                    Err(AppError::internal(anyhow::anyhow!(
                        "folder {} still not empty: {refusal:?}",
                        from.id
                    )))
                }
            }
        })?;
        let (count, username) = moved;
        self.storage.remove_empty_folder(&username, &from.slug());
        Ok(count)
    }

    /// Undoes [`Self::relocate`] of `placed` to `user`/`folder` (best effort).
    fn move_back(&self, placed: &PlacedImage, user: &Username, folder: &FolderSlug) {
        for variant in stored_variants(&placed.image) {
            let (Ok((_, _, name)), Ok(home)) = (place(placed, variant), key_of(placed, variant))
            else {
                continue;
            };
            let moved = ObjectKey::new(user, folder, variant, &name);
            let _ = self.storage.rename(&moved, &home);
        }
    }

    /// Deletes an account: its rows in one transaction (sessions, folders, images and jobs
    /// go with the user row; ledger rows stay, no longer linked to anyone), with the admin's
    /// audit row when an admin does it, then its files. Returns the images deleted.
    pub fn delete_account(
        &self,
        conn: &mut PgConnection,
        user_id: i64,
        by_admin: Option<&Actor>,
    ) -> Result<usize, AppError> {
        let (username, files, deleted) = conn.transaction(|conn| {
            let user = User::find(conn, user_id)?.ok_or(AppError::NotFound)?;
            let username = user.folder_owner()?;
            let mut files = Vec::new();
            let mut deleted = 0;
            loop {
                // Everything stored so far, a batch at a time.
                let batch = Image::placed_older_than(conn, user_id, chrono::Utc::now(), 500)?;
                if batch.is_empty() {
                    break;
                }
                for placed in &batch {
                    files.extend(self.delete_row(conn, placed)?);
                }
                deleted += batch.len();
            }
            User::delete(conn, user_id)?;
            if let Some(actor) = by_admin {
                audit::record(
                    conn,
                    actor,
                    "delete_user",
                    &format!("user {} ({})", user.username, user.id),
                    &format!("{deleted} images deleted."),
                )?;
            }
            Ok::<_, AppError>((username, files, deleted))
        })?;
        self.remove_files(&files);
        self.storage.remove_user(&username);
        Ok(deleted)
    }

    /// Deletes anonymous images older than `before` that nobody claimed, and the folders
    /// they leave empty. Returns how many were deleted.
    pub fn purge_anonymous(
        &self,
        conn: &mut PgConnection,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, AppError> {
        let holder = User::anonymous_holder(conn)?;
        let anon_user = holder.folder_owner()?;
        let images = Image::placed_older_than(conn, holder.id, before, 1000)?;
        let mut folders = std::collections::BTreeMap::new();
        for placed in &images {
            self.delete(conn, placed)?;
            folders.insert(placed.image.folder_id, placed.folder_slug.clone());
        }
        for (id, slug) in folders {
            if let (Ok(Ok(_)), Some(slug)) = (
                Folder::delete_if_empty(conn, holder.id, id),
                FolderSlug::parse(&slug),
            ) {
                self.storage.remove_empty_folder(&anon_user, &slug);
            }
        }
        Ok(images.len())
    }

    /// Applies an edit to the working copy (or, with `None`, restores it from pristine),
    /// then regenerates the thumbnail. Bad parameters change nothing.
    pub fn edit(
        &self,
        conn: &mut PgConnection,
        placed: &PlacedImage,
        edit: Option<Edit>,
    ) -> Result<Result<(), ImageProblem>, AppError> {
        conn.transaction(|conn| {
            let placed = self.locked(conn, placed.image.id)?;
            self.edit_current(conn, &placed, edit)
        })
    }

    /// [`Library::edit`] on the row it has locked.
    fn edit_current(
        &self,
        conn: &mut PgConnection,
        placed: &PlacedImage,
        edit: Option<Edit>,
    ) -> Result<Result<(), ImageProblem>, AppError> {
        let image = &placed.image;
        if image.is_video() {
            return Ok(Err(ImageProblem::BadEdit(
                "Videos cannot be rotated, cropped or resized; their title, tags and folder can be changed.".into(),
            )));
        }
        let (source_variant, source_ext) = match edit {
            Some(_) => (Variant::Original, &image.original_ext),
            None => (Variant::Pristine, &image.pristine_ext),
        };
        let format = Format::from_ext(source_ext)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("unknown ext")))?;
        let bytes = self.read(placed, source_variant)?;
        let (decoded, _decoded_held) =
            match imaging::decode(&bytes, format, self.max_pixels, &self.decode_budget) {
                Ok(decoded) => decoded,
                Err(problem) => return Ok(Err(problem)),
            };
        let (edited, _edited_held) = match edit {
            Some(edit) => {
                match imaging::apply_edit(&decoded, edit, self.max_pixels, &self.decode_budget) {
                    Ok((edited, held)) => (edited, Some(held)),
                    Err(problem) => return Ok(Err(problem)),
                }
            }
            None => (decoded, None),
        };
        let working = Format::from_ext(&image.original_ext).unwrap_or(Format::Png);
        let sanitised = match imaging::encode_variants(&edited, working) {
            Ok(sanitised) => sanitised,
            Err(problem) => return Ok(Err(problem)),
        };
        let rewritten = [
            (Variant::Original, &sanitised.original),
            (Variant::Display, &sanitised.display),
            (Variant::Thumb, &sanitised.thumb),
        ];
        let mut writes = Vec::new();
        let mut replaced = Vec::new();
        for (variant, encoded) in rewritten {
            let key = new_key(placed, variant, encoded.format.ext())?;
            let old = key_of(placed, variant).ok();
            replaced.extend(old.filter(|old| *old != key));
            writes.push((key, encoded.bytes.as_slice()));
        }
        let writes: Vec<_> = writes.iter().map(|(key, bytes)| (key, *bytes)).collect();
        self.storage.put_all(&writes)?;
        let pristine_size = self
            .storage
            .size(&key_of(placed, Variant::Pristine)?)?
            .ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("image {} lost its pristine file", image.id))
            })? as i64;
        for old in replaced {
            let _ = self.storage.remove(&old);
        }
        let original_bytes = sanitised.original.bytes.len() as i64;
        let disk_bytes = rewritten
            .iter()
            .map(|(_, encoded)| encoded.bytes.len() as i64)
            .sum::<i64>()
            + pristine_size;
        Image::update_pixels(
            conn,
            image.id,
            (to_i32(sanitised.width), to_i32(sanitised.height)),
            StoredExts {
                original: sanitised.original.format.ext(),
                display: sanitised.display.format.ext(),
                thumb: sanitised.thumb.format.ext(),
            },
            mime_for(sanitised.original.format.ext()),
            (original_bytes, disk_bytes),
        )?;
        Ok(Ok(()))
    }

    /// Moves the picture to the trash, under its row lock (see [`Image::trash`]).
    pub fn trash(&self, conn: &mut PgConnection, image_id: i64) -> Result<(), AppError> {
        conn.transaction(|conn| {
            self.locked(conn, image_id)?;
            Ok(Image::trash(conn, image_id)?)
        })
    }

    /// Takes the owner's picture out of the trash; `false` when it is not there (restored
    /// meanwhile, removed, or another's).
    pub fn restore(
        &self,
        conn: &mut PgConnection,
        owner: i64,
        image_id: i64,
    ) -> Result<bool, AppError> {
        conn.transaction(|conn| {
            let placed = match self.locked(conn, image_id) {
                Ok(placed) => placed,
                Err(AppError::NotFound) => return Ok(false),
                Err(err) => return Err(err),
            };
            if placed.image.user_id != owner || !placed.image.is_trashed() {
                return Ok(false);
            }
            Image::restore(conn, image_id)?;
            Ok(true)
        })
    }

    /// Removes for good, with their files, the pictures in the trash since before
    /// `before` (`owner`: only theirs), a bounded batch at a time, each under its own lock
    /// and transaction; returns how many went.
    pub fn purge_trash(
        &self,
        conn: &mut PgConnection,
        owner: Option<i64>,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, AppError> {
        const BATCH: i64 = 200;
        let mut removed = 0;
        loop {
            let batch = Image::trashed(conn, owner, before, BATCH)?;
            for placed in &batch {
                let files = conn.transaction(|conn| {
                    let placed = self.locked(conn, placed.image.id)?;
                    // Restored meanwhile: it stays.
                    let expired = placed.image.trashed_at.is_some_and(|at| at < before);
                    if !expired {
                        return Ok(Vec::new());
                    }
                    self.delete_row(conn, &placed)
                });
                match files {
                    Ok(files) => {
                        removed += usize::from(!files.is_empty());
                        self.remove_files(&files);
                    }
                    Err(AppError::NotFound) => {}
                    Err(err) => return Err(err),
                }
            }
            if (batch.len() as i64) < BATCH {
                return Ok(removed);
            }
        }
    }

    /// Deletes the row, then the files.
    pub fn delete(&self, conn: &mut PgConnection, placed: &PlacedImage) -> Result<(), AppError> {
        let files = conn.transaction(|conn| {
            let placed = self.locked(conn, placed.image.id)?;
            self.delete_row(conn, &placed)
        })?;
        self.remove_files(&files);
        Ok(())
    }

    /// Deletes the row and returns its files, for [`Library::remove_files`] once the
    /// transaction holding the delete has committed (a rollback then leaves the files).
    pub fn delete_row(
        &self,
        conn: &mut PgConnection,
        placed: &PlacedImage,
    ) -> Result<Vec<ObjectKey>, AppError> {
        let keys: Vec<_> = stored_variants(&placed.image)
            .map(|variant| key_of(placed, variant))
            .collect::<Result<_, _>>()?;
        Image::delete(conn, placed.image.id)?;
        Ok(keys)
    }

    /// Removes files whose rows are gone; a failure is logged (`atelier doctor` finds it).
    pub fn remove_files(&self, keys: &[ObjectKey]) {
        for key in keys {
            if let Err(err) = self.storage.remove(key) {
                tracing::warn!(%key, error = %err, "could not remove a deleted image's file");
            }
        }
    }

    /// Creates (or replaces) the image's share link as the owner chose; returns the token
    /// and when the link stops working.
    pub fn share(
        &self,
        conn: &mut PgConnection,
        image_id: i64,
        choice: ShareChoice,
    ) -> Result<(String, Option<chrono::DateTime<chrono::Utc>>), AppError> {
        let nonce = tokens::random_hex(16).map_err(AppError::internal)?;
        let token = self.share_token(image_id, nonce.as_bytes());
        let expires_at = choice.expires_at(chrono::Utc::now());
        conn.transaction(|conn| {
            self.locked(conn, image_id)?;
            Image::set_share(
                conn,
                image_id,
                nonce.as_bytes(),
                &tokens::digest(&token),
                choice.is_public(),
                expires_at,
            )?;
            Ok((token, expires_at))
        })
    }

    /// The share token of a shared image, rebuilt from its nonce.
    pub fn share_token_of(&self, image: &Image) -> Option<String> {
        image
            .share_nonce
            .as_deref()
            .map(|nonce| self.share_token(image.id, nonce))
    }

    fn share_token(&self, image_id: i64, nonce: &[u8]) -> String {
        let digest = hmac_sha256(&self.share_key, &[&image_id.to_be_bytes(), nonce]);
        tokens::hex(&digest[..SHARE_TOKEN_BYTES])
    }
}

/// The storage key of one variant of a placed image.
pub fn key_of(placed: &PlacedImage, variant: Variant) -> Result<ObjectKey, AppError> {
    let (user, folder, name) = place(placed, variant)?;
    Ok(ObjectKey::new(&user, &folder, variant, &name))
}

/// The storage key a new `ext` file of the placed image's `variant` gets.
pub fn new_key(placed: &PlacedImage, variant: Variant, ext: &str) -> Result<ObjectKey, AppError> {
    let (user, folder, _) = place(placed, Variant::Original)?;
    let name = FileName::new(&placed.image.stem, ext)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("bad stem")))?;
    Ok(ObjectKey::new(&user, &folder, variant, &name))
}

/// Takes the transaction-scoped lock on the files named `stem`: [`Library::store`] holds it
/// from the first file written until its row commits, and `doctor --fix` takes it before
/// it removes a file it found without a row.
pub fn file_lock(conn: &mut PgConnection, stem: &str) -> diesel::QueryResult<()> {
    advisory_lock(conn, &format!("atelier files {stem}"))
}

/// Validated path segments of a placed image's variant.
fn place(
    placed: &PlacedImage,
    variant: Variant,
) -> Result<(Username, FolderSlug, FileName), AppError> {
    let image = &placed.image;
    let broken = || {
        AppError::internal(anyhow::anyhow!(
            "image {} has an invalid stored path",
            image.id
        ))
    };
    let user = Username::parse(&placed.username).map_err(|_| broken())?;
    let folder = FolderSlug::parse(&placed.folder_slug).ok_or_else(broken)?;
    let ext = stored_ext(image, variant).ok_or_else(broken)?;
    let name = FileName::new(&image.stem, ext).ok_or_else(broken)?;
    Ok((user, folder, name))
}

/// The extension of the image's `variant` file, if it has one (only the display copy may
/// be missing: videos have none, older pictures until `atelier display-copies`).
pub fn stored_ext(image: &ImageTile, variant: Variant) -> Option<&str> {
    match variant {
        Variant::Original => Some(&image.original_ext),
        Variant::Display => image.display_ext.as_deref(),
        Variant::Thumb => Some(&image.thumb_ext),
        Variant::Pristine => Some(&image.pristine_ext),
    }
}

/// The variants the image has files for.
pub fn stored_variants(image: &ImageTile) -> impl Iterator<Item = Variant> + '_ {
    Variant::ALL
        .into_iter()
        .filter(|variant| stored_ext(image, *variant).is_some())
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC key"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
