//! The trash (`/trash`): the owner's deleted pictures, newest first, each with the days
//! it has left, to restore or delete now (`POST /trash/restore`, `/trash/delete`, `ids`
//! repeated), or all at once (`POST /trash/empty`). Pictures come here from a delete.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::base::error::AppError;
use crate::db::models::Image;
use crate::operations::bulk::MAX_BULK;
use crate::operations::trash;
use crate::services::library::Library;
use crate::storage::Variant;
use crate::web::extract::{CurrentUser, FormPairs, Query};
use crate::web::routes::bulk::ticked_ids;
use crate::web::state::AppState;
use crate::web::views::{
    Flash, Layout, PER_PAGE, Pager, display_title, media_url, page_number, render, see_other,
    shape_class,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/trash", web::get().to(trash_page))
        .route("/trash/restore", web::post().to(restore))
        .route("/trash/delete", web::post().to(delete_now))
        .route("/trash/empty", web::post().to(empty));
}

/// One picture in the trash.
struct TrashedCard {
    id: i64,
    title: String,
    thumb_url: String,
    display_url: String,
    shape: &'static str,
    /// "deleted 3 Dec · 27 days left"
    left: String,
}

#[derive(Template)]
#[template(path = "gallery/trash.html")]
struct TrashPage {
    layout: Layout,
    cards: Vec<TrashedCard>,
    total: i64,
    days: u32,
    pager: Pager,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TrashQuery {
    page: Option<String>,
}

async fn trash_page(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    Query(query): Query<TrashQuery>,
) -> Result<HttpResponse, AppError> {
    let page = page_number(query.page.as_deref());
    let user_id = current.user.id;
    let listing = state
        .db
        .run(move |conn| Image::trash_page(conn, user_id, (page - 1) * PER_PAGE, PER_PAGE))
        .await?;
    let days = state.settings.trash_days;
    let now = chrono::Utc::now();
    let cards = listing
        .items
        .iter()
        .map(|placed| {
            let image = &placed.image;
            let trashed = image.trashed_at.unwrap_or(now);
            let ends = trashed + chrono::Duration::days(i64::from(days));
            // Whole days, rounded up: a picture deleted a minute ago has all of them left.
            let left = match ((ends - now).num_minutes() + 1439) / 1440 {
                ..=0 => "removed at the next clean-up".to_owned(),
                1 => "1 day left".to_owned(),
                n => format!("{n} days left"),
            };
            TrashedCard {
                id: image.id,
                title: display_title(image),
                thumb_url: media_url(placed, Variant::Thumb),
                display_url: media_url(placed, Variant::Display),
                shape: shape_class(image.width, image.height),
                left: format!("deleted {} · {left}", trashed.format("%-d %b")),
            }
        })
        .collect();
    render(
        StatusCode::OK,
        &TrashPage {
            layout: Layout::new(&session, Some(&current)),
            cards,
            total: listing.total,
            days,
            pager: Pager::new(page, listing.total, PER_PAGE, |page| {
                format!("/trash?page={page}")
            }),
        },
    )
}

/// The ticked ids, or a message to show when there are none or too many.
fn chosen(session: &Session, pairs: &[(String, String)]) -> Result<Option<Vec<i64>>, AppError> {
    let ids = ticked_ids(pairs)?;
    let problem = match ids.len() {
        0 => "Tick at least one picture first.".to_owned(),
        n if n > MAX_BULK => format!("At most {MAX_BULK} pictures at a time."),
        _ => return Ok(Some(ids)),
    };
    Flash::error(session, problem);
    Ok(None)
}

fn pictures(n: usize) -> String {
    if n == 1 {
        "1 picture".to_owned()
    } else {
        format!("{n} pictures")
    }
}

async fn restore(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    FormPairs(pairs): FormPairs,
) -> Result<HttpResponse, AppError> {
    on_ticked(&state, &session, &current, &pairs, trash::restore, |n| {
        format!("Restored {}.", pictures(n))
    })
    .await
}

async fn delete_now(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    FormPairs(pairs): FormPairs,
) -> Result<HttpResponse, AppError> {
    on_ticked(&state, &session, &current, &pairs, trash::remove, |n| {
        format!("Deleted {} for good.", pictures(n))
    })
    .await
}

/// Runs `operation` on the ticked pictures of the owner's trash, says what it did in
/// `said`'s words, and goes back to the trash.
async fn on_ticked(
    state: &AppState,
    session: &Session,
    current: &CurrentUser,
    pairs: &[(String, String)],
    operation: fn(&mut diesel::PgConnection, &Library, i64, &[i64]) -> Result<usize, AppError>,
    said: impl FnOnce(usize) -> String,
) -> Result<HttpResponse, AppError> {
    let Some(ids) = chosen(session, pairs)? else {
        return Ok(see_other("/trash"));
    };
    let (library, owner) = (state.library.clone(), current.user.id);
    let forget = ids.clone();
    let done = state
        .db
        .run(move |conn| operation(conn, &library, owner, &ids))
        .await?;
    for id in forget {
        state.media_cache.forget_image(id);
    }
    Flash::success(session, said(done));
    Ok(see_other("/trash"))
}

async fn empty(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
) -> Result<HttpResponse, AppError> {
    let (library, owner) = (state.library.clone(), current.user.id);
    let removed = state
        .db
        .run(move |conn| trash::empty(conn, &library, owner))
        .await?;
    Flash::success(
        &session,
        format!("Emptied the trash: {} deleted for good.", pictures(removed)),
    );
    Ok(see_other("/trash"))
}
