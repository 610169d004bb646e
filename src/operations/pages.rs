//! Page assemblies: everything one signed-in page shows, read in one blocking hop, so a
//! handler makes one trip to the pool and renders. Each takes `&mut PgConnection` and
//! returns plain data; the routes turn it into their templates.

use diesel::PgConnection;

use crate::domain::ImageKind;
use crate::error::AppError;
use crate::models::image::{ImageFilter, Page};
use crate::models::job::{self, ImageParams};
use crate::models::stats::{self, Overview, TopAddress};
use crate::models::{Folder, Image, PlacedImage, SessionRow, api_token};
use crate::quota::blocks::{self, Block};
use crate::quota::storage::{self, UploadStanding};

/// `/gallery`: the folders with their counts, the tags, one page of images, and the folder
/// being looked at (a folder that is not the user's is a 404).
pub struct GalleryData {
    pub folders: Vec<(Folder, i64)>,
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
    let folders = Folder::list_with_counts(conn, user_id)?;
    let folder = match folder_slug {
        Some(slug) => Some(
            folders
                .iter()
                .find(|(folder, _)| folder.slug == slug)
                .map(|(folder, _)| folder.clone())
                .ok_or(AppError::NotFound)?,
        ),
        None => None,
    };
    let filter = ImageFilter {
        folder_id: folder.as_ref().map(|folder| folder.id),
        tag,
    };
    let listing = Image::list_for_user(conn, user_id, &filter, offset, limit)?;
    let tags = Image::tags_for_user(conn, user_id)?;
    Ok(GalleryData {
        folders,
        tags,
        listing,
        folder,
    })
}

/// `/dashboard`: counts, storage and uploads against the limits, and the newest images.
pub struct DashboardData {
    pub image_count: i64,
    pub stored_bytes: i64,
    pub folder_count: usize,
    pub recent: Page<PlacedImage>,
    pub uploads: UploadStanding,
}

pub fn dashboard(
    conn: &mut PgConnection,
    user_id: i64,
    recent: i64,
) -> Result<DashboardData, AppError> {
    let (image_count, stored_bytes) = Image::usage_for_user(conn, user_id)?;
    Ok(DashboardData {
        image_count,
        stored_bytes,
        folder_count: Folder::list_with_counts(conn, user_id)?.len(),
        recent: Image::list_for_user(conn, user_id, &ImageFilter::default(), 0, recent)?,
        uploads: storage::standing(conn, user_id)?,
    })
}

/// `/images/{id}`: the owner's folders (to move it) and, for a generated picture, the
/// size it was made at ("run again with this seed").
pub struct ImagePageData {
    pub folders: Vec<(Folder, i64)>,
    pub rerun_size: Option<(u32, u32)>,
}

pub fn image_page(
    conn: &mut PgConnection,
    placed: &PlacedImage,
) -> Result<ImagePageData, AppError> {
    let folders = Folder::list_with_counts(conn, placed.image.user_id)?;
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
