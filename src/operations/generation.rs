//! Ordering pictures and clips: the rules an order must meet (prompt, count, size, seed,
//! story, video length), and
//! queueing it: storage room, the charge (credits, a free image or an anonymous use) and the
//! job row in one transaction, so a refusal writes nothing. Also the images a finished job
//! made, in its order.

use diesel::{Connection, PgConnection};
use ipnetwork::IpNetwork;

use crate::base::error::AppError;
use crate::db::models::job::{self, ImageParams, Job, NewJob};
use crate::db::models::{Folder, Image, PlacedImage, User};
use crate::domain::JobKind;
use crate::services::generate::{SIZES, parse_size, story, video};
use crate::services::quota::charge::{self, Requester, Rules};
use crate::services::quota::limits::{Action, RecentRefusals, Standing};
use crate::services::quota::storage::{self, UploadLimits};

/// Longest prompt accepted, in characters.
const MAX_PROMPT_CHARS: usize = 1000;
/// A checked generation request.
pub struct Order {
    pub kind: JobKind,
    pub prompt: String,
    pub count: u32,
    pub size: (u32, u32),
    /// Stories: the scenes (one image each) and the folder to create for them.
    pub scenes: Vec<String>,
    pub folder_name: Option<String>,
    /// A folder of the orderer's (by slug, made if missing) the pictures go in: `api` for
    /// the OpenAI-compatible API.
    pub folder: Option<String>,
    /// Prompt edits: the source image and its folder.
    pub source: Option<(i64, String)>,
    /// The seed asked for; `None` draws one.
    pub seed: Option<u64>,
    /// The provider asked for (checked by [`check_provider`]); `None`: the default.
    pub provider: Option<String>,
    /// Videos: how long the clip runs.
    pub seconds: Option<u32>,
}

impl Order {
    /// The limit an anonymous order counts against.
    pub fn action(&self) -> Action {
        match self.kind {
            JobKind::Story => Action::Story,
            JobKind::Video => Action::Video,
            // Tagging is never ordered through here; it would count as a picture.
            JobKind::Image | JobKind::Edit | JobKind::Tag => Action::Generate,
        }
    }
}

/// An optional provider name, one of `offered` (the default first).
pub fn check_provider(raw: Option<&str>, offered: &[&str]) -> Result<Option<String>, String> {
    match raw.map(str::trim).filter(|name| !name.is_empty()) {
        None => Ok(None),
        Some(name) if offered.contains(&name) => Ok(Some(name.to_owned())),
        Some(_) => Err(format!("The provider is one of {}.", offered.join(", "))),
    }
}

/// Seeds are whole numbers from 0 to 2^53 − 1, so that JavaScript and JSON tools, which
/// hold numbers as doubles, carry them exactly.
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// An optional seed as typed in a form or sent in JSON.
pub fn check_seed(raw: Option<&str>) -> Result<Option<u64>, String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|seed| *seed <= MAX_SEED)
            .map(Some)
            .ok_or_else(|| format!("The seed is a whole number from 0 to {MAX_SEED}.")),
    }
}

/// A seed drawn from the OS random generator, in the range [`check_seed`] accepts.
pub fn random_seed() -> Result<u64, AppError> {
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(AppError::internal)?;
    Ok(u64::from_be_bytes(seed) & MAX_SEED)
}

/// A checked story: its scenes become one job, saved in a new folder named after it.
pub fn check_story(text: &str) -> Result<Order, String> {
    let text = text.trim();
    if text.chars().count() > 4000 {
        return Err("Stories are at most 4000 characters.".into());
    }
    let scenes = story::split_scenes(text)?;
    Ok(Order {
        kind: JobKind::Story,
        prompt: text.to_owned(),
        count: u32::try_from(scenes.len()).unwrap_or(u32::MAX),
        size: SIZES[0],
        folder_name: Some(story::folder_name(&scenes)),
        folder: None,
        scenes,
        source: None,
        seed: None,
        provider: None,
        seconds: None,
    })
}

/// A checked video order: prompt, length (2–8 s, default 4), size and seed.
pub fn check_video_order(
    prompt: &str,
    seconds: Option<&str>,
    size: Option<&str>,
    seed: Option<&str>,
) -> Result<Order, String> {
    let mut order = check_order(prompt, None, size, seed)?;
    let (min, max) = (video::SECONDS.start(), video::SECONDS.end());
    let seconds = match seconds.map(str::trim).filter(|s| !s.is_empty()) {
        None => video::DEFAULT_SECONDS,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|s| video::SECONDS.contains(s))
            .ok_or_else(|| {
                format!("A video lasts a whole number of seconds from {min} to {max}.")
            })?,
    };
    order.kind = JobKind::Video;
    order.seconds = Some(seconds);
    Ok(order)
}

pub fn check_order(
    prompt: &str,
    count: Option<&str>,
    size: Option<&str>,
    seed: Option<&str>,
) -> Result<Order, String> {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return Err("Describe the picture you want (the prompt is empty).".into());
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(format!(
            "Prompts are at most {MAX_PROMPT_CHARS} characters."
        ));
    }
    let count = match count.map(str::trim).filter(|c| !c.is_empty()) {
        None => 1,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=4).contains(n))
            .ok_or("Count must be a number from 1 to 4.")?,
    };
    let size = match size.map(str::trim).filter(|s| !s.is_empty()) {
        None => SIZES[0],
        Some(raw) => parse_size(raw).ok_or("Size must be one of 512x512, 768x512 or 512x768.")?,
    };
    let seed = check_seed(seed)?;
    Ok(Order {
        kind: JobKind::Image,
        prompt: prompt.to_owned(),
        count,
        size,
        scenes: Vec::new(),
        folder_name: None,
        folder: None,
        source: None,
        seed,
        provider: None,
        seconds: None,
    })
}

/// What an anonymous visitor may not order, checked before the database is asked: more
/// than one image at a time, or anything while a recent refusal of this network stands
/// (remembered in `refusals`, so a flood costs no query).
pub fn refuse_anonymous_early(
    order: &Order,
    rules: &Rules,
    refusals: &RecentRefusals,
    client_ip: IpNetwork,
) -> Result<(), AppError> {
    if order.count > 1 && order.kind == JobKind::Image {
        return Err(AppError::BadRequest(
            "Without an account, images are made one at a time. Log in to make several at once."
                .into(),
        ));
    }
    let action = order.action();
    match refusals.check(rules.key(client_ip), action) {
        Some(exceeded) => Err(charge::Refusal::LimitReached {
            action,
            limit: exceeded.limit,
            window: rules.window,
            retry_after_secs: exceeded.retry_after_secs,
        }
        .into()),
        None => Ok(()),
    }
}

/// A checked order and who places it, ready to queue.
pub struct QueueOrder {
    /// The signed-in orderer, or `None` with `anon_id` for an anonymous visitor.
    pub user: Option<User>,
    pub anon_id: Option<String>,
    pub client_ip: IpNetwork,
    pub order: Order,
    pub seed: u64,
    pub storage: UploadLimits,
}

/// Checks room and the charge and queues the job, in one transaction. A refusal of an
/// anonymous limit is also remembered in `refusals` so floods cost no query.
pub fn queue_order(
    conn: &mut PgConnection,
    rules: &Rules,
    refusals: &RecentRefusals,
    queued: QueueOrder,
) -> Result<(Job, Option<Standing>), AppError> {
    let QueueOrder {
        user,
        anon_id,
        client_ip,
        order,
        seed,
        storage: upload_limits,
    } = queued;
    let action = order.action();
    let key = rules.key(client_ip);
    conn.transaction(|conn| {
        let user_id = user.as_ref().map(|user| user.id);
        let owner_key = match (user_id, &anon_id) {
            (Some(id), _) => format!("user:{id}"),
            (None, Some(anon)) => format!("anon:{anon}"),
            (None, None) => return Err(AppError::LoginRequired),
        };
        if let Some(user_id) = user_id {
            storage::check_room(conn, user_id, upload_limits)?;
        }
        // Charge first: a refusal rolls back before anything else is written.
        let job_id = job::next_id(conn)?;
        let requester = match &user {
            Some(user) => Requester::User(user),
            None => Requester::Anonymous,
        };
        let granted = match charge::reserve(
            conn,
            rules,
            requester,
            client_ip,
            action,
            order.count,
            Some(job_id),
        )? {
            Ok(granted) => granted,
            Err(refusal) => {
                if let Some(exceeded) = refusal.exceeded() {
                    refusals.remember(key, action, exceeded);
                }
                return Err(refusal.into());
            }
        };
        let folder = match (&order.folder_name, &order.source, user_id, &anon_id) {
            (_, _, None, Some(anon_id)) => Some(anon_id.clone()),
            (Some(name), _, Some(user_id), _) => {
                Some(Folder::create_unique(conn, user_id, name)?.slug)
            }
            (None, Some((_, folder)), _, _) => Some(folder.clone()),
            (None, None, Some(user_id), _) => match &order.folder {
                Some(slug) => Some(Folder::find_or_create(conn, user_id, slug, slug)?.slug),
                None => None,
            },
            _ => None,
        };
        let mut params = serde_json::to_value(ImageParams {
            count: order.count,
            width: order.size.0,
            height: order.size.1,
            seed,
            scenes: order.scenes,
            folder,
            source_image_id: order.source.as_ref().map(|(id, _)| *id),
            provider: order.provider,
            seconds: order.seconds,
        })
        .map_err(AppError::internal)?;
        params["charge"] = serde_json::to_value(granted.reservation).map_err(AppError::internal)?;
        let job = job::enqueue(
            conn,
            &NewJob {
                id: Some(job_id),
                user_id,
                owner_key: &owner_key,
                kind: order.kind,
                prompt: &order.prompt,
                params,
                client_ip: Some(client_ip),
                anon_id: anon_id.as_deref(),
            },
        )?;
        Ok((job, granted.standing))
    })
}

/// The images a job stored, in the job's order (deleted ones and those in the trash
/// skipped).
pub fn job_images(conn: &mut PgConnection, job: &Job) -> Result<Vec<PlacedImage>, AppError> {
    let mut placed = Image::placed_by_ids(conn, &job.image_ids)?;
    placed.retain(|image| !image.image.is_trashed());
    placed.sort_by_key(|image| job.image_ids.iter().position(|id| *id == image.image.id));
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::check_order;

    #[test]
    fn orders_are_checked() {
        assert!(check_order("a fox", None, None, None).is_ok());
        assert_eq!(
            check_order("a fox", Some("4"), Some("768x512"), Some("42"))
                .map(|o| (o.count, o.size, o.seed)),
            Ok((4, (768, 512), Some(42)))
        );
        assert_eq!(
            check_order("a fox", None, None, Some("9007199254740991")).map(|o| o.seed),
            Ok(Some(super::MAX_SEED))
        );
        for seed in ["-1", "9007199254740992", "1.5", "seven"] {
            assert!(
                check_order("a fox", None, None, Some(seed)).is_err(),
                "{seed}"
            );
        }
        for (prompt, count, size) in [
            ("", None, None),
            ("  ", None, None),
            ("x", Some("5"), None),
            ("x", Some("0"), None),
            ("x", Some("two"), None),
            ("x", None, Some("4096x4096")),
        ] {
            assert!(
                check_order(prompt, count, size, None).is_err(),
                "{prompt:?} {count:?} {size:?}"
            );
        }
        assert!(check_order(&"x".repeat(1001), None, None, None).is_err());
    }

    #[test]
    fn video_orders_are_checked() {
        use super::check_video_order;
        let order = check_video_order("waves", None, None, None).expect("defaults");
        assert_eq!(
            (order.seconds, order.count, order.size),
            (Some(4), 1, (512, 512))
        );
        assert_eq!(
            check_video_order("waves", Some("8"), Some("768x512"), Some("3"))
                .map(|o| (o.seconds, o.size, o.seed)),
            Ok((Some(8), (768, 512), Some(3)))
        );
        for seconds in ["1", "9", "0", "-4", "4.5", "four"] {
            assert!(
                check_video_order("waves", Some(seconds), None, None).is_err(),
                "{seconds}"
            );
        }
        assert!(check_video_order("", None, None, None).is_err());
    }
}
