//! Page assemblies: everything one signed-in page shows, read in one blocking hop, so a
//! handler makes one trip to the pool and renders. Each takes `&mut PgConnection` and
//! returns plain data; the routes turn it into their templates.

use diesel::PgConnection;
use ipnetwork::IpNetwork;

use crate::domain::ImageKind;
use crate::error::AppError;
use crate::models::image::{ImageFilter, Page};
use crate::models::job::{self, ImageParams};
use crate::models::stats::{self, Overview, TopAddress};
use crate::models::{Folder, Image, PlacedImage, SessionRow, User, api_token};
use crate::quota::blocks::{self, Block};
use crate::quota::charge::{self, Rules, Usage};
use crate::quota::storage;

/// `/gallery`: the folders with their counts, the tags, one page of images, and the folder
/// being looked at (a folder that is not the user's is a 404). Three statements: the
/// folders with their counts (which give the total unless a tag is chosen), the page, the
/// tags.
pub struct GalleryData {
    pub folders: Vec<Folder>,
    pub tags: Vec<String>,
    pub listing: Page<PlacedImage>,
    pub folder: Option<Folder>,
}

pub fn gallery(
    conn: &mut PgConnection,
    user_id: i64,
    folder_slug: Option<&str>,
    tag: Option<String>,
    (offset, limit): (i64, i64),
) -> Result<GalleryData, AppError> {
    let folders = Folder::list(conn, user_id)?;
    let chosen = match folder_slug {
        Some(slug) => Some(
            folders
                .iter()
                .find(|folder| folder.slug == slug)
                .ok_or(AppError::NotFound)?,
        ),
        None => None,
    };
    let filter = ImageFilter {
        folder_id: chosen.map(|folder| folder.id),
        tag,
    };
    let total = match (&filter.tag, chosen) {
        (Some(_), _) => Image::count_for_user(conn, user_id, &filter)?,
        (None, Some(folder)) => folder.image_count,
        (None, None) => folders.iter().map(|folder| folder.image_count).sum(),
    };
    let items = Image::page_for_user(conn, user_id, &filter, offset, limit)?;
    let tags = Image::tags_for_user(conn, user_id)?;
    Ok(GalleryData {
        folder: chosen.cloned(),
        folders,
        tags,
        listing: Page { items, total },
    })
}

/// `/dashboard`: what the visitor may still do, counts, storage and uploads against the
/// limits, and the newest images.
pub struct DashboardData {
    pub usage: Usage,
    pub image_count: i64,
    pub stored_bytes: i64,
    pub folder_count: usize,
    pub recent: Vec<PlacedImage>,
    pub uploads_last_hour: u32,
}

pub fn dashboard(
    conn: &mut PgConnection,
    rules: &Rules,
    user: &User,
    ip: IpNetwork,
    recent: i64,
) -> Result<DashboardData, AppError> {
    let folders = Folder::list(conn, user.id)?;
    Ok(DashboardData {
        usage: charge::usage(conn, rules, Some(user), ip)?,
        image_count: folders.iter().map(|folder| folder.image_count).sum(),
        stored_bytes: folders.iter().map(|folder| folder.disk_bytes).sum(),
        folder_count: folders.len(),
        recent: Image::page_for_user(conn, user.id, &ImageFilter::default(), 0, recent)?,
        uploads_last_hour: storage::recent_uploads(conn, user.id)?.0,
    })
}

/// `/images/{id}`: the owner's folders (to move it) and, for a generated picture, the
/// size it was made at ("run again with this seed").
pub struct ImagePageData {
    pub folders: Vec<Folder>,
    pub rerun_size: Option<(u32, u32)>,
}

pub fn image_page(
    conn: &mut PgConnection,
    placed: &PlacedImage,
) -> Result<ImagePageData, AppError> {
    let folders = Folder::list(conn, placed.image.user_id)?;
    let rerun_size = match placed.image.job_id {
        Some(id) if placed.image.kind == ImageKind::Generated => job::find(conn, id)?
            .and_then(|job| serde_json::from_value::<ImageParams>(job.params).ok())
            .map(|params| (params.width, params.height)),
        _ => None,
    };
    Ok(ImagePageData {
        folders,
        rerun_size,
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
