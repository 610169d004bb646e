//! The JSON API's read side: the library (`GET /api/images`) and what the caller may
//! still do (`GET /api/usage`). Errors are
//! `{"success":false,"error":…}` (see `routes/errors.rs`).

use actix_web::{HttpResponse, web};

use super::gallery::GalleryQuery;
use crate::base::error::AppError;
use crate::db::models::listing::ImageFilter;
use crate::db::models::{Folder, Image};
use crate::services::quota::ClientIp;
use crate::web::extract::{CurrentUser, MaybeUser, Query};
use crate::web::state::AppState;
use crate::web::views::page_number;
use crate::web::views::{PER_PAGE, image_json};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/images", web::get().to(list_images))
        .route("/api/usage", web::get().to(usage));
}

async fn list_images(
    state: web::Data<AppState>,
    current: CurrentUser,
    Query(query): Query<GalleryQuery>,
) -> Result<HttpResponse, AppError> {
    let page = page_number(query.page.as_deref());
    let user_id = current.user.id;
    let listing = state
        .db
        .run(move |conn| {
            let folder_id = match query.folder.as_deref().filter(|f| !f.is_empty()) {
                Some(slug) => Some(
                    Folder::find_by_slug(conn, user_id, slug)?
                        .ok_or(AppError::NotFound)?
                        .id,
                ),
                None => None,
            };
            let filter = ImageFilter {
                folder_id,
                ..query.filter()
            };
            Ok::<_, AppError>(Image::list_for_user(
                conn,
                user_id,
                &filter,
                (page - 1) * PER_PAGE,
                PER_PAGE,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "success": true,
        "page": page,
        "per_page": PER_PAGE,
        "total": listing.total,
        "images": listing.items.iter().map(image_json).collect::<Vec<_>>(),
    })))
}

/// `GET /api/usage`: credits, free images left for this network and anonymous uses left,
/// for signed-in users and anonymous visitors alike.
async fn usage(
    state: web::Data<AppState>,
    user: MaybeUser,
    ip: ClientIp,
) -> Result<HttpResponse, AppError> {
    let usage = state.usage_of(user.0.as_ref().map(|c| &c.user), ip).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "success": true,
        "signed_in": user.0.is_some(),
        "next_image": usage.next_image_cost(),
        "usage": usage,
    })))
}
