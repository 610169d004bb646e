//! Tag suggestions from the owner's side (SPEC §14): asking for them (a `tag` job in the
//! queue), accepting some into the image's tags, dismissing the rest, and the consent a
//! remote tagger needs. Callers have already found the image to be the current user's;
//! accepting locks the row and looks again.

use diesel::{Connection, PgConnection};
use ipnetwork::IpNetwork;

use crate::base::error::AppError;
use crate::db::models::job::{self, Job};
use crate::db::models::tag_suggestion;
use crate::db::models::{Image, User};
use crate::domain::MAX_TAGS;
use crate::services::library::Library;
use crate::services::quota::charge::Reservation;
use crate::services::quota::credits::{self, Entry};
use crate::services::tagging::Tagger;

/// Which suggestions an accept or dismiss names.
pub enum Chosen {
    All,
    Tags(Vec<String>),
}

/// Queues a tagging job for the owner's image, charging what it costs (in the same
/// transaction; refunded if the job fails); a refusal the owner can act on when the
/// server has no tagger, the remote one lacks their consent, or the credits run short.
pub fn request(
    conn: &mut PgConnection,
    tagger: &Tagger,
    owner: &User,
    image_id: i64,
    client_ip: IpNetwork,
) -> Result<Job, AppError> {
    conn.transaction(|conn| {
        check(tagger, owner)?;
        let cost = tagger.credits();
        if cost == 0 {
            return Ok(Tagger::enqueue(
                conn,
                owner,
                image_id,
                Some(client_ip),
                None,
            )?);
        }
        let id = job::next_id(conn)?;
        let entry = Entry {
            job_id: Some(id),
            actor_id: None,
            note: "tag suggestions",
        };
        if credits::charge(conn, owner.id, cost, &entry)?.is_none() {
            return Err(AppError::PaymentRequired(format!(
                "Tag suggestions cost {cost} credit{} a picture, and your credits have run out.",
                if cost == 1 { "" } else { "s" }
            )));
        }
        let charge = serde_json::to_value(Reservation {
            credits: cost,
            ..Reservation::default()
        })
        .map_err(AppError::internal)?;
        Ok(Tagger::enqueue(
            conn,
            owner,
            image_id,
            Some(client_ip),
            Some((id, charge)),
        )?)
    })
}

/// Whether the tagger may be asked about the owner's pictures at all, as a refusal in
/// words.
pub fn check(tagger: &Tagger, owner: &User) -> Result<(), AppError> {
    if tagger.is_off() {
        return Err(AppError::BadRequest(
            "Tag suggestions are turned off on this server.".into(),
        ));
    }
    if !tagger.may_tag(owner) {
        return Err(AppError::BadRequest(
            "Turn on tag suggestions in your account first: they send your pictures to another server."
                .into(),
        ));
    }
    Ok(())
}

/// Adds the chosen suggestions to the image's tags and drops them from the suggestions,
/// in one transaction under the image's row lock. The inner error is a refusal in words
/// (too many tags); the accepted tags otherwise.
pub fn accept(
    conn: &mut PgConnection,
    library: &Library,
    (owner_id, image_id): (i64, i64),
    chosen: Chosen,
) -> Result<Result<Vec<String>, String>, AppError> {
    conn.transaction(|conn| {
        let placed = library.locked(conn, image_id)?;
        if placed.image.user_id != owner_id {
            return Err(AppError::NotFound);
        }
        let offered = tag_suggestion::for_image(conn, image_id)?;
        let picked: Vec<String> = offered
            .into_iter()
            .map(|suggestion| suggestion.tag)
            .filter(|tag| match &chosen {
                Chosen::All => true,
                Chosen::Tags(tags) => tags.contains(tag),
            })
            .collect();
        let mut tags = placed.image.tags.clone();
        for tag in &picked {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        if tags.len() > MAX_TAGS {
            return Ok(Err(format!(
                "At most {MAX_TAGS} tags per image: remove some before accepting more."
            )));
        }
        if !picked.is_empty() {
            Image::set_tags(conn, image_id, &tags)?;
            tag_suggestion::remove(conn, image_id, Some(&picked))?;
        }
        Ok(Ok(picked))
    })
}

/// Drops the chosen suggestions of the owner's image; the tags that went.
pub fn dismiss(
    conn: &mut PgConnection,
    library: &Library,
    (owner_id, image_id): (i64, i64),
    chosen: Chosen,
) -> Result<Vec<String>, AppError> {
    conn.transaction(|conn| {
        if library.locked(conn, image_id)?.image.user_id != owner_id {
            return Err(AppError::NotFound);
        }
        let tags = match &chosen {
            Chosen::All => None,
            Chosen::Tags(tags) => Some(tags.as_slice()),
        };
        Ok(tag_suggestion::remove(conn, image_id, tags)?)
    })
}

/// The owner's consent to a remote tagger, and the language tags are asked in.
pub fn set_preferences(
    conn: &mut PgConnection,
    user_id: i64,
    remote_tagging: bool,
    language: &str,
) -> Result<(), AppError> {
    Ok(User::set_tagging(conn, user_id, remote_tagging, language)?)
}
