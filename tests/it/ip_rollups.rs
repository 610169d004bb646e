//! The IP gallery's rollups (#26) agree with a real count of the activity tables after
//! every change that touches them: generations and uploads (on two instances), deletes
//! and the trash, an anonymous visitor's work adopted at sign-up, an admin's delete-all by
//! network, an account deleted, and `purge-ips` erasing old addresses.

use diesel::QueryableByName;
use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;

use crate::admin::app_with_admin;
use crate::support::helpers::{PASSWORD, TestApp, spawn_second_instance};

/// Every job but tag suggestions and every upload, with an address, as the rollups count
/// them: each under its address and its /24 or /64, with the account that made it (none
/// for anonymous work, held by the `_anon` account or by nobody). Account, time and kind
/// come from the job's or picture's own row, so an origin out of step with it shows.
const COUNTED: &str = "
    WITH activity AS (
      SELECT o.client_ip AS ip, 1 AS g, 0 AS u, (j.anon_id IS NOT NULL)::int AS a,
             nullif(j.user_id, (SELECT id FROM users WHERE username = '_anon')) AS user_id, j.created_at AS at
      FROM generation_jobs j JOIN job_origins o ON o.job_id = j.id WHERE j.kind <> 'tag'
      UNION ALL
      SELECT o.client_ip, 0, 1, 0, nullif(i.user_id, (SELECT id FROM users WHERE username = '_anon')),
             i.created_at FROM images i JOIN image_origins o ON o.image_id = i.id
      WHERE i.kind = 'upload'),
    grouped AS (
      SELECT network(set_masklen(ip, CASE WHEN family(ip) = 4 THEN 32 ELSE 128 END)) AS net, * FROM activity
      UNION ALL
      SELECT network(set_masklen(ip, CASE WHEN family(ip) = 4 THEN 24 ELSE 64 END)), * FROM activity)";

/// (totals, days, months, accounts) from a real count and from the rollups.
fn both(app: &TestApp) -> [(Vec<String>, Vec<String>); 4] {
    let real_totals = app.lines(
        &format!(
            "{COUNTED} SELECT net || ' ' || sum(g) || ' ' || sum(u) || ' ' || sum(a) || ' ' || count(DISTINCT user_id) AS line FROM grouped GROUP BY net"
        ),
    );
    let rolled_totals = app.lines(
        "SELECT net || ' ' || generations || ' ' || uploads || ' ' || anonymous || ' ' || accounts AS line FROM ip_activity_totals",
    );
    let real_days = app.lines(
        &format!(
            "{COUNTED} SELECT net || ' ' || (at AT TIME ZONE 'UTC')::date || ' ' || sum(g) || ' ' || sum(u) AS line FROM grouped GROUP BY net, (at AT TIME ZONE 'UTC')::date"
        ),
    );
    let rolled_days = app.lines(
        "SELECT net || ' ' || day || ' ' || generations || ' ' || uploads AS line FROM ip_activity_days",
    );
    let real_months = app.lines(
        &format!(
            "{COUNTED} SELECT net || ' ' || date_trunc('month', at AT TIME ZONE 'UTC')::date || ' ' || sum(g) || ' ' || sum(u) AS line FROM grouped GROUP BY net, date_trunc('month', at AT TIME ZONE 'UTC')::date"
        ),
    );
    let rolled_months = app.lines(
        "SELECT net || ' ' || month || ' ' || generations || ' ' || uploads AS line FROM ip_activity_months",
    );
    let real_accounts = app.lines(
        &format!(
            "{COUNTED} SELECT net || ' ' || user_id || ' ' || count(*) AS line FROM grouped WHERE user_id IS NOT NULL GROUP BY net, user_id"
        ),
    );
    let rolled_accounts =
        app.lines("SELECT net || ' ' || user_id || ' ' || uses AS line FROM ip_activity_accounts");
    [
        (real_totals, rolled_totals),
        (real_days, rolled_days),
        (real_months, rolled_months),
        (real_accounts, rolled_accounts),
    ]
}

#[track_caller]
fn agree(app: &TestApp, after: &str) {
    for ((real, rolled), what) in both(app)
        .into_iter()
        .zip(["totals", "days", "months", "accounts"])
    {
        assert_eq!(rolled, real, "{what} after {after}");
    }
    let astray = app.lines(
        "SELECT o.image_id::text AS line FROM image_origins o JOIN images i ON i.id = o.image_id
         WHERE (o.user_id, o.created_at, o.upload) IS DISTINCT FROM (i.user_id, i.created_at, i.kind = 'upload')",
    );
    assert!(
        astray.is_empty(),
        "origins out of step with their pictures after {after}: {astray:?}"
    );
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

fn groups(app: &TestApp) -> i64 {
    diesel::sql_query("SELECT count(*) AS count FROM ip_activity_totals")
        .get_result::<Count>(&mut app.conn())
        .expect("count")
        .count
}

#[tokio::test]
async fn the_rollups_agree_with_a_real_count_after_every_kind_of_change() {
    let (app, admin) = app_with_admin().await;
    let second = spawn_second_instance(&app).await;
    agree(&app, "nothing");

    // Generations and uploads, on both instances, from two networks and both families.
    let alice = app.user_from("alice", "203.0.113.5").await;
    alice.generated("a harbour").await;
    alice.on(&second).generated("a lighthouse").await;
    let alice_upload = alice.on(&second).api_upload(&[]).await;
    let bob = app.user_from("bob", "2001:db8::7").await;
    bob.api_upload(&[]).await;
    bob.from("198.51.100.20").generated("a fox").await;
    let visitor = app.visitor_from("203.0.113.9");
    visitor.generated("an anonymous painting").await;
    agree(&app, "generations and uploads");
    // Four addresses, and their networks: 203.0.113.0/24 (two of them), 198.51.100.0/24
    // and 2001:db8::/64.
    assert_eq!(groups(&app), 7, "addresses and networks of both families");

    // The trash keeps the row (still counted); a delete for good takes it away.
    let path = format!("/images/{alice_upload}/delete");
    alice.submit(&path, &[]).await;
    agree(&app, "a picture put in the trash");
    alice.submit(&path, &[("forever", "1")]).await;
    agree(&app, "a picture deleted for good");

    // Signing up hands the anonymous visitor's job to the new account.
    let response = visitor
        .submit(
            "/register",
            &[
                ("username", "carol"),
                ("email", "carol@example.com"),
                ("password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    agree(&app, "anonymous work adopted");

    // An admin deletes everything from alice's network.
    let response = app
        .post_form(&admin, "/admin/ips/203.0.113.0%2F24/delete-all", &[])
        .await;
    assert_eq!(response.status(), 303);
    agree(&app, "delete-all by network");

    // Bob deletes his account.
    let response = bob
        .on(&second)
        .submit("/account/delete", &[("password", PASSWORD)])
        .await;
    assert_eq!(response.status(), 200);
    agree(&app, "an account deleted");

    // Everything ages past the retention; purge-ips erases the addresses.
    for table in ["images", "image_origins", "generation_jobs", "job_origins"] {
        diesel::sql_query(format!(
            "UPDATE {table} SET created_at = created_at - interval '100 days'"
        ))
        .execute(&mut app.conn())
        .expect("age");
    }
    agree(&app, "everything aged");
    let output = crate::support::helpers::atelier_cli(
        &app,
        &["purge-ips"],
        &[("ATELIER_IP_RETENTION_DAYS", "90")],
    );
    assert!(output.status.success(), "{output:?}");
    agree(&app, "purge-ips");
    assert_eq!(groups(&app), 0, "no address left, no group left");
}

/// The count of accounts kept on each group holds when the same accounts upload from one
/// network at once, on two instances: a pair seen for the first time by two statements is
/// counted once (the second waits for the first's row and updates it).
#[tokio::test]
async fn accounts_seen_at_once_on_two_instances_are_counted_once() {
    let (app, _admin) = app_with_admin().await;
    let second = spawn_second_instance(&app).await;
    let alice = app.user_from("alice", "203.0.113.5").await;
    let bob = app.user_from("bob", "203.0.113.6").await;
    let uploads = (0..6).flat_map(|n| {
        let instance = if n % 2 == 0 { &app.address } else { &second };
        [alice.on(instance), bob.on(instance)]
    });
    let uploaders: Vec<_> = uploads.collect();
    futures_util::future::join_all(uploaders.iter().map(|uploader| uploader.api_upload(&[]))).await;
    agree(&app, "uploads at once");
    let accounts: Vec<String> =
        app.lines("SELECT net || ' ' || accounts AS line FROM ip_activity_totals WHERE level = 1");
    assert_eq!(accounts, ["203.0.113.0/24 2"]);
}

/// A window of days reads its whole months from the monthly rollups and days only at its
/// ragged ends: every window, open or closed, on month boundaries or not, finds what a real
/// count of the jobs in it finds.
#[tokio::test]
async fn windows_sum_whole_months_and_ragged_days_as_a_real_count_does() {
    use atelier::db::models::ip_activity::{self, Grouping, IpFilter, IpSort};
    use chrono::{NaiveDate, TimeZone, Utc};
    let app = crate::support::helpers::spawn_app().await;
    // A job a day at noon from late August to early December, from three addresses in turn.
    diesel::sql_query(
        "WITH jobs AS (
           INSERT INTO generation_jobs (user_id, owner_key, kind, prompt, params, status,
                                        image_ids, created_at, finished_at, anon_id)
           SELECT NULL, 'anon:w', 'image', 'a prompt', '{}'::jsonb, 'succeeded', '{}',
                  day + interval '12 hours', day + interval '12 hours', 'w'
           FROM generate_series(timestamptz '2026-08-28 00:00Z', timestamptz '2026-12-05 00:00Z',
                                interval '1 day') AS day
           RETURNING id, created_at)
         INSERT INTO job_origins (job_id, user_id, client_ip, anonymous, tagging, created_at)
         SELECT id, NULL, ('192.0.2.' || (extract(doy FROM created_at)::int % 3))::inet, TRUE,
                FALSE, created_at FROM jobs",
    )
    .execute(&mut app.conn())
    .expect("jobs");
    let day = |text: &str| {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date");
        Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
    };
    let windows = [
        (Some("2026-09-15"), Some("2026-11-20")),
        (Some("2026-09-01"), Some("2026-11-01")),
        (Some("2026-10-10"), Some("2026-10-20")),
        (Some("2026-10-31"), Some("2026-11-01")),
        (None, Some("2026-10-15")),
        (Some("2026-09-30"), None),
        (Some("2026-11-01"), None),
    ];
    for (since, until) in windows {
        let real = app.lines(&format!(
            "SELECT host(client_ip) || ' ' || count(*) AS line FROM job_origins
             WHERE created_at >= coalesce({}, '-infinity'::timestamptz)
               AND created_at < coalesce({}, 'infinity'::timestamptz)
             GROUP BY client_ip",
            since.map_or("NULL".to_owned(), |d| format!("timestamptz '{d} 00:00Z'")),
            until.map_or("NULL".to_owned(), |d| format!("timestamptz '{d} 00:00Z'")),
        ));
        let filter = IpFilter {
            since: since.map(day),
            until: until.map(day),
            ..IpFilter::default()
        };
        let mut conn = app.conn();
        let mut summed: Vec<String> = ip_activity::groups(
            &mut conn,
            Grouping::Address,
            &filter,
            IpSort::Address,
            0,
            10,
        )
        .expect("groups")
        .iter()
        .map(|group| format!("{} {}", group.network.ip(), group.generations))
        .collect();
        summed.sort();
        assert_eq!(summed, real, "since {since:?} until {until:?}");
        let counted =
            ip_activity::group_count(&mut conn, Grouping::Address, &filter).expect("count");
        assert_eq!(
            counted,
            real.len() as i64,
            "since {since:?} until {until:?}"
        );
    }
}
