//! What admins do to networks and accounts. Each action is one transaction with its audit
//! row, so an action is never recorded without happening nor happens unrecorded; a refused
//! part (a credits change the balance cannot cover) rolls the whole action back. Files of
//! deleted images go only after the rows are committed. Changes to blocks, limits and
//! disposable domains make this instance's policy reload at once (others hear the NOTIFY).

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection};
use ipnetwork::IpNetwork;

use crate::base::error::AppError;
use crate::db::models::audit::{self, Actor};
use crate::db::models::{Image, User, ip_activity};
use crate::domain::{Role, Tier};
use crate::services::library::Library;
use crate::services::quota::blocks::{self, OverrideValues};
use crate::services::quota::credits::{self, Entry, Reason};
use crate::services::quota::free;
use crate::services::quota::policy::PolicyCache;

/// Blocks `network` (replacing a live block of exactly it).
pub fn block(
    conn: &mut PgConnection,
    policy: &PolicyCache,
    actor: &Actor,
    network: IpNetwork,
    reason: &str,
    expires_at: Option<DateTime<Utc>>,
    detail: &str,
) -> Result<(), AppError> {
    let done = conn
        .transaction(|conn| {
            blocks::block(conn, network, reason, expires_at, Some(actor.id))?;
            audit::record(conn, actor, "block", &network.to_string(), detail)
        })
        .map_err(AppError::from);
    policy.invalidate();
    done
}

/// Lifts the live block of exactly `network`; how many were lifted (0 or 1).
pub fn unblock(
    conn: &mut PgConnection,
    policy: &PolicyCache,
    actor: &Actor,
    network: IpNetwork,
) -> Result<usize, AppError> {
    let done = conn
        .transaction(|conn| {
            let lifted = blocks::lift(conn, network, Some(actor.id))?;
            if lifted > 0 {
                audit::record(conn, actor, "unblock", &network.to_string(), "")?;
            }
            Ok::<_, diesel::result::Error>(lifted)
        })
        .map_err(AppError::from);
    policy.invalidate();
    done
}

/// Deletes every image (rows, then files) and every job from `network`: (images, jobs).
pub fn delete_everything_from(
    conn: &mut PgConnection,
    library: &Library,
    actor: &Actor,
    network: IpNetwork,
) -> Result<(usize, usize), AppError> {
    let (images, jobs, files) = conn.transaction(|conn| {
        let ids = ip_activity::image_ids_from(conn, network)?;
        let placed = Image::placed_by_ids(conn, &ids)?;
        let mut files = Vec::new();
        for image in &placed {
            files.extend(library.delete_row(conn, image)?);
        }
        let jobs = ip_activity::delete_jobs_from(conn, network)?;
        audit::record(
            conn,
            actor,
            "delete_everything",
            &network.to_string(),
            &format!(
                "{} images and {jobs} generation records deleted.",
                placed.len()
            ),
        )?;
        Ok::<_, AppError>((placed.len(), jobs, files))
    })?;
    library.remove_files(&files);
    Ok((images, jobs))
}

/// What a limits form asks for: every value of the override, or one action's.
pub enum LimitChange {
    All(OverrideValues),
    One(fn(&mut OverrideValues) -> &mut Option<u32>, u32),
}

/// Sets (or replaces) the override of `network`; one action's limit keeps the others the
/// network's override already had. Returns the values now in force.
pub fn set_limits(
    conn: &mut PgConnection,
    policy: &PolicyCache,
    actor: &Actor,
    network: IpNetwork,
    change: LimitChange,
    reason: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<OverrideValues, AppError> {
    let done = conn
        .transaction(|conn| {
            let values = match change {
                LimitChange::All(values) => values,
                LimitChange::One(field, limit) => {
                    let mut values = blocks::override_of(conn, network)?
                        .map(|over| OverrideValues::of(&over))
                        .unwrap_or_default();
                    *field(&mut values) = Some(limit);
                    values
                }
            };
            blocks::set_override(conn, network, &values, reason, expires_at, Some(actor.id))?;
            let mut detail = format!("Limits: {}.", values.describe());
            if !reason.is_empty() {
                detail.push_str(&format!(" Reason: {reason}"));
            }
            audit::record(conn, actor, "set_limits", &network.to_string(), &detail)?;
            Ok::<_, diesel::result::Error>(values)
        })
        .map_err(AppError::from);
    policy.invalidate();
    done
}

/// Removes the override of exactly `network`; how many went (0 or 1).
pub fn remove_limits(
    conn: &mut PgConnection,
    policy: &PolicyCache,
    actor: &Actor,
    network: IpNetwork,
) -> Result<usize, AppError> {
    let done = conn
        .transaction(|conn| {
            let removed = blocks::remove_override(conn, network)?;
            if removed > 0 {
                audit::record(conn, actor, "remove_limits", &network.to_string(), "")?;
            }
            Ok::<_, diesel::result::Error>(removed)
        })
        .map_err(AppError::from);
    policy.invalidate();
    done
}

/// Counts `domain` (and everything under it) as disposable for free images.
pub fn add_disposable_domain(
    conn: &mut PgConnection,
    policy: &PolicyCache,
    actor: &Actor,
    domain: &str,
) -> Result<(), AppError> {
    let done = conn
        .transaction(|conn| {
            free::add_disposable_domain(conn, domain, Some(actor.id))?;
            audit::record(conn, actor, "add_disposable_domain", domain, "")
        })
        .map_err(AppError::from);
    policy.invalidate();
    done
}

/// A change to an account's standing, checked by the caller.
pub struct StandingChange {
    pub tier: Tier,
    pub role: Role,
    pub disabled: bool,
    pub credits_delta: i64,
    /// The ledger note for a credits change.
    pub reason: String,
}

/// Applies `change` to `user`: the standing, the credits (with a ledger row) and an audit
/// row per change, all or nothing. Returns the audited (action, detail) pairs.
pub fn update_user(
    conn: &mut PgConnection,
    actor: &Actor,
    user: &User,
    change: &StandingChange,
) -> Result<Vec<(&'static str, String)>, AppError> {
    let mut changes = Vec::new();
    if change.tier != user.tier {
        changes.push(("set_tier", format!("Tier {} → {}.", user.tier, change.tier)));
    }
    if change.role != user.role {
        changes.push(("set_role", format!("Role {} → {}.", user.role, change.role)));
    }
    if change.disabled != user.disabled {
        let action = if change.disabled {
            "disable_user"
        } else {
            "enable_user"
        };
        changes.push((action, String::new()));
    }
    let target = format!("user {} ({})", user.username, user.id);
    conn.transaction(|conn| {
        User::set_standing(conn, user.id, change.tier, change.role, change.disabled)?;
        if change.credits_delta != 0 {
            let entry = Entry {
                actor_id: Some(actor.id),
                note: &change.reason,
                ..Entry::default()
            };
            let delta = change.credits_delta;
            let balance =
                credits::add(conn, user.id, delta, Reason::Grant, &entry)?.ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "This account has fewer than {} credits: nothing was changed.",
                        -delta
                    ))
                })?;
            changes.push((
                "grant_credits",
                format!(
                    "Credits {delta:+}, balance {balance}. Reason: {}",
                    change.reason
                ),
            ));
        }
        for (action, detail) in &changes {
            audit::record(conn, actor, action, &target, detail)?;
        }
        Ok::<_, AppError>(())
    })?;
    Ok(changes)
}

/// Deletes a user's account as an admin (audited with the actor); returns how many
/// images went.
pub fn delete_user(
    conn: &mut PgConnection,
    library: &Library,
    actor: &Actor,
    user_id: i64,
) -> Result<usize, AppError> {
    library.delete_account(conn, user_id, Some(actor))
}

/// An audit row for something an admin looked at or exported (a case file, a report).
pub fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    action: &'static str,
    target: &str,
    detail: &str,
) -> Result<(), AppError> {
    Ok(audit::record(conn, actor, action, target, detail)?)
}
