//! Free images: a per-network allowance for signed-in users who are out of credits, shared
//! by every account on the network, and the disposable-email rule that guards it.
//!
//! Taking one is a single conditional `UPDATE … SET used = used + 1 WHERE used < max`, so
//! concurrent requests can never take more than the allowance. The allowance depends on
//! the requester's tier (`plus` accounts may go further than `standard` ones on the same
//! counter, which is how an upgraded user gets the difference).

use std::collections::HashSet;
use std::sync::OnceLock;

use diesel::prelude::*;
use ipnetwork::IpNetwork;

use crate::db::schema::{disposable_domains, free_image_allowances};

/// Free images already taken on the network `key`.
pub fn used(conn: &mut PgConnection, key: IpNetwork) -> QueryResult<u32> {
    let used: Option<i32> = free_image_allowances::table
        .find(key)
        .select(free_image_allowances::used)
        .first(conn)
        .optional()?;
    Ok(counted(used))
}

/// A network's `used` column as a count (no row: none used).
pub(super) fn counted(used: Option<i32>) -> u32 {
    used.map_or(0, |used| u32::try_from(used).unwrap_or(0))
}

/// Takes one free image if fewer than `max` are used on `key`; `false` otherwise.
pub fn take(conn: &mut PgConnection, key: IpNetwork, max: u32) -> QueryResult<bool> {
    diesel::insert_into(free_image_allowances::table)
        .values(free_image_allowances::ip_key.eq(key))
        .on_conflict_do_nothing()
        .execute(conn)?;
    let taken = diesel::update(
        free_image_allowances::table
            .find(key)
            .filter(free_image_allowances::used.lt(i32::try_from(max).unwrap_or(i32::MAX))),
    )
    .set((
        free_image_allowances::used.eq(free_image_allowances::used + 1),
        free_image_allowances::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)?;
    Ok(taken == 1)
}

/// Gives one back (the generation failed).
pub fn give_back(conn: &mut PgConnection, key: IpNetwork) -> QueryResult<()> {
    diesel::update(
        free_image_allowances::table
            .find(key)
            .filter(free_image_allowances::used.gt(0)),
    )
    .set(free_image_allowances::used.eq(free_image_allowances::used - 1))
    .execute(conn)?;
    Ok(())
}

/// The domains `email` is under, most specific first (`a.b.example.com`, `b.example.com`,
/// `example.com`), lowercased, without a trailing dot.
pub fn email_domains(email: &str) -> Vec<String> {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return Vec::new();
    };
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    std::iter::successors(Some(domain.as_str()), |d| {
        d.split_once('.').map(|(_, parent)| parent)
    })
    .filter(|d| d.contains('.'))
    .map(str::to_owned)
    .collect()
}

/// True when `domain` is on the shipped list of throwaway providers.
pub fn is_shipped_disposable(domain: &str) -> bool {
    shipped().contains(domain)
}

/// Adds a domain to the admin-maintained list.
pub fn add_disposable_domain(
    conn: &mut PgConnection,
    domain: &str,
    added_by: Option<i64>,
) -> QueryResult<()> {
    diesel::insert_into(disposable_domains::table)
        .values((
            disposable_domains::domain.eq(domain.trim().to_ascii_lowercase()),
            disposable_domains::added_by.eq(added_by),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

/// The domains admins added, alphabetically.
pub fn added_disposable_domains(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    disposable_domains::table
        .select(disposable_domains::domain)
        .order(disposable_domains::domain.asc())
        .load(conn)
}

/// How many domains the shipped list holds.
pub fn shipped_count() -> usize {
    shipped().len()
}

/// A domain as an admin types it (`Example.COM`, `@example.com`), if it looks like one.
pub fn parse_domain(raw: &str) -> Option<String> {
    let domain = raw
        .trim()
        .trim_start_matches('@')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let valid = domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    valid.then_some(domain)
}

/// The shipped list (`disposable_domains.txt`, one domain a line, `#` comments).
fn shipped() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("disposable_domains.txt")
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::{parse_domain, shipped};

    #[test]
    fn admin_typed_domains_are_normalised_or_refused() {
        assert_eq!(
            parse_domain(" @Trash-Mail.Example. "),
            Some("trash-mail.example".into())
        );
        for bad in ["", "localhost", "a..b", "-a.com", "a b.com", "x@y.com"] {
            assert_eq!(parse_domain(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_shipped_list_is_real() {
        assert!(shipped().len() > 5000);
        for domain in ["mailinator.com", "guerrillamail.com", "10minutemail.com"] {
            assert!(shipped().contains(domain), "{domain}");
        }
        for domain in ["gmail.com", "example.com", "proton.me"] {
            assert!(!shipped().contains(domain), "{domain}");
        }
    }
}
