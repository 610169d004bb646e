//! Privacy and data rights: addresses older than the retention are erased from every INET
//! column, users download everything about them, and deleting an account removes all of
//! it and nothing of anyone else.

use std::io::Read;

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};

use crate::admin::app_with_admin;
use crate::support::helpers::{PASSWORD, TestApp, new_client, spawn_app};

#[derive(diesel::QueryableByName)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

/// Every INET column of the schema, as `table.column`, with how many addresses it holds.
fn addresses_by_column(app: &TestApp) -> Vec<(String, i64)> {
    let mut conn = app.conn();
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND data_type = 'inet' ORDER BY 1, 2",
    )
    .load(&mut conn)
    .expect("columns");
    columns
        .into_iter()
        .map(|column| {
            let count: Count = diesel::sql_query(format!(
                "SELECT count(*) AS count FROM {} WHERE {} IS NOT NULL",
                column.table_name, column.column_name
            ))
            .get_result(&mut conn)
            .expect("count");
            (
                format!("{}.{}", column.table_name, column.column_name),
                count.count,
            )
        })
        .collect()
}

/// Moves every record of client activity `days` into the past.
fn age_everything(app: &TestApp, days: i64) {
    let mut conn = app.conn();
    for statement in [
        "UPDATE images SET created_at = created_at - make_interval(days => $1)",
        "UPDATE image_origins SET created_at = created_at - make_interval(days => $1)",
        "UPDATE generation_jobs SET created_at = created_at - make_interval(days => $1)",
        "UPDATE job_origins SET created_at = created_at - make_interval(days => $1)",
        "UPDATE sessions SET created_at = created_at - make_interval(days => $1)",
        "UPDATE usage_events SET at = at - make_interval(days => $1)",
        "UPDATE login_failures SET at = at - make_interval(days => $1)",
        "UPDATE free_image_allowances SET updated_at = updated_at - make_interval(days => $1)",
    ] {
        diesel::sql_query(statement)
            .bind::<diesel::sql_types::Integer, _>(i32::try_from(days).expect("days"))
            .execute(&mut conn)
            .expect(statement);
    }
}

fn purge(app: &TestApp) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_atelier"))
        .arg("purge-ips")
        .env("DATABASE_URL", &app.db_url)
        .env("ATELIER_IP_RETENTION_DAYS", "90")
        .env("ATELIER_LOG", "warn")
        .output()
        .expect("run atelier purge-ips");
    assert!(output.status.success(), "{output:?}");
}

#[tokio::test]
async fn purge_ips_leaves_no_address_older_than_the_retention() {
    let (app, _admin) = app_with_admin().await;
    // Activity of every kind that records an address.
    let user = app.user("olduser").await;
    user.from("203.0.113.1").generated("an old painting").await;
    app.visitor_from("203.0.113.2")
        .generated("an anonymous old painting")
        .await;
    app.login(&new_client(), "olduser", "wrong password").await;
    // The audit log refuses edits, so an old entry is written as old.
    diesel::sql_query(
        "INSERT INTO admin_audit (actor_name, action, target, ip, at)
         VALUES ('root', 'view_case_file', '203.0.113.1', '192.0.2.10', now() - interval '91 days')",
    )
    .execute(&mut app.conn())
    .expect("old audit entry");
    {
        use atelier::db::schema::free_image_allowances as free;
        diesel::insert_into(free::table)
            .values((
                free::ip_key.eq("203.0.113.3/32"
                    .parse::<ipnetwork::IpNetwork>()
                    .expect("ip")),
                free::used.eq(1),
            ))
            .execute(&mut app.conn())
            .expect("free image counter");
    }
    let before = addresses_by_column(&app);
    assert!(
        before.len() >= 8,
        "every INET column is checked: {before:?}"
    );
    let populated: Vec<&str> = before
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(column, _)| column.as_str())
        .collect();
    for column in [
        "image_origins.client_ip",
        "job_origins.client_ip",
        "sessions.ip",
        "usage_events.ip_key",
        "usage_events.client_ip",
        "login_failures.ip_key",
        "free_image_allowances.ip_key",
        "admin_audit.ip",
    ] {
        assert!(
            populated.contains(&column),
            "{column} holds an address before: {before:?}"
        );
    }
    let images_before = app.count_images();

    age_everything(&app, 91);
    purge(&app);
    let after = addresses_by_column(&app);
    for (column, count) in &after {
        assert_eq!(*count, 0, "{column} still holds addresses: {after:?}");
    }
    assert_eq!(app.count_images(), images_before, "the rows stay");
    let jobs = app.count_jobs();
    assert_eq!(jobs, 2);

    // Recent addresses are kept.
    user.from("198.51.100.1").generated("a new painting").await;
    purge(&app);
    let kept: Vec<Option<ipnetwork::IpNetwork>> = {
        use atelier::db::schema::{image_origins, images};
        use diesel::NullableExpressionMethods;
        images::table
            .left_join(image_origins::table)
            .order(images::id.asc())
            .select(image_origins::client_ip.nullable())
            .load(&mut app.conn())
            .expect("ips")
    };
    assert_eq!(kept.len(), 3);
    assert_eq!(
        kept[2].map(|ip| ip.ip().to_string()),
        Some("198.51.100.1".into())
    );
    assert!(kept[..2].iter().all(Option::is_none));
}

#[tokio::test]
async fn the_privacy_page_says_what_is_kept_and_for_how_long() {
    let app = spawn_app().await;
    let page = app
        .get(&new_client(), "/privacy")
        .await
        .text()
        .await
        .expect("page");
    for words in [
        "IP address",
        "prompts",
        "Abuse prevention",
        "Rate limiting",
        "Security",
        "Legal requests",
        "90 days",
    ] {
        assert!(page.contains(words), "{words}");
    }
}

pub(crate) fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).expect("entry");
            let mut content = Vec::new();
            file.read_to_end(&mut content).expect("read");
            (file.name().to_owned(), content)
        })
        .collect()
}

crate::on_each_backend!(the_export_holds_my_images_and_everything_about_me);

async fn the_export_holds_my_images_and_everything_about_me(app: TestApp) {
    let me = app.user("exporter").await;
    let other = app.user("someoneelse").await;
    let (_, generated) = me
        .generate(serde_json::json!({ "prompt": "a lantern in fog" }))
        .await;
    assert_eq!(generated["success"], true);
    app.upload_ok(
        &me,
        crate::support::fixtures::png(20, 20),
        &[("folder", "Holidays")],
    )
    .await;
    app.upload_ok(&other, crate::support::fixtures::png(20, 20), &[])
        .await;

    let response = app.get(&me, "/account/export").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .expect("cd")
            .contains("atelier-export-exporter")
    );
    let bytes = response.bytes().await.expect("bytes");
    let entries = zip_entries(&bytes);
    let names: Vec<&str> = entries.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    // Entries carry the pictures' own dates, not the format's 1980.
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).expect("zip");
    let this_year = chrono::Datelike::year(&chrono::Utc::now());
    for i in 0..archive.len() {
        let entry = archive.by_index(i).expect("entry");
        let year = entry.last_modified().map(|at| i32::from(at.year()));
        assert_eq!(year, Some(this_year), "{}", entry.name());
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("images/default/") && n.ends_with(".png"))
    );
    assert!(names.iter().any(|n| n.starts_with("images/holidays/")));
    let (_, json) = entries
        .iter()
        .find(|(name, _)| name == "atelier-export.json")
        .expect("json");
    let record: serde_json::Value = serde_json::from_slice(json).expect("json");
    assert_eq!(record["profile"]["username"], "exporter");
    let images = record["images"].as_array().expect("images");
    assert_eq!(images.len(), 2);
    assert!(images.iter().any(|i| i["prompt"] == "a lantern in fog"));
    assert!(images.iter().all(|i| i["client_ip"] == "127.0.0.1"));
    assert!(!record["ledger"].as_array().expect("ledger").is_empty());
    assert!(!record["sessions"].as_array().expect("sessions").is_empty());
    assert!(record["api_tokens"].is_array());
    // Each image file in the zip is a decodable picture.
    for (name, bytes) in entries
        .iter()
        .filter(|(name, _)| name.starts_with("images/"))
    {
        image::load_from_memory(bytes).unwrap_or_else(|err| panic!("{name}: {err}"));
    }
    assert_eq!(
        app.get(&new_client(), "/account/export").await.status(),
        303
    );
}

crate::on_each_backend!(deleting_my_account_removes_everything_of_mine_and_nothing_of_others);

async fn deleting_my_account_removes_everything_of_mine_and_nothing_of_others(app: TestApp) {
    let me = app.user("leaver").await;
    let other = app.user("stayer").await;
    for client in [&me, &other] {
        let (status, json) = client
            .generate(serde_json::json!({ "prompt": "a goodbye card" }))
            .await;
        assert_eq!(status, 200, "{json}");
    }
    app.upload_ok(
        &me,
        crate::support::fixtures::png(20, 20),
        &[("folder", "Trips")],
    )
    .await;
    let second_device = new_client();
    app.login(&second_device, "leaver", PASSWORD).await;

    let response = app
        .post_form(
            &me,
            "/account/delete",
            &[("delete_password", "not my password")],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .expect("page")
            .contains("nothing was deleted")
    );
    assert_eq!(app.count_images(), 3);

    let response = app
        .post_form(&me, "/account/delete", &[("password", PASSWORD)])
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .expect("page")
            .contains("Your account is deleted")
    );
    assert_eq!(app.count_images(), 1, "only the other user's image is left");
    let leaver = app.uploads.join("leaver");
    assert!(
        !app.stored_files()
            .iter()
            .any(|file| file.starts_with(&leaver))
    );
    if app.object_store.is_none() {
        assert!(!leaver.exists(), "no empty folders left either");
    }
    assert!(app.uploads.join("stayer").exists());
    assert_eq!(app.count_users(), 1);
    use atelier::db::schema::{credit_ledger, folders, sessions};
    let mut conn = app.conn();
    let orphans: i64 = credit_ledger::table
        .filter(credit_ledger::user_id.is_null())
        .count()
        .get_result(&mut conn)
        .expect("ledger");
    assert_eq!(
        orphans, 2,
        "the signup grant and the charge stay, anonymised"
    );
    let folder_count: i64 = folders::table
        .count()
        .get_result(&mut conn)
        .expect("folders");
    assert_eq!(folder_count, 1);
    let jobs = app.count_jobs();
    assert_eq!(jobs, 1);
    let session_count: i64 = sessions::table
        .filter(sessions::user_id.is_not_null())
        .count()
        .get_result(&mut conn)
        .expect("sessions");
    assert_eq!(session_count, 1, "only the other user's session");
    // Every device is signed out, and the account cannot log in again.
    for client in [&me, &second_device] {
        assert_eq!(app.get(client, "/dashboard").await.status(), 303);
    }
    assert_eq!(
        app.login(&new_client(), "leaver", PASSWORD).await.status(),
        401
    );
    assert_eq!(app.get(&other, "/dashboard").await.status(), 200);
}
