//! The `admin_audit` table: an append-only record of admin actions (the database refuses
//! deletes and edits, see migration 000006).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ipnetwork::IpNetwork;

use crate::db::schema::admin_audit;

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = admin_audit)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct AuditEntry {
    pub id: i64,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub ip: Option<IpNetwork>,
    pub at: DateTime<Utc>,
}

/// Who acted, from where.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: i64,
    pub name: String,
    pub ip: IpNetwork,
}

pub fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    action: &str,
    target: &str,
    detail: &str,
) -> QueryResult<()> {
    diesel::insert_into(admin_audit::table)
        .values((
            admin_audit::actor_id.eq(actor.id),
            admin_audit::actor_name.eq(&actor.name),
            admin_audit::action.eq(action),
            admin_audit::target.eq(target),
            admin_audit::detail.eq(detail),
            admin_audit::ip.eq(actor.ip),
        ))
        .execute(conn)?;
    Ok(())
}

/// An audit row for an action taken on the server's command line (no account, no
/// address).
pub fn record_command_line(
    conn: &mut PgConnection,
    action: &str,
    target: &str,
    detail: &str,
) -> QueryResult<()> {
    diesel::insert_into(admin_audit::table)
        .values((
            admin_audit::actor_id.eq(None::<i64>),
            admin_audit::actor_name.eq("command line"),
            admin_audit::action.eq(action),
            admin_audit::target.eq(target),
            admin_audit::detail.eq(detail),
        ))
        .execute(conn)?;
    Ok(())
}

/// What the audit page filters by (empty: everything).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
}

/// A page of entries, newest first, and the total.
pub fn list(
    conn: &mut PgConnection,
    filter: &AuditFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<AuditEntry>, i64)> {
    let query = || {
        let mut query = admin_audit::table.into_boxed();
        if let Some(actor) = &filter.actor {
            query = query.filter(admin_audit::actor_name.eq(actor.clone()));
        }
        if let Some(action) = &filter.action {
            query = query.filter(admin_audit::action.eq(action.clone()));
        }
        if let Some(target) = &filter.target {
            query = query.filter(admin_audit::target.ilike(format!("%{}%", escape_like(target))));
        }
        query
    };
    let total = query().count().get_result(conn)?;
    let entries = query()
        .order((admin_audit::at.desc(), admin_audit::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(AuditEntry::as_select())
        .load(conn)?;
    Ok((entries, total))
}

/// An action as the log page says it ("Blocked a network"); `None` for a word this
/// version does not know (the page then shows it as stored).
pub fn describe_action(action: &str) -> Option<&'static str> {
    Some(match action {
        "block" => "Blocked a network",
        "unblock" => "Lifted a block",
        "set_limits" => "Set a network's limits",
        "remove_limits" => "Removed a network's limits",
        "add_disposable_domain" => "Refused an email domain",
        "set_tier" => "Changed a user's tier",
        "set_role" => "Changed a user's role",
        "grant_credits" => "Granted credits",
        "delete_user" => "Deleted an account",
        "delete_everything" => "Deleted everything from a network",
        "overview" => "Viewed an IP's case file",
        "users" => "Searched users",
        "audit" => "Read the audit log",
        _ => return None,
    })
}

/// The distinct actions recorded, for the filter's menu.
pub fn actions(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    admin_audit::table
        .select(admin_audit::action)
        .distinct()
        .order(admin_audit::action.asc())
        .load(conn)
}

/// `%`, `_` and `\` taken literally in a LIKE pattern.
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
