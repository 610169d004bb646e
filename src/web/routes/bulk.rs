//! `POST /gallery/bulk`: one action over the images ticked in the gallery (move, tag,
//! delete, share, stop sharing, favourite). Fields: `ids` (repeated), `action`, `folder`
//! (for move), `tags` (for tag) and `back`, the gallery view to return to. Scripts asking
//! for JSON get what was done; a bulk share shows the new links on a page of its own.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::base::error::AppError;
use crate::operations::bulk::{self, BulkAction, MAX_BULK};
use crate::services::quota::ClientIp;
use crate::web::extract::{CurrentUser, FormPairs};
use crate::web::state::AppState;
use crate::web::views::errors::wants_json;
use crate::web::views::{Flash, Layout, display_title, done, render, see_other};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/gallery/bulk", web::post().to(bulk_action));
}

/// The submitted fields; `ids` repeats, so the body is read as pairs.
#[derive(Debug, Default)]
struct BulkForm {
    ids: Vec<i64>,
    action: String,
    folder: String,
    tags: String,
    back: String,
}

fn parse_form(pairs: Vec<(String, String)>) -> Result<BulkForm, AppError> {
    let mut form = BulkForm {
        ids: ticked_ids(&pairs)?,
        ..BulkForm::default()
    };
    for (name, value) in pairs {
        match name.as_str() {
            "action" => form.action = value,
            "folder" => form.folder = value,
            "tags" => form.tags = value,
            "back" => form.back = value,
            _ => {}
        }
    }
    Ok(form)
}

/// The ticked images of a form (`ids`, repeated; `ids[]` as some scripts send it), each
/// once, in order.
pub(super) fn ticked_ids(pairs: &[(String, String)]) -> Result<Vec<i64>, AppError> {
    let mut ids = Vec::new();
    for (_, value) in pairs
        .iter()
        .filter(|(name, _)| name == "ids" || name == "ids[]")
    {
        let id = value
            .trim()
            .parse()
            .map_err(|_| AppError::BadRequest("ids are image numbers.".into()))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Where to go afterwards: the gallery view the form came from, never another site.
fn back_to(raw: &str) -> String {
    let safe =
        (raw == "/gallery" || raw.starts_with("/gallery?")) && !raw.contains(['\\', '\r', '\n']);
    if safe {
        raw.to_owned()
    } else {
        "/gallery".to_owned()
    }
}

#[derive(Template)]
#[template(path = "gallery/links.html")]
struct LinksPage {
    layout: Layout,
    /// (title, share page URL)
    links: Vec<(String, String)>,
    back: String,
}

async fn bulk_action(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    current: CurrentUser,
    ip: ClientIp,
    FormPairs(pairs): FormPairs,
) -> Result<HttpResponse, AppError> {
    let form = parse_form(pairs)?;
    let back = back_to(&form.back);
    let json = wants_json(&req);
    let refuse = |message: String| -> Result<HttpResponse, AppError> {
        if json {
            return Err(AppError::BadRequest(message));
        }
        Flash::error(&session, message);
        Ok(see_other(&back))
    };
    if form.ids.is_empty() {
        return refuse("Tick at least one image first.".into());
    }
    if form.ids.len() > MAX_BULK {
        return refuse(format!("At most {MAX_BULK} images at a time."));
    }
    let action = match BulkAction::parse(&form.action, &form.folder, &form.tags) {
        Ok(action) => action,
        Err(message) => return refuse(message),
    };
    let (library, tagger, owner) = (
        state.library.clone(),
        state.tagger.clone(),
        current.user.clone(),
    );
    let (ids, job) = (form.ids.clone(), action.clone());
    let outcome = match state
        .db
        .run(move |conn| {
            let actor = bulk::Actor {
                library: &library,
                tagger: &tagger,
                owner: &owner,
                client_ip: ip.0.into(),
            };
            bulk::run(conn, &actor, &ids, &job)
        })
        .await
    {
        Ok(outcome) => outcome,
        Err(AppError::BadRequest(message)) => return refuse(message),
        Err(err) => return Err(err),
    };
    for placed in &outcome.done {
        state.media_cache.forget_image(placed.image.id);
    }
    let n = outcome.done.len();
    let images = if n == 1 {
        "1 image".to_owned()
    } else {
        format!("{n} images")
    };
    let mut message = match &action {
        BulkAction::Move(_) => format!(
            "Moved {images} to {}.",
            outcome
                .folder
                .as_ref()
                .map_or("the folder", |f| f.name.as_str())
        ),
        BulkAction::Tag(tags) => format!("Tagged {images} with {}.", tags.join(", ")),
        BulkAction::Delete => format!(
            "Moved {images} to the trash: restore them from there within {} days.",
            state.settings.trash_days
        ),
        BulkAction::Share => format!("Made an unlisted link for {images}."),
        BulkAction::Unshare => format!("Stopped sharing {images}; the old links no longer work."),
        BulkAction::Favourite(true) => format!("Added {images} to favourites."),
        BulkAction::Favourite(false) => format!("Removed {images} from favourites."),
        BulkAction::SuggestTags => {
            state.jobs.job_queued();
            format!("Looking at {images}: their suggested tags appear on each picture's page.")
        }
    };
    if outcome.refused > 0 {
        let (n, were) = match outcome.refused {
            1 => ("1".to_owned(), "was"),
            n => (n.to_string(), "were"),
        };
        message.push_str(&match action {
            BulkAction::SuggestTags => {
                format!(" {n} {were} not asked about: your credits ran out.")
            }
            _ => format!(" {n} would have had more than 20 tags and {were} left as they were."),
        });
    }
    let links: Vec<(String, String)> = outcome
        .done
        .iter()
        .zip(&outcome.tokens)
        .map(|(placed, token)| (display_title(&placed.image), format!("/s/{token}")))
        .collect();
    if action == BulkAction::Share && !json {
        // The new links are the point: shown on a page of their own.
        Flash::success(&session, message);
        return render(
            StatusCode::OK,
            &LinksPage {
                layout: Layout::new(&session, Some(&current)),
                links,
                back,
            },
        );
    }
    let extra = serde_json::json!({
        "ids": outcome.done.iter().map(|p| p.image.id).collect::<Vec<_>>(),
        "share_urls": links.iter().map(|(_, url)| url).collect::<Vec<_>>(),
    });
    Ok(done(&req, &session, &message, &back, extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gallery_views_are_returned_to() {
        assert_eq!(
            back_to("/gallery?folder=a&page=2"),
            "/gallery?folder=a&page=2"
        );
        assert_eq!(back_to("//evil.example"), "/gallery");
        assert_eq!(back_to("/galleryx"), "/gallery");
        assert_eq!(back_to("https://evil.example/gallery"), "/gallery");
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn repeated_ids_are_collected_once() {
        let form = parse_form(pairs(&[
            ("ids", "3"),
            ("ids", "4"),
            ("ids", "3"),
            ("action", "delete"),
        ]))
        .expect("parses");
        assert_eq!(form.ids, vec![3, 4]);
        assert!(parse_form(pairs(&[("ids", "x")])).is_err());
    }
}
