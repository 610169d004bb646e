//! The JSON API's read side: the library (`GET /api/images`, `GET /api/images/{id}`, each
//! image with its `suggested_tags`) and what the caller may still do (`GET /api/usage`).
//! Errors are
//! `{"success":false,"error":…}` (see `routes/errors.rs`).

use actix_web::{HttpResponse, web};

use super::gallery::GalleryQuery;
use crate::base::error::AppError;
use crate::db::models::listing::ImageFilter;
use crate::db::models::{Folder, Image, tag_suggestion};
use crate::services::quota::ClientIp;
use crate::web::extract::{CurrentUser, MaybeUser, Query};
use crate::web::state::AppState;
use crate::web::views::page_number;
use crate::web::views::{PER_PAGE, image_json_suggested};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/images", web::get().to(list_images))
        .route("/api/images/{id}", web::get().to(one_image))
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
            let listing =
                Image::list_for_user(conn, user_id, &filter, (page - 1) * PER_PAGE, PER_PAGE)?;
            let ids: Vec<i64> = listing.items.iter().map(|placed| placed.image.id).collect();
            let suggestions = tag_suggestion::for_images(conn, &ids)?;
            Ok::<_, AppError>((listing, suggestions))
        })
        .await?;
    let (listing, suggestions) = listing;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "success": true,
        "page": page,
        "per_page": PER_PAGE,
        "total": listing.total,
        "images": listing
            .items
            .iter()
            .map(|placed| image_json_suggested(placed, &suggestions))
            .collect::<Vec<_>>(),
    })))
}

/// `GET /api/images/{id}`: one of the caller's images (anyone else's is a 404).
async fn one_image(
    state: web::Data<AppState>,
    current: CurrentUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (id, user_id) = (id.into_inner(), current.user.id);
    let (placed, suggestions) = state
        .db
        .run(move |conn| {
            let placed = Image::find_placed(conn, id)?
                .filter(|placed| placed.image.user_id == user_id && !placed.image.is_trashed())
                .ok_or(AppError::NotFound)?;
            let suggestions = tag_suggestion::for_images(conn, &[id])?;
            Ok::<_, AppError>((placed, suggestions))
        })
        .await?;
    let image = image_json_suggested(&placed, &suggestions);
    Ok(HttpResponse::Ok().json(serde_json::json!({ "success": true, "image": image })))
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
