//! Each account's folder list (with its counts), tags and how many pictures wait in its
//! trash, kept in memory so the gallery
//! and the dashboard read one statement, not three.
//!
//! A summary is tagged with the account's library version (`library_versions`, bumped by
//! triggers in the same transaction as every change to the account's images or folders).
//! The page statement reads that version along with the images it shows, and a summary is
//! used only when its version is the one just read: never stale, on any instance, with no
//! notification to wait for. Otherwise it is reloaded on the same connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use diesel::{PgConnection, QueryResult};

use crate::db::models::{Folder, Image, ImageTile, Placed, PlacedTile};

/// How many accounts' summaries are kept before the cache starts over.
const MAX_ENTRIES: usize = 50_000;

/// An account's folders (the default first, then by name) and its tags, as of `version`.
#[derive(Debug)]
pub struct LibrarySummary {
    pub version: i64,
    pub folders: Vec<Folder>,
    pub tags: Vec<String>,
    /// Pictures in the trash.
    pub trashed: i64,
}

impl LibrarySummary {
    /// Images in all folders.
    pub fn image_count(&self) -> i64 {
        self.folders.iter().map(|folder| folder.image_count).sum()
    }

    /// Bytes on disk in all folders.
    pub fn disk_bytes(&self) -> i64 {
        self.folders.iter().map(|folder| folder.disk_bytes).sum()
    }

    pub fn folder(&self, slug: &str) -> Option<&Folder> {
        self.folders.iter().find(|folder| folder.slug == slug)
    }

    /// The images of a page read at this summary's version (so in its folders), placed in
    /// them; all of them back if one is in a folder it does not know.
    pub fn place(
        &self,
        username: &str,
        tiles: Vec<ImageTile>,
    ) -> Result<Vec<PlacedTile>, Vec<ImageTile>> {
        let folder_of = |tile: &ImageTile| self.folders.iter().find(|f| f.id == tile.folder_id);
        if !tiles.iter().all(|tile| folder_of(tile).is_some()) {
            return Err(tiles);
        }
        Ok(tiles
            .into_iter()
            .filter_map(|tile| {
                let folder = folder_of(&tile)?;
                Some(Placed::new(tile, username, folder))
            })
            .collect())
    }
}

#[derive(Clone, Default)]
pub struct SummaryCache {
    entries: Arc<Mutex<HashMap<i64, Arc<LibrarySummary>>>>,
}

impl SummaryCache {
    /// The summary last loaded for the account, current or not.
    pub fn last(&self, user_id: i64) -> Option<Arc<LibrarySummary>> {
        self.lock().get(&user_id).cloned()
    }

    /// The account's summary as of `seen_version` (a version a statement on `conn` just
    /// read; `None` to read it now), reloaded when the kept one is older.
    pub fn current(
        &self,
        conn: &mut PgConnection,
        user_id: i64,
        seen_version: Option<i64>,
    ) -> QueryResult<Arc<LibrarySummary>> {
        let version = match seen_version {
            Some(version) => version,
            None => Image::library_version(conn, user_id)?,
        };
        if let Some(kept) = self.last(user_id).filter(|kept| kept.version == version) {
            return Ok(kept);
        }
        // Read after the version: what is loaded is at least that new, so tagging it with
        // `version` can only cause one reload too many, never a stale answer.
        let summary = Arc::new(LibrarySummary {
            version,
            folders: Folder::list(conn, user_id)?,
            tags: Image::tags_for_user(conn, user_id)?,
            trashed: Image::trash_count(conn, user_id)?,
        });
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(user_id, summary.clone());
        Ok(summary)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<LibrarySummary>>> {
        // A panic while holding the lock leaves a plain map behind: still usable.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
