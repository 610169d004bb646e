//! Abuse controls, enforced by the server and exact under concurrency: rolling anonymous
//! limits per network, credits with a ledger, free images per network, blocks and
//! overrides, and the client IP they are all keyed on.
//!
//! Client addresses are simulated the way production sees them: the test client connects
//! from 127.0.0.1, configured as the trusted proxy, and sends `X-Forwarded-For` values from
//! the documentation ranges 203.0.113.0/24, 198.51.100.0/24 and 2001:db8::/32.

use std::collections::HashMap;

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use futures_util::future::join_all;

use crate::support::helpers::{PASSWORD, TestApp, poll, spawn_app_with, spawn_second_instance};
use crate::support::visitor::Visitor;

/// How many times each race runs (each on fresh addresses or accounts).
const RACE_ROUNDS: usize = 3;

/// Quota settings for these tests: the trusted proxy, no signup credits, free images for
/// accounts of any age.
fn quota_settings(s: &mut HashMap<String, String>) {
    s.insert("trusted_proxies".into(), "127.0.0.1/32".into());
    s.insert("signup_credits".into(), "0".into());
    s.insert("free_min_account_age_secs".into(), "0".into());
}

async fn error_of(response: reqwest::Response) -> String {
    let json: serde_json::Value = response.json().await.expect("json");
    assert_eq!(json["success"], false, "{json}");
    json["error"].as_str().expect("error").to_owned()
}

fn header(response: &reqwest::Response, name: &str) -> u64 {
    response.headers()[name]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("number")
}

fn statuses(responses: &[reqwest::Response]) -> HashMap<u16, usize> {
    let mut counts = HashMap::new();
    for response in responses {
        *counts.entry(response.status().as_u16()).or_default() += 1;
    }
    counts
}

/// Waits until `client`'s free-image standing in `GET /api/usage` satisfies `check`: a
/// change made by plain SQL, as another process would make it, reaches the server's user
/// cache by NOTIFY, not at once.
async fn free_images_reach(
    app: &TestApp,
    client: &reqwest::Client,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) {
    let check = &check;
    crate::support::helpers::eventually(what, || async move {
        let usage = app.json(client, "/api/usage").await;
        check(&usage["usage"]["free_images"])
    })
    .await;
}

/// (balance, sum of ledger deltas, ledger rows by reason) for a user.
fn books(app: &TestApp, id: i64) -> (i64, i64, Vec<(String, i64)>) {
    use atelier::db::schema::{credit_ledger as ledger, users};
    let mut conn = app.conn();
    let balance = users::table
        .find(id)
        .select(users::credits)
        .first(&mut conn)
        .expect("balance");
    let rows: Vec<(String, i64)> = ledger::table
        .filter(ledger::user_id.eq(id))
        .order(ledger::id.asc())
        .select((ledger::reason, ledger::delta))
        .load(&mut conn)
        .expect("ledger");
    (balance, rows.iter().map(|(_, delta)| delta).sum(), rows)
}

async fn signed_in_with_credits(app: &TestApp, name: &str, credits: i64) -> Visitor {
    let client = app.user(name).await;
    if credits > 0 {
        grant(app, name, credits);
    }
    client
}

/// `atelier grant-credits`, the operator's tool.
pub fn grant(app: &TestApp, name: &str, amount: i64) {
    let output = cli(
        app,
        &[
            "grant-credits",
            "--username",
            name,
            "--amount",
            &amount.to_string(),
        ],
    );
    assert!(output.status.success(), "{output:?}");
}

fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args(args)
        .env("DATABASE_URL", &app.db_url)
        .env("ATELIER_LOG", "warn")
        .output()
        .expect("run atelier")
}

/// Sets a user's tier in the database (the admin page's path is tested in admin.rs; these
/// tests are about what a tier allows, with no admin in them).
fn set_tier(app: &TestApp, name: &str, tier: &str) {
    use atelier::db::schema::users;
    diesel::update(users::table.filter(users::username.eq(name)))
        .set(users::tier.eq(tier))
        .execute(&mut app.conn())
        .expect("tier");
}

#[tokio::test]
async fn the_anonymous_window_rolls_and_says_when_it_frees_up() {
    // Refusals are answered from memory for a second, so the freed use is seen soon.
    let app = spawn_app_with(|s| {
        quota_settings(s);
        s.insert("refusal_memory_secs".into(), "1".into());
    })
    .await;
    let ip = "203.0.113.10";
    for remaining in [2, 1, 0] {
        let response = app.visitor_from(ip).order_one().await;
        assert_eq!(response.status(), 202);
        assert_eq!(header(&response, "ratelimit-limit"), 3);
        assert_eq!(header(&response, "ratelimit-remaining"), remaining);
        assert!((86_390..=86_400).contains(&header(&response, "ratelimit-reset")));
    }
    let refused = app.visitor_from(ip).order_one().await;
    assert_eq!(refused.status(), 429);
    let retry_after = header(&refused, "retry-after");
    assert!((86_390..=86_400).contains(&retry_after), "{retry_after}");
    // The refusal says where the limit stands, as the allowed requests did.
    assert_eq!(header(&refused, "ratelimit-limit"), 3);
    assert_eq!(header(&refused, "ratelimit-remaining"), 0);
    assert_eq!(header(&refused, "ratelimit-reset"), retry_after);
    let message = error_of(refused).await;
    assert!(
        message.contains("3 anonymous image generations") && message.contains("24 hours"),
        "{message}"
    );
    // The HTML form says the same on a real page.
    let page = app
        .visitor_from(ip)
        .submit("/generate", &[("prompt", "one more")])
        .await;
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    assert_eq!(header(&page, "ratelimit-remaining"), 0);
    assert!(
        page.text()
            .await
            .expect("page")
            .contains("anonymous image generations")
    );
    // Another network is not affected.
    assert_eq!(
        app.visitor_from("203.0.113.11").order_one().await.status(),
        202
    );

    // The oldest use leaves the window: exactly one more fits (once the server has
    // stopped answering this network's refusals from memory).
    {
        use atelier::db::schema::usage_events as events;
        let oldest: i64 = events::table
            .filter(events::ip_key.eq(ip_net("203.0.113.10/32")))
            .select(events::id)
            .order(events::at.asc())
            .first(&mut app.conn())
            .expect("oldest");
        // Aged in the database: no test waits out a day's window.
        diesel::update(events::table.find(oldest))
            .set(events::at.eq(chrono::Utc::now() - chrono::Duration::seconds(86_401)))
            .execute(&mut app.conn())
            .expect("age");
    }
    let visitor = app.visitor_from(ip);
    let freed = poll(
        std::time::Duration::from_secs(3),
        || visitor.try_order(),
        |status| *status != 429,
    )
    .await;
    assert_eq!(freed, 202);
    let refused = visitor.order_one().await;
    assert_eq!(refused.status(), 429);
    assert!((86_390..=86_400).contains(&header(&refused, "retry-after")));
}

fn ip_net(raw: &str) -> ipnetwork::IpNetwork {
    raw.parse().expect("network")
}

#[tokio::test]
async fn racing_anonymous_generations_never_pass_the_limit() {
    let app = spawn_app_with(quota_settings).await;
    for round in 0..RACE_ROUNDS {
        let ip = format!("198.51.100.{}", 20 + round);
        let responses = join_all((0..50).map(|_| {
            let (app, ip) = (&app, ip.clone());
            async move { app.visitor_from(&ip).order_one().await }
        }))
        .await;
        let counts = statuses(&responses);
        assert_eq!(counts.get(&202), Some(&3), "round {round}: {counts:?}");
        assert_eq!(counts.get(&429), Some(&47), "round {round}: {counts:?}");
    }
    let events: i64 = atelier::db::schema::usage_events::table
        .count()
        .get_result(&mut app.conn())
        .expect("count");
    assert_eq!(events, 3 * RACE_ROUNDS as i64);
    // Refused visitors leave no session behind; each granted one has one.
    let sessions: i64 = atelier::db::schema::sessions::table
        .count()
        .get_result(&mut app.conn())
        .expect("sessions");
    assert_eq!(sessions, 3 * RACE_ROUNDS as i64);
}

#[tokio::test]
async fn racing_generations_spend_exactly_the_credits_there_are() {
    let app = spawn_app_with(|s| {
        quota_settings(s);
        s.insert("free_images_standard".into(), "0".into());
    })
    .await;
    for round in 0..RACE_ROUNDS {
        let name = format!("racer{round}");
        let client = signed_in_with_credits(&app, &name, 5).await;
        let client = client.from("203.0.113.30");
        let responses = join_all((0..50).map(|_| client.order_one())).await;
        let counts = statuses(&responses);
        assert_eq!(counts.get(&202), Some(&5), "round {round}: {counts:?}");
        assert_eq!(counts.get(&402), Some(&45), "round {round}: {counts:?}");
        let (balance, sum, rows) = books(&app, app.user_id(&name));
        assert_eq!(balance, 0);
        assert_eq!(sum, balance, "the ledger adds up to the balance");
        assert_eq!(rows.len(), 6, "one grant and five charges: {rows:?}");
        assert_eq!(
            rows.iter()
                .filter(|(r, d)| r == "charge" && *d == -1)
                .count(),
            5
        );
        // Each charge names the job it paid for, and that job exists.
        let charged_jobs: i64 = {
            use atelier::db::schema::{credit_ledger as ledger, generation_jobs as jobs};
            ledger::table
                .inner_join(jobs::table)
                .filter(ledger::user_id.eq(app.user_id(&name)))
                .filter(ledger::reason.eq("charge"))
                .count()
                .get_result(&mut app.conn())
                .expect("charged jobs")
        };
        assert_eq!(charged_jobs, 5);
    }
}

#[tokio::test]
async fn racing_free_image_requests_take_exactly_the_allowance() {
    let app = spawn_app_with(quota_settings).await;
    for round in 0..RACE_ROUNDS {
        // Four accounts on one network, five requests each, at once.
        let ip = format!("203.0.113.{}", 40 + round);
        let mut clients = Vec::new();
        for n in 0..4 {
            let client = signed_in_with_credits(&app, &format!("free{round}x{n}"), 0).await;
            clients.push(client.from(&ip));
        }
        let responses = join_all(
            clients
                .iter()
                .flat_map(|client| std::iter::repeat_n(client, 5))
                .map(Visitor::order_one),
        )
        .await;
        let counts = statuses(&responses);
        assert_eq!(counts.get(&202), Some(&2), "round {round}: {counts:?}");
        assert_eq!(counts.get(&402), Some(&18), "round {round}: {counts:?}");
    }
    let free = app.count_jobs();
    assert_eq!(free, 2 * RACE_ROUNDS as i64);
}

#[tokio::test]
async fn two_instances_share_every_limit() {
    let app = spawn_app_with(quota_settings).await;
    let second = spawn_second_instance(&app).await;
    for round in 0..RACE_ROUNDS {
        let ip = format!("198.51.100.{}", 60 + round);
        let responses = join_all((0..30).map(|n| {
            let base = if n % 2 == 0 {
                app.address.clone()
            } else {
                second.clone()
            };
            let ip = ip.clone();
            async move {
                Visitor::at(&base)
                    .from(&ip)
                    .order_image(
                        &serde_json::json!({ "prompt": "a twin lighthouse", "wait": false }),
                    )
                    .await
            }
        }))
        .await;
        let counts = statuses(&responses);
        assert_eq!(counts.get(&202), Some(&3), "round {round}: {counts:?}");
    }
    // Credits too: one account, requests split between the instances.
    let client = signed_in_with_credits(&app, "twin", 4).await;
    let responses = join_all((0..20).map(|n| {
        let base = if n % 2 == 0 {
            app.address.clone()
        } else {
            second.clone()
        };
        let client = &client;
        async move {
            client
                .on(&base)
                .from("203.0.113.70")
                .order_image(&serde_json::json!({ "prompt": "x", "count": 2, "wait": false }))
                .await
        }
    }))
    .await;
    assert_eq!(statuses(&responses).get(&202), Some(&2));
    assert_eq!(books(&app, app.user_id("twin")).0, 0);
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    // No trusted proxy: whatever XFF says, the key is the peer (127.0.0.1).
    let app = spawn_app_with(|s| {
        quota_settings(s);
        s.remove("trusted_proxies");
    })
    .await;
    for n in 0..3 {
        let ip = format!("203.0.113.{}", 100 + n);
        assert_eq!(app.visitor_from(&ip).order_one().await.status(), 202);
    }
    assert_eq!(
        app.visitor_from("198.51.100.200")
            .order_one()
            .await
            .status(),
        429,
        "a spoofed header does not buy a new allowance"
    );

    // Behind the trusted proxy, XFF is read right to left: the client-written left part
    // does not matter, and malformed values never win (or crash).
    let app = spawn_app_with(quota_settings).await;
    for spoof in ["1.1.1.1", "8.8.8.8", "9.9.9.9"] {
        let xff = format!("{spoof}, 203.0.113.50");
        assert_eq!(app.visitor_from(&xff).order_one().await.status(), 202);
    }
    assert_eq!(
        app.visitor_from("4.4.4.4, 203.0.113.50")
            .order_one()
            .await
            .status(),
        429
    );
    for malformed in [
        "garbage",
        "203.0.113.50, not-an-ip",
        "999.1.1.1",
        ",,,",
        "[2001:db8::1",
        &"9".repeat(4000),
        "203.0.113.1:99999",
    ] {
        let response = app.visitor_from(malformed).order_one().await;
        assert!(
            response.status().as_u16() < 500,
            "{malformed:.40}: {}",
            response.status()
        );
    }
    // The malformed ones all counted against the proxy's own address.
    let usage: serde_json::Value = app
        .visitor_from("garbage")
        .fetch("/api/usage")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(usage["usage"]["network"], "127.0.0.1/32");
    assert_eq!(usage["usage"]["anonymous"]["used"], 3);
}

#[tokio::test]
async fn ipv6_clients_count_per_64() {
    let app = spawn_app_with(quota_settings).await;
    for ip in [
        "2001:db8:1:2::1",
        "2001:db8:1:2::ffff",
        "2001:db8:1:2:abcd::9",
    ] {
        assert_eq!(app.visitor_from(ip).order_one().await.status(), 202);
    }
    assert_eq!(
        app.visitor_from("2001:db8:1:2:ffff::1")
            .order_one()
            .await
            .status(),
        429
    );
    assert_eq!(
        app.visitor_from("2001:db8:1:3::1")
            .order_one()
            .await
            .status(),
        202,
        "the next /64 is another household"
    );
    let stored: Vec<ipnetwork::IpNetwork> = atelier::db::schema::job_origins::table
        .select(atelier::db::schema::job_origins::client_ip)
        .order(atelier::db::schema::job_origins::job_id.asc())
        .load(&mut app.conn())
        .expect("ips");
    assert_eq!(
        stored.get(1).map(|ip| ip.ip().to_string()),
        Some("2001:db8:1:2::ffff".to_owned()),
        "the full address is recorded"
    );
}

#[tokio::test]
async fn credits_come_before_free_images_and_each_image_says_what_it_cost() {
    let app = spawn_app_with(quota_settings).await;
    let client = signed_in_with_credits(&app, "thrifty", 1).await;
    let ip = "198.51.100.80";
    // Several images need credits, even with free images left.
    let response = client
        .from(ip)
        .order_image(&serde_json::json!({ "prompt": "x", "count": 2, "wait": false }))
        .await;
    assert_eq!(response.status(), 402);
    assert!(
        error_of(response)
            .await
            .contains("needs 2 credits and you have 1")
    );
    for _ in 0..3 {
        let response = client.from(ip).order_one().await;
        assert_eq!(response.status(), 202);
    }
    let refused = client.from(ip).order_one().await;
    assert_eq!(refused.status(), 402);
    let message = error_of(refused).await;
    assert!(
        message.contains("2 free images") && message.contains("198.51.100.80"),
        "{message}"
    );
    let app_ref = &app;
    crate::support::helpers::eventually("three images stored", || async move {
        app_ref.count_images() == 3
    })
    .await;
    use atelier::db::schema::images;
    let costs: Vec<(i32, bool)> = images::table
        .order(images::job_id.asc())
        .select((images::credits_used, images::free))
        .load(&mut app.conn())
        .expect("costs");
    assert_eq!(costs, vec![(1, false), (0, true), (0, true)]);
    let (balance, sum, _) = books(&app, app.user_id("thrifty"));
    assert_eq!((balance, sum), (0, 0));
}

#[tokio::test]
async fn plus_accounts_get_the_difference_on_a_shared_network() {
    let app = spawn_app_with(quota_settings).await;
    let ip = "203.0.113.90";
    let standard = signed_in_with_credits(&app, "standard1", 0).await;
    let plus = signed_in_with_credits(&app, "plus1", 0).await;
    for _ in 0..2 {
        assert_eq!(standard.from(ip).order_one().await.status(), 202);
    }
    assert_eq!(standard.from(ip).order_one().await.status(), 402);
    assert_eq!(
        plus.from(ip).order_one().await.status(),
        402,
        "standard until upgraded"
    );
    set_tier(&app, "plus1", "plus");
    free_images_reach(&app, &plus, "the upgrade", |free| free["allowance"] != 2).await;
    for _ in 0..3 {
        assert_eq!(plus.from(ip).order_one().await.status(), 202);
    }
    assert_eq!(plus.from(ip).order_one().await.status(), 402);
    assert_eq!(standard.from(ip).order_one().await.status(), 402);
}

#[tokio::test]
async fn new_accounts_and_throwaway_addresses_get_no_free_images() {
    let app = spawn_app_with(|s| {
        quota_settings(s);
        s.insert("free_min_account_age_secs".into(), "120".into());
    })
    .await;
    let fresh = signed_in_with_credits(&app, "fresh", 0).await;
    let refused = fresh.from("198.51.100.90").order_one().await;
    assert_eq!(refused.status(), 402);
    assert!(error_of(refused).await.contains("few minutes old"));
    let usage = app.json(&fresh, "/api/usage").await;
    assert!(
        usage["usage"]["free_images"]["unavailable_because"]
            .as_str()
            .expect("reason")
            .contains("few minutes old")
    );
    {
        use atelier::db::schema::users;
        // Aged in the database: no test waits out the minimum account age.
        diesel::update(users::table.filter(users::username.eq("fresh")))
            .set(users::created_at.eq(chrono::Utc::now() - chrono::Duration::minutes(3)))
            .execute(&mut app.conn())
            .expect("age");
    }
    free_images_reach(&app, &fresh, "the new age", |free| {
        free["unavailable_because"].is_null()
    })
    .await;
    assert_eq!(fresh.from("198.51.100.90").order_one().await.status(), 202);

    let throwaway = app.visitor();
    app.register(&throwaway, "burner", "burner@mailinator.com", PASSWORD)
        .await;
    let throwaway = throwaway.signed_in("burner").await;
    {
        use atelier::db::schema::users;
        // Aged in the database, so only the disposable address stands in the way.
        diesel::update(users::table.filter(users::username.eq("burner")))
            .set(users::created_at.eq(chrono::Utc::now() - chrono::Duration::minutes(3)))
            .execute(&mut app.conn())
            .expect("age");
    }
    free_images_reach(&app, &throwaway, "the new age", |free| {
        !free["unavailable_because"]
            .as_str()
            .unwrap_or("")
            .contains("few minutes old")
    })
    .await;
    let refused = throwaway.from("198.51.100.91").order_one().await;
    assert_eq!(refused.status(), 402);
    let message = error_of(refused).await;
    assert!(
        message.contains("disposable") && message.contains("mailinator.com"),
        "{message}"
    );
    // A plus account is vouched for by the admin who upgraded it.
    set_tier(&app, "burner", "plus");
    free_images_reach(&app, &throwaway, "the upgrade", |free| {
        free["unavailable_because"].is_null()
    })
    .await;
    assert_eq!(
        throwaway.from("198.51.100.91").order_one().await.status(),
        202
    );
}

#[tokio::test]
async fn a_failed_generation_gives_back_exactly_what_it_took() {
    let fake = crate::support::fake_openai::start().await;
    let base = fake.base_url.clone();
    let app = spawn_app_with(move |s| {
        quota_settings(s);
        s.insert("generator".into(), "openai".into());
        s.insert("openai_base_url".into(), base);
        s.insert(
            "openai_api_key".into(),
            crate::support::fake_openai::KEY.into(),
        );
        s.insert("openai_timeout_secs".into(), "1".into());
    })
    .await;
    let ip = "203.0.113.120";
    let refused_prompt = serde_json::json!({ "prompt": "refused scene", "wait": true });
    let wait = |client: &Visitor| {
        let client = client.from(ip);
        let body = refused_prompt.clone();
        async move { client.order_image(&body).await }
    };
    // Credits.
    let client = signed_in_with_credits(&app, "unlucky", 2).await;
    let response = wait(&client).await;
    assert_eq!(response.status(), 502);
    let (balance, sum, rows) = books(&app, app.user_id("unlucky"));
    assert_eq!((balance, sum), (2, 2));
    let reasons: Vec<&str> = rows.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(reasons, ["grant", "charge", "refund"]);
    // A free image.
    let broke = signed_in_with_credits(&app, "broke", 0).await;
    assert_eq!(wait(&broke).await.status(), 502);
    let used: Vec<i32> = atelier::db::schema::free_image_allowances::table
        .select(atelier::db::schema::free_image_allowances::used)
        .load(&mut app.conn())
        .expect("allowances");
    assert_eq!(used, vec![0]);
    // An anonymous use.
    assert_eq!(wait(&app.visitor()).await.status(), 502);
    let events: i64 = atelier::db::schema::usage_events::table
        .count()
        .get_result(&mut app.conn())
        .expect("events");
    assert_eq!(events, 0);
    let usage: serde_json::Value = app
        .visitor_from(ip)
        .fetch("/api/usage")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(usage["usage"]["anonymous"]["used"], 0);
    assert_eq!(usage["usage"]["free_images"]["left"], 2);
}

#[tokio::test]
async fn blocked_networks_get_403_until_the_block_ends() {
    let app = spawn_app_with(quota_settings).await;
    let output = cli(
        &app,
        &["block-ip", "203.0.113.0/24", "--reason", "spam wave"],
    );
    assert!(output.status.success(), "{output:?}");
    let blocked_ip = "203.0.113.77";
    let refused = app.visitor_from(blocked_ip).order_one().await;
    assert_eq!(refused.status(), 403);
    let message = error_of(refused).await;
    assert!(
        message.contains("spam wave") && message.contains("203.0.113.0/24"),
        "{message}"
    );
    // Signed-in users from there too, and registration and uploads.
    let user = signed_in_with_credits(&app, "behindblock", 3).await;
    assert_eq!(user.from(blocked_ip).order_one().await.status(), 403);
    let register = app
        .visitor_from(blocked_ip)
        .submit(
            "/register",
            &[
                ("username", "newcomer"),
                ("email", "newcomer@example.com"),
                ("password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(register.status(), 403);
    assert_eq!(app.count_users(), 1, "no account was created");
    let part = reqwest::multipart::Part::bytes(crate::support::fixtures::png(32, 32))
        .file_name("a.png")
        .mime_str("image/png")
        .expect("mime");
    let upload = user
        .from(blocked_ip)
        .request_to(reqwest::Method::POST, "/api/upload")
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("POST");
    assert_eq!(upload.status(), 403);
    assert_eq!(app.count_images(), 0);
    // Outside the range all is well.
    assert_eq!(user.from("198.51.100.5").order_one().await.status(), 202);

    let output = cli(&app, &["unblock-ip", "203.0.113.0/24"]);
    assert!(output.status.success(), "{output:?}");
    // The CLI's change reaches the server's policy by NOTIFY: allow it a moment.
    let status = poll(
        std::time::Duration::from_secs(2),
        || async { user.from(blocked_ip).order_one().await.status().as_u16() },
        |status| *status == 202,
    )
    .await;
    assert_eq!(status, 202, "unblocked");
    let output = cli(&app, &["unblock-ip", "203.0.113.0/24"]);
    assert!(!output.status.success(), "nothing left to lift");

    // A block with an expiry ends by itself.
    let output = cli(
        &app,
        &[
            "block-ip",
            "198.51.100.6",
            "--reason",
            "cool down",
            "--expires-in-secs",
            "1",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(user.from("198.51.100.6").order_one().await.status(), 403);
    // A refused order counts nothing, so asking until the block has run out is fair.
    crate::support::helpers::eventually("the block runs out after its second", || async {
        user.from("198.51.100.6").order_one().await.status() == 202
    })
    .await;
    // The history stays.
    let blocks: i64 = atelier::db::schema::ip_blocks::table
        .count()
        .get_result(&mut app.conn())
        .expect("blocks");
    assert_eq!(blocks, 2);
}

#[tokio::test]
async fn the_most_specific_override_wins() {
    let app = spawn_app_with(quota_settings).await;
    {
        use atelier::services::quota::blocks::{OverrideValues, set_override};
        let mut conn = app.conn();
        let one = OverrideValues {
            anon_generate: Some(1),
            ..OverrideValues::default()
        };
        let five = OverrideValues {
            anon_generate: Some(5),
            ..OverrideValues::default()
        };
        set_override(
            &mut conn,
            ip_net("198.51.100.0/24"),
            &one,
            "busy range",
            None,
            None,
        )
        .expect("override");
        set_override(
            &mut conn,
            ip_net("198.51.100.7/32"),
            &five,
            "school",
            None,
            None,
        )
        .expect("override");
        let expired = chrono::Utc::now() - chrono::Duration::seconds(1);
        set_override(
            &mut conn,
            ip_net("198.51.100.8/32"),
            &five,
            "old",
            Some(expired),
            None,
        )
        .expect("override");
    }
    for _ in 0..5 {
        assert_eq!(
            app.visitor_from("198.51.100.7").order_one().await.status(),
            202
        );
    }
    assert_eq!(
        app.visitor_from("198.51.100.7").order_one().await.status(),
        429
    );
    assert_eq!(
        app.visitor_from("198.51.100.8").order_one().await.status(),
        202
    );
    let refused = app.visitor_from("198.51.100.8").order_one().await;
    assert_eq!(
        refused.status(),
        429,
        "the expired override no longer applies"
    );
    assert!(
        error_of(refused)
            .await
            .contains("the 1 anonymous image generations")
    );
    assert_eq!(
        app.visitor_from("203.0.113.8").order_one().await.status(),
        202
    );
}

#[tokio::test]
async fn visitors_see_what_they_have_left_before_they_ask() {
    let app = spawn_app_with(|s| {
        quota_settings(s);
        s.insert("credits_per_image".into(), "2".into());
    })
    .await;
    let client = signed_in_with_credits(&app, "planner", 5).await;
    let ip = "203.0.113.140";
    let client = client.from(ip);
    let get = |path: &'static str| client.request_to(reqwest::Method::GET, path).send();
    let usage: serde_json::Value = get("/api/usage")
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(usage["signed_in"], true);
    assert_eq!(usage["usage"]["credits"], 5);
    assert_eq!(usage["usage"]["credits_per_image"], 2);
    assert_eq!(usage["usage"]["free_images"]["left"], 2);
    assert_eq!(usage["usage"]["anonymous"]["limit"], 3);
    let form = get("/generate")
        .await
        .expect("GET")
        .text()
        .await
        .expect("page");
    assert!(
        form.contains("Each image costs 2 credits; you have 5."),
        "{form}"
    );
    let dashboard = get("/dashboard")
        .await
        .expect("GET")
        .text()
        .await
        .expect("page");
    assert!(dashboard.contains("2 of 2") && dashboard.contains("203.0.113.140/32"));

    // Anonymous: uses left and when the next frees up.
    let visitor = app.visitor_from(ip);
    visitor.order_one().await;
    let usage: serde_json::Value = visitor
        .fetch("/api/usage")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(usage["signed_in"], false);
    assert_eq!(usage["usage"]["anonymous"]["used"], 1);
    assert!(
        usage["usage"]["anonymous"]["reset_secs"]
            .as_u64()
            .expect("reset")
            > 86_000
    );
    assert!(
        usage["next_image"]
            .as_str()
            .expect("text")
            .contains("2 of 3 left")
    );
}

/// How many of a page's submit buttons are disabled.
fn disabled_generate_buttons(page: &str) -> usize {
    page.split("<button type=\"submit\"")
        .skip(1)
        .filter(|button| button.split('>').next().unwrap_or("").contains("disabled"))
        .count()
}

#[tokio::test]
async fn generate_buttons_are_disabled_with_the_reason_once_when_nothing_is_left() {
    let app = spawn_app_with(|s| {
        quota_settings(s);
        s.insert("free_images_standard".into(), "0".into());
    })
    .await;
    let ip = "203.0.113.40";
    let page_from = |path: &'static str, client: Visitor| async move {
        client.fetch(path).await.text().await.expect("page")
    };
    let home = page_from("/", app.visitor_from(ip)).await;
    assert_eq!(
        disabled_generate_buttons(&home),
        0,
        "allowance left: enabled"
    );
    for _ in 0..3 {
        assert_eq!(app.visitor_from(ip).order_one().await.status(), 202);
    }
    let reason = "The anonymous allowance of your network is used up.";
    for path in ["/", "/generate"] {
        let page = page_from(path, app.visitor_from(ip)).await;
        assert_eq!(disabled_generate_buttons(&page), 1, "{path}: {page}");
        assert_eq!(page.matches(reason).count(), 1, "{path} says why once");
    }
    // A signed-in account with no credits and no free image yet: the dashboard's prompt
    // box says so and cannot be sent.
    let client = app.user_from("broke", "198.51.100.9").await;
    let dashboard = page_from("/dashboard", client.clone()).await;
    assert!(
        !dashboard.contains("anonymous"),
        "no anonymous allowance for accounts"
    );
    assert_eq!(disabled_generate_buttons(&dashboard), 1, "{dashboard}");
    assert_eq!(dashboard.matches("You have no credits").count(), 1);
    let generate = page_from("/generate", client.clone()).await;
    assert!(!generate.contains("Free without an account"), "{generate}");
    assert_eq!(disabled_generate_buttons(&generate), 1);
    assert_eq!(generate.matches("You have no credits").count(), 1);
}
