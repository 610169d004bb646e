//! Accounts: registration (the user and their signup credits in one transaction), admins
//! from raw input (the CLI, `ATELIER_ADMIN_*`), with every field checked, and the changes
//! signed-in users make to their own account (password, email, sessions, API tokens).

use diesel::{Connection, PgConnection};
use ipnetwork::IpNetwork;

use crate::base::config::Settings;
use crate::base::error::AppError;
use crate::db::Db;
use crate::db::models::api_token::{self, ApiToken, TokenHolder, TokenScope};
use crate::db::models::user::{UniqueFieldTaken, taken_message};
use crate::db::models::{NewUser, SessionRow, User};
use crate::domain::{Email, NewPassword, Role, Username};
use crate::services::quota::credits::{self, Entry, Reason};

use super::access::{self, Admission};
use super::letters;
use crate::services::mail::{self, Mailer};

/// An admin's fields from raw input, checked, with the password hashed.
struct AdminInput {
    username: Username,
    email: Email,
    hash: String,
}

impl AdminInput {
    fn parse(username: &str, email: &str, password: &str, cost: u32) -> anyhow::Result<Self> {
        let username = Username::parse(username).map_err(anyhow::Error::msg)?;
        let email = Email::parse(email).map_err(|msg| anyhow::anyhow!("{msg}"))?;
        let password =
            NewPassword::parse(password, password).map_err(|p| anyhow::anyhow!(p.message()))?;
        let hash = bcrypt::hash(password.expose(), cost)?;
        Ok(AdminInput {
            username,
            email,
            hash,
        })
    }

    fn insert(&self, conn: &mut PgConnection) -> anyhow::Result<User> {
        let created = User::create(
            conn,
            &NewUser {
                username: self.username.as_str(),
                email: self.email.as_str(),
                password_hash: &self.hash,
                role: Role::Admin,
                credits: 0,
            },
        )?;
        created.map_err(|taken| anyhow::anyhow!(taken_message(&taken).1))
    }
}

/// Creates an admin from raw values; used by `atelier create-admin`. Blocking: call off
/// the executor.
pub fn create_admin_blocking(
    db: &Db,
    hasher_cost: u32,
    username: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<User> {
    let input = AdminInput::parse(username, email, password, hasher_cost)?;
    let mut conn = db.checkout().map_err(|err| anyhow::anyhow!("{err}"))?;
    input.insert(&mut conn)
}

/// At start: when `ATELIER_ADMIN_USERNAME/EMAIL/PASSWORD` are all set and no admin exists
/// yet, creates that admin. Instances starting together take turns (an advisory lock),
/// and one that finds the admin made by another counts that as done. Blocking.
pub fn ensure_admin_from_settings(
    db: &Db,
    settings: &Settings,
    bcrypt_cost: u32,
) -> anyhow::Result<()> {
    let (Some(username), Some(email), Some(password)) = (
        &settings.admin_username,
        &settings.admin_email,
        &settings.admin_password,
    ) else {
        return Ok(());
    };
    let mut conn = db.checkout().map_err(|err| anyhow::anyhow!("{err}"))?;
    if User::admin_exists(&mut conn)? {
        return Ok(());
    }
    let input = AdminInput::parse(username, email, password, bcrypt_cost)
        .map_err(|err| anyhow::anyhow!("ATELIER_ADMIN_*: {err}"))?;
    let created = conn.transaction(|conn| {
        crate::db::advisory_lock(conn, "atelier first admin")?;
        if User::admin_exists(conn)? {
            return Ok(None);
        }
        input
            .insert(conn)
            .map(Some)
            .map_err(|err| anyhow::anyhow!("ATELIER_ADMIN_*: {err}"))
    })?;
    if let Some(admin) = created {
        tracing::info!(username = %admin.username, "created the first admin from ATELIER_ADMIN_*");
    }
    Ok(())
}

/// Registers a user with an already hashed password and gives them `signup_credits` (with
/// a ledger row), in one transaction with the registration mode's check (and the invite
/// it uses up). A taken username or email is the inner error; a refused admission is 403.
pub fn register(
    conn: &mut PgConnection,
    (admission, mailer): (Admission<'_>, Option<&Mailer>),
    (username, email): (&Username, &Email),
    password_hash: &str,
    signup_credits: i64,
) -> Result<Result<User, UniqueFieldTaken>, AppError> {
    conn.transaction(|conn| {
        let invite = access::admit(conn, admission, email.as_str())?;
        let created = User::create(
            conn,
            &NewUser {
                username: username.as_str(),
                email: email.as_str(),
                password_hash,
                role: Role::User,
                credits: 0,
            },
        )?;
        if let Ok(user) = &created {
            if let Some(invite) = &invite {
                access::invite_used(conn, invite, user.id)?;
            }
            if let Some(mailer) = mailer {
                access::send_verification(conn, mailer, user)?;
            }
            if signup_credits > 0 {
                credits::add(
                    conn,
                    user.id,
                    signup_credits,
                    Reason::Signup,
                    &Entry::default(),
                )?;
            }
        }
        Ok(created)
    })
}

/// What a password change ended.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    pub sessions: usize,
    pub tokens: usize,
}

/// Sets a new password (already hashed) and, with it, ends every session but `keep` and
/// revokes every API token: whoever knew the old password keeps nothing.
pub fn change_password(
    conn: &mut PgConnection,
    user_id: i64,
    hash: &str,
    keep: Option<i64>,
) -> Result<Ended, AppError> {
    Ok(conn.transaction(|conn| {
        User::set_password_hash(conn, user_id, hash)?;
        let sessions = SessionRow::revoke_others(conn, user_id, keep)?;
        let tokens = api_token::revoke_all(conn, user_id)?;
        Ok::<_, diesel::result::Error>(Ended { sessions, tokens })
    })?)
}

/// A new email address; the inner error when another account has it. With mail on, the
/// old address is told and the new one gets a link to confirm it, in the same transaction.
pub fn change_email(
    conn: &mut PgConnection,
    mailer: Option<&Mailer>,
    user: &User,
    email: &Email,
) -> Result<Result<(), UniqueFieldTaken>, AppError> {
    conn.transaction(|conn| {
        if let Err(taken) = User::set_email(conn, user.id, email)? {
            return Ok(Err(taken));
        }
        if let Some(mailer) = mailer {
            let told = letters::email_changed(mailer, &user.email, &user.username, email.as_str());
            mail::enqueue(conn, &told)?;
            let now = User::find(conn, user.id)?.ok_or(AppError::NotFound)?;
            access::send_verification(conn, mailer, &now)?;
        }
        Ok(Ok(()))
    })
}

/// Signs out one of the user's sessions; `false` when it is not theirs (or gone).
pub fn end_session(conn: &mut PgConnection, user_id: i64, id: i64) -> Result<bool, AppError> {
    Ok(SessionRow::revoke(conn, user_id, id)?)
}

/// A new personal API token named `name` with `scope`: the token (shown once) and its row.
pub fn create_token(
    conn: &mut PgConnection,
    user_id: i64,
    name: &str,
    scope: TokenScope,
) -> Result<(String, ApiToken), AppError> {
    api_token::create(conn, user_id, name, scope)
}

/// Who a presented token belongs to and what it may do, noting its use from `from`.
pub fn token_holder(
    conn: &mut PgConnection,
    token: &str,
    from: IpNetwork,
) -> Result<Option<TokenHolder>, AppError> {
    Ok(api_token::holder_of(conn, token, from)?)
}

/// Revokes one of the user's tokens; `false` when it is not theirs (or gone).
pub fn revoke_token(conn: &mut PgConnection, user_id: i64, id: i64) -> Result<bool, AppError> {
    Ok(api_token::revoke(conn, user_id, id)?)
}

/// Deletes the user's own account: its images (rows, then files), sessions, tokens and
/// the user; ledger rows stay, no longer linked to anyone. Returns how many images went.
pub fn delete_own_account(
    conn: &mut PgConnection,
    library: &crate::services::library::Library,
    user_id: i64,
) -> Result<usize, AppError> {
    library.delete_account(conn, user_id, None)
}

/// Moves what a visitor made anonymously (by `anon_id`) into the account they just
/// registered or signed in to; returns how many images moved.
pub fn adopt_anonymous(
    conn: &mut PgConnection,
    library: &crate::services::library::Library,
    anon_id: &str,
    user_id: i64,
) -> Result<usize, AppError> {
    library.adopt_anonymous(conn, anon_id, user_id)
}
