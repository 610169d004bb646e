//! The gallery (`/gallery`: folders, tags, pages) and folders (`POST /folders`,
//! `/folders/{id}/delete`). One image's page and actions are in `images.rs`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::domain::parse_folder_name;
use crate::error::AppError;
use crate::extract::CurrentUser;
use crate::models::Folder;
use crate::models::folder::FolderDeleteRefusal;
use crate::operations::pages;
use crate::state::AppState;
use crate::views::{Card, Flash, Layout, PER_PAGE, Pager, page_number, render, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/gallery", web::get().to(gallery))
        .route("/folders", web::post().to(create_folder))
        .route("/folders/{id}/delete", web::post().to(delete_folder));
}

/// One folder in the sidebar.
struct FolderLink {
    id: i64,
    slug: String,
    name: String,
    count: i64,
    active: bool,
    deletable: bool,
}

#[derive(Template)]
#[template(path = "gallery/gallery.html")]
struct GalleryPage {
    layout: Layout,
    heading: String,
    folders: Vec<FolderLink>,
    tags: Vec<String>,
    active_folder: String,
    active_tag: String,
    cards: Vec<Card>,
    total: i64,
    pager: Pager,
    folder_error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct GalleryQuery {
    folder: Option<String>,
    tag: Option<String>,
    page: Option<String>,
}

async fn gallery(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    query: web::Query<GalleryQuery>,
) -> Result<HttpResponse, AppError> {
    gallery_page(
        &state,
        &session,
        &current,
        query.into_inner(),
        StatusCode::OK,
        None,
    )
    .await
}

async fn gallery_page(
    state: &AppState,
    session: &Session,
    current: &CurrentUser,
    query: GalleryQuery,
    status: StatusCode,
    folder_error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let page = page_number(query.page.as_deref());
    let folder_slug = query.folder.filter(|f| !f.is_empty());
    let tag = query
        .tag
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty());
    let user_id = current.user.id;
    let pages::GalleryData {
        summary,
        listing,
        folder,
    } = {
        let (folder_slug, tag) = (folder_slug.clone(), tag.clone());
        let window = ((page - 1) * PER_PAGE, PER_PAGE);
        let summaries = state.summaries.clone();
        state
            .db
            .run(move |conn| {
                pages::gallery(
                    conn,
                    &summaries,
                    user_id,
                    folder_slug.as_deref(),
                    tag,
                    window,
                )
            })
            .await?
    };
    let link = |page: i64| {
        let mut params = Vec::new();
        if let Some(slug) = &folder_slug {
            params.push(format!("folder={}", crate::views::url_encode(slug)));
        }
        if let Some(tag) = &tag {
            params.push(format!("tag={}", crate::views::url_encode(tag)));
        }
        params.push(format!("page={page}"));
        format!("/gallery?{}", params.join("&"))
    };
    let heading = match (&folder, &tag) {
        (Some(folder), Some(tag)) => format!("{} · #{tag}", folder.name),
        (Some(folder), None) => folder.name.clone(),
        (None, Some(tag)) => format!("#{tag}"),
        (None, None) => "All images".to_owned(),
    };
    render(
        status,
        &GalleryPage {
            layout: Layout::new(session, Some(current)),
            heading,
            folders: summary
                .folders
                .iter()
                .map(|f| FolderLink {
                    active: folder_slug.as_deref() == Some(f.slug.as_str()),
                    deletable: !f.is_default(),
                    id: f.id,
                    slug: f.slug.clone(),
                    name: f.name.clone(),
                    count: f.image_count,
                })
                .collect(),
            tags: summary.tags.clone(),
            active_folder: folder_slug.clone().unwrap_or_default(),
            active_tag: tag.clone().unwrap_or_default(),
            cards: listing.items.iter().map(Card::owned).collect(),
            total: listing.total,
            pager: Pager::new(page, listing.total, PER_PAGE, link),
            folder_error,
        },
    )
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
    form: web::Form<FolderForm>,
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
            .run(move |conn| {
                Folder::ensure_default(conn, user_id)?;
                Ok::<_, AppError>(Folder::create(conn, user_id, &slug, &name)?)
            })
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

async fn delete_folder(
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (user_id, id) = (current.user.id, id.into_inner());
    let result = state
        .db
        .run(move |conn| Folder::delete_if_empty(conn, user_id, id))
        .await?;
    match result {
        Ok(folder) => {
            if let Ok(username) = crate::domain::Username::parse(&current.user.username) {
                state
                    .library
                    .storage
                    .remove_empty_folder(&username, &folder.slug());
            }
            Flash::success(&session, format!("Folder “{}” deleted.", folder.name));
            Ok(see_other("/gallery"))
        }
        Err(FolderDeleteRefusal::NotFound) => Err(AppError::NotFound),
        Err(refusal) => {
            let message = match refusal {
                FolderDeleteRefusal::IsDefault => {
                    "The default folder cannot be deleted.".to_owned()
                }
                FolderDeleteRefusal::NotEmpty(n) => format!(
                    "This folder still holds {n} image{}. Move or delete them first.",
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
