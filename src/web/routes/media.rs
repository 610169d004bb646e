//! The image proxy: `GET /media/{username}/{folder}/{variant}/{file}`, the only way a
//! user's files leave the server (shared links go through `share.rs`, which uses the same
//! [`serve_variant`]).
//!
//! The route is a scope whose handler splits the rest of the path itself: actix matches
//! dynamic segments with a regex, which showed as a tenth of the proxy's CPU. The
//! segments are percent-decoded one by one, so `%2F`, `%2e%2e` or `%00` arrive as `/`,
//! `..` or NUL inside a segment: every segment is validated *after* decoding against its
//! strict pattern. Only the owner and admins get
//! the file (for `_anon/{anon-id}/…`, the session holding that anonymous id); everyone
//! else gets 404, so the proxy never confirms that a file exists.

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};

use actix_session::Session;

use crate::base::error::AppError;
use crate::db::models::Image;
use crate::db::models::user::ANON_USERNAME;
use crate::domain::{FolderSlug, Username};
use crate::services::library::stored_ext;
use crate::storage::{FileName, Variant};
use crate::web::auth::{anon_id, keys};
use crate::web::extract::load_user;
use crate::web::extract::token_owner;
use crate::web::state::AppState;
use crate::web::views::files::{MediaCaching, serve_variant};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/media").default_service(web::to(media)));
}

/// `{username}/{folder}/{variant}/{file}` after `/media`, each segment decoded.
fn segments(rest: &str) -> Option<[String; 4]> {
    let mut parts = rest.strip_prefix('/')?.split('/').map(|segment| {
        percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .ok()
            .map(|decoded| decoded.into_owned())
    });
    let segments = [
        parts.next()??,
        parts.next()??,
        parts.next()??,
        parts.next()??,
    ];
    parts.next().is_none().then_some(segments)
}

async fn media(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, AppError> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Ok(HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET, HEAD"))
            .finish());
    }
    let [username, folder, variant, file] =
        segments(req.match_info().unprocessed()).ok_or(AppError::NotFound)?;
    let username = Username::parse(&username)
        .ok()
        .filter(|parsed| parsed.as_str() == username)
        .ok_or(AppError::NotFound)?;
    let folder = FolderSlug::parse(&folder).ok_or(AppError::NotFound)?;
    let variant = Variant::parse(&variant).ok_or(AppError::NotFound)?;
    let file = FileName::parse(&file).ok_or(AppError::NotFound)?;
    // An anonymous visitor sees their own folder under `_anon/` and nothing else.
    let anonymous_owner = username.as_str() == ANON_USERNAME
        && anon_id(&session).is_some_and(|id| id == folder.as_str());
    if !anonymous_owner {
        // Live and enabled, as `CurrentUser` checks; cached, since thumbnails come two
        // dozen at a time. Scripts may present a personal API token instead of a session.
        let viewer = match session.get::<i64>(keys::USER_ID).ok().flatten() {
            Some(viewer_id) => load_user(&state, viewer_id).await?,
            None => token_owner(&req, &state).await?,
        }
        .filter(|user| !user.disabled)
        .ok_or(AppError::NotFound)?;
        // Admins see the working copy and thumbnail; `pristine` may hold GPS and other
        // metadata its owner never published, so it goes to the owner alone.
        let owner = viewer.username == username.as_str();
        let admin_may_see = viewer.is_admin() && variant != Variant::Pristine;
        if !(owner || admin_may_see) {
            return Err(AppError::NotFound);
        }
    }
    let key = format!("{username}/{folder}/{}", file.stem());
    let placed = match state.media_cache.row(&key) {
        Some(placed) => placed,
        None => {
            let stem = file.stem().to_owned();
            let placed = state
                .db
                .run(move |conn| {
                    Image::find_for_media(conn, username.as_str(), folder.as_str(), &stem)
                })
                .await?
                .ok_or(AppError::NotFound)?;
            state.media_cache.put_row(key, placed.clone());
            placed
        }
    };
    if stored_ext(&placed.image, variant) != Some(file.ext()) {
        return Err(AppError::NotFound);
    }
    serve_variant(
        &req,
        &state.media_cache,
        &state.library,
        &placed,
        variant,
        MediaCaching::Private,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::segments;

    #[test]
    fn the_path_splits_into_four_decoded_segments() {
        let four = |a: &str, b: &str, c: &str, d: &str| Some([a, b, c, d].map(str::to_owned));
        assert_eq!(
            segments("/ann/default/thumb/ab.jpg"),
            four("ann", "default", "thumb", "ab.jpg")
        );
        assert_eq!(
            segments("/ann/default/thumb/..%2F..%2Fetc%2Fpasswd"),
            four("ann", "default", "thumb", "../../etc/passwd")
        );
        assert_eq!(segments("/ann/default/thumb"), None);
        assert_eq!(segments("/ann/default/thumb/a/b"), None);
        assert_eq!(segments("ann/default/thumb/a"), None);
        assert_eq!(segments("/ann/default/thumb/%ff"), None);
    }
}
