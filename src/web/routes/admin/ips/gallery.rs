//! `/admin/ips`: the IP gallery, generations and uploads grouped by address or range.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use ipnetwork::IpNetwork;
use serde::Deserialize;

use super::{GROUPS_PER_PAGE, STRIP};
use crate::base::error::AppError;
use crate::db::models::ip_activity::{self, Grouping, IpFilter, IpSort};
use crate::db::models::{Image, PlacedImage};
use crate::services::quota::blocks::parse_network;
use crate::web::extract::Query;
use crate::web::routes::admin::AdminUser;
use crate::web::state::AppState;
use crate::web::views::Card;
use crate::web::views::network_label;
use crate::web::views::page_number;
use crate::web::views::{Layout, Pager, render, timestamp, url_encode};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GalleryQuery {
    group: String,
    q: String,
    since: String,
    until: String,
    user: String,
    sort: String,
    page: Option<String>,
}

pub(super) struct GroupRow {
    label: String,
    generations: i64,
    uploads: i64,
    anonymous: i64,
    first_seen: String,
    last_seen: String,
    accounts: Vec<String>,
    /// Accounts seen there beyond those named.
    more_accounts: i64,
    blocked: bool,
    thumbs: Vec<Card>,
}

#[derive(Template)]
#[template(path = "admin/ips.html")]
pub(super) struct GalleryPage {
    layout: Layout,
    section: &'static str,
    rows: Vec<GroupRow>,
    /// Groups counted, up to `ip_activity::GROUPS_COUNTED` (past it: "or more").
    total: i64,
    counted_all: bool,
    query: GalleryQuery,
    error: Option<String>,
    pager: Pager,
}

pub(super) fn parse_day(raw: &str, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|day| (1970..=9999).contains(&day.year()))
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|at| Some(at.and_utc()))
        .ok_or_else(|| format!("{field} must be a date from 1970 to 9999, like 2026-12-31."))
}

impl GalleryQuery {
    fn filter(&self) -> Result<IpFilter, String> {
        let within = match self.q.trim() {
            "" => None,
            raw => Some(parse_network(raw)?),
        };
        // The day after, checked: the years allowed leave room for one more day.
        let until = parse_day(&self.until, "The end date")?
            .and_then(|day| day.checked_add_signed(chrono::Duration::days(1)));
        let user = self.user.trim().to_lowercase();
        Ok(IpFilter {
            within,
            since: parse_day(&self.since, "The start date")?,
            until,
            username: (!user.is_empty()).then_some(user),
        })
    }

    fn grouping(&self) -> Grouping {
        if self.group == "prefix" {
            Grouping::Prefix
        } else {
            Grouping::Address
        }
    }

    fn link(&self, page: i64) -> String {
        let params = [
            ("group", &self.group),
            ("q", &self.q),
            ("since", &self.since),
            ("until", &self.until),
            ("user", &self.user),
            ("sort", &self.sort),
        ];
        let mut query: Vec<String> = params
            .iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(name, value)| format!("{name}={}", url_encode(value.trim())))
            .collect();
        query.push(format!("page={page}"));
        format!("/admin/ips?{}", query.join("&"))
    }
}

pub(super) async fn gallery(
    admin: AdminUser,
    state: web::Data<AppState>,
    session: Session,
    Query(query): Query<GalleryQuery>,
) -> Result<HttpResponse, AppError> {
    let page = page_number(query.page.as_deref());
    let (filter, error) = match query.filter() {
        Ok(filter) => (filter, None),
        Err(message) => (IpFilter::default(), Some(message)),
    };
    let grouping = query.grouping();
    let sort = IpSort::parse(&query.sort);
    // The page and the count are independent reads: on two connections at once, a
    // window's page (its days summed per group) and its count (its groups hashed) take
    // the longer of the two, not their sum.
    let counting = {
        let filter = filter.clone();
        state
            .db
            .run(move |conn| ip_activity::group_count(conn, grouping, &filter))
    };
    let listing = state.db.run(move |conn| {
        let groups = ip_activity::groups(
            conn,
            grouping,
            &filter,
            sort,
            (page - 1) * GROUPS_PER_PAGE,
            GROUPS_PER_PAGE,
        )?;
        let networks: Vec<IpNetwork> = groups.iter().map(|group| group.network).collect();
        let recent = ip_activity::recent_image_ids(conn, grouping, &networks, STRIP)?;
        let ids: Vec<i64> = recent.iter().map(|(_, id)| *id).collect();
        let placed: HashMap<i64, PlacedImage> = Image::placed_by_ids(conn, &ids)?
            .into_iter()
            .map(|placed| (placed.image.id, placed))
            .collect();
        let mut by_network: HashMap<IpNetwork, Vec<Card>> = HashMap::new();
        for (network, id) in recent {
            if let Some(placed) = placed.get(&id) {
                by_network
                    .entry(network)
                    .or_default()
                    .push(Card::for_admin(placed));
            }
        }
        Ok::<_, AppError>((groups, by_network))
    });
    let ((groups, placed_by_network), total) =
        futures_util::future::try_join(listing, counting).await?;
    let mut placed_by_network = placed_by_network;
    let rows = groups
        .into_iter()
        .map(|group| GroupRow {
            label: network_label(&group.network),
            generations: group.generations,
            uploads: group.uploads,
            anonymous: group.anonymous,
            first_seen: timestamp(group.first_seen),
            last_seen: timestamp(group.last_seen),
            accounts: group.accounts,
            more_accounts: group.more_accounts,
            blocked: group.blocked,
            thumbs: placed_by_network.remove(&group.network).unwrap_or_default(),
        })
        .collect();
    let pager = Pager::new(page, total, GROUPS_PER_PAGE, |p| query.link(p));
    render(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        &GalleryPage {
            layout: Layout::new(&session, Some(&admin.current)),
            section: "ips",
            rows,
            total: total.min(ip_activity::GROUPS_COUNTED),
            counted_all: total <= ip_activity::GROUPS_COUNTED,
            error,
            pager,
            query,
        },
    )
}
