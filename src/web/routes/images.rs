//! One image: its page (`/images/{id}`: the picture, facts, seed, share link, edit tools)
//! and what its owner does to it (update, edit, favourite, delete, share and unshare; how
//! a shared picture looks to others is in `share.rs`). Another user's image is a 404
//! everywhere; admins see the page, never the pristine file.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use askama::Template;
use serde::Deserialize;

use crate::base::error::AppError;
use crate::db::models::{Image, PlacedImage};
use crate::domain::{EXPIRY_CHOICES, FolderSlug, PUBLIC_DEFAULT_DAYS, ShareChoice, parse_tags};
use crate::operations::{images, pages};
use crate::services::quota::ClientIp;
use crate::storage::Variant;
use crate::storage::imaging::Edit;
use crate::web::extract::{CurrentUser, Form, FormOrJson, Query};
use crate::web::routes::gallery::{GalleryQuery, gallery_view_link, image_link};
use crate::web::state::AppState;
use crate::web::views::errors::wants_json;
use crate::web::views::{
    Flash, Layout, alt_text, display_title, done, fitted_sizes, human_bytes, media_url,
    picture_srcset, render, see_other, timestamp,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/images/{id}", web::get().to(image_page))
        .route("/images/{id}/update", web::post().to(update))
        .route("/images/{id}/edit", web::post().to(edit))
        .route("/images/{id}/favourite", web::post().to(favourite))
        .route("/images/{id}/delete", web::post().to(delete))
        .route("/images/{id}/share", web::post().to(share))
        .route("/images/{id}/unshare", web::post().to(unshare));
}

/// The image if the current user owns it (admins may view any); 404 otherwise, and for a
/// picture in the trash (the trash page is its only door).
pub(super) async fn owned_image(
    state: &AppState,
    current: &CurrentUser,
    id: i64,
    allow_admin: bool,
) -> Result<PlacedImage, AppError> {
    let placed = state
        .db
        .run(move |conn| Image::find_placed(conn, id))
        .await?
        .ok_or(AppError::NotFound)?;
    let is_owner = placed.image.user_id == current.user.id;
    if placed.image.is_trashed() {
        return Err(AppError::NotFound);
    }
    if is_owner || (allow_admin && current.user.is_admin()) {
        Ok(placed)
    } else {
        Err(AppError::NotFound)
    }
}

#[derive(Template)]
#[template(path = "gallery/image.html")]
struct ImagePage {
    layout: Layout,
    id: i64,
    title: String,
    raw_title: String,
    /// The working copy: Download and zoom only.
    original_url: String,
    /// What the page shows: the display copy, and the sizes the browser may choose from.
    display_url: String,
    srcset: String,
    sizes: String,
    /// What the picture shows, in words (see `views::alt_text`).
    alt: String,
    /// ← and →: the neighbours in the gallery view it was opened from; Esc goes back there.
    prev_url: Option<String>,
    next_url: Option<String>,
    back_url: String,
    pristine_url: String,
    width: i32,
    height: i32,
    size: String,
    kind: String,
    tags: Vec<String>,
    tags_text: String,
    folder_slug: String,
    folder_name: String,
    folders: Vec<(String, String)>,
    created: String,
    updated: String,
    /// The live share link, if any (an expired one is `None`, see `share_expired`).
    share_url: Option<String>,
    /// Listed on Explore, not just unlisted.
    share_public: bool,
    /// "until you stop sharing" or "until 4 Jan 2027, 21:30 UTC".
    share_until: String,
    /// When the last link expired, if it did.
    share_expired: Option<String>,
    /// The expiry choices: (days as the form sends them, label).
    expiry_choices: Vec<(String, String)>,
    public_default_days: String,
    is_favourite: bool,
    /// "Fujifilm X100V" and "2024-05-01 18:30" (the camera's clock), when the photo says.
    camera: Option<String>,
    taken: Option<String>,
    is_owner: bool,
    error: Option<String>,
    prompt: Option<String>,
    model: Option<String>,
    source_image_id: Option<i64>,
    seed: Option<i64>,
    /// "Run again with this seed": the size the picture was generated at, when the same
    /// prompt, seed and size make it again (generated images and story scenes).
    rerun_size: Option<String>,
    /// …and by the same provider, when it is still on offer; what that costs, said on the
    /// button ("1 credit"; empty when free).
    rerun_provider: Option<String>,
    rerun_cost: String,
    /// Videos: played from `original_url` with the thumbnail as poster; "4.0 s"; and the
    /// whole seconds a re-run asks for.
    video: Option<String>,
    poster_url: String,
    rerun_seconds: Option<u32>,
    /// Suggested tags, surest first: (tag, "87%", source).
    suggestions: Vec<(String, String, String)>,
    /// The tagging job still at work (the page follows it and shows what it found).
    tagging_job: Option<i64>,
    /// Whether this server can suggest tags for the owner ("Suggest tags" is offered),
    /// and what that costs.
    can_suggest: bool,
    suggest_cost: i64,
    /// Days a deleted picture waits in the trash.
    trash_days: u32,
    /// Why the owner cannot pay for "Run again", a prompt edit or tag suggestions now
    /// (the button is then off, with this said beside it).
    rerun_refused: Option<String>,
    edit_refused: Option<String>,
    tags_refused: Option<String>,
    /// What a prompt edit costs ("1 credit"; empty when free).
    edit_cost: String,
    /// Where to ask for credits (`ATELIER_CREDITS_CONTACT`), when the operator says.
    credits_contact: Option<String>,
}

/// `/images/{id}`, with the gallery view it was opened from in the query (`folder`, `tag`,
/// `q`, `sort`, `favourites`, as `/gallery` takes them), which ← and → walk.
async fn image_page(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    id: web::Path<i64>,
    ip: ClientIp,
    Query(view): Query<GalleryQuery>,
) -> Result<HttpResponse, AppError> {
    let placed = owned_image(&state, &current, id.into_inner(), true).await?;
    let page = ImagePageRequest {
        status: StatusCode::OK,
        error: None,
        view,
        ip: Some(ip),
    };
    render_image_page(&state, &session, &current, placed, page).await
}

/// The image page again after a refused change, with what was wrong.
pub(super) async fn image_page_with(
    state: &AppState,
    session: &Session,
    current: &CurrentUser,
    placed: PlacedImage,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let page = ImagePageRequest {
        status,
        error,
        view: GalleryQuery::default(),
        ip: None,
    };
    render_image_page(state, session, current, placed, page).await
}

/// How the image page is asked for.
struct ImagePageRequest {
    status: StatusCode,
    error: Option<String>,
    view: GalleryQuery,
    /// Where the owner asks from, to tell whether they can pay for what the page offers
    /// (`None` after a refused change: the buttons stay on, the server still refuses).
    ip: Option<ClientIp>,
}

async fn render_image_page(
    state: &AppState,
    session: &Session,
    current: &CurrentUser,
    placed: PlacedImage,
    ImagePageRequest {
        status,
        error,
        view,
        ip,
    }: ImagePageRequest,
) -> Result<HttpResponse, AppError> {
    let owner_id = placed.image.user_id;
    let is_owner = owner_id == current.user.id;
    let looked_at = placed.clone();
    let filter = view.filter();
    let folder = view.folder.clone().filter(|slug| !slug.is_empty());
    let data = {
        let (filter, folder) = (filter.clone(), folder.clone());
        let (rules, owner) = (state.rules.clone(), current.user.clone());
        // What the owner's spending buttons would cost them, or why they cannot pay it.
        let spender_ip = ip.filter(|_| is_owner).map(|ip| ip.0.into());
        state
            .db
            .run(move |conn| {
                let spender = spender_ip.map(|ip| (&rules, &owner, ip));
                pages::image_page(conn, &looked_at, (folder.as_deref(), filter), spender)
            })
            .await?
    };
    let spending = data.spending.as_ref();
    let cannot_pay = |per_clip: bool| -> Option<String> {
        let usage = spending.as_ref()?;
        let credits = usage.credits.unwrap_or(0);
        if per_clip {
            (credits < usage.credits_per_video).then(|| {
                format!(
                    "A video costs {} credits and you have {credits}.",
                    usage.credits_per_video
                )
            })
        } else {
            (!usage.can_make_an_image()).then(|| usage.next_image_cost())
        }
    };
    let (prev, next) = data.neighbours;
    let walk = |id: i64| image_link(id, folder.as_deref(), &filter);
    let folders = data.folders.into_iter().map(|f| (f.slug, f.name)).collect();
    let rerun_size = data
        .rerun_size
        .map(|(width, height)| format!("{width}x{height}"));
    let image = &placed.image;
    let share_expired = image
        .share_expires_at
        .is_some_and(|at| at <= chrono::Utc::now());
    render(
        status,
        &ImagePage {
            layout: Layout::new(session, Some(current)),
            id: image.id,
            title: display_title(image),
            raw_title: image.title.clone(),
            original_url: media_url(&placed, Variant::Original),
            display_url: media_url(&placed, Variant::Display),
            srcset: picture_srcset(&placed),
            sizes: fitted_sizes(&placed.image),
            alt: alt_text(&placed.image),
            prev_url: prev.map(walk),
            next_url: next.map(walk),
            back_url: gallery_view_link(folder.as_deref(), &filter),
            pristine_url: media_url(&placed, Variant::Pristine),
            width: image.width,
            height: image.height,
            size: human_bytes(image.bytes),
            kind: image.kind.to_string(),
            tags: image.tags.clone(),
            tags_text: image.tags.join(", "),
            folder_slug: placed.folder_slug.clone(),
            folder_name: placed.folder_name.clone(),
            folders,
            created: timestamp(image.created_at),
            updated: timestamp(image.updated_at),
            share_url: state
                .library
                .share_token_of(image)
                .filter(|_| !share_expired)
                .map(|token| format!("/s/{token}")),
            share_public: image.share_public,
            share_until: image.share_expires_at.map_or_else(
                || "until you stop sharing".to_owned(),
                |at| format!("until {}", timestamp(at)),
            ),
            share_expired: image
                .share_expires_at
                .filter(|_| share_expired)
                .map(timestamp),
            expiry_choices: EXPIRY_CHOICES
                .iter()
                .map(|days| {
                    let label = if *days == 1 {
                        "1 day".to_owned()
                    } else {
                        format!("{days} days")
                    };
                    (days.to_string(), label)
                })
                .collect(),
            public_default_days: PUBLIC_DEFAULT_DAYS.to_string(),
            is_favourite: data.favourite,
            camera: data.camera.as_ref().and_then(|camera| {
                let words: Vec<&str> = [camera.make.as_deref(), camera.model.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect();
                // Models often repeat the make ("Canon" + "Canon EOS R5").
                match words.as_slice() {
                    [make, model] if model.starts_with(make) => Some((*model).to_owned()),
                    [] => None,
                    words => Some(words.join(" ")),
                }
            }),
            taken: data
                .camera
                .as_ref()
                .and_then(|camera| camera.taken_at)
                .map(|at| at.format("%Y-%m-%d %H:%M").to_string()),
            is_owner,
            rerun_refused: cannot_pay(image.is_video()),
            edit_cost: credits_words(state.rules.credits_per_image),
            credits_contact: state.settings.credits_contact.clone(),
            edit_refused: cannot_pay(false),
            tags_refused: spending.as_ref().and_then(|usage| {
                let cost = state.tagger.credits();
                let credits = usage.credits.unwrap_or(0);
                (cost > credits)
                    .then(|| format!("Suggestions cost {cost} credits and you have {credits}."))
            }),
            error,
            prompt: image.prompt.clone(),
            model: image.model.as_ref().map(|model| {
                format!(
                    "{model} ({})",
                    image.provider.as_deref().unwrap_or("unknown")
                )
            }),
            source_image_id: image.source_image_id,
            seed: image.seed,
            rerun_size: rerun_size.filter(|_| image.prompt.is_some() && image.seed.is_some()),
            rerun_provider: image
                .provider
                .clone()
                .filter(|name| state.provider_names.contains(&name.as_str())),
            video: image.seconds_label(),
            poster_url: media_url(&placed, Variant::Thumb),
            rerun_seconds: image
                .duration_ms
                .map(|ms| u32::try_from((ms + 500) / 1000).unwrap_or(0)),
            suggestions: data
                .suggestions
                .into_iter()
                .map(|s| {
                    let sure = format!("{:.0}%", s.confidence * 100.0);
                    (s.tag, sure, s.source)
                })
                .collect(),
            tagging_job: data.tagging_job,
            can_suggest: state.tagger.may_tag(&current.user),
            suggest_cost: state.tagger.credits(),
            trash_days: state.settings.trash_days,
            rerun_cost: credits_words(if image.is_video() {
                state.rules.credits_per_video
            } else {
                state.rules.credits_per_image
            }),
        },
    )
}

/// "1 credit", "5 credits", or nothing when it is free.
fn credits_words(credits: i64) -> String {
    match credits {
        0 => String::new(),
        1 => "1 credit".to_owned(),
        n => format!("{n} credits"),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateForm {
    title: String,
    tags: String,
    folder: String,
}

async fn update(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    id: web::Path<i64>,
    Form(form): Form<UpdateForm>,
) -> Result<HttpResponse, AppError> {
    let placed = owned_image(&state, &current, id.into_inner(), false).await?;
    let checked = (|| {
        let tags = parse_tags(&form.tags)?;
        let title = form.title.trim().to_owned();
        if title.chars().count() > 200 {
            return Err("Titles are at most 200 characters.".to_owned());
        }
        let slug = match form.folder.trim() {
            "" => placed.folder_slug.clone(),
            raw => FolderSlug::parse(raw)
                .ok_or("Choose one of your folders.")?
                .as_str()
                .to_owned(),
        };
        Ok((title, tags, slug))
    })();
    let (title, tags, slug) = match checked {
        Ok(values) => values,
        Err(message) => {
            return image_page_with(
                &state,
                &session,
                &current,
                placed,
                StatusCode::BAD_REQUEST,
                Some(message),
            )
            .await;
        }
    };
    let library = state.library.clone();
    let id = placed.image.id;
    let (moved, placed) = state
        .db
        .run(move |conn| {
            let moved = images::update(conn, &library, &placed, &slug, &title, &tags)?;
            Ok::<_, AppError>((moved, placed))
        })
        .await?;
    state.media_cache.forget_image(id);
    if moved.is_err() {
        return image_page_with(
            &state,
            &session,
            &current,
            placed,
            StatusCode::BAD_REQUEST,
            Some("That folder does not exist.".into()),
        )
        .await;
    }
    Flash::success(&session, "Saved.");
    Ok(see_other(&format!("/images/{id}")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EditForm {
    op: String,
    x: String,
    y: String,
    w: String,
    h: String,
}

/// `None` is "revert".
fn parse_edit(form: &EditForm) -> Result<Option<Edit>, String> {
    let number = |name: &str, raw: &str| {
        raw.trim()
            .parse::<u32>()
            .map_err(|_| format!("{name} must be a whole number of pixels."))
    };
    Ok(Some(match form.op.as_str() {
        "rotate90" => Edit::Rotate90,
        "rotate180" => Edit::Rotate180,
        "rotate270" => Edit::Rotate270,
        "fliph" => Edit::FlipHorizontal,
        "flipv" => Edit::FlipVertical,
        "grayscale" => Edit::Grayscale,
        "crop" => Edit::Crop {
            x: number("x", &form.x)?,
            y: number("y", &form.y)?,
            width: number("w", &form.w)?,
            height: number("h", &form.h)?,
        },
        "resize" => Edit::Resize {
            width: number("w", &form.w)?,
            height: number("h", &form.h)?,
        },
        "revert" => return Ok(None),
        other => {
            return Err(format!(
                "Unknown edit {other:?}: use rotate90, rotate180, rotate270, fliph, flipv, grayscale, crop, resize or revert."
            ));
        }
    }))
}

async fn edit(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    id: web::Path<i64>,
    Form(form): Form<EditForm>,
) -> Result<HttpResponse, AppError> {
    let placed = owned_image(&state, &current, id.into_inner(), false).await?;
    let edit = match parse_edit(&form) {
        Ok(edit) => edit,
        Err(message) => {
            return image_page_with(
                &state,
                &session,
                &current,
                placed,
                StatusCode::BAD_REQUEST,
                Some(message),
            )
            .await;
        }
    };
    let library = state.library.clone();
    let id = placed.image.id;
    let for_page = placed.clone();
    let result = state
        .db
        .run(move |conn| images::edit(conn, &library, &placed, edit))
        .await?;
    state.media_cache.forget_image(id);
    if let Err(problem) = result {
        let err = AppError::from(problem);
        return image_page_with(
            &state,
            &session,
            &current,
            for_page,
            err.status_code(),
            Some(err.message()),
        )
        .await;
    }
    Flash::success(
        &session,
        if edit.is_some() {
            "Edited."
        } else {
            "Restored the original."
        },
    );
    Ok(see_other(&format!("/images/{id}")))
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct FavouriteForm {
    /// `1`/`true` (the default) stars the image, `0`/`false` unstars it.
    favourite: String,
}

impl Default for FavouriteForm {
    fn default() -> Self {
        FavouriteForm {
            favourite: "1".into(),
        }
    }
}

/// `POST /images/{id}/favourite` (`favourite=1` or `0`): star or unstar the image.
async fn favourite(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    id: web::Path<i64>,
    FormOrJson(form): FormOrJson<FavouriteForm>,
) -> Result<HttpResponse, AppError> {
    let placed = owned_image(&state, &current, id.into_inner(), false).await?;
    let starred = match form.favourite.trim() {
        "1" | "true" | "on" => true,
        "0" | "false" | "off" => false,
        _ => {
            return Err(AppError::BadRequest(
                "favourite is 1 (star) or 0 (unstar).".into(),
            ));
        }
    };
    let (user_id, id) = (current.user.id, placed.image.id);
    state
        .db
        .run(move |conn| images::set_favourite(conn, user_id, id, starred))
        .await?;
    let message = if starred {
        "Added to favourites."
    } else {
        "Removed from favourites."
    };
    let back = format!("/images/{id}");
    let state_now = serde_json::json!({ "favourite": starred });
    Ok(done(&req, &session, message, &back, state_now))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteForm {
    /// `forever=1`: skip the trash (scripts cleaning up; the trash page's "Delete now").
    forever: Option<String>,
}

/// `POST /images/{id}/delete`: to the trash (restorable for `trash_days`), or for good.
async fn delete(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    id: web::Path<i64>,
    FormOrJson(form): FormOrJson<DeleteForm>,
) -> Result<HttpResponse, AppError> {
    let for_good = match form.forever.as_deref().map(str::trim) {
        None | Some("" | "0" | "false" | "off") => false,
        Some("1" | "true" | "on") => true,
        Some(_) => {
            return Err(AppError::BadRequest(
                "forever is 1 (skip the trash) or 0.".into(),
            ));
        }
    };
    let placed = owned_image(&state, &current, id.into_inner(), false).await?;
    let library = state.library.clone();
    let (folder, id) = (placed.folder_slug.clone(), placed.image.id);
    let what = if placed.image.is_video() {
        "Video"
    } else {
        "Image"
    };
    state
        .db
        .run(move |conn| images::delete(conn, &library, &placed, for_good))
        .await?;
    state.media_cache.forget_image(id);
    let said = if for_good {
        format!("{what} deleted for good.")
    } else {
        format!(
            "{what} moved to the trash: restore it from there within {} days.",
            state.settings.trash_days
        )
    };
    Flash::success(&session, &said);
    Ok(see_other(&format!(
        "/gallery?folder={}",
        crate::web::views::url_encode(&folder)
    )))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ShareForm {
    /// `unlisted` (default) or `public` (also listed on Explore).
    visibility: Option<String>,
    /// `never` or 1, 7, 30, 365 days; absent: never for unlisted, 30 days for public.
    expires: Option<String>,
}

/// `POST /images/{id}/share` (`visibility`, `expires`; a form, JSON or no body): a new link
/// (the old one stops working). Scripts asking for JSON get the link in the answer;
/// browsers go back to the image page, which shows it.
async fn share(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    id: web::Path<i64>,
    FormOrJson(form): FormOrJson<ShareForm>,
) -> Result<HttpResponse, AppError> {
    let placed = owned_image(&state, &current, id.into_inner(), false).await?;
    let noun = if placed.image.is_video() {
        "video"
    } else {
        "image"
    };
    let choice = match ShareChoice::parse(form.visibility.as_deref(), form.expires.as_deref()) {
        Ok(choice) => choice,
        Err(message) if wants_json(&req) => return Err(AppError::BadRequest(message.into())),
        Err(message) => {
            return image_page_with(
                &state,
                &session,
                &current,
                placed,
                StatusCode::BAD_REQUEST,
                Some(message.into()),
            )
            .await;
        }
    };
    let library = state.library.clone();
    let id = placed.image.id;
    let (token, expires_at) = state
        .db
        .run(move |conn| images::share(conn, &library, id, choice))
        .await?;
    state.media_cache.forget_image(id);
    let link = serde_json::json!({
        "share_url": format!("/s/{token}"),
        "image_url": format!("/s/{token}/image"),
        "thumb_url": format!("/s/{token}/thumb"),
        "visibility": if choice.is_public() { "public" } else { "unlisted" },
        "expires_at": expires_at.map(|at| at.to_rfc3339()),
    });
    let back = format!("/images/{id}");
    Ok(done(&req, &session, &choice.summary(noun), &back, link))
}

async fn unshare(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let placed = owned_image(&state, &current, id.into_inner(), false).await?;
    let id = placed.image.id;
    state.db.run(move |conn| images::unshare(conn, id)).await?;
    state.media_cache.forget_image(id);
    let message = "Share link revoked. The old link no longer works.";
    let back = format!("/images/{id}");
    Ok(done(
        &req,
        &session,
        message,
        &back,
        serde_json::Value::Null,
    ))
}
