//! Who may join and getting back in (SPEC §3): the registration mode and invites,
//! resetting a password (by an admin, by the CLI, or with a one-time link, mailed on
//! request when mail is on), and confirming addresses. Every reset ends the account's
//! sessions and API tokens in one transaction (with its audit row when an admin or the
//! command line did it), and the account is told on its next sign-in when someone else
//! did it.

use chrono::{Duration, Utc};
use diesel::{Connection, PgConnection};

use crate::base::config::Registration;
use crate::base::error::AppError;
use crate::db::models::audit::{self, Actor};
use crate::db::models::invite::{self, Invite};
use crate::db::models::login_failure::{self, Throttled};
use crate::db::models::{SessionRow, User, api_token, email_verification, password_reset};
use crate::domain::tokens;
use crate::services::mail::{self, Mailer};

use super::letters;
use super::login::FailureLimit;

/// How long a reset link works.
pub const RESET_LINK_HOURS: i64 = 1;
/// The longest an invite may be made to last.
pub const MAX_INVITE_DAYS: i64 = 90;

/// Who is asking to join: under `invite`, with which invite token.
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    pub mode: Registration,
    pub invite: Option<&'a str>,
}

/// Checks the admission for `email` inside the registration's transaction; the open
/// invite it uses (locked), if any. Refusals are 403 with a sentence.
pub fn admit(
    conn: &mut PgConnection,
    admission: Admission<'_>,
    email: &str,
) -> Result<Option<Invite>, AppError> {
    match (admission.mode, admission.invite_token()?) {
        (Registration::Invite, Some(token)) => {
            let found = invite::lock_by_hash(conn, &tokens::digest(token))?;
            let Some(found) = found.filter(Invite::is_open) else {
                return Err(AppError::Forbidden(
                    "This invitation cannot be used: it was used already, withdrawn, or has expired."
                        .into(),
                ));
            };
            if let Some(bound) = &found.email
                && !bound.eq_ignore_ascii_case(email)
            {
                return Err(AppError::Forbidden(
                    "This invitation is for another email address.".into(),
                ));
            }
            Ok(Some(found))
        }
        _ => Ok(None),
    }
}

impl<'a> Admission<'a> {
    /// The refusals that need no database (before a password is hashed): a closed
    /// server, or an invite-only one without an invite. The invite token, if one is
    /// needed.
    pub fn invite_token(&self) -> Result<Option<&'a str>, AppError> {
        match self.mode {
            Registration::Open => Ok(None),
            Registration::Closed => Err(AppError::Forbidden(
                "Registration is closed on this server: ask its administrator for an account."
                    .into(),
            )),
            Registration::Invite => match self.invite.map(str::trim).filter(|t| !t.is_empty()) {
                Some(token) => Ok(Some(token)),
                None => Err(AppError::Forbidden(
                    "Registration here is by invitation: open the invite link you were sent."
                        .into(),
                )),
            },
        }
    }
}

/// Records that `user_id` joined with `invite` (in the registration's transaction).
pub fn invite_used(conn: &mut PgConnection, invite: &Invite, user_id: i64) -> Result<(), AppError> {
    Ok(invite::mark_used(conn, invite.id, user_id)?)
}

/// A new invite, audited; the token for its link (shown once). An invite for an address
/// is also mailed there when mail is on.
pub fn create_invite(
    conn: &mut PgConnection,
    (actor, mailer): (&Actor, Option<&Mailer>),
    email: Option<&str>,
    days: i64,
) -> Result<String, AppError> {
    let token = tokens::random_hex(24).map_err(|err| AppError::internal(anyhow::anyhow!(err)))?;
    let expires = Utc::now() + Duration::days(days.clamp(1, MAX_INVITE_DAYS));
    conn.transaction(|conn| {
        let made = invite::create(conn, &tokens::digest(&token), email, actor.id, expires)?;
        let detail = match email {
            Some(email) => format!("For {email}, valid {days} days."),
            None => format!("For anyone, valid {days} days."),
        };
        audit::record(
            conn,
            actor,
            "create_invite",
            &format!("invite {}", made.id),
            &detail,
        )?;
        if let (Some(mailer), Some(email)) = (mailer, email) {
            mail::enqueue(conn, &letters::invite(mailer, email, &token, days))?;
        }
        Ok::<_, AppError>(())
    })?;
    Ok(token)
}

/// Withdraws an unused invite, audited; `false` when there is no such open invite.
pub fn revoke_invite(conn: &mut PgConnection, actor: &Actor, id: i64) -> Result<bool, AppError> {
    conn.transaction(|conn| {
        let revoked = invite::revoke(conn, id)?;
        if revoked {
            audit::record(conn, actor, "revoke_invite", &format!("invite {id}"), "")?;
        }
        Ok(revoked)
    })
}

/// What a reset ended.
#[derive(Debug, Clone, Copy)]
pub struct Reset {
    pub sessions: usize,
    pub tokens: usize,
}

/// Sets a password (already hashed) and ends every session, API token and other reset
/// link of the account. `notice`: someone else did it, and the next sign-in says so.
fn set_password_everywhere(
    conn: &mut PgConnection,
    user_id: i64,
    hash: &str,
    notice: bool,
) -> diesel::QueryResult<Reset> {
    User::set_password_hash(conn, user_id, hash)?;
    User::set_reset_notice(conn, user_id, notice)?;
    password_reset::retire_all(conn, user_id)?;
    Ok(Reset {
        sessions: SessionRow::revoke_others(conn, user_id, None)?,
        tokens: api_token::revoke_all(conn, user_id)?,
    })
}

/// Who resets: an admin from the web, or the server's operator on the command line.
pub enum Resetter<'a> {
    Admin(&'a Actor),
    CommandLine,
}

impl Resetter<'_> {
    fn audit(
        &self,
        conn: &mut PgConnection,
        action: &str,
        user: &User,
        detail: &str,
    ) -> diesel::QueryResult<()> {
        let target = format!("user {} ({})", user.username, user.id);
        match self {
            Resetter::Admin(actor) => audit::record(conn, actor, action, &target, detail),
            Resetter::CommandLine => audit::record_command_line(conn, action, &target, detail),
        }
    }

    fn id(&self) -> Option<i64> {
        match self {
            Resetter::Admin(actor) => Some(actor.id),
            Resetter::CommandLine => None,
        }
    }
}

/// Sets `user`'s password for them (hashed), ending their sessions and tokens, audited.
pub fn reset_password(
    conn: &mut PgConnection,
    by: &Resetter<'_>,
    user: &User,
    hash: &str,
) -> Result<Reset, AppError> {
    conn.transaction(|conn| {
        let reset = set_password_everywhere(conn, user.id, hash, true)?;
        let detail = format!(
            "New password set; {} sessions and {} API tokens ended.",
            reset.sessions, reset.tokens
        );
        by.audit(conn, "reset_password", user, &detail)?;
        Ok(reset)
    })
}

/// A one-time link for `user` to set a new password (valid [`RESET_LINK_HOURS`]),
/// audited; its token (shown once). The account's sessions and tokens end when it is used.
pub fn make_reset_link(
    conn: &mut PgConnection,
    by: &Resetter<'_>,
    user: &User,
) -> Result<String, AppError> {
    let token = tokens::random_hex(32).map_err(|err| AppError::internal(anyhow::anyhow!(err)))?;
    let expires = Utc::now() + Duration::hours(RESET_LINK_HOURS);
    conn.transaction(|conn| {
        password_reset::create(conn, &tokens::digest(&token), user.id, by.id(), expires)?;
        by.audit(
            conn,
            "reset_link",
            user,
            &format!("Valid {RESET_LINK_HOURS} hour."),
        )?;
        Ok::<_, AppError>(())
    })?;
    Ok(token)
}

/// The account a live reset link is for (the form is shown only for one).
pub fn reset_link_account(conn: &mut PgConnection, token: &str) -> Result<Option<User>, AppError> {
    match password_reset::live_account(conn, &tokens::digest(token))? {
        Some(user_id) => Ok(User::find(conn, user_id)?),
        None => Ok(None),
    }
}

/// Uses a reset link: the new password (hashed) is set and every session, token and
/// other link of the account ends; the account, or `None` when the link is unknown, used
/// or expired (then nothing changed).
pub fn reset_with_link(
    conn: &mut PgConnection,
    token: &str,
    hash: &str,
) -> Result<Option<User>, AppError> {
    conn.transaction(|conn| {
        let Some(user_id) = password_reset::take(conn, &tokens::digest(token))? else {
            return Ok(None);
        };
        set_password_everywhere(conn, user_id, hash, false)?;
        Ok(User::find(conn, user_id)?)
    })
}

/// Signs the user out of every session but `keep`; how many ended.
pub fn sign_out_elsewhere(
    conn: &mut PgConnection,
    user_id: i64,
    keep: Option<i64>,
) -> Result<usize, AppError> {
    Ok(SessionRow::revoke_others(conn, user_id, keep)?)
}

/// How long a verification link works.
pub const VERIFY_LINK_HOURS: i64 = 24;

/// "Forgot your password?": counted like a failed sign-in against the network `ip_key`
/// and the typed address (known or not, so the throttle says nothing about accounts);
/// when `email` is an active account's, a reset link is mailed (queued in this
/// transaction). Whether or not it is, the caller answers the same.
pub fn request_reset_by_mail(
    conn: &mut PgConnection,
    mailer: &Mailer,
    email: &str,
    (ip_key, limit): (ipnetwork::IpNetwork, FailureLimit),
) -> Result<Result<(), Throttled>, AppError> {
    let folded = email.trim().to_lowercase();
    let key = format!("reset:{folded}");
    if let Err(throttled) =
        login_failure::check_and_record(conn, ip_key, &key, limit.failures, limit.window)?
    {
        return Ok(Err(throttled));
    }
    let Some(user) = User::find_by_login(conn, &folded)?.filter(|user| !user.disabled) else {
        return Ok(Ok(()));
    };
    let token = tokens::random_hex(32).map_err(|err| AppError::internal(anyhow::anyhow!(err)))?;
    let expires = Utc::now() + Duration::hours(RESET_LINK_HOURS);
    conn.transaction(|conn| {
        password_reset::create(conn, &tokens::digest(&token), user.id, None, expires)?;
        mail::enqueue(
            conn,
            &letters::reset_link(mailer, &user.email, &user.username, &token),
        )?;
        Ok(Ok(()))
    })
}

/// Queues a link that confirms `user`'s current address (new accounts, changed
/// addresses), in the caller's transaction.
pub fn send_verification(
    conn: &mut PgConnection,
    mailer: &Mailer,
    user: &User,
) -> Result<(), AppError> {
    let token = tokens::random_hex(32).map_err(|err| AppError::internal(anyhow::anyhow!(err)))?;
    let expires = Utc::now() + Duration::hours(VERIFY_LINK_HOURS);
    email_verification::create(conn, &tokens::digest(&token), user.id, &user.email, expires)?;
    mail::enqueue(
        conn,
        &letters::verify(mailer, &user.email, &user.username, &token),
    )?;
    Ok(())
}

/// Uses a verification link: the account's address is confirmed if it is still the one
/// the link was for. The account, or `None` for an unknown, used, expired or outdated link.
pub fn verify_email(conn: &mut PgConnection, token: &str) -> Result<Option<User>, AppError> {
    conn.transaction(|conn| {
        let Some((user_id, email)) = email_verification::take(conn, &tokens::digest(token))? else {
            return Ok(None);
        };
        match User::find(conn, user_id)? {
            Some(user) if user.email == email => {
                User::mark_email_verified(conn, user_id)?;
                Ok(User::find(conn, user_id)?)
            }
            _ => Ok(None),
        }
    })
}
