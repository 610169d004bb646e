//! The image proxy: `GET /media/{username}/{folder}/{variant}/{file}`, the only way a
//! user's files leave the server (shared links go through `share.rs`, which uses the same
//! [`serve_variant`]).
//!
//! actix matches routes on the still-encoded path, but `web::Path` hands us decoded
//! segments, so `%2F`, `%2e%2e` or `%00` arrive here as `/`, `..` or NUL: every segment is
//! validated *after* decoding against its strict pattern. Only the owner and admins get
//! the file; everyone else gets 404, so the proxy never confirms that a file exists.

use actix_files::NamedFile;
use actix_web::http::header::{
    self, ContentDisposition, DispositionParam, DispositionType, HeaderValue,
};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::MaybeUser;
use crate::domain::{FolderSlug, Username};
use crate::error::AppError;
use crate::library::Library;
use crate::models::{Image, PlacedImage};
use crate::startup::AppState;
use crate::storage::{FileName, Variant};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/media/{username}/{folder}/{variant}/{file}",
        web::get().to(media),
    );
}

/// The proxy's answer for uploaded bytes: never rendered as a document, never sniffed.
const MEDIA_CSP: &str = "default-src 'none'; sandbox";

async fn media(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: MaybeUser,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (username, folder, variant, file) = path.into_inner();
    let username = Username::parse(&username)
        .ok()
        .filter(|parsed| parsed.as_str() == username)
        .ok_or(AppError::NotFound)?;
    let folder = FolderSlug::parse(&folder).ok_or(AppError::NotFound)?;
    let variant = Variant::parse(&variant).ok_or(AppError::NotFound)?;
    let file = FileName::parse(&file).ok_or(AppError::NotFound)?;
    let viewer = viewer.0.ok_or(AppError::NotFound)?;
    if viewer.user.username != username.as_str() && !viewer.user.is_admin() {
        return Err(AppError::NotFound);
    }
    let stem = file.stem().to_owned();
    let placed = state
        .db
        .run(move |conn| {
            Ok(Image::find_for_media(
                conn,
                username.as_str(),
                folder.as_str(),
                &stem,
            )?)
        })
        .await?
        .ok_or(AppError::NotFound)?;
    if variant_ext(&placed.image, variant) != file.ext() {
        return Err(AppError::NotFound);
    }
    serve_variant(&req, &state.library, &placed, variant, "private").await
}

pub fn variant_ext(image: &Image, variant: Variant) -> &str {
    match variant {
        Variant::Original => &image.original_ext,
        Variant::Thumb => &image.thumb_ext,
        Variant::Pristine => &image.pristine_ext,
    }
}

/// The proxy URL of one variant.
pub fn media_url(placed: &PlacedImage, variant: Variant) -> String {
    format!(
        "/media/{}/{}/{}/{}.{}",
        placed.username,
        placed.folder_slug,
        variant.as_str(),
        placed.image.stem,
        variant_ext(&placed.image, variant)
    )
}

/// Streams one stored variant with the stored content type, ETag / Last-Modified (304),
/// Range (206), `nosniff` and a sandboxing CSP. The file is opened off the executor,
/// without following symlinks.
pub async fn serve_variant(
    req: &HttpRequest,
    library: &Library,
    placed: &PlacedImage,
    variant: Variant,
    cache_control: &'static str,
) -> Result<HttpResponse, AppError> {
    // Resolving checks every folder on the way for symlinks: file system work, so it runs
    // on the blocking pool with the open. A refused or missing file is a 404, never a 500.
    let (library, target) = (library.clone(), placed.clone());
    let file = web::block(move || -> Result<NamedFile, AppError> {
        let path = library.path_of(&target, variant)?;
        let file = library
            .storage
            .open_file(&path)
            .map_err(AppError::internal)?;
        NamedFile::from_file(file, &path).map_err(AppError::internal)
    })
    .await
    .map_err(AppError::internal)?
    .map_err(|err| {
        tracing::warn!(image = placed.image.id, error = %err, "stored file missing or refused");
        AppError::NotFound
    })?;
    let mime = crate::storage::mime_for(variant_ext(&placed.image, variant))
        .parse()
        .map_err(AppError::internal)?;
    let name = format!(
        "{}.{}",
        placed.image.stem,
        variant_ext(&placed.image, variant)
    );
    let mut response = file
        .set_content_type(mime)
        .set_content_disposition(ContentDisposition {
            disposition: DispositionType::Inline,
            parameters: vec![DispositionParam::Filename(name)],
        })
        .use_etag(true)
        .use_last_modified(true)
        .into_response(req);
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(MEDIA_CSP),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    Ok(response)
}
