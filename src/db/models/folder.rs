//! The `folders` table: each user's folders, with a `default` one made on demand.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::is_unique_violation;
use crate::db::schema::{folders, images};
use crate::domain::FolderSlug;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = folders)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Folder {
    pub id: i64,
    pub user_id: i64,
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// How many images it holds and their bytes on disk (kept by a trigger on `images`).
    pub image_count: i64,
    pub disk_bytes: i64,
}

/// Why a folder could not be deleted.
#[derive(Debug, PartialEq, Eq)]
pub enum FolderDeleteRefusal {
    NotFound,
    IsDefault,
    NotEmpty(i64),
}

impl Folder {
    pub fn is_default(&self) -> bool {
        self.slug == FolderSlug::DEFAULT
    }

    pub fn slug(&self) -> FolderSlug {
        FolderSlug::parse(&self.slug).unwrap_or_else(FolderSlug::default_folder)
    }
}

impl Folder {
    /// The user's default folder, created the first time it is needed.
    pub fn ensure_default(conn: &mut PgConnection, user_id: i64) -> QueryResult<Folder> {
        Self::find_or_create(conn, user_id, FolderSlug::DEFAULT, "Default")
    }

    /// The folder with `slug`, created with `name` if missing (safe under races). Reads
    /// first: most calls find it, and an insert is a write even when it conflicts.
    pub fn find_or_create(
        conn: &mut PgConnection,
        user_id: i64,
        slug: &str,
        name: &str,
    ) -> QueryResult<Folder> {
        if let Some(folder) = Self::find_by_slug(conn, user_id, slug)? {
            return Ok(folder);
        }
        diesel::insert_into(folders::table)
            .values((
                folders::user_id.eq(user_id),
                folders::slug.eq(slug),
                folders::name.eq(name),
            ))
            .on_conflict((folders::user_id, folders::slug))
            .do_nothing()
            .execute(conn)?;
        folders::table
            .filter(folders::user_id.eq(user_id))
            .filter(folders::slug.eq(slug))
            .select(Folder::as_select())
            .first(conn)
    }

    /// Creates a folder; `Ok(None)` when the user already has one with that slug.
    pub fn create(
        conn: &mut PgConnection,
        user_id: i64,
        slug: &FolderSlug,
        name: &str,
    ) -> QueryResult<Option<Folder>> {
        match diesel::insert_into(folders::table)
            .values((
                folders::user_id.eq(user_id),
                folders::slug.eq(slug.as_str()),
                folders::name.eq(name),
            ))
            .returning(Folder::as_returning())
            .get_result(conn)
        {
            Ok(folder) => Ok(Some(folder)),
            Err(err) if is_unique_violation(&err, "folders_user_id_slug_key") => Ok(None),
            Err(err) => Err(err),
        }
    }

    pub fn find_by_id(conn: &mut PgConnection, id: i64) -> QueryResult<Folder> {
        folders::table
            .find(id)
            .select(Folder::as_select())
            .first(conn)
    }

    /// Gives one of the user's folders a new name (its slug, the URL and storage path,
    /// stays); `None` when the user has no such folder.
    pub fn rename(
        conn: &mut PgConnection,
        user_id: i64,
        id: i64,
        name: &str,
    ) -> QueryResult<Option<Folder>> {
        diesel::update(
            folders::table
                .filter(folders::id.eq(id))
                .filter(folders::user_id.eq(user_id)),
        )
        .set(folders::name.eq(name))
        .returning(Folder::as_returning())
        .get_result(conn)
        .optional()
    }

    /// Creates a folder named `name`, adding `-2`, `-3`… to the slug if the user already
    /// has one with that slug (a story's folder is always its own).
    pub fn create_unique(conn: &mut PgConnection, user_id: i64, name: &str) -> QueryResult<Folder> {
        let base = FolderSlug::from_name(name).unwrap_or_else(|| {
            FolderSlug::parse("story").unwrap_or_else(FolderSlug::default_folder)
        });
        for n in 1..1000 {
            let candidate = if n == 1 {
                base.as_str().to_owned()
            } else {
                let suffix = format!("-{n}");
                let stem: String = base.as_str().chars().take(64 - suffix.len()).collect();
                format!("{stem}{suffix}")
            };
            let Some(slug) = FolderSlug::parse(&candidate) else {
                continue;
            };
            let display = if n == 1 {
                name.to_owned()
            } else {
                format!("{name} ({n})")
            };
            // ON CONFLICT DO NOTHING: a taken slug yields no row instead of an error that
            // would abort the caller's transaction.
            let created = diesel::insert_into(folders::table)
                .values((
                    folders::user_id.eq(user_id),
                    folders::slug.eq(slug.as_str()),
                    folders::name.eq(&display),
                ))
                .on_conflict_do_nothing()
                .returning(Folder::as_returning())
                .get_result(conn)
                .optional()?;
            if let Some(folder) = created {
                return Ok(folder);
            }
        }
        Err(diesel::result::Error::NotFound)
    }

    /// One of the user's folders by id; `None` when it is not theirs or not there.
    pub fn find_by_id_for(
        conn: &mut PgConnection,
        user_id: i64,
        id: i64,
    ) -> QueryResult<Option<Folder>> {
        folders::table
            .find(id)
            .filter(folders::user_id.eq(user_id))
            .select(Folder::as_select())
            .first(conn)
            .optional()
    }

    pub fn find_by_slug(
        conn: &mut PgConnection,
        user_id: i64,
        slug: &str,
    ) -> QueryResult<Option<Folder>> {
        folders::table
            .filter(folders::user_id.eq(user_id))
            .filter(folders::slug.eq(slug))
            .select(Folder::as_select())
            .first(conn)
            .optional()
    }

    /// The user's folders with their counts, the default one first, then by name. Makes
    /// the default folder if the account has none yet.
    pub fn list(conn: &mut PgConnection, user_id: i64) -> QueryResult<Vec<Folder>> {
        let load = |conn: &mut PgConnection| {
            folders::table
                .filter(folders::user_id.eq(user_id))
                .select(Folder::as_select())
                .load::<Folder>(conn)
        };
        let mut folders = load(conn)?;
        if !folders.iter().any(Folder::is_default) {
            Self::ensure_default(conn, user_id)?;
            folders = load(conn)?;
        }
        folders.sort_by_cached_key(|f| (!f.is_default(), f.name.to_lowercase()));
        Ok(folders)
    }

    /// Deletes an empty, non-default folder of the user; returns it.
    pub fn delete_if_empty(
        conn: &mut PgConnection,
        user_id: i64,
        id: i64,
    ) -> QueryResult<Result<Folder, FolderDeleteRefusal>> {
        conn.transaction(|conn| {
            let folder: Option<Folder> = folders::table
                .filter(folders::id.eq(id))
                .filter(folders::user_id.eq(user_id))
                .select(Folder::as_select())
                .for_update()
                .first(conn)
                .optional()?;
            let Some(folder) = folder else {
                return Ok(Err(FolderDeleteRefusal::NotFound));
            };
            if folder.is_default() {
                return Ok(Err(FolderDeleteRefusal::IsDefault));
            }
            let count: i64 = images::table
                .filter(images::folder_id.eq(id))
                .count()
                .get_result(conn)?;
            if count > 0 {
                return Ok(Err(FolderDeleteRefusal::NotEmpty(count)));
            }
            diesel::delete(folders::table.find(id)).execute(conn)?;
            Ok(Ok(folder))
        })
    }
}
