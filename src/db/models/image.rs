//! The `images` table: one row per stored image, the only key to its files.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ipnetwork::IpNetwork;

use super::Folder;
use crate::db::schema::{folders, image_origins, images, library_tags, users};
use crate::domain::ImageKind;

/// What a tile in a grid shows of an image and what names its files: id, owner, folder,
/// file stem and extensions, size, title, times and a video's length. Listings that show
/// tiles read these columns alone (no prompt, tags or share state); every [`Image`] holds
/// one and dereferences to it, so code that names files takes either.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = images)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct ImageTile {
    pub id: i64,
    pub user_id: i64,
    pub folder_id: i64,
    pub stem: String,
    pub original_ext: String,
    pub thumb_ext: String,
    pub pristine_ext: String,
    /// The display-sized copy's extension; `None` for videos and for pictures whose copy
    /// is not made yet (pages show the working copy meanwhile).
    pub display_ext: Option<String>,
    pub width: i32,
    pub height: i32,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How long a video runs; `None` for still pictures.
    pub duration_ms: Option<i32>,
}

impl ImageTile {
    /// A clip (MP4 or WebM, with a poster frame as its thumbnail), not a still picture.
    pub fn is_video(&self) -> bool {
        self.duration_ms.is_some()
    }

    /// A video's length in whole and tenth seconds, as pages show it ("4.0 s").
    pub fn seconds_label(&self) -> Option<String> {
        self.duration_ms
            .map(|ms| format!("{:.1} s", f64::from(ms) / 1000.0))
    }
}

impl AsRef<ImageTile> for ImageTile {
    fn as_ref(&self) -> &ImageTile {
        self
    }
}

/// The whole row: the [`ImageTile`] plus what it was made from, its tags, share state and
/// where it came from.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = images)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Image {
    #[diesel(embed)]
    pub tile: ImageTile,
    pub kind: ImageKind,
    pub mime: String,
    pub bytes: i64,
    pub disk_bytes: i64,
    pub tags: Vec<String>,
    pub share_nonce: Option<Vec<u8>>,
    pub share_token_hash: Option<Vec<u8>>,
    pub shared_at: Option<DateTime<Utc>>,
    pub prompt: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub seed: Option<i64>,
    pub job_id: Option<i64>,
    pub source_image_id: Option<i64>,
    /// What the image cost: credits, or a free image of the network.
    pub credits_used: i32,
    pub free: bool,
    /// The share link also lists the image on `/explore` (otherwise it is unlisted).
    pub share_public: bool,
    /// When the share link stops working; `None` keeps it until revoked.
    pub share_expires_at: Option<DateTime<Utc>>,
    /// When its owner deleted it: in the trash, out of every listing, until restored or
    /// removed for good (`None`: a live picture).
    pub trashed_at: Option<DateTime<Utc>>,
    /// Its owner starred it (kept from `favourites` by a trigger).
    pub starred: bool,
    /// How many tag suggestions wait for its owner (kept from `tag_suggestions`).
    pub suggestions_waiting: i32,
}

impl std::ops::Deref for Image {
    type Target = ImageTile;

    fn deref(&self) -> &ImageTile {
        &self.tile
    }
}

impl AsRef<ImageTile> for Image {
    fn as_ref(&self) -> &ImageTile {
        &self.tile
    }
}

impl Image {
    /// In the trash: listed only there, restorable until it is removed for good.
    pub fn is_trashed(&self) -> bool {
        self.trashed_at.is_some()
    }
}

/// How a generated image was made (all `None` for uploads).
#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = images)]
pub struct Provenance {
    pub prompt: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub seed: Option<i64>,
    pub job_id: Option<i64>,
    pub source_image_id: Option<i64>,
    pub credits_used: i32,
    pub free: bool,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = images)]
pub struct NewImage<'a> {
    pub user_id: i64,
    pub folder_id: i64,
    pub kind: ImageKind,
    pub stem: &'a str,
    pub original_ext: &'a str,
    pub thumb_ext: &'a str,
    pub pristine_ext: &'a str,
    pub display_ext: Option<&'a str>,
    pub mime: &'a str,
    pub width: i32,
    pub height: i32,
    pub bytes: i64,
    pub disk_bytes: i64,
    pub title: &'a str,
    pub tags: &'a [String],
    /// The address it was sent from, kept in `image_origins` beside the row.
    #[diesel(skip_insertion)]
    pub client_ip: Option<IpNetwork>,
    pub duration_ms: Option<i32>,
    #[diesel(embed)]
    pub provenance: Provenance,
}

/// The extensions of the files an edit rewrites.
pub struct StoredExts<'a> {
    pub original: &'a str,
    pub display: &'a str,
    pub thumb: &'a str,
}

/// An image (a whole row, or a tile) with where its files live: owner's username and
/// folder.
#[derive(Debug, Clone)]
pub struct Placed<I> {
    pub image: I,
    pub username: String,
    pub folder_slug: String,
    pub folder_name: String,
}

/// A whole image row, placed.
pub type PlacedImage = Placed<Image>;

/// A tile's columns, placed: what grids and strips show.
pub type PlacedTile = Placed<ImageTile>;

/// A page of a listing.
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

pub(super) type PlacedColumns = (
    diesel::dsl::AsSelect<Image, diesel::pg::Pg>,
    users::username,
    folders::slug,
    folders::name,
);
pub(super) type PlacedRow = (Image, String, String, String);

pub(super) fn placed_columns() -> PlacedColumns {
    (
        Image::as_select(),
        users::username,
        folders::slug,
        folders::name,
    )
}

/// Images joined with their owner and folder, selecting what a [`PlacedImage`] needs.
/// Never boxed: Diesel caches the prepared statements of static queries only, so the
/// queries built on this are parsed and planned once per connection.
type PlacedQuery = diesel::dsl::Select<
    diesel::dsl::InnerJoin<diesel::dsl::InnerJoin<images::table, users::table>, folders::table>,
    PlacedColumns,
>;

fn placed() -> PlacedQuery {
    images::table
        .inner_join(users::table)
        .inner_join(folders::table)
        .select(placed_columns())
}

fn first_placed<'query, Q>(conn: &mut PgConnection, query: Q) -> QueryResult<Option<PlacedImage>>
where
    Q: RunQueryDsl<PgConnection> + diesel::query_dsl::methods::LimitDsl,
    diesel::dsl::Limit<Q>: diesel::query_dsl::LoadQuery<'query, PgConnection, PlacedRow>,
{
    query
        .first::<PlacedRow>(conn)
        .optional()
        .map(|row| row.map(PlacedImage::from))
}

/// A share link that has not expired (no expiry, or one still ahead).
type UnexpiredShare = diesel::dsl::Or<
    diesel::dsl::IsNull<images::share_expires_at>,
    diesel::dsl::Gt<images::share_expires_at, diesel::dsl::now>,
>;

fn unexpired_share() -> UnexpiredShare {
    images::share_expires_at
        .is_null()
        .or(images::share_expires_at.gt(diesel::dsl::now))
}

impl<I> Placed<I> {
    /// `image`, which `username` keeps in `folder`.
    pub fn new(image: I, username: &str, folder: &Folder) -> Self {
        Placed {
            image,
            username: username.to_owned(),
            folder_slug: folder.slug.clone(),
            folder_name: folder.name.clone(),
        }
    }
}

impl From<PlacedRow> for PlacedImage {
    fn from((image, username, folder_slug, folder_name): PlacedRow) -> Self {
        PlacedImage {
            image,
            username,
            folder_slug,
            folder_name,
        }
    }
}

impl Image {
    /// Inserts the row and, when it has one, its origin (the address it was sent from).
    pub fn insert(conn: &mut PgConnection, new: &NewImage<'_>) -> QueryResult<Image> {
        let image: Image = diesel::insert_into(images::table)
            .values(new)
            .returning(Image::as_returning())
            .get_result(conn)?;
        if let Some(client_ip) = new.client_ip {
            diesel::insert_into(image_origins::table)
                .values((
                    image_origins::image_id.eq(image.id),
                    image_origins::user_id.eq(image.user_id),
                    image_origins::client_ip.eq(client_ip),
                    image_origins::upload.eq(image.kind == ImageKind::Upload),
                    image_origins::created_at.eq(image.created_at),
                ))
                .execute(conn)?;
        }
        Ok(image)
    }

    /// The addresses `ids` were sent from (those retention still keeps), by image id.
    pub fn origins(
        conn: &mut PgConnection,
        ids: &[i64],
    ) -> QueryResult<std::collections::HashMap<i64, IpNetwork>> {
        image_origins::table
            .filter(image_origins::image_id.eq_any(ids))
            .select((image_origins::image_id, image_origins::client_ip))
            .load::<(i64, IpNetwork)>(conn)
            .map(|rows| rows.into_iter().collect())
    }

    pub fn find_placed(conn: &mut PgConnection, id: i64) -> QueryResult<Option<PlacedImage>> {
        first_placed(conn, placed().filter(images::id.eq(id)))
    }

    /// The row behind a media URL, if the file name's stem belongs to that user and folder.
    pub fn find_for_media(
        conn: &mut PgConnection,
        username: &str,
        folder_slug: &str,
        stem: &str,
    ) -> QueryResult<Option<PlacedImage>> {
        let query = placed()
            .filter(images::stem.eq(stem))
            .filter(users::username.eq(username))
            .filter(folders::slug.eq(folder_slug));
        first_placed(conn, query)
    }

    /// The images with these ids (any order; missing ones are skipped).
    pub fn placed_by_ids(conn: &mut PgConnection, ids: &[i64]) -> QueryResult<Vec<PlacedImage>> {
        placed()
            .filter(images::id.eq_any(ids))
            .load::<PlacedRow>(conn)
            .map(|rows| rows.into_iter().map(PlacedImage::from).collect())
    }

    /// Every image in a folder, oldest first.
    pub fn placed_in_folder(
        conn: &mut PgConnection,
        folder_id: i64,
    ) -> QueryResult<Vec<PlacedImage>> {
        placed()
            .filter(images::folder_id.eq(folder_id))
            .order((images::created_at.asc(), images::id.asc()))
            .load::<PlacedRow>(conn)
            .map(|rows| rows.into_iter().map(PlacedImage::from).collect())
    }

    /// Every image of the account named `username` (the consistency check).
    pub fn placed_for_username(
        conn: &mut PgConnection,
        username: &str,
    ) -> QueryResult<Vec<PlacedImage>> {
        placed()
            .filter(users::username.eq(username))
            .order(images::id.asc())
            .load::<PlacedRow>(conn)
            .map(|rows| rows.into_iter().map(PlacedImage::from).collect())
    }

    /// The images a generation job stored (a retried or failed job's earlier results).
    pub fn placed_for_job(conn: &mut PgConnection, job_id: i64) -> QueryResult<Vec<PlacedImage>> {
        placed()
            .filter(images::job_id.eq(job_id))
            .load::<PlacedRow>(conn)
            .map(|rows| rows.into_iter().map(PlacedImage::from).collect())
    }

    /// The usernames of every account holding at least one image.
    pub fn owner_usernames(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
        users::table
            .filter(diesel::dsl::exists(
                images::table.filter(images::user_id.eq(users::id)),
            ))
            .select(users::username)
            .order(users::username.asc())
            .load(conn)
    }

    /// Images of `user_id` created before `before`, oldest first (anonymous clean-up).
    pub fn placed_older_than(
        conn: &mut PgConnection,
        user_id: i64,
        before: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<Vec<PlacedImage>> {
        placed()
            .filter(images::user_id.eq(user_id))
            .filter(images::created_at.lt(before))
            .order(images::id.asc())
            .limit(limit)
            .load::<PlacedRow>(conn)
            .map(|rows| rows.into_iter().map(PlacedImage::from).collect())
    }

    pub fn find_by_share_hash(
        conn: &mut PgConnection,
        hash: &[u8],
    ) -> QueryResult<Option<PlacedImage>> {
        // A disabled owner's links stop working, as their sessions do; so do expired ones.
        first_placed(
            conn,
            placed()
                .filter(images::share_token_hash.eq(hash))
                .filter(images::trashed_at.is_null())
                .filter(users::disabled.eq(false))
                .filter(unexpired_share()),
        )
    }

    /// Images published on Explore (public, unexpired shares), most recently shared first.
    pub fn list_shared(
        conn: &mut PgConnection,
        offset: i64,
        limit: i64,
    ) -> QueryResult<Page<PlacedImage>> {
        let total = images::table
            .inner_join(users::table)
            .filter(images::share_public)
            .filter(images::trashed_at.is_null())
            .filter(unexpired_share())
            .filter(users::disabled.eq(false))
            .count()
            .get_result(conn)?;
        let items = images::table
            .inner_join(users::table)
            .inner_join(folders::table)
            .filter(images::share_public)
            .filter(images::trashed_at.is_null())
            .filter(unexpired_share())
            .filter(users::disabled.eq(false))
            .order((images::shared_at.desc(), images::id.desc()))
            .offset(offset)
            .limit(limit)
            .select(placed_columns())
            .load::<PlacedRow>(conn)?
            .into_iter()
            .map(PlacedImage::from)
            .collect();
        Ok(Page { items, total })
    }

    /// The user's distinct tags in order (the first 200), for the gallery's filter: from
    /// the per-account counts the triggers keep (`library_tags`), not every picture.
    pub fn tags_for_user(conn: &mut PgConnection, user_id: i64) -> QueryResult<Vec<String>> {
        library_tags::table
            .filter(library_tags::user_id.eq(user_id))
            .order(library_tags::tag)
            .select(library_tags::tag)
            .limit(200)
            .load(conn)
    }

    /// (image count, bytes on disk) for the user, from the folders' counts.
    pub fn usage_for_user(conn: &mut PgConnection, user_id: i64) -> QueryResult<(i64, i64)> {
        let folders = Folder::list(conn, user_id)?;
        Ok((
            folders.iter().map(|f| f.image_count).sum(),
            folders.iter().map(|f| f.disk_bytes).sum(),
        ))
    }

    pub fn update_meta(
        conn: &mut PgConnection,
        id: i64,
        title: &str,
        tags: &[String],
        folder_id: i64,
    ) -> QueryResult<()> {
        diesel::update(images::table.find(id))
            .set((
                images::title.eq(title),
                images::tags.eq(tags),
                images::folder_id.eq(folder_id),
                images::updated_at.eq(Utc::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Sets the image's tags (already checked against the tag rules).
    pub fn set_tags(conn: &mut PgConnection, id: i64, tags: &[String]) -> QueryResult<()> {
        diesel::update(images::table.find(id))
            .set((images::tags.eq(tags), images::updated_at.eq(Utc::now())))
            .execute(conn)?;
        Ok(())
    }

    /// Gives the image to another owner and folder (files already moved).
    pub fn reassign(
        conn: &mut PgConnection,
        id: i64,
        user_id: i64,
        folder_id: i64,
    ) -> QueryResult<()> {
        diesel::update(images::table.find(id))
            .set((
                images::user_id.eq(user_id),
                images::folder_id.eq(folder_id),
                images::updated_at.eq(Utc::now()),
            ))
            .execute(conn)?;
        diesel::update(image_origins::table.find(id))
            .set(image_origins::user_id.eq(user_id))
            .execute(conn)?;
        Ok(())
    }

    /// Records new working-copy facts after an edit or revert.
    pub fn update_pixels(
        conn: &mut PgConnection,
        id: i64,
        (width, height): (i32, i32),
        exts: StoredExts<'_>,
        mime: &str,
        (bytes, disk_bytes): (i64, i64),
    ) -> QueryResult<()> {
        diesel::update(images::table.find(id))
            .set((
                images::width.eq(width),
                images::height.eq(height),
                images::original_ext.eq(exts.original),
                images::display_ext.eq(exts.display),
                images::thumb_ext.eq(exts.thumb),
                images::mime.eq(mime),
                images::bytes.eq(bytes),
                images::disk_bytes.eq(disk_bytes),
                images::updated_at.eq(Utc::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Moves the image to the trash: out of every listing, its share link ended (a
    /// restored picture is private again).
    pub fn trash(conn: &mut PgConnection, id: i64) -> QueryResult<()> {
        Self::clear_share(conn, id)?;
        diesel::update(images::table.find(id))
            .set(images::trashed_at.eq(Utc::now()))
            .execute(conn)?;
        Ok(())
    }

    /// Takes the image out of the trash, back where it was.
    pub fn restore(conn: &mut PgConnection, id: i64) -> QueryResult<()> {
        diesel::update(images::table.find(id))
            .set(images::trashed_at.eq(None::<DateTime<Utc>>))
            .execute(conn)?;
        Ok(())
    }

    /// How many of the user's pictures are in the trash.
    pub fn trash_count(conn: &mut PgConnection, user_id: i64) -> QueryResult<i64> {
        images::table
            .filter(images::user_id.eq(user_id))
            .filter(images::trashed_at.is_not_null())
            .count()
            .get_result(conn)
    }

    /// One page of the user's trash, most recently deleted first, and how many are in it.
    pub fn trash_page(
        conn: &mut PgConnection,
        user_id: i64,
        offset: i64,
        limit: i64,
    ) -> QueryResult<Page<PlacedImage>> {
        let total = Self::trash_count(conn, user_id)?;
        let items = placed()
            .filter(images::user_id.eq(user_id))
            .filter(images::trashed_at.is_not_null())
            .order((images::trashed_at.desc(), images::id.desc()))
            .offset(offset)
            .limit(limit)
            .load::<PlacedRow>(conn)?
            .into_iter()
            .map(PlacedImage::from)
            .collect();
        Ok(Page { items, total })
    }

    /// Pictures in the trash since before `before` (any owner, `None`: all of the
    /// owner's), oldest first, at most `limit`.
    pub fn trashed(
        conn: &mut PgConnection,
        owner: Option<i64>,
        before: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<Vec<PlacedImage>> {
        let mut query = placed()
            .filter(images::trashed_at.lt(before))
            .order((images::trashed_at.asc(), images::id.asc()))
            .limit(limit)
            .into_boxed();
        if let Some(user_id) = owner {
            query = query.filter(images::user_id.eq(user_id));
        }
        query
            .load::<PlacedRow>(conn)
            .map(|rows| rows.into_iter().map(PlacedImage::from).collect())
    }

    /// Pictures without a display copy, by id after `after` (videos never have one).
    pub fn missing_display_copy(
        conn: &mut PgConnection,
        after: i64,
        limit: i64,
    ) -> QueryResult<Vec<i64>> {
        images::table
            .filter(images::display_ext.is_null())
            .filter(images::duration_ms.is_null())
            .filter(images::id.gt(after))
            .order(images::id)
            .select(images::id)
            .limit(limit)
            .load(conn)
    }

    /// Records a display copy made after the picture was stored.
    pub fn set_display_copy(
        conn: &mut PgConnection,
        id: i64,
        ext: &str,
        bytes: i64,
    ) -> QueryResult<()> {
        diesel::update(images::table.find(id))
            .set((
                images::display_ext.eq(ext),
                images::disk_bytes.eq(images::disk_bytes + bytes),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn set_share(
        conn: &mut PgConnection,
        id: i64,
        nonce: &[u8],
        hash: &[u8],
        public: bool,
        expires_at: Option<DateTime<Utc>>,
    ) -> QueryResult<()> {
        diesel::update(images::table.find(id))
            .set((
                images::share_nonce.eq(nonce),
                images::share_token_hash.eq(hash),
                images::shared_at.eq(Utc::now()),
                images::share_public.eq(public),
                images::share_expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn clear_share(conn: &mut PgConnection, id: i64) -> QueryResult<()> {
        diesel::update(images::table.find(id))
            .set((
                images::share_nonce.eq(None::<Vec<u8>>),
                images::share_token_hash.eq(None::<Vec<u8>>),
                images::shared_at.eq(None::<DateTime<Utc>>),
                images::share_public.eq(false),
                images::share_expires_at.eq(None::<DateTime<Utc>>),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Locks the image's row (`FOR UPDATE`, that row only) until the transaction ends;
    /// `false` when there is no such row.
    pub fn lock(conn: &mut PgConnection, id: i64) -> QueryResult<bool> {
        images::table
            .find(id)
            .select(images::id)
            .for_update()
            .first::<i64>(conn)
            .optional()
            .map(|row| row.is_some())
    }

    /// Locks the image whose files are named `stem`, if there is one (`FOR UPDATE`, until
    /// the transaction ends), and returns its id.
    pub fn lock_by_stem(conn: &mut PgConnection, stem: &str) -> QueryResult<Option<i64>> {
        images::table
            .filter(images::stem.eq(stem))
            .select(images::id)
            .for_update()
            .first::<i64>(conn)
            .optional()
    }

    pub fn delete(conn: &mut PgConnection, id: i64) -> QueryResult<usize> {
        diesel::delete(images::table.find(id)).execute(conn)
    }
}
