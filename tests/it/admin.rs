//! The admin area: hidden from everyone else, the IP gallery and case files (IPv4, IPv6,
//! anonymous visitors), abuse reports, blocks and overrides from the pages, deleting
//! everything from a network, user management, and the audit log of all of it.

use std::collections::HashMap;

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use sha2::{Digest, Sha256};

use crate::support::helpers::{PASSWORD, TestApp, location, new_client, spawn_app_with};
use crate::support::visitor::Visitor;

const ADMIN: &str = "root";

/// A server with a trusted proxy (so tests choose client addresses) and an admin.
pub async fn app_with_admin() -> (TestApp, Visitor) {
    let app = spawn_app_with(admin_settings).await;
    let admin = app.visitor().signed_in(ADMIN).await;
    (app, admin)
}

pub fn admin_settings(s: &mut HashMap<String, String>) {
    s.insert("trusted_proxies".into(), "127.0.0.1/32".into());
    s.insert("admin_username".into(), ADMIN.into());
    s.insert("admin_email".into(), "root@example.com".into());
    s.insert("admin_password".into(), PASSWORD.into());
}

async fn page(app: &TestApp, client: &reqwest::Client, path: &str) -> String {
    let response = app.get(client, path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.text().await.expect("page")
}

async fn post(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.post_form(client, path, form).await
}

fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    use atelier::db::schema::admin_audit as audit;
    audit::table
        .order(audit::id.asc())
        .select((audit::action, audit::target))
        .load(&mut app.conn())
        .expect("audit")
}

#[tokio::test]
async fn every_admin_route_answers_404_to_everyone_else() {
    let (app, admin) = app_with_admin().await;
    let user = app.user("mallory").await;
    let routes: &[(&str, &str)] = &[
        ("GET", "/admin"),
        ("GET", "/admin/"),
        ("GET", "/admin/ips"),
        ("GET", "/admin/ips?group=prefix"),
        ("GET", "/admin/ips/203.0.113.5"),
        ("GET", "/admin/ips/203.0.113.0/24"),
        ("GET", "/admin/ips/2001:db8::1"),
        ("GET", "/admin/ips/203.0.113.5/report.csv"),
        ("GET", "/admin/ips/203.0.113.5/report.json"),
        ("GET", "/admin/ips/delete?network=203.0.113.5"),
        ("GET", "/admin/limits"),
        ("GET", "/admin/users"),
        ("GET", "/admin/users/2"),
        ("GET", "/admin/audit"),
        ("GET", "/admin/no-such-page"),
        ("POST", "/admin/ips/block"),
        ("POST", "/admin/ips/unblock"),
        ("POST", "/admin/ips/delete"),
        ("POST", "/admin/limits"),
        ("POST", "/admin/limits/remove"),
        ("POST", "/admin/disposable-domains"),
        ("POST", "/admin/users/2/update"),
        ("POST", "/admin/users/2/delete"),
    ];
    for (who, client) in [("anonymous", &new_client()), ("a user", &user)] {
        for (method, path) in routes {
            let request = match *method {
                "GET" => client.get(app.url(path)),
                _ => client.post(app.url(path)).form(&[
                    ("network", "203.0.113.5"),
                    ("reason", "x"),
                    ("confirm", "yes"),
                ]),
            };
            let response = request.send().await.expect("request");
            assert_eq!(response.status(), 404, "{who}: {method} {path}");
            let body = response.text().await.expect("body");
            assert!(
                !body.contains("IP gallery"),
                "{who}: {method} {path} leaks the admin page"
            );
        }
        // JSON clients get JSON 404s.
        let response = client
            .get(app.url("/admin/users"))
            .header("accept", "application/json")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 404);
        let json: serde_json::Value = response.json().await.expect("json");
        assert_eq!(json["success"], false);
    }
    assert!(audit_actions(&app).is_empty(), "nothing was done");
    // The admin reaches every page.
    for (method, path) in routes
        .iter()
        .filter(|(m, p)| *m == "GET" && !p.contains("no-such"))
    {
        let response = app.get(&admin, path).await;
        assert_eq!(response.status(), 200, "admin: {method} {path}");
    }
    assert_eq!(app.get(&admin, "/admin/no-such-page").await.status(), 404);
    assert_eq!(app.get(&admin, "/admin/ips/not-an-ip").await.status(), 404);
}

#[tokio::test]
async fn the_ip_gallery_answers_who_generated_what_from_where() {
    let (app, admin) = app_with_admin().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let fox = alice
        .from("203.0.113.5")
        .generated("a sly fox in the snow")
        .await;
    alice.from("203.0.113.5").generated("a second fox").await;
    app.visitor_from("203.0.113.6")
        .generated("an anonymous owl")
        .await;
    bob.from("2001:db8:1:2::7")
        .generated("a heron over water")
        .await;
    bob.from("198.51.100.9").api_upload(&[]).await;

    let gallery = page(&app, &admin, "/admin/ips").await;
    for text in [
        "203.0.113.5",
        "203.0.113.6",
        "2001:db8:1:2::7",
        "198.51.100.9",
        "alice",
        "bob",
    ] {
        assert!(gallery.contains(text), "gallery shows {text}");
    }
    assert!(
        gallery.contains("/media/alice/default/thumb/"),
        "thumbnails strip"
    );
    assert!(gallery.contains("/media/_anon/"), "anonymous pictures too");
    // Grouped by network: the two /24 neighbours become one row with three generations.
    let grouped = page(&app, &admin, "/admin/ips?group=prefix").await;
    assert!(grouped.contains("203.0.113.0/24") && grouped.contains("2001:db8:1:2::/64"));
    // Filters: a range, an account, dates.
    let v6 = page(&app, &admin, "/admin/ips?q=2001:db8::/32").await;
    assert!(v6.contains("2001:db8:1:2::7") && !v6.contains("203.0.113.5"));
    let by_alice = page(&app, &admin, "/admin/ips?user=alice").await;
    assert!(by_alice.contains("203.0.113.5") && !by_alice.contains("198.51.100.9"));
    let future = page(&app, &admin, "/admin/ips?since=2999-01-01").await;
    assert!(future.contains("Nothing matches"));
    let bad = app.get(&admin, "/admin/ips?q=not-a-network").await;
    assert_eq!(bad.status(), 400);

    // The case file of one address: every generation with user, prompt and image.
    let case = page(&app, &admin, "/admin/ips/203.0.113.5").await;
    assert!(case.contains("a sly fox in the snow") && case.contains("a second fox"));
    assert!(case.contains("alice") && case.contains("1 credit"));
    let fox_thumb = fox["thumb_url"].as_str().expect("thumb");
    assert!(case.contains(fox_thumb));
    assert_eq!(
        app.get(&admin, fox_thumb).await.status(),
        200,
        "admins see any image"
    );
    let range = page(&app, &admin, "/admin/ips/203.0.113.0/24").await;
    assert!(range.contains("an anonymous owl") && range.contains("anonymous use"));
    let v6_case = page(&app, &admin, "/admin/ips/2001:db8:1:2::7").await;
    assert!(v6_case.contains("a heron over water"));

    // Abuse reports: CSV and JSON with the SHA-256 of the stored file.
    let csv = app
        .get(&admin, "/admin/ips/203.0.113.0/24/report.csv")
        .await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/csv")
    );
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .expect("cd")
            .contains("attachment")
    );
    let csv = csv.text().await.expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "time,ip,user,kind,prompt,image_id,sha256,action_taken,seconds"
    );
    assert_eq!(lines.len(), 4, "three generations from the /24: {csv}");
    let pristine = {
        let id = fox["db_id"].as_i64().expect("id");
        let placed: (String, String) = atelier::db::schema::images::table
            .find(id)
            .select((
                atelier::db::schema::images::stem,
                atelier::db::schema::images::pristine_ext,
            ))
            .first(&mut app.conn())
            .expect("image");
        // Admins cannot download pristine files (they may hold metadata the owner never
        // published); the report's hash is of the file as stored.
        std::fs::read(
            app.uploads
                .join(format!("alice/default/pristine/{}.{}", placed.0, placed.1)),
        )
        .expect("pristine file")
    };
    let hash = atelier::domain::tokens::hex(&Sha256::digest(&pristine));
    let fox_line = lines
        .iter()
        .find(|line| line.contains("a sly fox in the snow"))
        .expect("fox row");
    assert!(fox_line.contains(&hash) && fox_line.contains("alice") && fox_line.ends_with(",none,"));
    let json = app.json(&admin, "/admin/ips/203.0.113.6/report.json").await;
    let rows = json["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["user"], "anonymous");
    assert_eq!(rows[0]["prompt"], "an anonymous owl");
    assert_eq!(rows[0]["sha256"].as_str().expect("hash").len(), 64);

    let actions = audit_actions(&app);
    assert!(actions.contains(&("view_case_file".into(), "203.0.113.5".into())));
    assert!(actions.contains(&("view_case_file".into(), "2001:db8:1:2::7".into())));
    assert!(actions.contains(&("export_report".into(), "203.0.113.0/24".into())));
}

#[tokio::test]
async fn blocks_and_overrides_from_the_admin_pages_take_effect_and_are_audited() {
    let (app, admin) = app_with_admin().await;
    // Bad input changes nothing.
    let long_reason = "x".repeat(501);
    for form in [
        vec![
            ("network", "203.0.113.0/24"),
            ("reason", long_reason.as_str()),
        ],
        vec![("network", "not-a-range"), ("reason", "spam")],
        vec![
            ("network", "203.0.113.0/24"),
            ("reason", "spam"),
            ("expires_hours", "soon"),
        ],
    ] {
        let response = post(&app, &admin, "/admin/ips/block", &form).await;
        assert_eq!(response.status(), 400, "{form:?}");
    }
    let response = post(
        &app,
        &admin,
        "/admin/ips/block",
        &[
            ("network", "203.0.113.0/24"),
            ("reason", "spam wave"),
            ("expires_hours", ""),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin/ips/203.0.113.0/24");
    assert_eq!(app.visitor_from("203.0.113.77").try_order().await, 403);
    let case = page(&app, &admin, "/admin/ips/203.0.113.0/24").await;
    assert!(case.contains("spam wave") && case.contains("Unblock"));
    assert!(
        page(&app, &admin, "/admin").await.contains("spam wave"),
        "overview lists it"
    );
    let response = post(
        &app,
        &admin,
        "/admin/ips/unblock",
        &[("network", "203.0.113.0/24")],
    )
    .await;
    assert_eq!(response.status(), 303);
    let allowed = app
        .visitor_from("203.0.113.77")
        .generated("now allowed")
        .await;
    assert_eq!(allowed["success"], true);
    assert!(
        page(&app, &admin, "/admin/ips/203.0.113.0/24")
            .await
            .contains("lifted")
    );

    // An expiring block.
    let response = post(
        &app,
        &admin,
        "/admin/ips/block",
        &[
            ("network", "2001:db8::/32"),
            ("reason", "cool off"),
            ("expires_hours", "2"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let until: Option<chrono::DateTime<chrono::Utc>> = atelier::db::schema::ip_blocks::table
        .filter(atelier::db::schema::ip_blocks::reason.eq("cool off"))
        .select(atelier::db::schema::ip_blocks::expires_at)
        .first(&mut app.conn())
        .expect("block");
    let hours = (until.expect("expiry") - chrono::Utc::now()).num_minutes();
    assert!((115..=120).contains(&hours), "{hours} minutes");

    // Overrides: one anonymous generation for the range.
    let response = post(
        &app,
        &admin,
        "/admin/limits",
        &[
            ("network", "198.51.100.0/24"),
            ("anon_generate", "1"),
            ("reason", "busy"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert!(
        page(&app, &admin, "/admin/limits")
            .await
            .contains("198.51.100.0/24")
    );
    app.visitor_from("198.51.100.3").generated("first").await;
    assert_eq!(app.visitor_from("198.51.100.3").try_order().await, 429);
    let bad = post(
        &app,
        &admin,
        "/admin/limits",
        &[("network", "198.51.100.0/24"), ("anon_generate", "-4")],
    )
    .await;
    assert_eq!(bad.status(), 400);
    let response = post(
        &app,
        &admin,
        "/admin/limits/remove",
        &[("network", "198.51.100.0/24")],
    )
    .await;
    assert_eq!(response.status(), 303);
    app.visitor_from("198.51.100.3")
        .generated("back to the default")
        .await;

    // A disposable domain added by the admin takes free images away from its accounts.
    assert_eq!(
        post(
            &app,
            &admin,
            "/admin/disposable-domains",
            &[("domain", "not a domain")]
        )
        .await
        .status(),
        400
    );
    let response = post(
        &app,
        &admin,
        "/admin/disposable-domains",
        &[("domain", "@Throwaway.Example")],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert!(
        page(&app, &admin, "/admin/limits")
            .await
            .contains("throwaway.example")
    );
    let burner = app.visitor();
    app.register(&burner, "burner", "me@mail.throwaway.example", PASSWORD)
        .await;
    app.login(&burner, "burner", PASSWORD).await;
    // No credits and an old enough account, written in the database: only the domain rule
    // is left to refuse the free image.
    diesel::update(
        atelier::db::schema::users::table.filter(atelier::db::schema::users::username.eq("burner")),
    )
    .set((
        atelier::db::schema::users::credits.eq(0),
        atelier::db::schema::users::created_at.eq(chrono::Utc::now() - chrono::Duration::hours(1)),
    ))
    .execute(&mut app.conn())
    .expect("no credits, old enough");
    let refused = burner
        .from("192.0.2.50")
        .order_image(&serde_json::json!({ "prompt": "x" }))
        .await;
    assert_eq!(refused.status(), 402);
    assert!(refused.text().await.expect("body").contains("disposable"));

    let actions: Vec<String> = audit_actions(&app)
        .into_iter()
        .map(|(action, _)| action)
        .collect();
    for action in [
        "block",
        "unblock",
        "set_limits",
        "remove_limits",
        "add_disposable_domain",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} audited: {actions:?}"
        );
    }
    let audit_page = page(&app, &admin, "/admin/audit?action=block").await;
    assert!(audit_page.contains("spam wave") && audit_page.contains("root"));
    assert!(
        !audit_page.contains("<code>remove_limits</code>"),
        "filtered by action"
    );
}

#[tokio::test]
async fn deleting_everything_from_a_network_removes_its_files_and_rows_and_nothing_else() {
    let (app, admin) = app_with_admin().await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    carol.from("203.0.113.20").generated("carol's spam").await;
    carol.from("203.0.113.21").generated("more spam").await;
    carol.from("203.0.113.22").api_upload(&[]).await;
    let kept = dave.from("198.51.100.20").generated("dave's garden").await;
    let carol_home = carol.from("198.51.100.21").generated("carol at home").await;
    assert_eq!(app.count_images(), 5);

    let confirm = page(&app, &admin, "/admin/ips/delete?network=203.0.113.0/24").await;
    assert!(
        confirm.contains("<strong>3</strong> images")
            && confirm.contains("<strong>2</strong> generation records")
    );
    let refused = post(
        &app,
        &admin,
        "/admin/ips/delete",
        &[("network", "203.0.113.0/24")],
    )
    .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(app.count_images(), 5, "nothing without confirmation");
    let response = post(
        &app,
        &admin,
        "/admin/ips/delete",
        &[("network", "203.0.113.0/24"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.count_images(), 2);
    let jobs: Vec<String> = atelier::db::schema::generation_jobs::table
        .select(atelier::db::schema::generation_jobs::prompt)
        .order(atelier::db::schema::generation_jobs::id.asc())
        .load(&mut app.conn())
        .expect("jobs");
    assert_eq!(jobs, ["dave's garden", "carol at home"]);
    assert_eq!(
        app.stored_files().len(),
        8,
        "four files for each image left"
    );
    assert_eq!(
        app.get(&dave, kept["image_url"].as_str().expect("url"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get(&carol, carol_home["image_url"].as_str().expect("url"))
            .await
            .status(),
        200
    );
    assert_eq!(app.count_users(), 3, "accounts are kept");
    assert!(audit_actions(&app).contains(&("delete_everything".into(), "203.0.113.0/24".into())));
}

#[tokio::test]
async fn admins_manage_accounts_and_every_change_is_audited() {
    let (app, admin) = app_with_admin().await;
    let erin = app.user("erin").await;
    erin.from("198.51.100.44").generated("erin's kite").await;
    let erin_id: i64 = atelier::db::schema::users::table
        .filter(atelier::db::schema::users::username.eq("erin"))
        .select(atelier::db::schema::users::id)
        .first(&mut app.conn())
        .expect("id");

    for (query, expected) in [
        ("erin", true),
        ("erin@example", true),
        ("198.51.100.44", true),
        ("198.51.100.0/24", true),
        ("nobody", false),
        ("203.0.113.1", false),
    ] {
        let list = page(&app, &admin, &format!("/admin/users?q={query}")).await;
        assert_eq!(list.contains("/admin/users/"), expected, "search {query}");
    }
    let profile = page(&app, &admin, &format!("/admin/users/{erin_id}")).await;
    assert!(
        profile.contains("198.51.100.44")
            && profile.contains("erin@example.com")
            && profile.contains("/media/erin/")
    );

    let update = |form: Vec<(&'static str, String)>| {
        let client = admin.clone();
        let url = app.url(&format!("/admin/users/{erin_id}/update"));
        async move { client.post(url).form(&form).send().await.expect("POST") }
    };
    // A balance cannot go below zero.
    assert_eq!(
        update(vec![
            ("credits_delta", "-99999".into()),
            ("reason", "oops".into())
        ])
        .await
        .status(),
        400
    );
    assert_eq!(update(vec![("tier", "gold".into())]).await.status(), 400);
    let response = update(vec![
        ("tier", "plus".into()),
        ("credits_delta", "+5".into()),
        ("reason", "contest prize".into()),
    ])
    .await;
    assert_eq!(response.status(), 303);
    let (tier, credits): (String, i64) = atelier::db::schema::users::table
        .find(erin_id)
        .select((
            atelier::db::schema::users::tier,
            atelier::db::schema::users::credits,
        ))
        .first(&mut app.conn())
        .expect("erin");
    assert_eq!((tier.as_str(), credits), ("plus", 1004));
    let grant: (i64, Option<i64>, String) = atelier::db::schema::credit_ledger::table
        .filter(atelier::db::schema::credit_ledger::user_id.eq(erin_id))
        .order(atelier::db::schema::credit_ledger::id.desc())
        .select((
            atelier::db::schema::credit_ledger::delta,
            atelier::db::schema::credit_ledger::actor_id,
            atelier::db::schema::credit_ledger::note,
        ))
        .first(&mut app.conn())
        .expect("ledger");
    assert_eq!((grant.0, grant.2.as_str()), (5, "contest prize"));
    assert!(grant.1.is_some(), "the granting admin is recorded");

    // Disabling ends erin's sessions at once; enabling lets her back in.
    assert_eq!(
        update(vec![("disabled", "true".into())]).await.status(),
        303
    );
    let response = app.get(&erin, "/dashboard").await;
    assert_eq!(response.status(), 303, "disabled user is signed out");
    assert_eq!(app.login(&erin, "erin", PASSWORD).await.status(), 403);
    assert_eq!(
        update(vec![("disabled", "false".into())]).await.status(),
        303
    );
    assert_eq!(app.login(&erin, "erin", PASSWORD).await.status(), 303);
    // Making her admin opens the area to her.
    assert_eq!(update(vec![("role", "admin".into())]).await.status(), 303);
    assert_eq!(app.get(&erin, "/admin").await.status(), 200);
    assert_eq!(update(vec![("role", "user".into())]).await.status(), 303);
    assert_eq!(app.get(&erin, "/admin").await.status(), 404);
    // An admin cannot lock themselves out.
    let root_id: i64 = atelier::db::schema::users::table
        .filter(atelier::db::schema::users::username.eq(ADMIN))
        .select(atelier::db::schema::users::id)
        .first(&mut app.conn())
        .expect("root");
    let response = post(
        &app,
        &admin,
        &format!("/admin/users/{root_id}/update"),
        &[("disabled", "true")],
    )
    .await;
    assert_eq!(response.status(), 400);

    // Deleting: the username must be typed; then files, rows and sessions go.
    let path = format!("/admin/users/{erin_id}/delete");
    assert_eq!(
        post(&app, &admin, &path, &[("confirm", "erinn")])
            .await
            .status(),
        400
    );
    assert_eq!(app.count_images(), 1);
    assert_eq!(
        post(&app, &admin, &path, &[("confirm", "erin")])
            .await
            .status(),
        303
    );
    assert_eq!(app.count_images(), 0);
    assert!(app.stored_files().is_empty());
    assert!(!app.uploads.join("erin").exists());
    assert_eq!(app.get(&erin, "/dashboard").await.status(), 303);
    assert_eq!(
        app.get(&admin, &format!("/admin/users/{erin_id}"))
            .await
            .status(),
        404
    );

    let actions: Vec<String> = audit_actions(&app)
        .into_iter()
        .map(|(action, _)| action)
        .collect();
    for action in [
        "set_tier",
        "grant_credits",
        "disable_user",
        "enable_user",
        "set_role",
        "delete_user",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} audited: {actions:?}"
        );
    }
    // The log is append-only, even for the database's own users.
    let mut conn = app.conn();
    assert!(
        diesel::sql_query("DELETE FROM admin_audit")
            .execute(&mut conn)
            .is_err()
    );
    assert!(
        diesel::sql_query("UPDATE admin_audit SET action = 'nothing'")
            .execute(&mut conn)
            .is_err()
    );
    assert!(
        diesel::sql_query("UPDATE admin_audit SET ip = '192.0.2.1'")
            .execute(&mut conn)
            .is_err()
    );
    assert_eq!(audit_actions(&app).len(), actions.len());
}

#[tokio::test]
async fn a_tier_change_is_seen_by_the_users_next_request() {
    let (app, admin) = app_with_admin().await;
    let fern = app.user("fern").await;
    let allowance = |usage: serde_json::Value| usage["usage"]["free_images"]["allowance"].as_u64();
    let usage: serde_json::Value = app
        .get(&fern, "/api/usage")
        .await
        .json()
        .await
        .expect("usage");
    assert_eq!(
        allowance(usage),
        Some(2),
        "standard, and now cached on this instance"
    );
    let fern_id = app.user_id("fern");
    let response = post(
        &app,
        &admin,
        &format!("/admin/users/{fern_id}/update"),
        &[("tier", "plus")],
    )
    .await;
    assert_eq!(response.status(), 303);
    let usage: serde_json::Value = app
        .get(&fern, "/api/usage")
        .await
        .json()
        .await
        .expect("usage");
    assert_eq!(
        allowance(usage),
        Some(5),
        "plus at once, not after the cache expires"
    );
}

#[tokio::test]
async fn an_abuse_report_says_which_file_is_missing_instead_of_failing() {
    let (app, admin) = app_with_admin().await;
    let client = app.user("lostfile").await;
    app.upload_ok(&client, crate::support::fixtures::png(30, 30), &[])
        .await;
    app.upload_ok(&client, crate::support::fixtures::png(31, 31), &[])
        .await;
    let pristine = app
        .stored_files()
        .into_iter()
        .find(|path| path.to_string_lossy().contains("/pristine/"))
        .expect("a pristine file");
    std::fs::remove_file(&pristine).expect("lose a file");
    let response = admin
        .get(app.url("/admin/ips/127.0.0.1/report.csv"))
        .send()
        .await
        .expect("report");
    assert_eq!(response.status(), 200);
    let csv = response.text().await.expect("csv");
    assert_eq!(csv.matches("(file missing)").count(), 1, "{csv}");
    assert_eq!(csv.lines().count(), 3, "a header and both uploads: {csv}");
}

#[tokio::test]
async fn error_pages_keep_the_signed_in_menu_with_the_name() {
    let app = spawn_app_with(admin_settings).await;
    let user = app.user("curious").await;
    let response = app.get(&user, "/admin").await;
    assert_eq!(response.status(), 404);
    let page = response.text().await.expect("page");
    assert!(
        page.contains(">curious</a>"),
        "the name, not \"Account\": {page}"
    );
    assert!(page.contains("action=\"/logout\""), "the signed-in menu");
    let missing = app.page(&user, "/images/999999").await;
    assert!(missing.contains(">curious</a>"));
}
