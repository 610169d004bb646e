//! Signing in, around the password check: [`start`] finds the account and counts the
//! attempt against the network's and the account's failure limits before any password is
//! checked (so guesses in parallel cannot slip past the limit), and [`succeed`] clears
//! the account's failures once the password was right. The check itself (bcrypt) runs
//! between the two, on the hashing pool.

use chrono::Duration;
use diesel::{Connection, PgConnection};
use ipnetwork::IpNetwork;

use crate::base::config::Settings;
use crate::base::error::AppError;
use crate::db::models::User;
use crate::db::models::login_failure::{self, Throttled};
use crate::services::mail::{self, Mailer};

use super::letters;

/// How many failures may come from one network or for one account in a window.
#[derive(Debug, Clone, Copy)]
pub struct FailureLimit {
    pub failures: u32,
    pub window: Duration,
}

impl FailureLimit {
    /// `ATELIER_LOGIN_FAILURE_LIMIT` per `ATELIER_LOGIN_FAILURE_WINDOW_SECS`: for
    /// passwords, second-factor codes and reset requests alike.
    pub fn of(settings: &Settings) -> Self {
        FailureLimit {
            failures: settings.login_failure_limit,
            window: Duration::seconds(
                i64::try_from(settings.login_failure_window_secs).unwrap_or(i64::MAX / 1000),
            ),
        }
    }
}

/// An attempt that passed the throttle: the account the name belongs to (if any), and the
/// failure recorded in advance.
pub struct Attempt {
    pub user: Option<User>,
    account_key: String,
    failure_id: i64,
}

/// Looks up `identifier` (a username or an email, lower case) and records the attempt as
/// a failure unless the network `ip_key` or the account is over `limit`.
pub fn start(
    conn: &mut PgConnection,
    identifier: &str,
    ip_key: IpNetwork,
    limit: FailureLimit,
) -> Result<Result<Attempt, Throttled>, AppError> {
    let user = User::find_by_login(conn, identifier)?;
    // Throttle the account, however it is named; unknown names by what was typed.
    let account_key = match &user {
        Some(user) => format!("user:{}", user.id),
        None => format!("name:{identifier}"),
    };
    let recorded =
        login_failure::check_and_record(conn, ip_key, &account_key, limit.failures, limit.window)?;
    Ok(recorded.map(|failure_id| Attempt {
        user,
        account_key,
        failure_id,
    }))
}

/// The password was right: the attempt and the account's earlier failures are forgotten,
/// and with mail on an account without two-factor sign-in is told of the new sign-in
/// (from where, with what). Whether someone else had reset the password since the last
/// sign-in (said once).
pub fn succeed(
    conn: &mut PgConnection,
    attempt: &Attempt,
    user: &User,
    notice: Option<(&Mailer, &str, &str)>,
) -> Result<bool, AppError> {
    conn.transaction(|conn| {
        login_failure::clear_after_success(conn, attempt.failure_id, &attempt.account_key)?;
        if let Some((mailer, from, browser)) = notice
            && user.totp_enabled_at.is_none()
        {
            let told = letters::new_sign_in(mailer, &user.email, &user.username, from, browser);
            mail::enqueue(conn, &told)?;
        }
        Ok(User::take_reset_notice(conn, user.id)?)
    })
}

/// The second factor of a sign-in whose password was right: counted like a failed
/// sign-in against the network and the account until `typed` proves right (then the
/// count is cleared). `Some(reset notice)` when it was right.
pub fn second_step(
    conn: &mut PgConnection,
    user_id: i64,
    typed: &str,
    (ip_key, limit): (IpNetwork, FailureLimit),
) -> Result<Result<Option<bool>, Throttled>, AppError> {
    let account_key = format!("user:{user_id}");
    let failure_id = match login_failure::check_and_record(
        conn,
        ip_key,
        &account_key,
        limit.failures,
        limit.window,
    )? {
        Ok(id) => id,
        Err(throttled) => return Ok(Err(throttled)),
    };
    if !super::second_factor::check_code(conn, user_id, typed)? {
        return Ok(Ok(None));
    }
    conn.transaction(|conn| {
        login_failure::clear_after_success(conn, failure_id, &account_key)?;
        Ok(Ok(Some(User::take_reset_notice(conn, user_id)?)))
    })
}
