//! AI tagging (SPEC §14) over HTTP: the owner asks, sees, accepts some suggestions and
//! dismisses the rest; nobody else (another user, an admin, a visitor) can reach them; a
//! job whose picture went away stores nothing; a remote tagger sees only the pictures of
//! accounts that said yes, and what it answers is checked like any input; uploads and
//! generations get suggestions unasked; bulk; search by tag; export.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;

use crate::support::fake_vision::{self, Answer, FakeVision};
use crate::support::helpers::{TestApp, poll, spawn_app_with};
use crate::support::visitor::Visitor;

/// A one-colour picture (the builtin tagger names its colour).
fn plain(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb(rgb));
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("png");
    bytes
}

/// `POST /images/{id}/{action}` as JSON from `who`: status and answer.
async fn post_json(who: &Visitor, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let response = who
        .request_to(Method::POST, path)
        .header("accept", "application/json")
        .json(&body)
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// `GET /api/images/{id}` as `who`: status and the image.
async fn image_of(who: &Visitor, id: i64) -> (u16, serde_json::Value) {
    let response = who.fetch(&format!("/api/images/{id}")).await;
    let status = response.status().as_u16();
    let json: serde_json::Value = response.json().await.unwrap_or_default();
    (status, json["image"].clone())
}

fn tags_of(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            item.get("tag")
                .unwrap_or(item)
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The image's suggestions once its tagging jobs are done (up to 10 s).
async fn suggestions_settled(who: &Visitor, id: i64) -> Vec<String> {
    let image = poll(
        Duration::from_secs(10),
        || image_of(who, id),
        |(_, image)| !tags_of(&image["suggested_tags"]).is_empty(),
    )
    .await
    .1;
    tags_of(&image["suggested_tags"])
}

/// The "N suggested" badge of the gallery's only tile, if it has one.
fn waiting_on_tile(page: &str) -> Option<usize> {
    let badge = page.split("<span class=\"badge-suggested\">").nth(1)?;
    badge.split(' ').next()?.parse().ok()
}

/// As a server runs by default: every upload and generation gets suggestions unasked.
fn suggesting_unasked(s: &mut HashMap<String, String>) {
    s.insert("auto_tag".into(), "suggest".into());
}

#[tokio::test]
async fn the_owner_suggests_accepts_some_and_dismisses_the_rest_and_nobody_else_can() {
    let (app, admin) = crate::admin::app_with_admin().await;
    let owner = app.user("tagger").await;
    let id = app
        .upload_ok(
            &owner,
            plain(600, 300, [220, 30, 30]),
            &[("title", "holiday")],
        )
        .await;
    let (_, image) = image_of(&owner, id).await;
    assert_eq!(
        image["suggested_tags"],
        serde_json::json!([]),
        "nothing unasked"
    );

    // Asked by JSON, waited for: the builtin tagger names what the pixels say.
    let path = format!("/images/{id}/suggest-tags");
    let (status, answer) = post_json(&owner, &path, serde_json::json!({ "wait": true })).await;
    assert_eq!(status, 200, "{answer}");
    let suggested = tags_of(&answer["suggested_tags"]);
    for expected in ["landscape", "red"] {
        assert!(suggested.contains(&expected.to_owned()), "{suggested:?}");
    }
    assert_eq!(answer["suggested_tags"][0]["source"], "builtin");
    assert!(answer["suggested_tags"][0]["confidence"].as_f64().is_some());
    assert_eq!(
        waiting_on_tile(&app.page(&owner, "/gallery").await),
        Some(suggested.len())
    );
    let image_page = app.page(&owner, &format!("/images/{id}")).await;
    assert!(
        !image_page.contains("No suggestions waiting"),
        "{image_page}"
    );

    // Everyone else: 404 on all three routes, and nothing in any JSON they can read.
    let stranger = app.user("stranger").await;
    let visitor = app.visitor();
    for who in [&stranger, &admin, &visitor] {
        for (route, body) in [
            ("suggest-tags", serde_json::json!({})),
            ("tags/accept", serde_json::json!({ "all": 1 })),
            ("tags/dismiss", serde_json::json!({ "all": 1 })),
        ] {
            let (status, _) = post_json(who, &format!("/images/{id}/{route}"), body).await;
            let expected = if who.name.is_none() { 401 } else { 404 };
            assert_eq!(status, expected, "{:?} on {route}", who.name);
        }
        let (status, _) = image_of(who, id).await;
        assert!(status == 404 || status == 401, "{:?}: {status}", who.name);
        let listing = who.fetch("/api/images").await.text().await.expect("body");
        assert!(!listing.contains("suggested_tags\":[{"), "{listing}");
    }
    let admins_view = app.page(&admin, &format!("/images/{id}")).await;
    assert!(!admins_view.contains("Suggested tags"), "{admins_view}");
    assert_eq!(
        tags_of(&image_of(&owner, id).await.1["suggested_tags"]),
        suggested
    );

    // Accept two (a form, as the page sends it, and JSON), dismiss the rest.
    let response = owner
        .submit(&format!("/images/{id}/tags/accept"), &[("tags", "red")])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        waiting_on_tile(&app.page(&owner, "/gallery").await),
        Some(suggested.len() - 1)
    );
    let (status, answer) = post_json(
        &owner,
        &format!("/images/{id}/tags/accept"),
        serde_json::json!({ "tags": ["landscape", "not-suggested"] }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], serde_json::json!(["landscape"]));
    let (status, answer) = post_json(
        &owner,
        &format!("/images/{id}/tags/dismiss"),
        serde_json::json!({ "all": true }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (_, image) = image_of(&owner, id).await;
    assert_eq!(tags_of(&image["tags"]), ["red", "landscape"]);
    assert_eq!(image["suggested_tags"], serde_json::json!([]));
    assert_eq!(waiting_on_tile(&app.page(&owner, "/gallery").await), None);
    let image_page = app.page(&owner, &format!("/images/{id}")).await;
    assert!(
        image_page.contains("No suggestions waiting"),
        "{image_page}"
    );
    let (status, answer) = post_json(
        &owner,
        &format!("/images/{id}/tags/accept"),
        serde_json::json!({ "tags": "<b>" }),
    )
    .await;
    assert_eq!(status, 400, "{answer}");

    // Search finds it by an accepted tag; the gallery's tag filter too; export has them.
    let found = owner
        .fetch("/api/images?q=red")
        .await
        .text()
        .await
        .expect("body");
    assert!(found.contains(&format!("\"id\":{id}")), "{found}");
    let none = owner
        .fetch("/api/images?q=purple")
        .await
        .text()
        .await
        .expect("body");
    assert!(!none.contains(&format!("\"id\":{id}")), "{none}");
    let gallery = app.page(&owner, "/gallery?tag=landscape").await;
    assert!(gallery.contains(&format!("/images/{id}")));
    let export = owner
        .fetch("/account/export")
        .await
        .bytes()
        .await
        .expect("zip");
    let record = crate::privacy::zip_entries(&export)
        .into_iter()
        .find(|(name, _)| name == "atelier-export.json")
        .expect("record");
    let record: serde_json::Value = serde_json::from_slice(&record.1).expect("json");
    assert_eq!(
        record["images"][0]["tags"],
        serde_json::json!(["red", "landscape"])
    );
}

#[tokio::test]
async fn too_many_tags_are_refused_beside_the_form_and_change_nothing() {
    let app = crate::support::helpers::spawn_app().await;
    let owner = app.user("crowded").await;
    let full: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
    let id = app
        .upload_ok(
            &owner,
            plain(300, 300, [20, 60, 200]),
            &[("tags", &full.join(","))],
        )
        .await;
    let path = format!("/images/{id}/suggest-tags");
    assert_eq!(post_json(&owner, &path, serde_json::json!({})).await.0, 200);
    let response = owner
        .submit(&format!("/images/{id}/tags/accept"), &[("all", "1")])
        .await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.expect("page");
    assert!(page.contains("At most 20 tags"), "{page}");
    let (_, image) = image_of(&owner, id).await;
    assert_eq!(tags_of(&image["tags"]).len(), 20);
    assert!(
        !tags_of(&image["suggested_tags"]).is_empty(),
        "still offered"
    );
}

/// An app whose tagger is the fake vision server, answering as told.
async fn app_with_remote_tagger(vocabulary: Option<&str>) -> (TestApp, FakeVision) {
    app_with_remote_tagger_and(vocabulary, |_| {}).await
}

/// As [`app_with_remote_tagger`], with more settings.
async fn app_with_remote_tagger_and(
    vocabulary: Option<&str>,
    customise: impl FnOnce(&mut HashMap<String, String>),
) -> (TestApp, FakeVision) {
    let fake = fake_vision::start().await;
    let base = fake.base_url.clone();
    let vocabulary = vocabulary.map(|words| {
        let path = std::env::temp_dir().join(format!(
            "atelier-vocabulary-{}.txt",
            atelier::domain::tokens::random_hex(8).expect("rng")
        ));
        std::fs::write(&path, words).expect("vocabulary");
        path
    });
    let app = spawn_app_with(move |s| {
        suggesting_unasked(s);
        s.insert("tagger".into(), "openai".into());
        s.insert("tagger_base_url".into(), base);
        s.insert("tagger_api_key".into(), fake_vision::KEY.into());
        s.insert("tagger_model".into(), fake_vision::MODEL.into());
        s.insert("tagger_timeout_secs".into(), "2".into());
        if let Some(path) = vocabulary {
            s.insert("tag_vocabulary".into(), path.display().to_string());
        }
        customise(s);
    })
    .await;
    (app, fake)
}

/// Opts `who` in to the remote tagger.
async fn consent(who: &Visitor) {
    let response = who
        .submit(
            "/account/tagging",
            &[("remote_tagging", "on"), ("language", "English")],
        )
        .await;
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn the_remote_tagger_sees_only_pictures_of_accounts_that_said_yes() {
    let (app, fake) = app_with_remote_tagger(None).await;
    let shy = app.user("shy").await;
    // Auto-suggest is on, but this account never agreed: nothing is queued or sent.
    let id = app
        .upload_ok(&shy, plain(200, 100, [250, 200, 0]), &[])
        .await;
    let (status, answer) = post_json(
        &shy,
        &format!("/images/{id}/suggest-tags"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("account"),
        "{answer}"
    );
    let account = app.page(&shy, "/account").await;
    assert!(
        account.contains("your pictures are sent to 127.0.0.1"),
        "the host is named: {account}"
    );
    assert!(
        app.page(&shy, "/privacy")
            .await
            .contains(fake_vision::MODEL)
    );
    assert_eq!(app.count_tag_jobs(), 0);
    assert_eq!(fake.requests(), 0, "the fake saw nothing");

    // Once it agrees, an upload is sent (the preview, as a data URL) and suggested.
    consent(&shy).await;
    fake.answer(Answer::Tags(vec!["Beach".into(), "sea".into()]));
    let id = app
        .upload_ok(&shy, plain(200, 100, [250, 200, 0]), &[])
        .await;
    assert_eq!(suggestions_settled(&shy, id).await, ["beach", "sea"]);
    assert_eq!(fake.malformed(), Vec::<String>::new());
    let sent = fake.last_request();
    let text = sent["messages"][1]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("English"), "the language is asked: {text}");
    assert_eq!(
        image_of(&shy, id).await.1["suggested_tags"][0]["source"],
        format!("openai:{}", fake_vision::MODEL)
    );
    // Turning it off again stops it at once, even for a job already asked for.
    let response = shy
        .submit("/account/tagging", &[("language", "English")])
        .await;
    assert_eq!(response.status(), 303);
    let before = fake.requests();
    app.upload_ok(&shy, plain(200, 100, [250, 200, 0]), &[])
        .await;
    assert_eq!(fake.requests(), before);
}

#[tokio::test]
async fn what_the_remote_tagger_answers_is_checked_like_any_input() {
    let (app, fake) = app_with_remote_tagger(Some("# allowed\nbeach\nsea\nsky\n")).await;
    let owner = app.user("careful").await;
    consent(&owner).await;
    let id = app
        .upload_ok(
            &owner,
            plain(100, 100, [0, 90, 200]),
            &[("tags", "holiday")],
        )
        .await;
    let path = format!("/images/{id}/suggest-tags");
    let ask = || post_json(&owner, &path, serde_json::json!({ "wait": true }));
    // Let the upload's own job finish first.
    suggestions_settled(&owner, id).await;

    // The vocabulary is sent as an enum, with the owner's own tags.
    let schema = &fake.last_request()["response_format"]["json_schema"]["schema"];
    let allowed = &schema["properties"]["tags"]["items"]["properties"]["tag"]["enum"];
    assert_eq!(
        *allowed,
        serde_json::json!(["beach", "sea", "sky", "holiday"])
    );

    fake.answer(Answer::Prose);
    let (status, answer) = ask().await;
    assert_eq!(status, 502, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("something other than tags")
    );

    let before = fake.requests();
    fake.answer(Answer::ServerError);
    let (status, _) = ask().await;
    assert_eq!(status, 502);
    assert_eq!(
        fake.requests() - before,
        3,
        "tried three times with backoff"
    );

    fake.answer(Answer::TenThousand);
    let (status, answer) = ask().await;
    assert_eq!(status, 200, "{answer}");
    assert!(tags_of(&answer["suggested_tags"]).len() <= 10, "{answer}");
    fake.answer(Answer::Tags(vec![
        "beach".into(),
        "volcano".into(),
        "holiday".into(),
    ]));
    let (status, answer) = ask().await;
    assert_eq!(status, 200);
    assert_eq!(
        tags_of(&answer["suggested_tags"]),
        ["beach"],
        "outside the vocabulary dropped; a tag the image has is not suggested again"
    );
    fake.answer(Answer::Hostile);
    let (status, answer) = ask().await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        tags_of(&answer["suggested_tags"]),
        ["beach"],
        "markup and NUL dropped, \"Beach\" lower-cased"
    );
    {
        use diesel::{QueryDsl, RunQueryDsl};
        let stored: Vec<String> = atelier::db::schema::tag_suggestions::table
            .select(atelier::db::schema::tag_suggestions::tag)
            .load(&mut app.conn())
            .expect("suggestions");
        assert!(
            stored
                .iter()
                .all(|tag| !tag.contains('<') && !tag.contains('\0'))
        );
    }

    // A slow model never holds a request: `wait: false` answers at once.
    fake.answer(Answer::Slowly(
        Duration::from_millis(1500),
        vec!["sky".into()],
    ));
    let started = std::time::Instant::now();
    let (status, answer) = post_json(&owner, &path, serde_json::json!({ "wait": false })).await;
    assert_eq!(status, 202, "{answer}");
    assert!(started.elapsed() < Duration::from_millis(1500));
    let job = answer["job_id"].as_i64().expect("job id");
    assert_eq!(app.finished_job(&owner, job).await["status"], "succeeded");
    assert_eq!(suggestions_settled(&owner, id).await, ["sky"]);
    assert_eq!(fake.malformed(), Vec::<String>::new());
}

#[tokio::test]
async fn a_job_whose_picture_went_away_stores_nothing() {
    let (app, fake) = app_with_remote_tagger(None).await;
    let owner = app.user("mover").await;
    let other = app.user("receiver").await;
    consent(&owner).await;
    fake.answer(Answer::Slowly(
        Duration::from_millis(800),
        vec!["beach".into()],
    ));
    for gone in ["deleted", "given away"] {
        // Once the upload's own job has reached the slow model, take the picture away.
        let seen = fake.requests();
        let id = app.upload_ok(&owner, plain(64, 64, [0, 0, 0]), &[]).await;
        let reached = poll(
            Duration::from_secs(5),
            || async { fake.requests() },
            |n| *n > seen,
        );
        assert!(reached.await > seen, "{gone}: the job reached the model");
        if gone == "deleted" {
            let path = format!("/images/{id}/delete");
            let response = owner.submit(&path, &[("forever", "1")]).await;
            assert_eq!(response.status(), 303);
        } else {
            // No public path gives a picture to another account: the job must still cope.
            use atelier::db::schema::images;
            use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
            diesel::update(images::table.find(id))
                .set(images::user_id.eq(app.user_id("receiver")))
                .execute(&mut app.conn())
                .expect("give away");
        }
        let job: serde_json::Value = poll(
            Duration::from_secs(10),
            || async {
                use atelier::db::schema::generation_jobs as jobs;
                use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
                let (status, error): (String, Option<String>) = jobs::table
                    .filter(jobs::kind.eq("tag"))
                    .order(jobs::id.desc())
                    .select((jobs::status, jobs::error))
                    .first(&mut app.conn())
                    .expect("job");
                serde_json::json!({ "status": status, "error": error })
            },
            |job| job["status"] == "failed" || job["status"] == "succeeded",
        )
        .await;
        assert_eq!(job["status"], "failed", "{gone}: {job}");
        assert!(
            job["error"]
                .as_str()
                .unwrap_or_default()
                .contains("nothing was stored")
        );
        let (status, image) = image_of(&other, id).await;
        if gone == "given away" {
            assert_eq!(status, 200);
            assert_eq!(image["suggested_tags"], serde_json::json!([]), "{gone}");
        }
    }
}

#[tokio::test]
async fn uploads_and_generations_get_suggestions_unasked_and_bulk_asks_for_many() {
    let app = spawn_app_with(suggesting_unasked).await;
    let owner = app.user("eager").await;
    let upload = app
        .upload_ok(&owner, plain(300, 600, [250, 250, 250]), &[])
        .await;
    let suggested = suggestions_settled(&owner, upload).await;
    assert!(suggested.contains(&"portrait".to_owned()), "{suggested:?}");
    assert!(suggested.contains(&"white".to_owned()), "{suggested:?}");

    let made = owner.generated("a misty forest at sunset").await;
    let id = made["db_id"].as_i64().expect("id");
    let suggested = suggestions_settled(&owner, id).await;
    for word in ["sunset", "forest", "fog"] {
        assert!(
            suggested.contains(&word.to_owned()),
            "{word} in {suggested:?}"
        );
    }
    // The gallery says how many wait on each picture.
    let gallery = app.page(&owner, "/gallery").await;
    assert!(gallery.contains(" suggested</span>"), "{gallery}");

    // Bulk: dismiss everything, then ask again for both at once.
    for image in [upload, id] {
        let (status, _) = post_json(
            &owner,
            &format!("/images/{image}/tags/dismiss"),
            serde_json::json!({ "all": 1 }),
        )
        .await;
        assert_eq!(status, 200);
    }
    let response = owner
        .request_to(Method::POST, "/gallery/bulk")
        .form(&[
            ("ids", upload.to_string()),
            ("ids", id.to_string()),
            ("action", "suggest-tags".to_owned()),
        ])
        .send()
        .await
        .expect("bulk");
    assert_eq!(response.status(), 303);
    assert!(!suggestions_settled(&owner, upload).await.is_empty());
    assert!(!suggestions_settled(&owner, id).await.is_empty());
}

#[tokio::test]
async fn a_server_without_a_tagger_says_so() {
    let app = spawn_app_with(|s| {
        suggesting_unasked(s);
        s.insert("tagger".into(), "off".into());
    })
    .await;
    let owner = app.user("plain").await;
    let id = app.upload_ok(&owner, plain(10, 10, [1, 2, 3]), &[]).await;
    let (status, answer) = post_json(
        &owner,
        &format!("/images/{id}/suggest-tags"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("turned off")
    );
    assert_eq!(app.count_tag_jobs(), 0, "no job unasked either");
    assert!(
        !app.page(&owner, &format!("/images/{id}"))
            .await
            .contains("Suggest tags")
    );
}

#[tokio::test]
async fn in_chromium_suggestions_appear_by_themselves_and_become_tags() {
    use crate::support::webdriver::{Browser, browser_binaries, skip_or_fail};
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("in_chromium_suggestions_appear_by_themselves_and_become_tags");
        return;
    };
    let (app, fake) = app_with_remote_tagger(None).await;
    let owner = app.user("chooser").await;
    consent(&owner).await;
    // A model that takes its time, so the page has to follow the job.
    fake.answer(Answer::Slowly(
        Duration::from_millis(1500),
        vec!["beach".into(), "sea".into(), "sky".into()],
    ));
    let picture = tempfile::Builder::new()
        .suffix(".png")
        .tempfile()
        .expect("temp file");
    std::fs::write(picture.path(), plain(640, 400, [40, 120, 220])).expect("write picture");

    let browser = Browser::start(&chromium, &chromedriver).await;
    browser.goto(&app.url("/login")).await;
    browser.fill("#username", "chooser").await;
    browser
        .fill("#password", crate::support::helpers::PASSWORD)
        .await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for_url(|u| !u.contains("/login")).await;
    browser.goto(&app.url("/upload")).await;
    browser
        .fill("#file", &picture.path().display().to_string())
        .await;
    browser.fill("#title", "Bay").await;
    browser.click("main form button[type=submit]").await;
    let page = browser.wait_for_url(|u| u.contains("/images/")).await;
    assert!(
        browser
            .text("#suggestions")
            .await
            .contains("Looking at the picture"),
        "{}",
        browser.text("#suggestions").await
    );
    browser.screenshot("50-tagging-pending").await;
    // Nobody reloads: the page follows the job and shows the chips.
    assert!(
        browser
            .wait_until("document.querySelectorAll('#suggestions .suggestion').length === 3")
            .await,
        "suggestions appear: {}",
        browser.text("#suggestions").await
    );
    browser.screenshot("51-tagging-suggested").await;

    for (button, after) in [
        (
            "form[action$='/tags/accept'] input[value='beach'] + button",
            "Tag \"beach\" added.",
        ),
        (
            "form[action$='/tags/accept'] input[value='sea'] + button",
            "Tag \"sea\" added.",
        ),
        ("button[aria-label='Dismiss sky']", "Suggestion dismissed."),
    ] {
        browser.click(button).await;
        assert!(
            browser
                .wait_until(&format!(
                    "document.querySelector('.flash') && document.querySelector('.flash').textContent.includes({})",
                    serde_json::json!(after)
                ))
                .await,
            "{after}: {}",
            browser.text("main").await
        );
    }
    assert_eq!(
        browser
            .execute(
                "return document.querySelectorAll('#suggestions .suggestion').length;",
                serde_json::json!([])
            )
            .await,
        serde_json::json!(0)
    );
    let facts = browser.text(".facts .tags").await;
    assert!(facts.contains("#beach") && facts.contains("#sea") && !facts.contains("#sky"));
    browser.screenshot("52-tagging-accepted").await;

    // The tag filters the gallery.
    browser
        .click(".facts a.tag[href='/gallery?tag=beach']")
        .await;
    browser.wait_for_url(|u| u.contains("tag=beach")).await;
    let id = page.rsplit('/').next().expect("id").to_owned();
    assert!(
        browser
            .wait_until(&format!(
                "document.querySelector(\".tile a[href='/images/{id}?tag=beach']\") !== null"
            ))
            .await,
        "{}",
        browser.text("main").await
    );
    browser.screenshot("53-tagging-filtered").await;
    browser.quit().await;
    assert_eq!(fake.malformed(), Vec::<String>::new());
}

#[tokio::test]
async fn suggestions_that_cost_credits_are_charged_once_refunded_on_failure_and_never_unasked() {
    let (app, fake) = app_with_remote_tagger_and(None, |s| {
        s.insert("credits_per_tagging".into(), "2".into());
        s.insert("signup_credits".into(), "3".into());
    })
    .await;
    let owner = app.user("payer").await;
    consent(&owner).await;
    let id = app.upload_ok(&owner, plain(50, 50, [9, 9, 9]), &[]).await;
    assert_eq!(app.count_tag_jobs(), 0, "nothing unasked when it costs");
    assert!(
        app.page(&owner, &format!("/images/{id}"))
            .await
            .contains("Suggest tags (2 credits)")
    );
    let path = format!("/images/{id}/suggest-tags");

    // A failed tagging gives the credits back.
    fake.answer(Answer::Prose);
    let (status, _) = post_json(&owner, &path, serde_json::json!({})).await;
    assert_eq!(status, 502);
    assert_eq!(app.credits_of("payer"), 3, "refunded");
    // A good one is paid for once; then the credits are short.
    fake.answer(Answer::Tags(vec!["sea".into()]));
    let (status, answer) = post_json(&owner, &path, serde_json::json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(app.credits_of("payer"), 1);
    let (status, answer) = post_json(&owner, &path, serde_json::json!({})).await;
    assert_eq!(status, 402, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("credits")
    );
    assert_eq!(app.credits_of("payer"), 1, "a refusal takes nothing");
}
