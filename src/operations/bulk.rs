//! Gallery bulk actions: one action over the images a user ticked. Only the user's own
//! images are touched (other ids are skipped, as if they did not exist); each image is
//! changed through the library as its own page would change it, so files and rows move
//! together and a failure part-way leaves every image whole.

use diesel::{Connection, PgConnection};
use ipnetwork::IpNetwork;

use crate::base::error::AppError;
use crate::db::models::{Folder, Image, PlacedImage, User, listing};
use crate::domain::{ShareChoice, parse_tags};
use crate::services::library::Library;
use crate::services::tagging::Tagger;

/// At most this many images per bulk action (a gallery page holds 24).
pub const MAX_BULK: usize = 100;

/// What to do to every ticked image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkAction {
    /// Into the user's folder with this slug.
    Move(String),
    /// Add these tags (already parsed).
    Tag(Vec<String>),
    Delete,
    /// An unlisted link each.
    Share,
    Unshare,
    Favourite(bool),
    /// A tagging job each (SPEC §14).
    SuggestTags,
}

/// Who acts, from where, with which services.
pub struct Actor<'a> {
    pub library: &'a Library,
    pub tagger: &'a Tagger,
    pub owner: &'a User,
    pub client_ip: IpNetwork,
}

impl BulkAction {
    /// From the form's `action` with its `folder` or `tags`.
    pub fn parse(action: &str, folder: &str, tags: &str) -> Result<Self, String> {
        Ok(match action.trim() {
            "move" if folder.trim().is_empty() => {
                return Err("Choose the folder to move them to.".into());
            }
            "move" => BulkAction::Move(folder.trim().to_owned()),
            "tag" => {
                let tags = parse_tags(tags)?;
                if tags.is_empty() {
                    return Err("Type the tags to add, separated by commas.".into());
                }
                BulkAction::Tag(tags)
            }
            "delete" => BulkAction::Delete,
            "share" => BulkAction::Share,
            "unshare" => BulkAction::Unshare,
            "favourite" => BulkAction::Favourite(true),
            "unfavourite" => BulkAction::Favourite(false),
            "suggest-tags" => BulkAction::SuggestTags,
            "" => return Err("Choose what to do with the selected images.".into()),
            _ => return Err("That is not something the gallery can do to images.".into()),
        })
    }
}

/// What a bulk action did: the images it touched and, for `Share`, each one's new token.
pub struct BulkOutcome {
    pub done: Vec<PlacedImage>,
    pub tokens: Vec<String>,
    /// Images left as they were: their merged tags would break the tag rules (more than
    /// 20), or their suggestions would cost more credits than are left.
    pub refused: usize,
    /// The folder images were moved to.
    pub folder: Option<Folder>,
}

/// What one image's action came to.
enum Applied {
    /// Done; a `Share` made this token.
    Done(Option<String>),
    /// Left as it was (tags over the limit, or no credits for its suggestions).
    Refused,
}

/// `action` on one locked, current image.
fn apply(
    conn: &mut PgConnection,
    actor: &Actor<'_>,
    placed: &PlacedImage,
    action: &BulkAction,
    outcome: &BulkOutcome,
) -> Result<Applied, AppError> {
    let (library, user_id) = (actor.library, actor.owner.id);
    let image = &placed.image;
    match action {
        BulkAction::Move(_) => {
            if let Some(folder) = &outcome.folder {
                library.update(conn, placed, folder, &image.title, &image.tags)?;
            }
        }
        BulkAction::Tag(tags) => {
            let merged: Vec<&str> = image.tags.iter().chain(tags).map(String::as_str).collect();
            let Ok(merged) = parse_tags(&merged.join(",")) else {
                return Ok(Applied::Refused);
            };
            let folder = Folder::find_by_id(conn, image.folder_id)?;
            library.update(conn, placed, &folder, &image.title, &merged)?;
        }
        BulkAction::Delete => Image::trash(conn, image.id)?,
        BulkAction::Share => {
            let (token, _) = library.share(conn, image.id, ShareChoice::default())?;
            return Ok(Applied::Done(Some(token)));
        }
        BulkAction::Unshare => Image::clear_share(conn, image.id)?,
        BulkAction::Favourite(starred) => {
            listing::set_favourite(conn, user_id, image.id, *starred)?;
        }
        BulkAction::SuggestTags => {
            let asked =
                super::tagging::request(conn, actor.tagger, actor.owner, image.id, actor.client_ip);
            match asked {
                Ok(_) => {}
                Err(AppError::PaymentRequired(_)) => return Ok(Applied::Refused),
                Err(err) => return Err(err),
            }
        }
    }
    Ok(Applied::Done(None))
}

/// Runs `action` over the owner's images among `ids`.
pub fn run(
    conn: &mut PgConnection,
    actor: &Actor<'_>,
    ids: &[i64],
    action: &BulkAction,
) -> Result<BulkOutcome, AppError> {
    let (library, user_id) = (actor.library, actor.owner.id);
    if *action == BulkAction::SuggestTags {
        super::tagging::check(actor.tagger, actor.owner)?;
    }
    let mut images = Image::placed_by_ids(conn, ids)?;
    images.retain(|placed| placed.image.user_id == user_id && !placed.image.is_trashed());
    images.sort_by_key(|placed| std::cmp::Reverse(placed.image.id));
    let mut outcome = BulkOutcome {
        done: Vec::new(),
        tokens: Vec::new(),
        refused: 0,
        folder: None,
    };
    if let BulkAction::Move(slug) = action {
        let folder = Folder::find_by_slug(conn, user_id, slug)?
            .ok_or_else(|| AppError::BadRequest("That folder does not exist.".into()))?;
        outcome.folder = Some(folder);
    }
    for listed in images {
        // Each image on its own, on its row as it is now (locked): an image another
        // request deleted meanwhile is skipped, as if it had not been ticked.
        let result = conn.transaction(|conn| {
            let placed = library.locked(conn, listed.image.id)?;
            if placed.image.is_trashed() {
                // Deleted by a request that ran meanwhile: it is not there to act on.
                return Err(AppError::NotFound);
            }
            let applied = apply(conn, actor, &placed, action, &outcome)?;
            Ok::<_, AppError>((placed, applied))
        });
        match result {
            Ok((placed, Applied::Done(token))) => {
                outcome.tokens.extend(token);
                outcome.done.push(placed);
            }
            Ok((_, Applied::Refused)) => outcome.refused += 1,
            Err(AppError::NotFound) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(outcome)
}
