//! What shared pictures look like to anyone: the share links (`/s/{token}`,
//! `/s/{token}/image`, `/s/{token}/display`, `/s/{token}/thumb`) and `/explore`. The owner
//! makes and revokes links from the image page (`routes::images`).
//! A share serves the working copy, display copy and thumbnail only, never `pristine`; revoking clears the
//! stored token hash, so the old link is a 404 from the next request on; so does expiry.
//! Explore lists only shares their owners chose to publish; unlisted links never show.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::base::error::AppError;
use crate::db::models::{Image, PlacedImage};
use crate::domain::tokens;
use crate::storage::Variant;
use crate::storage::imaging::{DISPLAY_SIZE, THUMB_SIZE};
use crate::web::extract::{MaybeUser, Query};
use crate::web::state::AppState;
use crate::web::views::PER_PAGE;
use crate::web::views::files::{MediaCaching, serve_variant};
use crate::web::views::{
    Card, alt_text, display_title, fitted_sizes, page_number, share_file_url, srcset, url_encode,
};
use crate::web::views::{Layout, Pager, render};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/s/{token}", web::get().to(share_page))
        .route("/s/{token}/image", super::get_or_head().to(share_image))
        .route("/s/{token}/display", super::get_or_head().to(share_display))
        .route("/s/{token}/thumb", super::get_or_head().to(share_thumb))
        .route("/explore", web::get().to(explore));
}

/// The shared image behind a token: live, unexpired, its owner enabled; otherwise 404.
async fn find_shared(state: &AppState, token: &str) -> Result<PlacedImage, AppError> {
    let well_formed = token.len() == 48
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !well_formed {
        return Err(AppError::NotFound);
    }
    let hash = tokens::digest(token);
    state
        .db
        .run(move |conn| Image::find_by_share_hash(conn, &hash))
        .await?
        .ok_or(AppError::NotFound)
}

#[derive(Template)]
#[template(path = "share/share.html")]
struct SharePage {
    layout: Layout,
    title: String,
    owner: String,
    /// The working copy (Download), and what the page shows: the display copy, with the
    /// sizes a browser may pick from.
    image_url: String,
    display_url: String,
    srcset: String,
    sizes: String,
    /// What the picture shows, in words (see `views::alt_text`).
    alt: String,
    /// The prompt a generated picture was made from, and "Make your own" (the generate
    /// form, with that prompt when there is one).
    prompt: Option<String>,
    make_your_own: String,
    width: i32,
    height: i32,
    tags: Vec<String>,
    /// A video's length; it is then played, with the thumbnail as poster.
    video: Option<String>,
    poster_url: String,
    /// Link previews (`og:*`) need absolute URLs: the site's origin when settings or a
    /// trusted proxy say it (a guess from a client's headers could name anyone's site, and
    /// a shared cache would keep it), then this page's and the picture's paths.
    origin: Option<String>,
    page_path: String,
    og_image_path: String,
    og_width: i32,
    og_height: i32,
    /// Published on Explore (search engines may index it); unlisted pages say `noindex`.
    listed: bool,
}

async fn share_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    viewer: MaybeUser,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let token = token.into_inner();
    let placed = find_shared(&state, &token).await?;
    let origin = crate::web::extract::public_origin(&req);
    let image = &placed.image;
    // A picture previews with its display copy (at most 1600 px, what chat apps fetch); a
    // video with its poster frame, and the clip itself as `og:video`.
    let (og_path, og_side) = if image.is_video() {
        ("thumb", THUMB_SIZE)
    } else if image.display_ext.is_some() {
        ("display", DISPLAY_SIZE)
    } else {
        ("image", u32::MAX)
    };
    let scale = f64::from(og_side) / f64::from(image.width.max(image.height).max(1));
    let fit = |edge: i32| ((f64::from(edge) * scale.min(1.0)).round() as i32).max(1);
    let (og_width, og_height) = (fit(image.width), fit(image.height));
    let file = |variant: &str| share_file_url(&placed, &format!("/s/{token}/{variant}"));
    let mut page = render(
        StatusCode::OK,
        &SharePage {
            layout: Layout::new(&session, viewer.0.as_ref()),
            title: display_title(&placed.image),
            owner: placed.username.clone(),
            image_url: file("image"),
            display_url: file("display"),
            srcset: srcset(image, &file("thumb"), &file("display")),
            sizes: fitted_sizes(image),
            alt: alt_text(image),
            prompt: image.prompt.clone(),
            make_your_own: match &image.prompt {
                Some(prompt) if !image.is_video() => {
                    format!("/generate?prompt={}", url_encode(prompt))
                }
                Some(prompt) => format!("/video?prompt={}", url_encode(prompt)),
                None => "/generate".to_owned(),
            },
            origin,
            page_path: format!("/s/{token}"),
            og_image_path: file(og_path),
            og_width,
            og_height,
            listed: placed.image.share_public,
            width: placed.image.width,
            height: placed.image.height,
            tags: placed.image.tags.clone(),
            video: placed.image.seconds_label(),
            poster_url: share_file_url(&placed, &format!("/s/{token}/thumb")),
        },
    )?;
    // Revalidated on every view, so a revoked or expired link stops at once in any cache
    // (a signed-in viewer's copy is `no-store`; see `middleware::private_pages`).
    page.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-cache"),
    );
    Ok(page)
}

async fn share_image(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    serve_shared(&req, &state, &token, Variant::Original).await
}

async fn share_display(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    serve_shared(&req, &state, &token, Variant::Display).await
}

async fn share_thumb(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    serve_shared(&req, &state, &token, Variant::Thumb).await
}

/// One file of a live share (a picture without its display copy yet serves its working
/// copy there).
async fn serve_shared(
    req: &HttpRequest,
    state: &AppState,
    token: &str,
    variant: Variant,
) -> Result<HttpResponse, AppError> {
    let placed = find_shared(state, token).await?;
    serve_variant(
        req,
        &state.media_cache,
        &state.library,
        &placed,
        variant,
        MediaCaching::Shared,
    )
    .await
}

#[derive(Template)]
#[template(path = "share/explore.html")]
struct ExplorePage {
    layout: Layout,
    cards: Vec<Card>,
    pager: Pager,
}

#[derive(serde::Deserialize)]
struct ExploreQuery {
    page: Option<String>,
}

async fn explore(
    state: web::Data<AppState>,
    session: Session,
    viewer: MaybeUser,
    Query(query): Query<ExploreQuery>,
) -> Result<HttpResponse, AppError> {
    let page = page_number(query.page.as_deref());
    let listing = state
        .db
        .run(move |conn| Image::list_shared(conn, (page - 1) * PER_PAGE, PER_PAGE))
        .await?;
    let cards = listing
        .items
        .iter()
        .filter_map(|placed| {
            let token = state.library.share_token_of(&placed.image)?;
            Some(Card::shared(placed, &token))
        })
        .collect();
    render(
        StatusCode::OK,
        &ExplorePage {
            layout: Layout::new(&session, viewer.0.as_ref()),
            cards,
            pager: Pager::new(page, listing.total, PER_PAGE, |p| {
                format!("/explore?page={p}")
            }),
        },
    )
}
