//! The gallery (`/gallery`: folders, tags, pages) and folders (`POST /folders`,
//! `/folders/{id}/delete`). One image's page and actions are in `images.rs`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Datelike;
use serde::Deserialize;

use crate::base::error::AppError;
use crate::db::models::Folder;
use crate::db::models::folder::FolderDeleteRefusal;
use crate::db::models::listing::{GallerySort, ImageFilter, search_query};
use crate::domain::parse_folder_name;
use crate::operations::folders::{self, FolderPictures};
use crate::operations::pages;
use crate::web::extract::{CurrentUser, Form, FormOrJson, Query};
use crate::web::state::AppState;
use crate::web::views::{
    Card, Flash, Layout, PER_PAGE, Pager, html, page_number, see_other, url_encode,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/gallery", web::get().to(gallery))
        .route("/folders", web::post().to(create_folder))
        .route("/folders/{id}/rename", web::post().to(rename_folder))
        .route("/folders/{id}/delete", web::post().to(delete_folder));
}

/// One folder in the sidebar.
struct FolderLink<'a> {
    id: i64,
    slug: &'a str,
    name: &'a str,
    count: i64,
    active: bool,
    deletable: bool,
}

#[derive(Template)]
#[template(path = "gallery/gallery.html")]
struct GalleryPage<'a> {
    layout: Layout,
    heading: String,
    /// The folders and tags, borrowed from the library summary.
    folders: Vec<FolderLink<'a>>,
    tags: &'a [String],
    active_folder: String,
    /// The folder being looked at, for the rename form.
    active_folder_id: Option<i64>,
    active_folder_name: String,
    /// The open folder may be deleted (not the default), and how many pictures it shows.
    active_folder_deletable: bool,
    active_folder_count: i64,
    /// Pictures in the trash, and how long they stay there.
    trashed: i64,
    trash_days: u32,
    active_tag: String,
    /// What the search box holds, the order and whether only favourites show.
    search: String,
    sort: &'static str,
    sorts: &'static [(GallerySort, &'static str, &'static str)],
    favourites_only: bool,
    /// This view's URL (filters and page), where bulk actions come back to.
    here: String,
    /// The page's pictures, each with the month heading that starts before it when the
    /// order is by date ("December 2026").
    cards: Vec<(Option<String>, Card)>,
    total: i64,
    /// More match than `total` (a search counted only so far): "1000+ images".
    more_than_total: bool,
    pager: Pager,
    /// Asked for a page past the last: how many there are and a link to the last.
    past_the_end: Option<(i64, String)>,
    folder_error: Option<String>,
}

/// A listing's query, for the gallery page and `GET /api/images` alike.
#[derive(Debug, Default, Deserialize)]
pub struct GalleryQuery {
    /// A folder's slug.
    pub(super) folder: Option<String>,
    tag: Option<String>,
    pub(super) page: Option<String>,
    /// Words to find in titles and prompts.
    q: Option<String>,
    /// `newest` (default), `oldest`, `title`, `largest`.
    sort: Option<String>,
    /// `favourites=1`: only starred images.
    favourites: Option<String>,
}

impl GalleryQuery {
    /// The filter these words ask for (the folder, a slug here, is the caller's to look
    /// up). A search without a single word is no search.
    pub(super) fn filter(&self) -> ImageFilter {
        ImageFilter {
            folder_id: None,
            tag: self
                .tag
                .as_deref()
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty()),
            favourites: self
                .favourites
                .as_deref()
                .is_some_and(|f| matches!(f, "1" | "true" | "on")),
            search: self
                .q
                .as_deref()
                .map(|q| q.trim().chars().take(200).collect::<String>())
                .filter(|q| search_query(q).is_some()),
            sort: GallerySort::parse(self.sort.as_deref().unwrap_or_default()),
            ..ImageFilter::default()
        }
    }
}

async fn gallery(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    Query(query): Query<GalleryQuery>,
) -> Result<HttpResponse, AppError> {
    gallery_page(&state, &session, &current, query, StatusCode::OK, None).await
}

/// A gallery view's first page, where the image page's Esc goes back to.
pub(super) fn gallery_view_link(folder: Option<&str>, filter: &ImageFilter) -> String {
    gallery_link(folder, filter, 1)
}

/// A gallery view's URL with these filters, on `page`.
fn gallery_link(folder: Option<&str>, filter: &ImageFilter, page: i64) -> String {
    let mut params = view_params(folder, filter);
    if page > 1 {
        params.push(format!("page={page}"));
    }
    if params.is_empty() {
        "/gallery".to_owned()
    } else {
        format!("/gallery?{}", params.join("&"))
    }
}

/// The query words naming a gallery view (folder, tag, search, sort, favourites), which
/// the image page's ← and → follow too.
pub(super) fn view_params(folder: Option<&str>, filter: &ImageFilter) -> Vec<String> {
    let mut params = Vec::new();
    if let Some(slug) = folder {
        params.push(format!("folder={}", url_encode(slug)));
    }
    if let Some(tag) = &filter.tag {
        params.push(format!("tag={}", url_encode(tag)));
    }
    if let Some(search) = &filter.search {
        params.push(format!("q={}", url_encode(search)));
    }
    if filter.sort != GallerySort::Newest {
        params.push(format!("sort={}", filter.sort.as_str()));
    }
    if filter.favourites {
        params.push("favourites=1".to_owned());
    }
    params
}

/// The image page's URL within a gallery view (so ← and → walk that view).
pub(super) fn image_link(id: i64, folder: Option<&str>, filter: &ImageFilter) -> String {
    image_link_in(id, &view_params(folder, filter).join("&"))
}

/// The image page's URL within the view `view_query` names (empty: the whole library).
fn image_link_in(id: i64, view_query: &str) -> String {
    if view_query.is_empty() {
        format!("/images/{id}")
    } else {
        format!("/images/{id}?{view_query}")
    }
}

async fn gallery_page(
    state: &AppState,
    session: &Session,
    current: &CurrentUser,
    query: GalleryQuery,
    status: StatusCode,
    folder_error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let view = GalleryView {
        layout: Layout::new(session, Some(current)),
        page: page_number(query.page.as_deref()),
        filter: query.filter(),
        folder_slug: query.folder.filter(|f| !f.is_empty()),
        trash_days: state.settings.trash_days,
        folder_error,
    };
    let (user_id, username) = (current.user.id, current.user.username.clone());
    let summaries = state.summaries.clone();
    // The layout took the session's flash message; a page that fails gives it back.
    let flash = view.layout.flash.clone();
    // Read and rendered in one hop: the rows, the cards and the HTML are made and freed on
    // one warm database thread, not handed to the HTTP worker.
    let body = state
        .db
        .run(move |conn| {
            let window = ((view.page - 1) * PER_PAGE, PER_PAGE);
            let data = pages::gallery(
                conn,
                &summaries,
                (user_id, &username),
                view.folder_slug.as_deref(),
                view.filter.clone(),
                window,
            )?;
            view.render(data)
        })
        .await
        .inspect_err(|_| {
            if let Some(flash) = flash {
                flash.keep(session);
            }
        })?;
    Ok(html(status, body))
}

/// What a gallery request asks to see, besides the data: the view, the page, and what
/// the layout and the folder form show.
struct GalleryView {
    layout: Layout,
    page: i64,
    filter: ImageFilter,
    folder_slug: Option<String>,
    trash_days: u32,
    folder_error: Option<String>,
}

impl GalleryView {
    /// The page's HTML.
    fn render(self, data: pages::GalleryData) -> Result<String, AppError> {
        let GalleryView {
            layout,
            page,
            filter,
            folder_slug,
            trash_days,
            folder_error,
        } = self;
        let pages::GalleryData {
            summary,
            listing,
            folder,
            favourites,
            suggested,
            more_than_total,
        } = data;
        let mut heading = match (&folder, &filter.tag) {
            (Some(folder), Some(tag)) => format!("{} · #{tag}", folder.name),
            (Some(folder), None) => folder.name.clone(),
            (None, Some(tag)) => format!("#{tag}"),
            (None, None) if filter.favourites => "Favourites".to_owned(),
            (None, None) => "All images".to_owned(),
        };
        if let Some(search) = &filter.search {
            heading = format!("“{search}” in {heading}");
        }
        let by_date = matches!(filter.sort, GallerySort::Newest | GallerySort::Oldest);
        let view_query = view_params(folder_slug.as_deref(), &filter).join("&");
        let mut month_shown = None;
        let cards = listing
            .items
            .iter()
            .map(|placed| {
                let image = &placed.image;
                let mut card = Card::owned(placed);
                card.favourite = favourites.contains(&image.id);
                card.suggested = suggested.get(&image.id).copied().unwrap_or(0);
                if !view_query.is_empty() {
                    card.link = image_link_in(image.id, &view_query);
                }
                let month = (image.created_at.year(), image.created_at.month0());
                let heading = (by_date && month_shown != Some(month)).then(|| {
                    month_shown = Some(month);
                    month_heading(image.created_at)
                });
                (heading, card)
            })
            .collect();
        let page = GalleryPage {
            layout,
            heading,
            folders: summary
                .folders
                .iter()
                .map(|f| FolderLink {
                    active: folder_slug.as_deref() == Some(f.slug.as_str()),
                    deletable: !f.is_default(),
                    id: f.id,
                    slug: &f.slug,
                    name: &f.name,
                    count: f.image_count,
                })
                .collect(),
            tags: &summary.tags,
            active_folder: folder_slug.clone().unwrap_or_default(),
            active_folder_id: folder.as_ref().map(|f| f.id),
            active_folder_name: folder.as_ref().map(|f| f.name.clone()).unwrap_or_default(),
            active_folder_deletable: folder.as_ref().is_some_and(|f| !f.is_default()),
            active_folder_count: folder.as_ref().map_or(0, |f| f.image_count),
            trashed: summary.trashed,
            trash_days,
            active_tag: filter.tag.clone().unwrap_or_default(),
            search: filter.search.clone().unwrap_or_default(),
            sort: filter.sort.as_str(),
            sorts: &GallerySort::ALL,
            favourites_only: filter.favourites,
            here: gallery_link(folder_slug.as_deref(), &filter, page),
            cards,
            total: listing.total,
            more_than_total,
            pager: if more_than_total {
                Pager::at_least(page, listing.total, PER_PAGE, |page| {
                    gallery_link(folder_slug.as_deref(), &filter, page)
                })
            } else {
                Pager::new(page, listing.total, PER_PAGE, |page| {
                    gallery_link(folder_slug.as_deref(), &filter, page)
                })
            },
            past_the_end: (listing.items.is_empty() && listing.total > 0).then(|| {
                let last = (listing.total + PER_PAGE - 1) / PER_PAGE;
                (last, gallery_link(folder_slug.as_deref(), &filter, last))
            }),
            folder_error,
        };
        Ok(page.render()?)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FolderForm {
    name: String,
}

async fn create_folder(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    Form(form): Form<FolderForm>,
) -> Result<HttpResponse, AppError> {
    let (name, slug) = match parse_folder_name(&form.name) {
        Ok(parsed) => parsed,
        Err(message) => {
            return gallery_page(
                &state,
                &session,
                &current,
                GalleryQuery::default(),
                StatusCode::BAD_REQUEST,
                Some(message.into()),
            )
            .await;
        }
    };
    let user_id = current.user.id;
    let created = {
        let slug = slug.clone();
        state
            .db
            .run(move |conn| folders::create(conn, user_id, &slug, &name))
            .await?
    };
    match created {
        Some(folder) => {
            Flash::success(&session, format!("Folder “{}” created.", folder.name));
            Ok(see_other(&format!("/gallery?folder={}", folder.slug)))
        }
        None => {
            gallery_page(
                &state,
                &session,
                &current,
                GalleryQuery::default(),
                StatusCode::CONFLICT,
                Some(format!("You already have a folder called “{}”.", slug)),
            )
            .await
        }
    }
}

/// `POST /folders/{id}/rename` (`name`): a new name; the folder's URL and files stay.
async fn rename_folder(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    id: web::Path<i64>,
    Form(form): Form<FolderForm>,
) -> Result<HttpResponse, AppError> {
    let (user_id, id) = (current.user.id, id.into_inner());
    let name = match parse_folder_name(&form.name) {
        Ok((name, _)) => name,
        Err(message) => {
            let slug = state
                .db
                .run(move |conn| Folder::find_by_id(conn, id))
                .await
                .ok()
                .filter(|folder| folder.user_id == user_id)
                .map(|folder| folder.slug);
            return gallery_page(
                &state,
                &session,
                &current,
                GalleryQuery {
                    folder: slug,
                    ..GalleryQuery::default()
                },
                StatusCode::BAD_REQUEST,
                Some(message.into()),
            )
            .await;
        }
    };
    let renamed = state
        .db
        .run(move |conn| folders::rename(conn, user_id, id, &name))
        .await?
        .ok_or(AppError::NotFound)?;
    Flash::success(&session, format!("Folder renamed to “{}”.", renamed.name));
    Ok(see_other(&format!(
        "/gallery?folder={}",
        url_encode(&renamed.slug)
    )))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteFolderForm {
    /// What becomes of the pictures: `move` (to the default folder) or `trash`; absent,
    /// only an empty folder is deleted.
    pictures: Option<String>,
}

/// `POST /folders/{id}/delete` (`pictures` = `move` or `trash` for a folder that is not
/// empty).
async fn delete_folder(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    id: web::Path<i64>,
    FormOrJson(form): FormOrJson<DeleteFolderForm>,
) -> Result<HttpResponse, AppError> {
    let pictures = match form.pictures.as_deref().map(str::trim) {
        None | Some("") => FolderPictures::MustBeEmpty,
        Some("move") => FolderPictures::MoveOut,
        Some("trash") => FolderPictures::Trash,
        Some(_) => {
            return Err(AppError::BadRequest(
                "pictures is move (to the default folder) or trash.".into(),
            ));
        }
    };
    let (user_id, id) = (current.user.id, id.into_inner());
    let (library, owner) = (state.library.clone(), current.user.folder_owner()?);
    let result = state
        .db
        .run(move |conn| folders::delete(conn, &library, (user_id, &owner), id, pictures))
        .await?;
    match result {
        Ok((folder, moved)) => {
            let pictures = match moved {
                0 => String::new(),
                1 => " Its picture".to_owned(),
                n => format!(" Its {n} pictures"),
            };
            let went = match (moved, pictures.is_empty()) {
                (_, true) => String::new(),
                _ if form.pictures.as_deref() == Some("trash") => {
                    format!("{pictures} went to the trash.")
                }
                _ => format!("{pictures} moved to the default folder."),
            };
            Flash::success(&session, format!("Folder “{}” deleted.{went}", folder.name));
            Ok(see_other("/gallery"))
        }
        Err(FolderDeleteRefusal::NotFound) => Err(AppError::NotFound),
        Err(refusal) => {
            let message = match refusal {
                FolderDeleteRefusal::IsDefault => {
                    "The default folder cannot be deleted.".to_owned()
                }
                FolderDeleteRefusal::NotEmpty(n) => format!(
                    "This folder still holds {n} image{}: choose whether they move to the \
                     default folder or to the trash.",
                    if n == 1 { "" } else { "s" }
                ),
                FolderDeleteRefusal::NotFound => String::new(),
            };
            gallery_page(
                &state,
                &session,
                &current,
                GalleryQuery::default(),
                StatusCode::CONFLICT,
                Some(message),
            )
            .await
        }
    }
}

/// "December 2026": the heading over a month's pictures (by a table, not a format string
/// parsed for every picture of the page).
fn month_heading(at: chrono::DateTime<chrono::Utc>) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    format!("{} {}", MONTHS[at.month0() as usize], at.year())
}
