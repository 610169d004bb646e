//! The IP gallery (`/admin/ips`), the case file of an address or range
//! (`/admin/ips/{ip-or-cidr}`, with CSV and JSON abuse reports), and what an admin does
//! about it: block, unblock, delete everything from it, set limit overrides and add
//! disposable email domains (`/admin/limits`). This module holds what they share: the
//! routes, how a network is written and read.

mod actions;
mod case_file;
mod gallery;
mod limits;
mod reports;

use actix_web::web;
use chrono::{DateTime, Utc};
use ipnetwork::IpNetwork;
use serde::Deserialize;

use crate::base::error::AppError;
use crate::services::quota::blocks::parse_network;
use crate::web::views::network_label;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ips", web::get().to(gallery::gallery))
        .route("/ips/block", web::post().to(actions::block))
        .route("/ips/unblock", web::post().to(actions::unblock))
        .route("/ips/delete", web::get().to(actions::confirm_delete))
        .route("/ips/delete", web::post().to(actions::delete_everything))
        .route(
            "/ips/{network:.+}/block",
            web::post().to(actions::block_path),
        )
        .route(
            "/ips/{network:.+}/unblock",
            web::post().to(actions::unblock_path),
        )
        .route(
            "/ips/{network:.+}/delete-all",
            web::post().to(actions::delete_all_path),
        )
        .route(
            "/ips/{network:.+}/report.csv",
            web::get().to(reports::report_csv),
        )
        .route(
            "/ips/{network:.+}/report.json",
            web::get().to(reports::report_json),
        )
        .route("/ips/{network:.+}", web::get().to(case_file::case_file))
        .route("/limits", web::get().to(limits::limits_page))
        .route("/limits", web::post().to(limits::set_limits))
        .route("/limits/remove", web::post().to(limits::remove_limits))
        .route(
            "/disposable-domains",
            web::post().to(limits::add_disposable_domain),
        );
}

/// A form naming one network (unblock, remove limits, the delete confirmation).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NetworkForm {
    pub(super) network: String,
}

const GROUPS_PER_PAGE: i64 = 30;
const CASE_ROWS_PER_PAGE: i64 = 25;
const STRIP: i64 = 6;

/// The network named in a path or form, or 404/400.
pub(super) fn network_from_path(raw: &str) -> Result<IpNetwork, AppError> {
    parse_network(raw).map_err(|_| AppError::NotFound)
}

/// Where an action on `network` returns to.
pub(super) fn case_file_link(network: &IpNetwork) -> String {
    format!("/admin/ips/{}", network_label(network))
}

pub(super) fn parse_network_field(raw: &str) -> Result<IpNetwork, AppError> {
    parse_network(raw).map_err(AppError::BadRequest)
}

pub(super) fn parse_expiry(raw: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    match raw.trim() {
        "" => Ok(None),
        raw => raw
            .parse::<u32>()
            .ok()
            .filter(|hours| (1..=24 * 3650).contains(hours))
            .and_then(|hours| {
                Utc::now().checked_add_signed(chrono::Duration::hours(i64::from(hours)))
            })
            .map(Some)
            .ok_or_else(|| {
                AppError::BadRequest(
                    "The expiry is a number of hours from 1 to 87600 (empty: no expiry).".into(),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::reports::csv_field;
    use crate::web::views::network_label;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-1+1"), "'-1+1");
    }

    #[test]
    fn single_addresses_are_labelled_without_a_prefix() {
        let net = |s: &str| s.parse().expect("net");
        assert_eq!(network_label(&net("203.0.113.5/32")), "203.0.113.5");
        assert_eq!(network_label(&net("198.51.100.0/24")), "198.51.100.0/24");
        assert_eq!(network_label(&net("2001:db8::1/128")), "2001:db8::1");
    }
}
