//! Credits and their ledger. A balance changes only here, always together with a
//! `credit_ledger` row in the same transaction, and never below zero (the `users` CHECK
//! constraint backs the conditional updates up).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::{credit_ledger, users};

/// Why a balance changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Signup,
    Grant,
    Charge,
    Refund,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Signup => "signup",
            Reason::Grant => "grant",
            Reason::Charge => "charge",
            Reason::Refund => "refund",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = credit_ledger)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct LedgerEntry {
    pub id: i64,
    pub user_id: Option<i64>,
    pub delta: i64,
    pub balance_after: i64,
    pub reason: String,
    pub job_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// Context recorded with a change.
#[derive(Debug, Clone, Default)]
pub struct Entry<'a> {
    pub job_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub note: &'a str,
}

/// Takes `amount` credits if the balance allows; `None` (and nothing written) otherwise.
pub fn charge(
    conn: &mut PgConnection,
    user_id: i64,
    amount: i64,
    entry: &Entry<'_>,
) -> QueryResult<Option<i64>> {
    let balance: Option<i64> =
        diesel::update(users::table.find(user_id).filter(users::credits.ge(amount)))
            .set(users::credits.eq(users::credits - amount))
            .returning(users::credits)
            .get_result(conn)
            .optional()?;
    if let Some(balance) = balance {
        record(conn, user_id, -amount, balance, Reason::Charge, entry)?;
    }
    Ok(balance)
}

/// Adds (or, for a negative admin correction, removes) credits. A change that would take
/// the balance below zero is refused with `None`.
pub fn add(
    conn: &mut PgConnection,
    user_id: i64,
    delta: i64,
    reason: Reason,
    entry: &Entry<'_>,
) -> QueryResult<Option<i64>> {
    let balance: Option<i64> =
        diesel::update(users::table.find(user_id).filter(users::credits.ge(-delta)))
            .set(users::credits.eq(users::credits + delta))
            .returning(users::credits)
            .get_result(conn)
            .optional()?;
    if let Some(balance) = balance {
        record(conn, user_id, delta, balance, reason, entry)?;
    }
    Ok(balance)
}

fn record(
    conn: &mut PgConnection,
    user_id: i64,
    delta: i64,
    balance_after: i64,
    reason: Reason,
    entry: &Entry<'_>,
) -> QueryResult<()> {
    diesel::insert_into(credit_ledger::table)
        .values((
            credit_ledger::user_id.eq(user_id),
            credit_ledger::delta.eq(delta),
            credit_ledger::balance_after.eq(balance_after),
            credit_ledger::reason.eq(reason.as_str()),
            credit_ledger::job_id.eq(entry.job_id),
            credit_ledger::actor_id.eq(entry.actor_id),
            credit_ledger::note.eq(entry.note),
        ))
        .execute(conn)?;
    Ok(())
}

/// A user's ledger, newest first.
pub fn ledger(conn: &mut PgConnection, user_id: i64, limit: i64) -> QueryResult<Vec<LedgerEntry>> {
    credit_ledger::table
        .filter(credit_ledger::user_id.eq(user_id))
        .order((credit_ledger::created_at.desc(), credit_ledger::id.desc()))
        .limit(limit)
        .select(LedgerEntry::as_select())
        .load(conn)
}

/// Credits taken by generations and given back by refunds, over the whole ledger (for
/// `/metrics`).
pub fn charged_and_refunded(conn: &mut PgConnection) -> QueryResult<(i64, i64)> {
    use diesel::dsl::sql;
    use diesel::sql_types::BigInt;
    credit_ledger::table
        .select((
            sql::<BigInt>("COALESCE(SUM(-delta) FILTER (WHERE reason = 'charge'), 0)::int8"),
            sql::<BigInt>("COALESCE(SUM(delta) FILTER (WHERE reason = 'refund'), 0)::int8"),
        ))
        .get_result(conn)
}
