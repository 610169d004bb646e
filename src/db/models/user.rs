//! The `users` table: accounts with role, tier, credits and the disabled flag.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::is_unique_violation;
use crate::db::schema::users;
use crate::domain::Email;
use crate::domain::{Role, Tier};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub tier: Tier,
    pub credits: i64,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The owner agreed that a remote tagger may see their pictures (SPEC §14).
    pub remote_tagging: bool,
    /// The language a tagging model is asked to answer in.
    pub tag_language: String,
    /// Someone else reset the password; the next sign-in says so.
    pub password_reset_notice: bool,
    /// When the account's current address was confirmed by a mailed link.
    pub email_verified_at: Option<DateTime<Utc>>,
    /// Two-factor sign-in: the TOTP secret (base32, set while setting up), when it was
    /// turned on, and the last time step a code was accepted for.
    pub totp_secret: Option<String>,
    pub totp_enabled_at: Option<DateTime<Utc>>,
    pub totp_last_step: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub credits: i64,
}

/// Why a user could not be created or renamed.
#[derive(Debug)]
pub enum UniqueFieldTaken {
    Username,
    Email,
}

/// The reserved account that holds anonymous visitors' images (see migration 000005); it
/// cannot log in, and registering its name is refused as "taken".
pub const ANON_USERNAME: &str = "_anon";

impl AsRef<User> for User {
    fn as_ref(&self) -> &User {
        self
    }
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The username as the storage path segment it also is (the table's CHECK constraint
    /// guarantees the pattern, so a failure here is a bug).
    pub fn folder_owner(&self) -> Result<crate::domain::Username, crate::base::error::AppError> {
        crate::domain::Username::parse(&self.username).map_err(|_| {
            crate::base::error::AppError::internal(anyhow::anyhow!(
                "stored username {:?} is invalid",
                self.username
            ))
        })
    }
}

impl User {
    /// The account anonymous images belong to.
    pub fn anonymous_holder(conn: &mut PgConnection) -> QueryResult<User> {
        users::table
            .filter(users::username.eq(ANON_USERNAME))
            .select(User::as_select())
            .first(conn)
    }

    /// The owner's tagging choices: consent to a remote tagger and the tags' language.
    pub fn set_tagging(
        conn: &mut PgConnection,
        id: i64,
        remote_tagging: bool,
        language: &str,
    ) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set((
                users::remote_tagging.eq(remote_tagging),
                users::tag_language.eq(language),
                users::updated_at.eq(chrono::Utc::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn find(conn: &mut PgConnection, id: i64) -> QueryResult<Option<User>> {
        users::table
            .find(id)
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    /// Finds by username, or by email when the identifier contains `@`. Case-insensitive,
    /// since both columns hold folded values.
    pub fn find_by_login(conn: &mut PgConnection, identifier: &str) -> QueryResult<Option<User>> {
        let folded = identifier.trim().to_lowercase();
        let query = users::table.select(User::as_select()).into_boxed();
        let query = if folded.contains('@') {
            query.filter(users::email.eq(folded))
        } else {
            query.filter(users::username.eq(folded))
        };
        query.first(conn).optional()
    }

    /// Inserts the user. A taken username or email (also when two registrations race) is
    /// reported as `Ok(Err(..))` by the unique constraints, not as a database error.
    pub fn create(
        conn: &mut PgConnection,
        new: &NewUser<'_>,
    ) -> QueryResult<Result<User, UniqueFieldTaken>> {
        match diesel::insert_into(users::table)
            .values(new)
            .returning(User::as_returning())
            .get_result(conn)
        {
            Ok(user) => Ok(Ok(user)),
            Err(err) if is_unique_violation(&err, "users_username_key") => {
                Ok(Err(UniqueFieldTaken::Username))
            }
            Err(err) if is_unique_violation(&err, "users_email_key") => {
                Ok(Err(UniqueFieldTaken::Email))
            }
            Err(err) => Err(err),
        }
    }

    pub fn set_password_hash(conn: &mut PgConnection, id: i64, hash: &str) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set((
                users::password_hash.eq(hash),
                users::updated_at.eq(Utc::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Stores a new TOTP secret being set up; `false` when two-factor is already on.
    pub fn begin_totp(conn: &mut PgConnection, id: i64, secret: &str) -> QueryResult<bool> {
        let set = diesel::update(
            users::table
                .find(id)
                .filter(users::totp_enabled_at.is_null()),
        )
        .set(users::totp_secret.eq(secret))
        .execute(conn)?;
        Ok(set == 1)
    }

    /// Two-factor sign-in is on, its first code used at `step`.
    pub fn enable_totp(conn: &mut PgConnection, id: i64, step: i64) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set((
                users::totp_enabled_at.eq(Utc::now()),
                users::totp_last_step.eq(step),
                users::updated_at.eq(Utc::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Records that a code for `step` was used, unless one for it or later was already;
    /// whether this call did.
    pub fn take_totp_step(conn: &mut PgConnection, id: i64, step: i64) -> QueryResult<bool> {
        let taken = diesel::update(
            users::table.find(id).filter(
                users::totp_last_step
                    .is_null()
                    .or(users::totp_last_step.lt(step)),
            ),
        )
        .set(users::totp_last_step.eq(step))
        .execute(conn)?;
        Ok(taken == 1)
    }

    pub fn disable_totp(conn: &mut PgConnection, id: i64) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set((
                users::totp_secret.eq(None::<String>),
                users::totp_enabled_at.eq(None::<chrono::DateTime<Utc>>),
                users::totp_last_step.eq(None::<i64>),
                users::updated_at.eq(Utc::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The account's current address is confirmed.
    pub fn mark_email_verified(conn: &mut PgConnection, id: i64) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set(users::email_verified_at.eq(Utc::now()))
            .execute(conn)?;
        Ok(())
    }

    /// Sets whether the next sign-in says that someone else reset the password.
    pub fn set_reset_notice(conn: &mut PgConnection, id: i64, notice: bool) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set(users::password_reset_notice.eq(notice))
            .execute(conn)?;
        Ok(())
    }

    /// Clears the notice; whether it was set.
    pub fn take_reset_notice(conn: &mut PgConnection, id: i64) -> QueryResult<bool> {
        let cleared = diesel::update(
            users::table
                .find(id)
                .filter(users::password_reset_notice.eq(true)),
        )
        .set(users::password_reset_notice.eq(false))
        .execute(conn)?;
        Ok(cleared == 1)
    }

    pub fn set_email(
        conn: &mut PgConnection,
        id: i64,
        email: &Email,
    ) -> QueryResult<Result<(), UniqueFieldTaken>> {
        match diesel::update(users::table.find(id))
            .set((
                users::email.eq(email.as_str()),
                // A new address is unconfirmed until its link is used.
                users::email_verified_at.eq(None::<chrono::DateTime<Utc>>),
                users::updated_at.eq(Utc::now()),
            ))
            .execute(conn)
        {
            Ok(_) => Ok(Ok(())),
            Err(err) if is_unique_violation(&err, "users_email_key") => {
                Ok(Err(UniqueFieldTaken::Email))
            }
            Err(err) => Err(err),
        }
    }

    /// Admin changes: tier, role and the disabled flag.
    pub fn set_standing(
        conn: &mut PgConnection,
        id: i64,
        tier: Tier,
        role: Role,
        disabled: bool,
    ) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set((
                users::tier.eq(tier),
                users::role.eq(role),
                users::disabled.eq(disabled),
                users::updated_at.eq(Utc::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Deletes the row; sessions, folders, images and jobs go with it (foreign keys), the
    /// ledger rows stay with their user erased. Files are the caller's to remove.
    pub fn delete(conn: &mut PgConnection, id: i64) -> QueryResult<usize> {
        diesel::delete(users::table.find(id)).execute(conn)
    }

    pub fn admin_exists(conn: &mut PgConnection) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            users::table.filter(users::role.eq(Role::Admin)),
        ))
        .get_result(conn)
    }
}

/// What a form needs to know to show the right field error.
pub fn taken_message(field: &UniqueFieldTaken) -> (&'static str, &'static str) {
    match field {
        UniqueFieldTaken::Username => ("username", "This username is already taken."),
        UniqueFieldTaken::Email => ("email", "An account with this email already exists."),
    }
}

/// A line of the admin's user list.
#[derive(Debug, Clone, QueryableByName)]
pub struct UserSummary {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub username: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub email: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub role: Role,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub tier: Tier,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub credits: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub disabled: bool,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub generations: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub images: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub total: i64,
}

/// How the user list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    Newest,
    Credits,
    Generations,
}

impl UserSort {
    pub fn parse(raw: &str) -> Self {
        match raw {
            "credits" => UserSort::Credits,
            "generations" => UserSort::Generations,
            _ => UserSort::Newest,
        }
    }

    fn order_by(self) -> &'static str {
        match self {
            UserSort::Newest => "u.created_at DESC, u.id DESC",
            UserSort::Credits => "u.credits DESC, u.id",
            UserSort::Generations => "generations DESC, u.id",
        }
    }
}

/// Users matching `text` (in name or email) or seen on `network` (sessions, and jobs and
/// uploads as the IP rollups count them).
pub fn search(
    conn: &mut PgConnection,
    text: Option<&str>,
    network: Option<ipnetwork::IpNetwork>,
    sort: UserSort,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<UserSummary>> {
    use diesel::sql_types::{BigInt, Cidr, Nullable, Text};
    let pattern = text.map(|text| format!("%{}%", crate::db::models::audit::escape_like(text)));
    // Written only when asked for: behind `$2 IS NULL OR`, the planner cannot start from
    // the accounts seen on the network and tests every account against them instead.
    let seen_on_network = match network {
        Some(_) => {
            "AND u.id IN (
                SELECT s.user_id FROM sessions s WHERE s.ip <<= $2
                UNION
                -- Jobs and uploads, through the IP gallery's rollup of accounts per address.
                SELECT a.user_id FROM ip_activity_accounts a
                WHERE a.net <<= $2 AND masklen(a.net) IN (32, 128))"
        }
        None => "",
    };
    diesel::sql_query(format!(
        "SELECT u.id, u.username, u.email, u.role, u.tier, u.credits, u.disabled, u.created_at,
                (SELECT count(*) FROM generation_jobs j WHERE j.user_id = u.id) AS generations,
                -- The folders' counters (live pictures), not a pass over a big library.
                (SELECT coalesce(sum(f.image_count), 0)::bigint FROM folders f
                 WHERE f.user_id = u.id) AS images,
                count(*) OVER () AS total
         FROM users u
         WHERE u.username <> '{ANON_USERNAME}'
           AND ($1::text IS NULL OR u.username ILIKE $1 OR u.email ILIKE $1)
           {seen_on_network}
         ORDER BY {}
         OFFSET $3 LIMIT $4",
        sort.order_by()
    ))
    .bind::<Nullable<Text>, _>(pattern)
    .bind::<Nullable<Cidr>, _>(network)
    .bind::<BigInt, _>(offset)
    .bind::<BigInt, _>(limit)
    .load(conn)
}
