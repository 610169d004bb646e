//! What pages share, so every route renders the same way: the layout context (who is
//! signed in, the flash message), field errors, the pager, the one image card, formatting
//! (timestamps, sizes), media URLs, and the render and redirect helpers. Error pages are in
//! [`errors`]. Used by routes and middleware; imports only the layers below them.

pub mod errors;
pub mod files;

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};

use ipnetwork::IpNetwork;

use crate::base::error::AppError;
use crate::db::models::tag_suggestion::TagSuggestion;
use crate::db::models::user::ANON_USERNAME;
use crate::db::models::{Image, ImageTile, Placed, PlacedImage, User};
use crate::domain::ImageKind;
use crate::services::library::stored_ext;
use crate::storage::Variant;
use crate::storage::imaging::{DISPLAY_SIZE, THUMB_SIZE};
use crate::web::auth::keys;

/// What every page's layout needs: who is signed in and a pending flash message.
pub struct Layout {
    pub user: Option<NavUser>,
    pub flash: Option<Flash>,
}

pub struct NavUser {
    pub username: String,
    pub is_admin: bool,
}

impl Layout {
    /// Takes (and so clears) the session's flash message. Only touches the session when
    /// there is one: `remove` marks the session changed, which would cost every page view
    /// a write (and every instance its cached copy).
    /// A page for a visitor who is not signed in.
    pub fn signed_out(session: &Session) -> Self {
        Self::new::<User>(session, None)
    }

    pub fn new<U: AsRef<User>>(session: &Session, user: Option<&U>) -> Self {
        let flash = session
            .contains_key(keys::FLASH)
            .then(|| session.remove_as::<Flash>(keys::FLASH))
            .flatten()
            .and_then(Result::ok);
        Layout {
            user: user.map(|current| NavUser {
                username: current.as_ref().username.clone(),
                is_admin: current.as_ref().is_admin(),
            }),
            flash,
        }
    }
}

/// Page count, previous/next links and page numbers to jump to, of a paginated listing,
/// for `partials/pager.html`.
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    pub prev_link: Option<String>,
    pub next_link: Option<String>,
    /// The first and last pages and the two on each side of this one, in order, with
    /// `None` where pages are skipped ("1 … 4 5 6 7 8 … 40"): (number, link).
    pub numbers: Vec<Option<(i64, String)>>,
}

impl Pager {
    /// `page` of `total` items, `per_page` to a page; `link` makes a page's URL.
    pub fn new(page: i64, total: i64, per_page: i64, link: impl Fn(i64) -> String) -> Self {
        let pages = ((total + per_page - 1) / per_page).max(1);
        let mut shown: Vec<i64> = [1, pages]
            .into_iter()
            .chain(page - 2..=page + 2)
            .filter(|number| (1..=pages).contains(number))
            .collect();
        shown.sort_unstable();
        shown.dedup();
        let mut numbers = Vec::with_capacity(shown.len() + 2);
        let mut last_shown = 0;
        for number in shown {
            if number > last_shown + 1 {
                numbers.push(None);
            }
            numbers.push(Some((number, link(number))));
            last_shown = number;
        }
        Pager {
            page,
            pages,
            prev_link: (page > 1).then(|| link(page - 1)),
            next_link: (page < pages).then(|| link(page + 1)),
            numbers,
        }
    }

    /// Like [`Pager::new`] for a listing counted only so far: `counted` items and more.
    /// The pages up to there, and no last page to jump to ("1 … 4 5 6 7 8 …").
    pub fn at_least(page: i64, counted: i64, per_page: i64, link: impl Fn(i64) -> String) -> Self {
        let mut pager = Self::new(page, counted, per_page, &link);
        if let Some(Some((last, _))) = pager.numbers.last()
            && *last > page + 2
        {
            pager.numbers.pop();
        }
        if pager.numbers.last().is_some_and(Option::is_some) {
            pager.numbers.push(None);
        }
        pager.next_link = Some(link(page + 1));
        pager
    }
}

/// A moment as pages show it: `2026-12-02 15:04 UTC`.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A one-shot message shown at the top of the next page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    /// `success`, `info` or `error`; also the CSS class.
    pub kind: String,
    pub message: String,
}

impl Flash {
    pub fn success(session: &Session, message: impl Into<String>) {
        Self::set(session, "success", message.into());
    }

    pub fn error(session: &Session, message: impl Into<String>) {
        Self::set(session, "error", message.into());
    }

    pub fn info(session: &Session, message: impl Into<String>) {
        Self::set(session, "info", message.into());
    }

    /// Puts back a message taken for a page that then failed, for the next page shown.
    pub fn keep(self, session: &Session) {
        Self::set(session, &self.kind, self.message);
    }

    fn set(session: &Session, kind: &str, message: String) {
        let flash = Flash {
            kind: kind.to_owned(),
            message,
        };
        if let Err(err) = session.insert(keys::FLASH, flash) {
            tracing::warn!(error = %err, "could not store a flash message");
        }
    }
}

/// Errors shown beside form fields, by field name.
#[derive(Debug, Default)]
pub struct FieldErrors(HashMap<&'static str, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems as a JSON answer for scripts: `{"success": false, "error": …, "errors":
    /// {field: message}}`.
    pub fn json(&self, status: StatusCode) -> HttpResponse {
        let mut fields: Vec<(&str, &str)> = self.0.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fields.sort_unstable();
        let summary: Vec<&str> = fields.iter().map(|(_, message)| *message).collect();
        HttpResponse::build(status).json(serde_json::json!({
            "success": false,
            "error": summary.join(" "),
            "errors": fields.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        }))
    }
}

/// Renders a page with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, AppError> {
    Ok(html(status, page.render()?))
}

/// A page already rendered (off the executor, say), as the response.
pub fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(ContentType::html())
        .body(body)
}

/// A form shown again after a refusal ([`AppError::is_form_refusal`]): `page` (carrying
/// the sentence and what was typed) with the refusal's status and the headers a client
/// acts on, `Retry-After` and `RateLimit-*`.
pub fn form_refused(refusal: &AppError, page: &impl Template) -> Result<HttpResponse, AppError> {
    use actix_web::ResponseError;
    Ok(with_refusal_headers(
        refusal,
        render(refusal.status_code(), page)?,
    ))
}

/// `response` (a form rendered again) with the headers of `refusal` a client acts on.
pub fn with_refusal_headers(refusal: &AppError, mut response: HttpResponse) -> HttpResponse {
    use actix_web::ResponseError;
    for (name, value) in refusal.error_response().headers() {
        if name == actix_web::http::header::RETRY_AFTER || name.as_str().starts_with("ratelimit-") {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}

/// A finished action's answer: for scripts asking for JSON, `{"success": true, "message",
/// …extra}` (`extra` is a JSON object, or `null` for none); for browsers, the message as a
/// flash and a 303 to `back`.
pub fn done(
    req: &HttpRequest,
    session: &Session,
    message: &str,
    back: &str,
    extra: serde_json::Value,
) -> HttpResponse {
    if errors::wants_json(req) {
        let mut body = serde_json::json!({ "success": true, "message": message });
        if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        return HttpResponse::Ok().json(body);
    }
    Flash::success(session, message);
    see_other(back)
}

/// A local path to return to after login; anything else (absolute URLs, `//host`,
/// backslashes) falls back to the dashboard, so `next` cannot redirect off-site.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/dashboard",
    }
}

pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The request's user agent, for the session list.
pub fn user_agent(req: &HttpRequest) -> String {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(512)
        .collect()
}

/// Cards on a page of the gallery, Explore and the API's listings.
pub const PER_PAGE: i64 = 24;

/// An image in a grid or strip: its thumbnail, title, where a click goes and, on public
/// pages, whose it is. The one card every listing uses.
pub struct Card {
    pub id: i64,
    pub title: String,
    pub thumb_url: String,
    pub link: String,
    /// The owner's name where a page shows it (Explore); empty elsewhere.
    pub owner: String,
    /// A video's length ("4.0 s"), shown on a play badge; `None` for pictures.
    pub video: Option<String>,
    /// The picture at screen size (its display copy), for the viewer (lightbox).
    pub full_url: String,
    pub width: i32,
    pub height: i32,
    /// The thumbnail's shape for a justified grid: `ar-13` for 1.3 wide per 1 high
    /// (clamped to 0.5–2.5).
    pub shape: &'static str,
    /// The owner starred it (the owner's own gallery only).
    pub favourite: bool,
    /// How many tag suggestions wait for the owner (the owner's own gallery only).
    pub suggested: i64,
}

impl Card {
    /// The owner's own view: the thumbnail links to the image page.
    pub fn owned<I: AsRef<ImageTile>>(placed: &Placed<I>) -> Self {
        let image = placed.image.as_ref();
        Card {
            id: image.id,
            title: display_title(image),
            thumb_url: media_url(placed, Variant::Thumb),
            link: format!("/images/{}", image.id),
            owner: String::new(),
            video: image.seconds_label(),
            full_url: media_url(placed, Variant::Display),
            width: image.width,
            height: image.height,
            shape: shape_class(image.width, image.height),
            favourite: false,
            suggested: 0,
        }
    }

    /// An admin's view: the thumbnail links to the working copy.
    pub fn for_admin<I: AsRef<ImageTile>>(placed: &Placed<I>) -> Self {
        Card {
            link: media_url(placed, Variant::Original),
            ..Card::owned(placed)
        }
    }

    /// A public share: only the share link's URLs, and the owner's name.
    pub fn shared<I: AsRef<ImageTile>>(placed: &Placed<I>, token: &str) -> Self {
        let image = placed.image.as_ref();
        Card {
            id: image.id,
            title: display_title(image),
            thumb_url: share_file_url(placed, &format!("/s/{token}/thumb")),
            link: format!("/s/{token}"),
            owner: placed.username.clone(),
            video: image.seconds_label(),
            full_url: share_file_url(placed, &format!("/s/{token}/image")),
            width: image.width,
            height: image.height,
            shape: shape_class(image.width, image.height),
            favourite: false,
            suggested: 0,
        }
    }
}

/// The title a page shows: the image's own, or "Image 42".
pub fn display_title(image: &ImageTile) -> String {
    if image.title.is_empty() {
        format!("Image {}", image.id)
    } else {
        image.title.clone()
    }
}

/// "1.2 MB" for a byte count.
pub fn human_bytes(bytes: i64) -> String {
    let bytes = bytes.max(0) as f64;
    match bytes {
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.0} KB", b / 1e3),
        b => format!("{b} bytes"),
    }
}

/// `page` as a number ≥ 1; anything else counts as the first page.
pub fn page_number(raw: Option<&str>) -> i64 {
    raw.and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (1..=100_000).contains(p))
        .unwrap_or(1)
}

/// The proxy URL of one variant as pages use it, versioned: `?v=` carries the row's
/// version, so an edit gives every variant a new URL and browsers show the new pixels at
/// once (see [`files::MediaCaching`]).
pub fn media_url<I: AsRef<ImageTile>>(placed: &Placed<I>, variant: Variant) -> String {
    use std::fmt::Write;
    let mut url = media_path(placed, variant);
    // Writing into a String cannot fail.
    let _ = write!(url, "?v={}", VersionTag::of(placed.image.as_ref()));
    url
}

/// What a picture shows, for its `alt` where its title is already the page's heading: the
/// prompt it was made from, else its tags, else its title.
pub fn alt_text(image: &Image) -> String {
    match (&image.prompt, image.tags.is_empty()) {
        (Some(prompt), _) => prompt.clone(),
        (None, false) => format!("A picture of {}", image.tags.join(", ")),
        (None, true) => display_title(image),
    }
}

/// The class naming a picture's shape in a justified grid (see [`Card::shape`]).
pub fn shape_class(width: i32, height: i32) -> &'static str {
    const SHAPES: [&str; 21] = [
        "ar-5", "ar-6", "ar-7", "ar-8", "ar-9", "ar-10", "ar-11", "ar-12", "ar-13", "ar-14",
        "ar-15", "ar-16", "ar-17", "ar-18", "ar-19", "ar-20", "ar-21", "ar-22", "ar-23", "ar-24",
        "ar-25",
    ];
    let tenths = (f64::from(width.max(1)) * 10.0 / f64::from(height.max(1))).round() as i64;
    SHAPES[(tenths.clamp(5, 25) - 5) as usize]
}

/// A picture's `srcset` from its thumbnail's and display copy's URLs, with their widths,
/// so a browser takes the smallest that is sharp on its screen. The working copy is never
/// in it (Download and zoom fetch that).
pub fn srcset(image: &ImageTile, thumb_url: &str, display_url: &str) -> String {
    let longest = image.width.max(image.height).max(1);
    let width_within = |side: u32| {
        let side = i64::from(side).min(i64::from(longest));
        (i64::from(image.width) * side / i64::from(longest)).max(1)
    };
    format!(
        "{thumb_url} {}w, {display_url} {}w",
        width_within(THUMB_SIZE),
        width_within(DISPLAY_SIZE),
    )
}

/// [`srcset`] through the media proxy.
pub fn picture_srcset(placed: &PlacedImage) -> String {
    srcset(
        &placed.image,
        &media_url(placed, Variant::Thumb),
        &media_url(placed, Variant::Display),
    )
}

/// The `sizes` of a picture shown as large as fits the window (width, and 85 % of its
/// height at the picture's own aspect), so the browser's pick from [`srcset`] is exact.
pub fn fitted_sizes(image: &ImageTile) -> String {
    let aspect = f64::from(image.width.max(1)) / f64::from(image.height.max(1));
    format!("min(100vw, {:.0}vh)", aspect * 85.0)
}

/// The proxy path of one variant, as the JSON API gives it (revalidated on every use, so
/// scripts always fetch the current file). A picture without its display copy yet is
/// shown by its working copy.
pub fn media_path<I: AsRef<ImageTile>>(placed: &Placed<I>, variant: Variant) -> String {
    let image = placed.image.as_ref();
    let (variant, ext) = match stored_ext(image, variant) {
        Some(ext) => (variant, ext),
        None => (Variant::Original, image.original_ext.as_str()),
    };
    // Pieces pushed into one allocation of the right size: a gallery page builds two of
    // these per tile, and `format!` cost a tenth of its rendering.
    let parts = [
        "/media/",
        &placed.username,
        "/",
        &placed.folder_slug,
        "/",
        variant.as_str(),
        "/",
        &image.stem,
        ".",
        ext,
    ];
    let mut path = String::with_capacity(parts.iter().map(|part| part.len()).sum::<usize>() + 16);
    for part in parts {
        path.push_str(part);
    }
    path
}

/// A share link's file URL (`/s/{token}/image` or `/s/{token}/thumb`), versioned like
/// [`media_url`].
pub fn share_file_url<I: AsRef<ImageTile>>(placed: &Placed<I>, path: &str) -> String {
    format!("{path}?v={}", VersionTag::of(placed.image.as_ref()))
}

/// The row's version as a short URL token: its last change in microseconds, base 36.
pub struct VersionTag(u64);

impl VersionTag {
    pub fn of(image: &ImageTile) -> Self {
        VersionTag(image.updated_at.timestamp_micros().unsigned_abs())
    }
}

impl std::fmt::Display for VersionTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        // u64::MAX has 13 digits in base 36.
        let mut buffer = [0u8; 13];
        let mut start = buffer.len();
        let mut rest = self.0;
        loop {
            start -= 1;
            buffer[start] = DIGITS[(rest % 36) as usize];
            rest /= 36;
            if rest == 0 {
                break;
            }
        }
        f.write_str(std::str::from_utf8(&buffer[start..]).map_err(|_| std::fmt::Error)?)
    }
}

/// One image as every JSON answer shows it: the listing (`GET /api/images`), uploads, and
/// the generation API (whose SPEC names are `db_id` and `image_url`).
#[derive(Debug, Serialize)]
pub struct ImageJson {
    pub id: i64,
    /// `id` again, under the name the generation API's contract uses.
    pub db_id: i64,
    pub title: String,
    pub tags: Vec<String>,
    pub folder: String,
    pub kind: ImageKind,
    /// `image` or `video`.
    pub media: &'static str,
    pub mime: String,
    /// A video's length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    pub width: i32,
    pub height: i32,
    pub bytes: i64,
    pub image_url: String,
    pub thumb_url: String,
    pub file_path: String,
    /// The image page; anonymous pictures have none until their visitor signs in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
    pub urls: ImageUrls,
    pub prompt: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub seed: Option<i64>,
    pub created: String,
    /// What a tagger proposed and the owner has not yet accepted or dismissed (only ever
    /// in answers to the owner).
    pub suggested_tags: Vec<TagSuggestion>,
}

#[derive(Debug, Serialize)]
pub struct ImageUrls {
    pub original: String,
    /// The display copy (longest side 1600 px; the working copy until one is made).
    pub display: String,
    pub thumb: String,
    pub pristine: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

impl ImageJson {
    pub fn of(placed: &PlacedImage) -> Self {
        let image = &placed.image;
        let page = (placed.username != ANON_USERNAME).then(|| format!("/images/{}", image.id));
        ImageJson {
            id: image.id,
            db_id: image.id,
            title: image.title.clone(),
            tags: image.tags.clone(),
            folder: placed.folder_slug.clone(),
            kind: image.kind,
            media: if image.is_video() { "video" } else { "image" },
            mime: image.mime.clone(),
            seconds: image.duration_ms.map(|ms| f64::from(ms) / 1000.0),
            width: image.width,
            height: image.height,
            bytes: image.bytes,
            image_url: media_path(placed, Variant::Original),
            thumb_url: media_path(placed, Variant::Thumb),
            file_path: format!(
                "uploads/{}/{}/original/{}.{}",
                placed.username, placed.folder_slug, image.stem, image.original_ext
            ),
            page_url: page.clone(),
            urls: ImageUrls {
                original: media_path(placed, Variant::Original),
                display: media_path(placed, Variant::Display),
                thumb: media_path(placed, Variant::Thumb),
                pristine: media_path(placed, Variant::Pristine),
                page,
            },
            prompt: image.prompt.clone(),
            model: image.model.clone(),
            provider: image.provider.clone(),
            seed: image.seed,
            created: image.created_at.to_rfc3339(),
            suggested_tags: Vec::new(),
        }
    }
}

/// [`ImageJson`] as a JSON value, for answers that add fields of their own.
pub fn image_json(placed: &PlacedImage) -> serde_json::Value {
    serde_json::to_value(ImageJson::of(placed)).unwrap_or_default()
}

/// [`image_json`] with the image's tag suggestions, from a map loaded for a page of
/// images (`tag_suggestion::for_images`).
pub fn image_json_suggested(
    placed: &PlacedImage,
    suggestions: &HashMap<i64, Vec<TagSuggestion>>,
) -> serde_json::Value {
    let mut json = ImageJson::of(placed);
    json.suggested_tags = suggestions
        .get(&placed.image.id)
        .cloned()
        .unwrap_or_default();
    serde_json::to_value(json).unwrap_or_default()
}

/// How a network is written in links and headings: a single address without its prefix.
pub fn network_label(network: &IpNetwork) -> String {
    let host = match network {
        IpNetwork::V4(_) => 32,
        IpNetwork::V6(_) => 128,
    };
    if network.prefix() == host {
        network.ip().to_string()
    } else {
        network.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pager_counts_pages_and_links_neighbours() {
        let link = |p: i64| format!("/x?page={p}");
        let first = Pager::new(1, 25, 24, link);
        assert_eq!(
            (first.pages, first.prev_link, first.next_link.as_deref()),
            (2, None, Some("/x?page=2"))
        );
        let last = Pager::new(2, 25, 24, link);
        assert_eq!(
            (last.prev_link.as_deref(), last.next_link),
            (Some("/x?page=1"), None)
        );
        let empty = Pager::new(1, 0, 24, link);
        assert_eq!((empty.pages, empty.next_link), (1, None));
        assert_eq!(Pager::new(1, 48, 24, link).pages, 2);
    }

    #[test]
    fn next_stays_on_site() {
        assert_eq!(safe_next(Some("/gallery?page=2")), "/gallery?page=2");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "",
            "dashboard",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), "/dashboard", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/dashboard");
    }
}

#[cfg(test)]
mod pager_tests {
    use super::Pager;

    fn numbers(page: i64, pages: i64) -> String {
        Pager::new(page, pages * 10, 10, |n| format!("?page={n}"))
            .numbers
            .iter()
            .map(|n| n.as_ref().map_or("…".to_owned(), |(n, _)| n.to_string()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn page_numbers_show_both_ends_and_the_neighbourhood() {
        assert_eq!(numbers(1, 1), "1");
        assert_eq!(numbers(1, 3), "1 2 3");
        assert_eq!(numbers(6, 40), "1 … 4 5 6 7 8 … 40");
        assert_eq!(numbers(40, 40), "1 … 38 39 40");
        assert_eq!(numbers(3, 7), "1 2 3 4 5 … 7");
        assert_eq!(numbers(2, 50_000).len(), "1 2 3 4 … 50000".len());
    }

    #[test]
    fn a_listing_counted_only_so_far_has_no_last_page() {
        let open = |page: i64, counted: i64| {
            let pager = Pager::at_least(page, counted, 24, |n| format!("?page={n}"));
            let numbers = pager
                .numbers
                .iter()
                .map(|n| n.as_ref().map_or("…".to_owned(), |(n, _)| n.to_string()))
                .collect::<Vec<_>>()
                .join(" ");
            (numbers, pager.next_link)
        };
        let next = |n: i64| Some(format!("?page={n}"));
        assert_eq!(open(1, 1000), ("1 2 3 …".to_owned(), next(2)));
        assert_eq!(open(6, 1000), ("1 … 4 5 6 7 8 …".to_owned(), next(7)));
        // The page before the count's end still leads on.
        assert_eq!(open(41, 1000), ("1 … 39 40 41 42 …".to_owned(), next(42)));
    }
}
