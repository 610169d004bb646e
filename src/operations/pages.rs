//! Page assemblies: everything one signed-in page shows, read in one blocking hop, so a
//! handler makes one trip to the pool and renders. Each takes `&mut PgConnection` and
//! returns plain data; the routes turn it into their templates.

use std::sync::Arc;

use diesel::PgConnection;
use ipnetwork::IpNetwork;

use crate::base::error::AppError;
use crate::db::models::image::Page;
use crate::db::models::job::{self, ImageParams};
use crate::db::models::listing::ImageFilter;
use crate::db::models::stats::{self, Overview, TopAddress};
use crate::db::models::tag_suggestion::{self, TagSuggestion};
use crate::db::models::{
    Folder, Image, ImageTile, PlacedImage, PlacedTile, SessionRow, User, api_token, camera,
};
use crate::domain::ImageKind;
use crate::services::library::summary_cache::{LibrarySummary, SummaryCache};
use crate::services::quota::blocks::{self, Block};
use crate::services::quota::charge::{self, Rules, Usage};

/// `/gallery`: the folders with their counts, the tags, one page of images, and the folder
/// being looked at (a folder that is not the user's is a 404). In the steady state one
/// statement: the page, whose library version says the kept summary (folders, counts,
/// tags) is current (it also says which images are favourites); a tag, search or
/// favourites filter adds a count.
pub struct GalleryData {
    pub summary: Arc<LibrarySummary>,
    pub listing: Page<PlacedTile>,
    pub folder: Option<Folder>,
    /// The ids on this page the user starred.
    pub favourites: Vec<i64>,
    /// How many tag suggestions wait on each picture of this page that has any.
    pub suggested: std::collections::HashMap<i64, i64>,
    /// More pictures match than `listing.total`, which a search or favourites view
    /// counts only to [`counted_to`] its page (a tag alone is counted exactly).
    pub more_than_total: bool,
}

/// How far a narrowed listing is counted for a page starting at `offset`: the next
/// thousand past the page, so the pager can offer the pages that follow.
fn counted_to(offset: i64, limit: i64) -> i64 {
    ((offset + limit) / 1000 + 1) * 1000
}

pub fn gallery(
    conn: &mut PgConnection,
    summaries: &SummaryCache,
    (user_id, username): (i64, &str),
    folder_slug: Option<&str>,
    mut filter: ImageFilter,
    (offset, limit): (i64, i64),
) -> Result<GalleryData, AppError> {
    // The folder to filter by comes from the kept summary when it names it; the version
    // read with the page then says whether that summary (and so the folder) still holds.
    let mut summary = match summaries.last(user_id) {
        Some(kept) if folder_slug.is_none_or(|slug| kept.folder(slug).is_some()) => kept,
        _ => summaries.current(conn, user_id, None)?,
    };
    let folder_of = |summary: &LibrarySummary| match folder_slug {
        Some(slug) => summary
            .folder(slug)
            .cloned()
            .map(Some)
            .ok_or(AppError::NotFound),
        None => Ok(None),
    };
    let narrowed = filter.tag.is_some() || filter.search.is_some() || filter.favourites;
    let cap = counted_to(offset, limit);
    // A narrowed listing is counted first (to the cap and one more, which says whether
    // there are more): how many match decides how a search reads its page.
    let count_narrowed = |conn: &mut PgConnection,
                          summary: &LibrarySummary,
                          folder: Option<&Folder>,
                          filter: &mut ImageFilter|
     -> Result<Option<i64>, AppError> {
        if !narrowed {
            return Ok(None);
        }
        let pictures = folder.map_or(summary.image_count(), |folder| folder.image_count);
        let matches = Image::count_for_user_up_to(
            conn,
            user_id,
            filter,
            (pictures, cap + 1, offset + limit),
        )?;
        Ok(Some(matches))
    };
    let mut folder = folder_of(&summary)?;
    filter.folder_id = folder.as_ref().map(|folder| folder.id);
    let mut matches = count_narrowed(conn, &summary, folder.as_ref(), &mut filter)?;
    let mut page = Image::page_for_user(conn, user_id, &filter, offset, limit)?;
    let current = summaries.current(conn, user_id, page.version)?;
    if current.version != summary.version {
        // The page was read at `current`'s version; only the folder may have changed: its
        // name (a rename: shown at once) or which folder the slug names (read again).
        summary = current;
        let now = folder_of(&summary)?;
        let moved = now.as_ref().map(|folder| folder.id) != filter.folder_id;
        folder = now;
        if moved {
            filter.folder_id = folder.as_ref().map(|folder| folder.id);
            matches = count_narrowed(conn, &summary, folder.as_ref(), &mut filter)?;
            page = Image::page_for_user(conn, user_id, &filter, offset, limit)?;
        }
    }
    let total = match (matches, &folder) {
        (Some(matches), _) => matches,
        (None, Some(folder)) => folder.image_count,
        (None, None) => summary.image_count(),
    };
    let more_than_total = total > cap && !filter.is_tag_only();
    Ok(GalleryData {
        listing: Page {
            items: place(conn, &summary, username, page.items)?,
            total: if more_than_total { cap } else { total },
        },
        more_than_total,
        summary,
        folder,
        favourites: page.favourites,
        suggested: page.suggested,
    })
}

/// A page read at `summary`'s version, placed in its folders (one it does not know, which
/// that version rules out, is looked up).
fn place(
    conn: &mut PgConnection,
    summary: &LibrarySummary,
    username: &str,
    images: Vec<ImageTile>,
) -> Result<Vec<PlacedTile>, AppError> {
    match summary.place(username, images) {
        Ok(placed) => Ok(placed),
        Err(images) => Ok(Image::place_owned(conn, images)?),
    }
}

/// `/dashboard`: what the visitor may still do, counts, storage and uploads against the
/// limits, and the newest images.
pub struct DashboardData {
    pub usage: Usage,
    pub image_count: i64,
    pub stored_bytes: i64,
    pub folder_count: usize,
    pub recent: Vec<PlacedTile>,
    pub uploads_last_hour: u32,
}

pub fn dashboard(
    conn: &mut PgConnection,
    summaries: &SummaryCache,
    rules: &Rules,
    user: &User,
    ip: IpNetwork,
    recent: i64,
) -> Result<DashboardData, AppError> {
    let page = Image::page_for_user(conn, user.id, &ImageFilter::default(), 0, recent)?;
    let summary = summaries.current(conn, user.id, page.version)?;
    let (usage, uploads_last_hour) = charge::usage_and_recent_uploads(conn, rules, user, ip)?;
    Ok(DashboardData {
        usage,
        image_count: summary.image_count(),
        stored_bytes: summary.disk_bytes(),
        folder_count: summary.folders.len(),
        recent: place(conn, &summary, &user.username, page.items)?,
        uploads_last_hour,
    })
}

/// `/images/{id}`: the owner's folders (to move it), whether it is a favourite and, for a
/// generated picture, the size it was made at ("run again with this seed").
pub struct ImagePageData {
    pub folders: Vec<Folder>,
    pub rerun_size: Option<(u32, u32)>,
    /// The owner starred it.
    pub favourite: bool,
    /// What the camera wrote (make, model, when), for uploaded photos that say.
    pub camera: Option<camera::CameraDetails>,
    /// Tags a tagger proposed, surest first.
    pub suggestions: Vec<TagSuggestion>,
    /// The tagging job still at work on it.
    pub tagging_job: Option<i64>,
    /// The pictures before and after it in the gallery view it was opened from.
    pub neighbours: (Option<i64>, Option<i64>),
    /// What the owner may spend from where they ask (to say what its buttons cost), when
    /// asked for.
    pub spending: Option<Usage>,
}

/// The image page's data; `view` is the owner's gallery view it was opened from (a folder
/// slug and the filter), which ← and → walk; `spender` the owner and their address, when
/// the page says what they can afford.
pub fn image_page(
    conn: &mut PgConnection,
    placed: &PlacedImage,
    view: (Option<&str>, ImageFilter),
    spender: Option<(&Rules, &User, IpNetwork)>,
) -> Result<ImagePageData, AppError> {
    let owner = placed.image.user_id;
    let folders = Folder::list(conn, owner)?;
    let (folder_slug, mut filter) = view;
    if let Some(slug) = folder_slug {
        // A folder that is gone (or another's) narrows nothing: the walk is the whole library.
        filter.folder_id = folders.iter().find(|f| f.slug == slug).map(|f| f.id);
    }
    let neighbours = Image::neighbours(conn, owner, &filter, &placed.image)?;
    let rerun_size = match placed.image.job_id {
        Some(id) if placed.image.kind == ImageKind::Generated => job::find(conn, id)?
            .and_then(|job| serde_json::from_value::<ImageParams>(job.params).ok())
            .map(|params| (params.width, params.height)),
        _ => None,
    };
    Ok(ImagePageData {
        folders,
        rerun_size,
        favourite: placed.image.starred,
        camera: camera::find(conn, placed.image.id)?,
        suggestions: match placed.image.suggestions_waiting {
            0 => Vec::new(),
            _ => tag_suggestion::for_image(conn, placed.image.id)?,
        },
        tagging_job: job::tagging_pending(conn, placed.image.id)?,
        neighbours,
        spending: match spender {
            Some((rules, user, ip)) => Some(charge::usage(conn, rules, Some(user), ip, true)?),
            None => None,
        },
    })
}

/// `/account`: the sessions and API tokens.
pub struct AccountData {
    pub sessions: Vec<SessionRow>,
    pub tokens: Vec<api_token::ApiToken>,
}

pub fn account(conn: &mut PgConnection, user_id: i64) -> Result<AccountData, AppError> {
    Ok(AccountData {
        sessions: SessionRow::list_for_user(conn, user_id)?,
        tokens: api_token::list_for_user(conn, user_id)?,
    })
}

/// `/admin`: the figures, the busiest addresses, the live blocks.
pub struct OverviewData {
    pub stats: Overview,
    pub top: Vec<TopAddress>,
    pub blocks: Vec<Block>,
}

pub fn admin_overview(conn: &mut PgConnection) -> Result<OverviewData, AppError> {
    Ok(OverviewData {
        stats: stats::overview(conn)?,
        top: stats::top_addresses(conn, 10)?,
        blocks: blocks::live(conn)?,
    })
}
