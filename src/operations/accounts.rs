//! Creating accounts: registration (the user and their signup credits in one transaction)
//! and admins from raw input (the CLI, `ATELIER_ADMIN_*`), with every field checked.

use diesel::{Connection, PgConnection};

use crate::auth::PasswordHasher;
use crate::config::Settings;
use crate::db::Db;
use crate::domain::{Email, NewPassword, Role, Username};
use crate::error::AppError;
use crate::models::user::{UniqueFieldTaken, taken_message};
use crate::models::{NewUser, User};
use crate::quota::credits::{self, Entry, Reason};

/// Creates an admin from raw values; used by `atelier create-admin` and the
/// `ATELIER_ADMIN_*` variables. Blocking: call off the executor.
pub fn create_admin_blocking(
    db: &Db,
    hasher_cost: u32,
    username: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<User> {
    let username = Username::parse(username).map_err(anyhow::Error::msg)?;
    let email = Email::parse(email).map_err(|msg| anyhow::anyhow!("{msg}"))?;
    let password =
        NewPassword::parse(password, password).map_err(|p| anyhow::anyhow!(p.message()))?;
    let hash = bcrypt::hash(password.expose(), hasher_cost)?;
    let mut conn = db.checkout().map_err(|err| anyhow::anyhow!("{err}"))?;
    let created = User::create(
        &mut conn,
        &NewUser {
            username: username.as_str(),
            email: email.as_str(),
            password_hash: &hash,
            role: Role::Admin,
            credits: 0,
        },
    )?;
    created.map_err(|taken| anyhow::anyhow!(taken_message(&taken).1))
}

/// At start: when `ATELIER_ADMIN_USERNAME/EMAIL/PASSWORD` are all set and no admin exists
/// yet, creates that admin. Blocking.
pub fn ensure_admin_from_settings(
    db: &Db,
    settings: &Settings,
    hasher: &PasswordHasher,
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
    drop(conn);
    let admin = create_admin_blocking(db, hasher.cost(), username, email, password)
        .map_err(|err| anyhow::anyhow!("ATELIER_ADMIN_*: {err}"))?;
    tracing::info!(username = %admin.username, "created the first admin from ATELIER_ADMIN_*");
    Ok(())
}

/// Registers a user with an already hashed password and gives them `signup_credits` (with
/// a ledger row), in one transaction. A taken username or email is the inner error.
pub fn register(
    conn: &mut PgConnection,
    username: &Username,
    email: &Email,
    password_hash: &str,
    signup_credits: i64,
) -> Result<Result<User, UniqueFieldTaken>, AppError> {
    conn.transaction(|conn| {
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
