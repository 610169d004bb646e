//! Two-factor sign-in (SPEC §3): setting up a TOTP secret (confirmed by a first code,
//! with ten recovery codes shown once and stored as digests), checking a code at sign-in
//! (a code is never accepted twice: the step it was for is recorded in the same
//! statement that accepts it), turning it off, and an admin removing it (audited).

use chrono::Utc;
use diesel::{Connection, PgConnection};

use crate::base::error::AppError;
use crate::db::models::User;
use crate::db::models::audit::{self, Actor};
use crate::db::models::recovery_code;
use crate::domain::{tokens, totp};

/// How many recovery codes an account gets.
pub const RECOVERY_CODES: usize = 10;

fn random(bytes: usize) -> Result<Vec<u8>, AppError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|err| AppError::internal(anyhow::anyhow!(err)))?;
    Ok(buffer)
}

fn now_step() -> u64 {
    totp::step_of(u64::try_from(Utc::now().timestamp()).unwrap_or(0))
}

/// A recovery code as typed: lower case, without dashes or spaces.
fn normalized(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A new secret for an account without two-factor sign-in (replacing an unconfirmed
/// one); its base32 form, to show and put in a QR code.
pub fn begin_setup(conn: &mut PgConnection, user_id: i64) -> Result<String, AppError> {
    let secret = totp::base32(&random(20)?);
    if !User::begin_totp(conn, user_id, &secret)? {
        return Err(AppError::BadRequest(
            "Two-factor sign-in is already on for this account.".into(),
        ));
    }
    Ok(secret)
}

/// Turns two-factor sign-in on once `code` matches the secret being set up; the recovery
/// codes (shown once), or the refusal in words.
pub fn confirm_setup(
    conn: &mut PgConnection,
    user_id: i64,
    code: &str,
) -> Result<Result<Vec<String>, String>, AppError> {
    conn.transaction(|conn| {
        let user = User::find(conn, user_id)?.ok_or(AppError::NotFound)?;
        let (Some(secret), None) = (&user.totp_secret, user.totp_enabled_at) else {
            return Ok(Err(
                "Start the set-up again: there is no code to confirm.".into()
            ));
        };
        let secret = totp::unbase32(secret).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("stored TOTP secret is not base32"))
        })?;
        let Some(step) = totp::verify(&secret, code, now_step(), None) else {
            return Ok(Err(
                "That code does not match: type the six digits your app shows now.".into(),
            ));
        };
        User::enable_totp(conn, user_id, i64::try_from(step).unwrap_or(i64::MAX))?;
        let mut codes = Vec::with_capacity(RECOVERY_CODES);
        let mut digests = Vec::with_capacity(RECOVERY_CODES);
        for _ in 0..RECOVERY_CODES {
            let code = totp::base32(&random(7)?)[..10].to_ascii_lowercase();
            digests.push(tokens::digest(&code));
            codes.push(format!("{}-{}", &code[..5], &code[5..]));
        }
        recovery_code::replace(conn, user_id, &digests)?;
        Ok(Ok(codes))
    })
}

/// Whether `typed` is a current code (never one accepted before) or an unused recovery
/// code (then used up) of an account with two-factor sign-in.
pub fn check_code(conn: &mut PgConnection, user_id: i64, typed: &str) -> Result<bool, AppError> {
    let Some(user) = User::find(conn, user_id)? else {
        return Ok(false);
    };
    let (Some(secret), Some(_)) = (&user.totp_secret, user.totp_enabled_at) else {
        return Ok(false);
    };
    let secret = totp::unbase32(secret)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("stored TOTP secret is not base32")))?;
    let last = user
        .totp_last_step
        .and_then(|step| u64::try_from(step).ok());
    if let Some(step) = totp::verify(&secret, typed, now_step(), last) {
        // Two requests with one code: only the first moves the step on.
        return Ok(User::take_totp_step(
            conn,
            user_id,
            i64::try_from(step).unwrap_or(i64::MAX),
        )?);
    }
    let code = normalized(typed);
    if code.len() != 10 {
        return Ok(false);
    }
    Ok(recovery_code::take(conn, user_id, &tokens::digest(&code))?)
}

/// Turns two-factor sign-in off (the caller checked the password and a code).
pub fn disable(conn: &mut PgConnection, user_id: i64) -> Result<(), AppError> {
    conn.transaction(|conn| {
        User::disable_totp(conn, user_id)?;
        recovery_code::replace(conn, user_id, &[])?;
        Ok(())
    })
}

/// An admin removes an account's second factor (it lost its phone), audited.
pub fn remove_by_admin(
    conn: &mut PgConnection,
    actor: &Actor,
    user: &User,
) -> Result<(), AppError> {
    conn.transaction(|conn| {
        User::disable_totp(conn, user.id)?;
        recovery_code::replace(conn, user.id, &[])?;
        let target = format!("user {} ({})", user.username, user.id);
        audit::record(conn, actor, "remove_2fa", &target, "")?;
        Ok(())
    })
}

/// How many recovery codes the account has left.
pub fn recovery_codes_left(conn: &mut PgConnection, user_id: i64) -> Result<i64, AppError> {
    Ok(recovery_code::left(conn, user_id)?)
}
