//! Anonymous generation: a visitor generates without an account, the pictures live in a
//! session-scoped area under `uploads/_anon/`, move into the account at registration or
//! login, and are deleted when nobody claims them in time.

use std::time::Duration;

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};

use crate::support::helpers::{
    PASSWORD, TestApp, eventually, location, poll, spawn_app, spawn_app_with,
};
use crate::support::visitor::Visitor;

/// Generates through the API as `client`, waiting for the result.
async fn generate_and_wait(client: &Visitor, prompt: &str) -> serde_json::Value {
    let (status, json) = client
        .generate(serde_json::json!({ "prompt": prompt }))
        .await;
    assert_eq!(status, 200, "{json}");
    json
}

fn files_under(app: &TestApp, prefix: &str) -> Vec<std::path::PathBuf> {
    app.stored_files()
        .into_iter()
        .filter(|path| {
            path.strip_prefix(&app.uploads)
                .is_ok_and(|rel| rel.starts_with(prefix))
        })
        .collect()
}

#[tokio::test]
async fn a_visitor_generates_from_the_form_then_registers_and_keeps_the_picture() {
    let app = spawn_app().await;
    let visitor = app.visitor();
    // The landing page offers the form and says what is left.
    let home = app.get(&visitor, "/").await.text().await.expect("home");
    assert!(home.contains("action=\"/generate\"") && home.contains("3 of 3 left"));

    let response = app
        .post_form(
            &visitor,
            "/generate",
            &[("prompt", "a quiet harbour at dusk")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let job_url = location(&response).to_owned();
    assert!(job_url.starts_with("/jobs/"));
    let job_id: i64 = job_url.trim_start_matches("/jobs/").parse().expect("id");
    let job = poll(
        Duration::from_secs(10),
        || async { app.json(&visitor, &format!("/api/jobs/{job_id}")).await },
        |job| job["job"]["status"] == "succeeded",
    )
    .await;
    assert_eq!(job["job"]["status"], "succeeded", "{job}");
    let image_url = job["job"]["images"][0]["image_url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert!(image_url.starts_with("/media/_anon/"), "{image_url}");
    let page = app
        .get(&visitor, &job_url)
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Create a free account") && page.contains(&image_url));

    // Only this session sees it: not another visitor, not another user.
    assert_eq!(app.get(&visitor, &image_url).await.status(), 200);
    assert_eq!(app.get(&app.visitor(), &image_url).await.status(), 404);
    assert_eq!(
        app.get(&app.visitor(), &job_url).await.status(),
        404,
        "another visitor cannot see the job"
    );
    let stranger = app.user("stranger").await;
    assert_eq!(app.get(&stranger, &image_url).await.status(), 404);
    assert_eq!(files_under(&app, "_anon").len(), 4);

    // Registering moves files and row into the new account.
    let response = app
        .register(&visitor, "harbour", "harbour@example.com", PASSWORD)
        .await;
    assert_eq!(response.status(), 303);
    assert!(files_under(&app, "_anon").is_empty(), "nothing left behind");
    assert_eq!(files_under(&app, "harbour/default").len(), 4);
    assert_eq!(app.get(&visitor, &image_url).await.status(), 404);
    app.login(&visitor, "harbour", PASSWORD).await;
    let images = app.api_images(&visitor).await;
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["prompt"], "a quiet harbour at dusk");
    let new_url = images[0]["urls"]["original"].as_str().expect("url");
    assert!(new_url.starts_with("/media/harbour/default/original/"));
    assert_eq!(app.get(&visitor, new_url).await.status(), 200);
    // The job came along: its page is the user's now.
    assert_eq!(app.get(&visitor, &job_url).await.status(), 200);
    assert_eq!(app.get(&stranger, &job_url).await.status(), 404);
    let image_id = images[0]["id"].as_i64().expect("id");
    assert_eq!(
        app.get(&visitor, &format!("/images/{image_id}"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn logging_in_also_claims_what_the_session_made() {
    let app = spawn_app().await;
    app.register(
        &app.visitor(),
        "returning",
        "returning@example.com",
        PASSWORD,
    )
    .await;
    let visitor = app.visitor();
    let first = generate_and_wait(&visitor, "first fern").await;
    let second = generate_and_wait(&visitor, "second fern").await;
    assert!(
        first["image_url"]
            .as_str()
            .expect("url")
            .starts_with("/media/_anon/")
    );
    assert_ne!(first["db_id"], second["db_id"]);
    assert!(
        first["page_url"].is_null(),
        "no image page before signing in"
    );
    let response = app.login(&visitor, "returning", PASSWORD).await;
    assert_eq!(response.status(), 303);
    let images = app.api_images(&visitor).await;
    let prompts: Vec<&str> = images
        .iter()
        .map(|image| image["prompt"].as_str().expect("prompt"))
        .collect();
    assert_eq!(prompts, ["second fern", "first fern"]);
    assert!(files_under(&app, "_anon").is_empty());
    // A second anonymous session is untouched by someone else's login.
    let other = app.visitor();
    generate_and_wait(&other, "someone else's fern").await;
    app.login(&app.visitor(), "returning", PASSWORD).await;
    assert_eq!(files_under(&app, "_anon").len(), 4);
}

#[tokio::test]
async fn anonymous_visitors_make_one_image_at_a_time_and_need_an_account_for_stories() {
    let app = spawn_app().await;
    let visitor = app.visitor();
    let (status, json) = visitor
        .generate(serde_json::json!({ "prompt": "two moons", "count": 2 }))
        .await;
    assert_eq!(status, 400);
    assert!(
        json["error"]
            .as_str()
            .expect("error")
            .contains("one at a time")
    );
    let response = visitor
        .post(app.url("/api/generate-story"))
        .json(&serde_json::json!({ "story": "A fox woke. It ran home." }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 401);
    let response = app
        .post_form(&visitor, "/story", &[("story", "A fox woke. It ran home.")])
        .await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/login"));
    let jobs = app.count_jobs();
    assert_eq!(jobs, 0, "refusals queue nothing");
}

#[tokio::test]
async fn unclaimed_anonymous_pictures_are_deleted_after_the_retention() {
    let app = spawn_app_with(|s| {
        s.insert("housekeeping_interval_secs".into(), "1".into());
        s.insert("anon_retention_secs".into(), "3600".into());
    })
    .await;
    let old_visitor = app.visitor();
    let old = generate_and_wait(&old_visitor, "an old sketch").await;
    let recent = generate_and_wait(&app.visitor(), "a recent sketch").await;
    // A signed-in user's picture of the same age is never touched.
    let user = app.user("keeper").await;
    let kept = generate_and_wait(&user, "kept forever").await;
    {
        use atelier::db::schema::images;
        // Aged in the database: no test waits out the retention.
        let two_hours_ago = chrono::Utc::now() - chrono::Duration::hours(2);
        for id in [&old["db_id"], &kept["db_id"]] {
            diesel::update(images::table.find(id.as_i64().expect("id")))
                .set(images::created_at.eq(two_hours_ago))
                .execute(&mut app.conn())
                .expect("age");
        }
    }
    let app_ref = &app;
    eventually("the old anonymous picture is deleted", || async move {
        app_ref.count_images() == 2
    })
    .await;
    // Rows go first, then their files (a crash in between leaves only files, which
    // `atelier doctor --fix` removes): the files follow a moment later.
    eventually("only the recent picture's files are left", || async move {
        files_under(app_ref, "_anon").len() == 4
    })
    .await;
    assert_eq!(
        app.get(&old_visitor, old["image_url"].as_str().expect("url"))
            .await
            .status(),
        404
    );
    assert_eq!(app.api_images(&user).await.len(), 1);
    let remaining: Vec<i64> = atelier::db::schema::images::table
        .select(atelier::db::schema::images::id)
        .order(atelier::db::schema::images::id.asc())
        .load(&mut app.conn())
        .expect("ids");
    assert_eq!(
        remaining,
        vec![
            recent["db_id"].as_i64().expect("id"),
            kept["db_id"].as_i64().expect("id")
        ]
    );
}

#[tokio::test]
async fn after_the_last_free_picture_the_job_page_offers_no_more_with_the_reason() {
    let app = spawn_app().await;
    let visitor = app.visitor();
    let mut job_page = String::new();
    for n in 0..3 {
        let response = visitor
            .submit("/generate", &[("prompt", &format!("a quiet harbour {n}"))])
            .await;
        assert_eq!(response.status(), 303);
        job_page = location(&response).to_owned();
    }
    let page = poll(
        Duration::from_secs(10),
        || async {
            visitor
                .fetch(&job_page)
                .await
                .text()
                .await
                .unwrap_or_default()
        },
        |page| page.contains("<h1>Done</h1>"),
    )
    .await;
    assert!(
        page.contains(
            "title=\"Same prompt, a new seed\" disabled aria-describedby=\"next-cost\">Vary"
        ),
        "{page}"
    );
    assert!(page.contains("disabled aria-describedby=\"next-cost\">Re-run"));
    assert!(page.contains("aria-disabled=\"true\">Generate another"));
    assert!(
        page.contains("0 of 3 left") || page.contains("used"),
        "the reason: {page}"
    );
}
