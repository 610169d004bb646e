//! The user's gallery listing: filters (folder, tag, favourites, full-text search over
//! title and prompt), sort orders and counts, and the favourites table. Pictures in the
//! trash are in none of it. Explore's listing
//! and single-image lookups stay in `image.rs`.

use std::collections::HashMap;

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::image::{ImageTile, Page, Placed, PlacedImage, PlacedTile};
use super::{Folder, Image};
use crate::db::schema::{favourites, folders, images, library_tags, library_versions, users};

/// How a gallery listing is ordered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum GallerySort {
    #[default]
    Newest,
    Oldest,
    Title,
    Largest,
}

impl GallerySort {
    /// Every order, with the word used in URLs and its label.
    pub const ALL: [(GallerySort, &'static str, &'static str); 4] = [
        (GallerySort::Newest, "newest", "Newest first"),
        (GallerySort::Oldest, "oldest", "Oldest first"),
        (GallerySort::Title, "title", "Title A–Z"),
        (GallerySort::Largest, "largest", "Largest files"),
    ];

    /// The order a URL names; anything else is the default.
    pub fn parse(word: &str) -> Self {
        Self::ALL
            .iter()
            .find(|(_, name, _)| *name == word)
            .map_or_else(Self::default, |(sort, _, _)| *sort)
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(sort, _, _)| *sort == self)
            .map_or("newest", |(_, name, _)| name)
    }
}

/// What a gallery listing filters by and how it is ordered.
#[derive(Debug, Default, Clone)]
pub struct ImageFilter {
    pub folder_id: Option<i64>,
    pub tag: Option<String>,
    /// Only the owner's favourites.
    pub favourites: bool,
    /// Words every match's title or prompt contains (prefixes count: "mount" finds
    /// "mountains"); see [`search_query`].
    pub search: Option<String>,
    /// How a search finds its matches; the gallery picks it (see
    /// [`Image::count_for_user_up_to`]).
    pub search_path: SearchPath,
    pub sort: GallerySort,
}

/// How a search finds its matches. PostgreSQL estimates a search over every library at once
/// and cannot know that a library's words are its owner's: in the 300,000-picture library
/// where 7,500 pictures are foxes at dawn it expects a few hundred, gathers all 7,500 from
/// the search index and sorts them (24 ms), where walking the listing's own index in order
/// and testing each picture finds a page of them within 960 rows (0.5 ms); and where no
/// picture is a lighthouse in a storm it may walk all 3 million of a library ten times that
/// size looking for one (1.5 s).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum SearchPath {
    /// As PostgreSQL plans it, each word a prefix (the viewer's neighbours).
    #[default]
    Planned,
    /// The listing walked in its order, each picture tested: matches are common enough
    /// that the ones wanted are near.
    Walk,
    /// Every match is known (a few hundred at most): read by id.
    Among(Vec<i64>),
    /// The search index, asked for whole words (the `tsquery` of
    /// [`indexed_search_query`]): words rare in the scope's newest pictures, or common
    /// ones that seldom meet.
    Indexed(String),
}

/// How many of a search's scope (its folder, tag or favourites) [`Image::count_for_user_up_to`]
/// tests, newest first, to judge how common the search's words are there.
const PROBE: i64 = 1000;

/// Whether walking the listing to its `wanted`th match reads fewer rows than gathering
/// all the matches: with `found` matches among the `PROBE` newest of `pictures`, a walk
/// reads about `wanted × PROBE / found` rows, the search index `found × pictures / PROBE`.
fn walk_is_nearer(found: i64, pictures: i64, wanted: i64) -> bool {
    found.saturating_mul(found).saturating_mul(pictures) > wanted.saturating_mul(PROBE * PROBE)
}

impl ImageFilter {
    fn is_everyday_view(&self) -> bool {
        self.folder_id.is_none()
            && self.tag.is_none()
            && !self.favourites
            && self.search.is_none()
            && self.sort == GallerySort::Newest
    }

    /// A tag and nothing else narrows the listing (its count is kept per account).
    pub fn is_tag_only(&self) -> bool {
        self.tag.is_some() && self.folder_id.is_none() && !self.favourites && self.search.is_none()
    }
}

/// A search box's words: up to eight runs of letters and digits, lower case, 64 characters
/// at most each. Nothing else the user types reaches PostgreSQL's query parser.
fn search_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(8)
        .map(|word| word.chars().take(64).collect::<String>().to_lowercase())
        .collect()
}

/// A search box's text as a PostgreSQL `tsquery`: its [`search_words`], each matched as a
/// prefix, all required (`mountain:* & lake:*`). `None` when the text has no word
/// (punctuation only).
pub fn search_query(text: &str) -> Option<String> {
    let words = search_words(text);
    (!words.is_empty()).then(|| {
        words
            .iter()
            .map(|word| format!("{word}:*"))
            .collect::<Vec<_>>()
            .join(" & ")
    })
}

/// The search for `text` as the search index answers it fastest: each word as the whole
/// words the index holds that it starts (`atelier_search_query`, migration
/// `000029_search_words`), so the index walks the words' lists together instead of
/// gathering every picture of every word first. Matches exactly what [`search_query`]
/// matches; an empty query (matching nothing) when every word is a stop word.
fn indexed_search_query(conn: &mut PgConnection, text: &str) -> QueryResult<String> {
    use diesel::sql_types::Array;
    diesel::select(
        sql::<Text>("coalesce(atelier_search_query(")
            .bind::<Array<Text>, _>(search_words(text))
            .sql(")::text, '')"),
    )
    .get_result(conn)
}

/// One page of a user's listing, as [`Image::page_for_user`] read it: the tiles alone (the
/// owner and the folders are the same for every row; the library summary at `version`
/// places them, see `LibrarySummary::place`).
pub struct UserPage {
    pub items: Vec<ImageTile>,
    /// The ids on the page the user starred.
    pub favourites: Vec<i64>,
    /// How many tag suggestions wait on each picture of the page that has any.
    pub suggested: HashMap<i64, i64>,
    /// The account's library version the statement saw (`None` on an empty page).
    pub version: Option<i64>,
}

type Filtered<'a> = images::BoxedQuery<'a, diesel::pg::Pg>;

/// What a page says of each tile beside the tile: starred, and the tag suggestions waiting
/// (columns triggers keep from `favourites` and `tag_suggestions`).
type Marks = (bool, i32);

/// How deep a page may start and still read its rows straight in the listing's order (see
/// [`Image::page_for_user`]): the first ten pages of 24.
const SHALLOW_OFFSET: i64 = 240;

/// The user's images matching `filter` (not yet ordered or selected).
///
/// Each filter is written as SQL, which keeps Diesel from holding the statement prepared:
/// PostgreSQL soon plans a held statement once for any folder, tag or search (a generic
/// plan), and with libraries of very different sizes that plan gathers every match of a
/// 300,000-picture account and sorts them (10–32 ms) where the value's own plan walks the
/// listing's index until it has a page (0.05–0.5 ms, plus about as much to plan).
fn matching<'a>(user_id: i64, filter: &'a ImageFilter) -> Filtered<'a> {
    use diesel::sql_types::{Array, BigInt};
    let mut query = images::table
        .filter(images::user_id.eq(user_id))
        .filter(images::trashed_at.is_null())
        .into_boxed();
    if let Some(folder_id) = filter.folder_id {
        query = query.filter(sql::<Bool>("images.folder_id = ").bind::<BigInt, _>(folder_id));
    }
    if let Some(tag) = &filter.tag {
        query =
            query.filter(sql::<Bool>("images.tags @> ").bind::<Array<Text>, _>(vec![tag.clone()]));
    }
    if filter.favourites {
        query = query.filter(
            sql::<Bool>("images.id IN (SELECT image_id FROM favourites WHERE user_id = ")
                .bind::<BigInt, _>(user_id)
                .sql(")"),
        );
    }
    if let Some(search) = filter.search.as_deref().and_then(search_query) {
        query = match &filter.search_path {
            SearchPath::Planned => query.filter(search_test(search, false)),
            SearchPath::Walk => query.filter(search_test(search, true)),
            SearchPath::Among(ids) => query.filter(images::id.eq_any(ids.clone())),
            SearchPath::Indexed(words) => query.filter(
                sql::<Bool>("images.search @@ CAST(")
                    .bind::<Text, _>(words.clone())
                    .sql(" AS tsquery)"),
            ),
        };
    }
    query
}

/// Runs `read` with memory enough for a search that gathers its matches from the index:
/// asked as a prefix, a word's pictures are all collected before the words are combined;
/// at PostgreSQL's default 4 MB the bitmaps of two words carried by 375,000 pictures each
/// turn lossy, and every row of their pages is tested again (1.2 s instead of 0.14 s in a
/// 3-million-picture library). Whole words with many matches gather a bitmap too.
fn gathering<T>(
    conn: &mut PgConnection,
    filter: &ImageFilter,
    read: impl FnOnce(&mut PgConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    match (&filter.search, &filter.search_path) {
        (Some(_), SearchPath::Planned | SearchPath::Indexed(_)) => {
            crate::db::with_work_mem(conn, 32, read)
        }
        _ => read(conn),
    }
}

/// Whether a picture matches `tsquery` (from [`search_query`]); `walked`: in a form no
/// index answers (`IS TRUE`), so the planner walks the listing's own index instead.
fn search_test(
    tsquery: String,
    walked: bool,
) -> Box<dyn BoxableExpression<images::table, diesel::pg::Pg, SqlType = Bool>> {
    let test = sql::<Bool>("(images.search @@ to_tsquery('english'::regconfig, ")
        .bind::<Text, _>(tsquery)
        .sql(if walked { ")) IS TRUE" } else { "))" });
    Box::new(test)
}

/// [`matching`] in the order `filter` asks for, ties broken by id.
fn ordered<'a>(user_id: i64, filter: &'a ImageFilter) -> Filtered<'a> {
    let query = matching(user_id, filter);
    match filter.sort {
        GallerySort::Newest => query.order((images::created_at.desc(), images::id.desc())),
        GallerySort::Oldest => query.order((images::created_at.asc(), images::id.asc())),
        GallerySort::Title => query.order((images::title.asc(), images::id.asc())),
        GallerySort::Largest => query.order((images::bytes.desc(), images::id.desc())),
    }
}

impl Image {
    /// The user's images matching `filter`, whole rows (for the JSON API, the export and
    /// admin pages), with how many match: the page's ids chosen as the gallery chooses
    /// them, then their rows.
    pub fn list_for_user(
        conn: &mut PgConnection,
        user_id: i64,
        filter: &ImageFilter,
        offset: i64,
        limit: i64,
    ) -> QueryResult<Page<PlacedImage>> {
        let mut filter = filter.clone();
        if let (Some(text), SearchPath::Planned) = (&filter.search, &filter.search_path) {
            filter.search_path = SearchPath::Indexed(indexed_search_query(conn, text)?);
        }
        let filter = &filter;
        let total = Self::count_for_user(conn, user_id, filter)?;
        let ids: Vec<i64> = Self::page_for_user(conn, user_id, filter, offset, limit)?
            .items
            .iter()
            .map(|tile| tile.id)
            .collect();
        let mut items = Self::placed_by_ids(conn, &ids)?;
        items.sort_by_key(|placed| ids.iter().position(|id| *id == placed.image.id));
        Ok(Page { items, total })
    }

    /// Tiles of one owner placed in their folders, in their order: one statement for the
    /// distinct folders (and the owner's name), not a join per row. A tile whose folder
    /// went away since it was read is left out, as a listing read a moment later would.
    pub fn place_owned(
        conn: &mut PgConnection,
        tiles: Vec<ImageTile>,
    ) -> QueryResult<Vec<PlacedTile>> {
        let mut folder_ids: Vec<i64> = tiles.iter().map(|tile| tile.folder_id).collect();
        folder_ids.sort_unstable();
        folder_ids.dedup();
        let folders: Vec<(Folder, String)> = if folder_ids.is_empty() {
            Vec::new()
        } else {
            folders::table
                .inner_join(users::table)
                .filter(folders::id.eq_any(&folder_ids))
                .select((Folder::as_select(), users::username))
                .load(conn)?
        };
        Ok(tiles
            .into_iter()
            .filter_map(|tile| {
                let (folder, username) = folders.iter().find(|(f, _)| f.id == tile.folder_id)?;
                Some(Placed::new(tile, username, folder))
            })
            .collect())
    }

    /// One page of the user's images as tiles, which of them are favourites and how many tag
    /// suggestions wait on each, and the account's library version as the statement
    /// choosing the page saw it (`None` on an empty page). The pages nearly every visit
    /// reads (up to [`SHALLOW_OFFSET`]) are one statement reading rows in the listing's order from the index that starts with the
    /// owner and holds the sort; the everyday view's is static, so prepared once per
    /// connection. Deeper pages pick their ids first, index-only (rows skipped that way
    /// cost no heap reads), then read those rows.
    pub fn page_for_user(
        conn: &mut PgConnection,
        user_id: i64,
        filter: &ImageFilter,
        offset: i64,
        limit: i64,
    ) -> QueryResult<UserPage> {
        let version = library_versions::table
            .filter(library_versions::user_id.eq(user_id))
            .select(library_versions::version)
            .single_value();
        let marks = (images::starred, images::suggestions_waiting);
        let rows: Vec<(ImageTile, Option<i64>, Marks)> = gathering(conn, filter, |conn| {
            Ok(if offset >= SHALLOW_OFFSET {
                let page_ids: Vec<(i64, Option<i64>)> = ordered(user_id, filter)
                    .offset(offset)
                    .limit(limit)
                    .select((images::id, version))
                    .load(conn)?;
                let ids: Vec<i64> = page_ids.iter().map(|(id, _)| *id).collect();
                let mut rows: Vec<(ImageTile, Marks)> = if ids.is_empty() {
                    Vec::new()
                } else {
                    images::table
                        .filter(images::id.eq_any(&ids))
                        .select((ImageTile::as_select(), marks))
                        .load(conn)?
                };
                rows.sort_by_key(|(image, _)| ids.iter().position(|id| *id == image.id));
                let version = page_ids.first().and_then(|(_, version)| *version);
                rows.into_iter()
                    .map(|(image, marks)| (image, version, marks))
                    .collect()
            } else if filter.is_everyday_view() {
                images::table
                    .filter(images::user_id.eq(user_id))
                    .filter(images::trashed_at.is_null())
                    .order((images::created_at.desc(), images::id.desc()))
                    .offset(offset)
                    .limit(limit)
                    .select((ImageTile::as_select(), version, marks))
                    .load(conn)?
            } else {
                ordered(user_id, filter)
                    .offset(offset)
                    .limit(limit)
                    .select((ImageTile::as_select(), version, marks))
                    .load(conn)?
            })
        })?;
        let mut page = UserPage {
            version: rows.first().and_then(|(_, version, _)| *version),
            items: Vec::with_capacity(rows.len()),
            favourites: Vec::new(),
            suggested: HashMap::new(),
        };
        for (image, _, (starred, waiting)) in rows {
            if starred {
                page.favourites.push(image.id);
            }
            if waiting > 0 {
                page.suggested.insert(image.id, i64::from(waiting));
            }
            page.items.push(image);
        }
        Ok(page)
    }

    /// The account's library version (bumped by every change to its images or folders).
    pub fn library_version(conn: &mut PgConnection, user_id: i64) -> QueryResult<i64> {
        library_versions::table
            .filter(library_versions::user_id.eq(user_id))
            .select(library_versions::version)
            .first(conn)
            .optional()
            .map(Option::unwrap_or_default)
    }

    /// The images just before and just after `current` in the listing `filter` asks for
    /// (the viewer's ← and →), `None` at either end: two index-ordered lookups from
    /// `current`'s own sort key, however deep in the listing it is.
    pub fn neighbours(
        conn: &mut PgConnection,
        user_id: i64,
        filter: &ImageFilter,
        current: &Image,
    ) -> QueryResult<(Option<i64>, Option<i64>)> {
        // The first row past `current` going down (`below`) or up (`above`) the order of
        // `$column`, ties broken by id as the listing breaks them: a row comparison, which
        // the index starting with the owner and holding that order answers directly.
        macro_rules! step {
            ($column:expr, $name:literal, $sql_type:ty, $value:expr, below) => {
                matching(user_id, filter)
                    .filter(
                        sql::<Bool>(concat!("(images.", $name, ", images.id) < ("))
                            .bind::<$sql_type, _>($value)
                            .sql(", ")
                            .bind::<diesel::sql_types::BigInt, _>(current.id)
                            .sql(")"),
                    )
                    .order(($column.desc(), images::id.desc()))
                    .select(images::id)
                    .first::<i64>(conn)
                    .optional()
            };
            ($column:expr, $name:literal, $sql_type:ty, $value:expr, above) => {
                matching(user_id, filter)
                    .filter(
                        sql::<Bool>(concat!("(images.", $name, ", images.id) > ("))
                            .bind::<$sql_type, _>($value)
                            .sql(", ")
                            .bind::<diesel::sql_types::BigInt, _>(current.id)
                            .sql(")"),
                    )
                    .order(($column.asc(), images::id.asc()))
                    .select(images::id)
                    .first::<i64>(conn)
                    .optional()
            };
        }
        if filter.is_everyday_view() {
            return Self::everyday_neighbours(conn, user_id, current);
        }
        use diesel::sql_types::{BigInt as Big, Timestamptz as Time};
        let created = current.created_at;
        let title = current.title.clone();
        let bytes = current.bytes;
        Ok(match filter.sort {
            GallerySort::Newest => (
                step!(images::created_at, "created_at", Time, created, above)?,
                step!(images::created_at, "created_at", Time, created, below)?,
            ),
            GallerySort::Oldest => (
                step!(images::created_at, "created_at", Time, created, below)?,
                step!(images::created_at, "created_at", Time, created, above)?,
            ),
            GallerySort::Title => (
                step!(images::title, "title", Text, title.clone(), below)?,
                step!(images::title, "title", Text, title, above)?,
            ),
            GallerySort::Largest => (
                step!(images::bytes, "bytes", Big, bytes, above)?,
                step!(images::bytes, "bytes", Big, bytes, below)?,
            ),
        })
    }

    /// [`Image::neighbours`] in the whole library, newest first (the view an image is
    /// opened from nearly every time), as one static statement (both steps as subqueries):
    /// prepared once per connection, where the general form is parsed and planned on every
    /// view. `created_at <=` bounds
    /// the index scan; the `or` breaks ties by id.
    fn everyday_neighbours(
        conn: &mut PgConnection,
        user_id: i64,
        current: &Image,
    ) -> QueryResult<(Option<i64>, Option<i64>)> {
        let (created, id) = (current.created_at, current.id);
        let live = images::user_id
            .eq(user_id)
            .and(images::trashed_at.is_null());
        let newer = images::table
            .filter(live)
            .filter(images::created_at.ge(created))
            .filter(images::created_at.gt(created).or(images::id.gt(id)))
            .order((images::created_at.asc(), images::id.asc()))
            .select(images::id)
            .limit(1)
            .single_value();
        let older = images::table
            .filter(live)
            .filter(images::created_at.le(created))
            .filter(images::created_at.lt(created).or(images::id.lt(id)))
            .order((images::created_at.desc(), images::id.desc()))
            .select(images::id)
            .limit(1)
            .single_value();
        diesel::select((newer, older)).get_result(conn)
    }

    /// How many of the user's images match `filter`, counted no further than `cap`: a
    /// search of a big library can match tens of thousands of pictures, and the page
    /// showing a few of them needs only to know the pages around it (a tag alone is read,
    /// exactly, from its count). A search also sets how the page ending at `through` reads
    /// its matches (`filter.search_path`), judged by a probe of the `PROBE` newest pictures
    /// of its scope (`pictures` in all):
    /// - a scope no bigger than the probe: every match is known from it;
    /// - words common there: the count walks the listing (about `cap × PROBE / found`
    ///   rows, however big the library), and so does the page when its matches are nearer
    ///   than all of them;
    /// - rarer words: the search index, which names every match when there are fewer
    ///   than `cap`; the page reads those by id.
    pub fn count_for_user_up_to(
        conn: &mut PgConnection,
        user_id: i64,
        filter: &mut ImageFilter,
        (pictures, cap, through): (i64, i64, i64),
    ) -> QueryResult<i64> {
        if filter.is_tag_only() {
            return Self::count_for_user(conn, user_id, filter);
        }
        // The probe: how many of the scope's newest pictures the words find.
        let mut found_in_probe = None;
        let text = filter.search.clone().unwrap_or_default();
        if let Some(tsquery) = search_query(&text) {
            let scope = ImageFilter {
                search: None,
                search_path: SearchPath::Planned,
                ..filter.clone()
            };
            let probe: Vec<(i64, bool)> = matching(user_id, &scope)
                .order((images::created_at.desc(), images::id.desc()))
                .limit(PROBE)
                .select((images::id, search_test(tsquery, true)))
                .load(conn)?;
            let probed = probe.len() as i64;
            let mut found: Vec<i64> = probe
                .into_iter()
                .filter_map(|(id, hit)| hit.then_some(id))
                .collect();
            if probed < PROBE {
                found.truncate(usize::try_from(cap).unwrap_or(0));
                let count = found.len() as i64;
                filter.search_path = SearchPath::Among(found);
                return Ok(count);
            }
            let found = found.len() as i64;
            filter.search_path = match walk_is_nearer(found, pictures, cap) {
                true => SearchPath::Walk,
                false => SearchPath::Indexed(indexed_search_query(conn, &text)?),
            };
            found_in_probe = Some(found);
        }
        let matches: Vec<i64> = gathering(conn, filter, |conn| {
            matching(user_id, filter)
                .select(images::id)
                .limit(cap)
                .load(conn)
        })?;
        let count = matches.len() as i64;
        if let Some(found) = found_in_probe {
            filter.search_path = if count < cap {
                SearchPath::Among(matches)
            } else if walk_is_nearer(found, pictures, through) {
                SearchPath::Walk
            } else if matches!(filter.search_path, SearchPath::Indexed(_)) {
                std::mem::take(&mut filter.search_path)
            } else {
                SearchPath::Indexed(indexed_search_query(conn, &text)?)
            };
        }
        Ok(count)
    }

    /// How many of the user's images match `filter`. A tag alone is counted by the
    /// per-account tag counts the triggers keep (one row, however many pictures carry it).
    pub fn count_for_user(
        conn: &mut PgConnection,
        user_id: i64,
        filter: &ImageFilter,
    ) -> QueryResult<i64> {
        match &filter.tag {
            Some(tag) if filter.is_tag_only() => library_tags::table
                .filter(library_tags::user_id.eq(user_id))
                .filter(library_tags::tag.eq(tag))
                .select(library_tags::images)
                .first(conn)
                .optional()
                .map(Option::unwrap_or_default),
            _ => gathering(conn, filter, |conn| {
                matching(user_id, filter).count().get_result(conn)
            }),
        }
    }
}

/// Stars or unstars one of the owner's images.
pub fn set_favourite(
    conn: &mut PgConnection,
    user_id: i64,
    image_id: i64,
    favourite: bool,
) -> QueryResult<()> {
    if favourite {
        diesel::insert_into(favourites::table)
            .values((
                favourites::image_id.eq(image_id),
                favourites::user_id.eq(user_id),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
    } else {
        diesel::delete(
            favourites::table
                .filter(favourites::image_id.eq(image_id))
                .filter(favourites::user_id.eq(user_id)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// Which of these images are the user's favourites.
pub fn favourites_among(
    conn: &mut PgConnection,
    user_id: i64,
    image_ids: &[i64],
) -> QueryResult<Vec<i64>> {
    favourites::table
        .filter(favourites::user_id.eq(user_id))
        .filter(favourites::image_id.eq_any(image_ids))
        .select(favourites::image_id)
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_walks_the_listing_when_the_matches_wanted_are_nearer_than_all_of_them() {
        // A quarter of the 1,000 newest match in 300,000: 96 rows walked for a page of
        // 24, 4,000 for a count to 1,000, against 75,000 gathered.
        assert!(walk_is_nearer(250, 300_000, 24));
        assert!(walk_is_nearer(250, 300_000, 1_001));
        // 25 of them (7,500 in all): a page walks (960 rows), a count to 1,000 gathers
        // (40,000 rows walked); in a library ten times that size both walk.
        assert!(walk_is_nearer(25, 300_000, 24));
        assert!(!walk_is_nearer(25, 300_000, 1_001));
        assert!(walk_is_nearer(25, 3_000_000, 1_001));
        // None of them: the index, however big the library.
        assert!(!walk_is_nearer(0, 3_000_000, 24));
    }

    #[test]
    fn search_text_becomes_prefix_words_and_nothing_else() {
        assert_eq!(
            search_query("Mountain lake").as_deref(),
            Some("mountain:* & lake:*")
        );
        assert_eq!(
            search_query("it's  a'|!:*&").as_deref(),
            Some("it:* & s:* & a:*")
        );
        assert_eq!(search_query(" !? "), None);
        assert_eq!(search_query("Öl über"), Some("öl:* & über:*".to_owned()));
    }

    #[test]
    fn unknown_sort_words_fall_back_to_newest() {
        assert_eq!(GallerySort::parse("title"), GallerySort::Title);
        assert_eq!(GallerySort::parse("DROP"), GallerySort::Newest);
        assert_eq!(GallerySort::Largest.as_str(), "largest");
    }
}
