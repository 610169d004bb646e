//! The charge every generation goes through: blocks first, then for
//! anonymous visitors the rolling per-network limit, for signed-in users credits and then a
//! free image. `reserve` runs inside the transaction that queues the job, so a refused
//! request leaves nothing behind and a granted one is recorded with its job; `refund`
//! gives back exactly what was taken, and callers call it only after winning the
//! `running → failed` transition, so it happens once per job.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use ipnetwork::IpNetwork;

use super::blocks::{Block, LimitOverride};
use super::credits::{self, Entry, Reason};
use super::free;
use super::limits::{self, Action, Exceeded, Standing};
use super::policy::{PolicyCache, PolicyView};
use crate::base::config::Settings;
use crate::base::error::AppError;
use crate::db::Db;
use crate::db::models::User;
use crate::db::schema::free_image_allowances;
use crate::domain::Tier;
use crate::services::quota::{ClientIp, limit_key};

/// The quota settings, read once from [`Settings`], and the admins' exceptions to them.
#[derive(Clone)]
pub struct Rules {
    anon_generate: u32,
    anon_story: u32,
    anon_video: u32,
    pub window: Duration,
    pub credits_per_image: i64,
    pub credits_per_video: i64,
    free_standard: u32,
    free_plus: u32,
    free_min_age: Duration,
    /// `ATELIER_REQUIRE_VERIFIED_EMAIL`: an unconfirmed address gets no free images.
    free_needs_verified_email: bool,
    ipv6_prefix: u8,
    /// Blocks, overrides and added disposable domains, in memory.
    pub policy: PolicyCache,
}

impl Rules {
    pub fn from_settings(settings: &Settings) -> Self {
        let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        Rules {
            anon_generate: settings.anon_generate_limit,
            anon_story: settings.anon_story_limit,
            anon_video: settings.anon_video_limit,
            window: secs(settings.anon_window_secs),
            credits_per_image: i64::from(settings.credits_per_image),
            credits_per_video: i64::from(settings.credits_per_video),
            free_standard: settings.free_images_standard,
            free_plus: settings.free_images_plus,
            free_min_age: secs(settings.free_min_account_age_secs),
            free_needs_verified_email: settings.require_verified_email,
            ipv6_prefix: settings.ipv6_limit_prefix,
            policy: PolicyCache::default(),
        }
    }

    /// The key limits on `ip` are counted under (IPv6 grouped by prefix).
    pub fn key(&self, ip: IpNetwork) -> IpNetwork {
        limit_key(ip.ip(), self.ipv6_prefix)
    }

    fn anon_limit(&self, action: Action, over: Option<&LimitOverride>) -> u32 {
        let (default, overridden) = match action {
            Action::Generate => (self.anon_generate, over.and_then(|o| o.anon_generate)),
            Action::Story => (self.anon_story, over.and_then(|o| o.anon_story)),
            Action::Video => (self.anon_video, over.and_then(|o| o.anon_video)),
        };
        overridden.map_or(default, |limit| u32::try_from(limit).unwrap_or(0))
    }

    fn free_max(&self, user: &User, over: Option<&LimitOverride>) -> u32 {
        match over.and_then(|o| o.free_images) {
            Some(max) => u32::try_from(max).unwrap_or(0),
            None if user.tier == Tier::Plus => self.free_plus,
            None => self.free_standard,
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub enum Requester<'a> {
    User(&'a User),
    Anonymous,
}

/// What a job holds until it finishes; kept in the job's `params.charge`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reservation {
    #[serde(default)]
    pub credits: i64,
    /// The network whose free image was taken.
    #[serde(default)]
    pub free_image: Option<IpNetwork>,
    /// The anonymous use that was counted.
    #[serde(default)]
    pub usage_event: Option<i64>,
}

impl Reservation {
    /// What was reserved for `job` (nothing for jobs older than the charge).
    pub fn of_job(job: &crate::db::models::job::Job) -> Self {
        job.params
            .get("charge")
            .and_then(|value| serde_json::from_value(value.clone()).ok())
            .unwrap_or_default()
    }

    /// Credits each of `images` images cost.
    pub fn credits_per_image(&self, images: u32) -> i32 {
        i32::try_from(self.credits / i64::from(images.max(1))).unwrap_or(i32::MAX)
    }
}

/// A granted request: what it took, and for anonymous limits where the network now stands
/// (sent back as `RateLimit-*` headers).
#[derive(Debug, Clone, Copy)]
pub struct Granted {
    pub reservation: Reservation,
    pub standing: Option<Standing>,
}

/// Why a request is refused; each becomes an [`AppError`] with a sentence for the user.
#[derive(Debug, Clone)]
pub enum Refusal {
    Blocked(Block),
    /// The anonymous limit for this action is zero: it needs an account.
    SignInRequired,
    LimitReached {
        action: Action,
        limit: u32,
        window: Duration,
        retry_after_secs: u64,
    },
    NeedCredits {
        needed: i64,
        balance: i64,
    },
    /// Videos are paid in credits only, never with free images.
    VideoNeedsCredits {
        needed: i64,
        balance: i64,
    },
    FreeImagesUsedUp {
        max: u32,
        network: IpNetwork,
    },
    AccountTooNew {
        wait_secs: u64,
    },
    DisposableEmail {
        domain: String,
    },
    EmailNotVerified,
}

impl Refusal {
    /// The anonymous limit that was reached, if that is the reason.
    pub fn exceeded(&self) -> Option<Exceeded> {
        match self {
            Refusal::LimitReached {
                limit,
                retry_after_secs,
                ..
            } => Some(Exceeded {
                limit: *limit,
                retry_after_secs: *retry_after_secs,
            }),
            _ => None,
        }
    }
}

impl From<Refusal> for AppError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Blocked(block) => AppError::Forbidden(block.message()),
            // Anonymous stories are off by default: sign in.
            Refusal::SignInRequired => AppError::LoginRequired,
            Refusal::LimitReached {
                action,
                limit,
                window,
                retry_after_secs,
            } => AppError::TooManyRequests {
                message: format!(
                    "You have used the {limit} {} allowed from your network per {}. \
                     The next one frees up in {}. Create a free account to keep going.",
                    action.describe(),
                    human_duration(u64::try_from(window.num_seconds()).unwrap_or(0)),
                    human_duration(retry_after_secs),
                ),
                retry_after_secs,
                limit: Some(u64::from(limit)),
            },
            Refusal::NeedCredits { needed, balance } => AppError::PaymentRequired(format!(
                "This request needs {needed} credit{} and you have {balance}. Free images \
                 are for one image at a time: ask for a single image, or ask an \
                 administrator for credits.",
                plural(needed)
            )),
            Refusal::VideoNeedsCredits { needed, balance } => AppError::PaymentRequired(format!(
                "A video costs {needed} credit{} and you have {balance}. Free images do not \
                 cover videos: ask an administrator for credits.",
                plural(needed)
            )),
            Refusal::FreeImagesUsedUp { max, network } => AppError::PaymentRequired(format!(
                "You have no credits left, and the {max} free image{} for your network \
                 ({network}) {} used up. Ask an administrator for credits.",
                plural(i64::from(max)),
                if max == 1 { "is" } else { "are" }
            )),
            Refusal::AccountTooNew { wait_secs } => AppError::PaymentRequired(format!(
                "You have no credits yet, and free images are available once your account \
                 is a few minutes old. Try again in {}.",
                human_duration(wait_secs)
            )),
            Refusal::DisposableEmail { domain } => AppError::PaymentRequired(format!(
                "You have no credits, and free images are not available to accounts with \
                 a disposable email address ({domain}). Change your email on the Account \
                 page, or ask an administrator for credits."
            )),
            Refusal::EmailNotVerified => AppError::PaymentRequired(
                "You have no credits, and free images need a confirmed email address: \
                 open the link we mailed you (or change your address on the Account page \
                 to get a new one)."
                    .into(),
            ),
        }
    }
}

/// Refuses a blocked client (registration, uploads) with 403.
pub async fn refuse_if_blocked(db: &Db, rules: &Rules, ip: ClientIp) -> Result<(), AppError> {
    let policy = match rules.policy.cached() {
        Some(policy) => policy,
        None => {
            let cache = rules.policy.clone();
            db.run(move |conn| cache.current(conn)).await?
        }
    };
    match policy.block_for(ip.0) {
        Some(block) => Err(Refusal::Blocked(block.clone()).into()),
        None => Ok(()),
    }
}

/// Reserves what `images` images, or one video, cost (or one anonymous `action`). Runs in
/// the caller's transaction; `job_id` goes into the ledger.
pub fn reserve(
    conn: &mut PgConnection,
    rules: &Rules,
    who: Requester<'_>,
    ip: IpNetwork,
    action: Action,
    images: u32,
    job_id: Option<i64>,
) -> QueryResult<Result<Granted, Refusal>> {
    let policy = rules.policy.current(conn)?;
    if let Some(block) = policy.block_for(ip.ip()) {
        return Ok(Err(Refusal::Blocked(block.clone())));
    }
    let over = policy.override_for(ip.ip());
    let key = rules.key(ip);
    let user = match who {
        Requester::Anonymous => {
            let limit = rules.anon_limit(action, over);
            if limit == 0 {
                return Ok(Err(Refusal::SignInRequired));
            }
            return Ok(
                match limits::check_and_count(conn, key, ip, action, limit, rules.window)? {
                    Ok(counted) => Ok(Granted {
                        reservation: Reservation {
                            usage_event: Some(counted.event_id),
                            ..Reservation::default()
                        },
                        standing: Some(counted.standing),
                    }),
                    Err(exceeded) => Err(Refusal::LimitReached {
                        action,
                        limit: exceeded.limit,
                        window: rules.window,
                        retry_after_secs: exceeded.retry_after_secs,
                    }),
                },
            );
        }
        Requester::User(user) => user,
    };
    let cost = match action {
        Action::Video => i64::from(images) * rules.credits_per_video,
        Action::Generate | Action::Story => i64::from(images) * rules.credits_per_image,
    };
    let granted = |reservation| {
        Ok(Ok(Granted {
            reservation,
            standing: None,
        }))
    };
    if cost == 0 {
        return granted(Reservation::default());
    }
    let entry = Entry {
        job_id,
        ..Entry::default()
    };
    if credits::charge(conn, user.id, cost, &entry)?.is_some() {
        return granted(Reservation {
            credits: cost,
            ..Reservation::default()
        });
    }
    if action == Action::Video {
        let balance = current_balance(conn, user.id)?;
        return Ok(Err(Refusal::VideoNeedsCredits {
            needed: cost,
            balance,
        }));
    }
    if images != 1 {
        let balance = current_balance(conn, user.id)?;
        return Ok(Err(Refusal::NeedCredits {
            needed: cost,
            balance,
        }));
    }
    if let Err(refusal) = free_image_eligibility(&policy, rules, user, Utc::now()) {
        return Ok(Err(refusal));
    }
    let max = rules.free_max(user, over);
    if free::take(conn, key, max)? {
        granted(Reservation {
            free_image: Some(key),
            ..Reservation::default()
        })
    } else {
        Ok(Err(Refusal::FreeImagesUsedUp { max, network: key }))
    }
}

/// Standard accounts must be old enough and not use a throwaway address; `plus` accounts
/// are vouched for by the admin who made them so.
fn free_image_eligibility(
    policy: &PolicyView,
    rules: &Rules,
    user: &User,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    if user.tier == Tier::Plus {
        return Ok(());
    }
    let age = now - user.created_at;
    if age < rules.free_min_age {
        let wait = (rules.free_min_age - age).num_milliseconds().max(0);
        return Err(Refusal::AccountTooNew {
            wait_secs: u64::try_from(wait).unwrap_or(0).div_ceil(1000).max(1),
        });
    }
    if policy.is_disposable_email(&user.email) {
        let domain = user.email.rsplit('@').next().unwrap_or_default().to_owned();
        return Err(Refusal::DisposableEmail { domain });
    }
    if rules.free_needs_verified_email && user.email_verified_at.is_none() {
        return Err(Refusal::EmailNotVerified);
    }
    Ok(())
}

fn current_balance(conn: &mut PgConnection, user_id: i64) -> QueryResult<i64> {
    use crate::db::schema::users;
    users::table
        .find(user_id)
        .select(users::credits)
        .first(conn)
}

/// The account's balance and the free images used on `key`, in one statement (every
/// signed-in page that shows what the visitor may still do reads both).
fn balance_and_free_used(
    conn: &mut PgConnection,
    user_id: i64,
    key: IpNetwork,
) -> QueryResult<(i64, u32)> {
    use crate::db::schema::users;
    let (credits, used): (i64, Option<i32>) = users::table
        .find(user_id)
        .select((users::credits, free_used_on(key)))
        .first(conn)?;
    Ok((credits, free::counted(used)))
}

/// The free images used on `key`, as a subquery of a statement about the visitor.
fn free_used_on(
    key: IpNetwork,
) -> diesel::dsl::SingleValue<
    diesel::dsl::Select<
        diesel::dsl::Find<free_image_allowances::table, IpNetwork>,
        free_image_allowances::used,
    >,
> {
    free_image_allowances::table
        .find(key)
        .select(free_image_allowances::used)
        .single_value()
}

/// [`balance_and_free_used`] and the account's
/// [uploads of the last hour](super::storage::uploads_of_last_hour), in one statement: the
/// dashboard shows all three.
fn balance_free_used_and_uploads(
    conn: &mut PgConnection,
    user_id: i64,
    key: IpNetwork,
) -> QueryResult<(i64, u32, u32)> {
    use crate::db::schema::users;
    let uploads = super::storage::uploads_of_last_hour(user_id)
        .select(diesel::dsl::count_star())
        .single_value();
    let (credits, used, uploads): (i64, Option<i32>, Option<i64>) = users::table
        .find(user_id)
        .select((users::credits, free_used_on(key), uploads))
        .first(conn)?;
    let uploads = u32::try_from(uploads.unwrap_or(0)).unwrap_or(u32::MAX);
    Ok((credits, free::counted(used), uploads))
}

/// Gives back a failed job's reservation, exactly once per job (see the module comment).
pub fn refund(
    conn: &mut PgConnection,
    user_id: Option<i64>,
    reservation: Reservation,
    job_id: Option<i64>,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        if reservation.credits > 0 {
            if let Some(user_id) = user_id {
                let entry = Entry {
                    job_id,
                    note: "generation failed",
                    ..Entry::default()
                };
                credits::add(conn, user_id, reservation.credits, Reason::Refund, &entry)?;
            }
        }
        if let Some(key) = reservation.free_image {
            free::give_back(conn, key)?;
        }
        if let Some(event) = reservation.usage_event {
            limits::uncount(conn, event)?;
        }
        Ok(())
    })
}

/// What a visitor may still do, for the dashboard, `/generate` and `GET /api/usage`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Usage {
    /// `None` for anonymous visitors.
    pub credits: Option<i64>,
    pub credits_per_image: i64,
    pub credits_per_video: i64,
    pub network: String,
    pub free_images: FreeImages,
    /// Anonymous generations from this network in the rolling window (`None` when not
    /// asked for: the dashboard of a signed-in user has no use for them).
    pub anonymous: Option<Standing>,
    pub window_secs: i64,
    /// Set when the network is blocked.
    pub blocked: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FreeImages {
    pub allowance: u32,
    pub used: u32,
    pub left: u32,
    /// Why this account cannot use them even when some are left.
    pub unavailable_because: Option<String>,
}

impl Usage {
    /// Whether one more image can be made now (credits, a free image or the anonymous
    /// allowance, on a network that is not blocked). Pages disable Generate otherwise and
    /// say why with [`Usage::next_image_cost`]; the server checks again on every order.
    pub fn can_make_an_image(&self) -> bool {
        if self.blocked.is_some() {
            return false;
        }
        match self.credits {
            None => self.anonymous.is_none_or(|a| a.remaining() > 0),
            Some(credits) => {
                credits >= self.credits_per_image
                    || (self.free_images.left > 0 && self.free_images.unavailable_because.is_none())
            }
        }
    }

    /// What one image would cost now, in words.
    pub fn next_image_cost(&self) -> String {
        if self.blocked.is_some() {
            return "Your network is blocked.".into();
        }
        match self.credits {
            None if self.anonymous.is_some_and(|a| a.remaining() > 0) => {
                let (remaining, limit) = self
                    .anonymous
                    .map_or((0, 0), |anonymous| (anonymous.remaining(), anonymous.limit));
                format!(
                    "Free without an account: {remaining} of {limit} left from your network today."
                )
            }
            None => "The anonymous allowance of your network is used up.".into(),
            Some(credits) if credits >= self.credits_per_image => format!(
                "Each image costs {} credit{}; you have {credits}.",
                self.credits_per_image,
                plural(self.credits_per_image)
            ),
            Some(_)
                if self.free_images.left > 0 && self.free_images.unavailable_because.is_none() =>
            {
                format!(
                    "You have no credits: one image will use a free image ({} of {} left on your network).",
                    self.free_images.left, self.free_images.allowance
                )
            }
            Some(_) => match &self.free_images.unavailable_because {
                Some(reason) => format!("You have no credits, and {reason}"),
                None => "You have no credits and your network's free images are used up.".into(),
            },
        }
    }
}

pub fn usage(
    conn: &mut PgConnection,
    rules: &Rules,
    user: Option<&User>,
    ip: IpNetwork,
    with_anonymous: bool,
) -> QueryResult<Usage> {
    let signed_in = match user {
        Some(user) => {
            let (credits, used) = balance_and_free_used(conn, user.id, rules.key(ip))?;
            Some((user, credits, used))
        }
        None => None,
    };
    usage_given(conn, rules, signed_in, ip, with_anonymous)
}

/// A signed-in user's [`usage`] and their uploads of the last hour, the balance and the
/// uploads read in one statement (the dashboard).
pub fn usage_and_recent_uploads(
    conn: &mut PgConnection,
    rules: &Rules,
    user: &User,
    ip: IpNetwork,
) -> QueryResult<(Usage, u32)> {
    let (credits, used, uploads) = balance_free_used_and_uploads(conn, user.id, rules.key(ip))?;
    let usage = usage_given(conn, rules, Some((user, credits, used)), ip, false)?;
    Ok((usage, uploads))
}

/// [`usage`] once a signed-in visitor's balance and free images used are read
/// (`signed_in`: the user, their credits, the free images used on their network).
fn usage_given(
    conn: &mut PgConnection,
    rules: &Rules,
    signed_in: Option<(&User, i64, u32)>,
    ip: IpNetwork,
    with_anonymous: bool,
) -> QueryResult<Usage> {
    let key = rules.key(ip);
    let policy = rules.policy.current(conn)?;
    let over = policy.override_for(ip.ip());
    let blocked = policy.block_for(ip.ip()).map(Block::message);
    let anon_limit = rules.anon_limit(Action::Generate, over);
    let anonymous = match with_anonymous || signed_in.is_none() {
        true => Some(limits::standing(
            conn,
            key,
            Action::Generate,
            anon_limit,
            rules.window,
        )?),
        false => None,
    };
    let (credits, free_images) = match signed_in {
        Some((user, credits, used)) => {
            let allowance = rules.free_max(user, over);
            let unavailable_because = free_image_eligibility(&policy, rules, user, Utc::now())
                .err()
                .map(|refusal| match refusal {
                    Refusal::AccountTooNew { wait_secs } => format!(
                        "free images unlock when your account is a few minutes old (in {}).",
                        human_duration(wait_secs)
                    ),
                    Refusal::DisposableEmail { domain } => format!(
                        "free images are not available to disposable email addresses ({domain})."
                    ),
                    Refusal::EmailNotVerified => {
                        "free images need a confirmed email address.".to_owned()
                    }
                    _ => "free images are not available to this account.".to_owned(),
                });
            (
                Some(credits),
                FreeImages {
                    allowance,
                    used: used.min(allowance),
                    left: allowance.saturating_sub(used),
                    unavailable_because,
                },
            )
        }
        None => {
            let used = free::used(conn, key)?;
            (
                None,
                FreeImages {
                    allowance: rules.free_standard,
                    used: used.min(rules.free_standard),
                    left: rules.free_standard.saturating_sub(used),
                    unavailable_because: Some("free images are for signed-in users.".into()),
                },
            )
        }
    };
    Ok(Usage {
        credits,
        credits_per_image: rules.credits_per_image,
        credits_per_video: rules.credits_per_video,
        network: key.to_string(),
        free_images,
        anonymous,
        window_secs: rules.window.num_seconds(),
        blocked,
    })
}

fn plural(n: i64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// "45 seconds", "12 minutes", "3 h 20 min".
pub fn human_duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} second{}", if secs == 1 { "" } else { "s" }),
        60..=3599 => {
            let minutes = secs.div_ceil(60);
            format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
        }
        _ => {
            let minutes = secs.div_ceil(60);
            let (hours, minutes) = (minutes / 60, minutes % 60);
            if minutes == 0 {
                format!("{hours} hour{}", if hours == 1 { "" } else { "s" })
            } else {
                format!("{hours} h {minutes} min")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(61), "2 minutes");
        assert_eq!(human_duration(3600), "1 hour");
        assert_eq!(human_duration(86_400), "24 hours");
        assert_eq!(human_duration(5 * 3600 + 12 * 60), "5 h 12 min");
    }
}
