//! Video (SPEC §6): the builtin clip end to end, what it costs and who may see it, the
//! OpenAI videos API against the fake (including a job that fails at 60 %), the admin's
//! case file and report, export and deletion, and the server without ffmpeg.

use std::collections::HashMap;
use std::io::Read;

use crate::support::fake_openai::{self, CLIP_SECRET, KEY, VIDEO_MODEL};
use crate::support::helpers::{
    PASSWORD, TestApp, ffmpeg_or_skip, new_client, poll, spawn_app_with,
};
use crate::support::visitor::Visitor;

/// An app whose users start with `credits`, videos costing 5.
async fn app_with_credits(credits: u32) -> TestApp {
    spawn_app_with(move |s| {
        s.insert("signup_credits".into(), credits.to_string());
        s.insert("credits_per_video".into(), "5".into());
        s.insert("trusted_proxies".into(), "127.0.0.1/32".into());
        s.insert("admin_username".into(), "root".into());
        s.insert("admin_email".into(), "root@example.com".into());
        s.insert("admin_password".into(), PASSWORD.into());
    })
    .await
}

#[tokio::test]
async fn anonymous_visitors_are_refused_by_default_and_nothing_is_queued() {
    if !ffmpeg_or_skip("anonymous_visitors_are_refused_by_default") {
        return;
    }
    let app = app_with_credits(0).await;
    let visitor = app.visitor();
    let (status, json) = visitor
        .order_video(serde_json::json!({"prompt": "rain"}))
        .await;
    assert_eq!(status, 401, "{json}");
    assert_eq!(json["success"], false);
    assert!(
        json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("needs an account")
    );
    // The form says the same on the page, with what was typed kept.
    let response = app
        .post_form(
            &visitor,
            "/video",
            &[("prompt", "rain on a lake"), ("seconds", "6")],
        )
        .await;
    assert_eq!(response.status(), 401);
    let page = response.text().await.expect("page");
    assert!(page.contains("needs an account") && page.contains("rain on a lake"));
    assert!(page.contains(r#"<option value="6" selected>"#));
    assert_eq!(app.count_jobs(), 0);
    // An override opens it for one network.
    let mut conn = app.conn();
    diesel::RunQueryDsl::execute(
        diesel::sql_query(
            "INSERT INTO limit_overrides (network, anon_video, reason) VALUES ('127.0.0.1/32', 1, 'test')",
        ),
        &mut conn,
    )
    .expect("override");
    // (The policy cache hears of it through NOTIFY.)
    let visitor = app.visitor();
    let order =
        || visitor.order_video(serde_json::json!({"prompt": "rain", "seconds": 2, "wait": false}));
    let (status, _) = poll(std::time::Duration::from_secs(2), order, |(status, _)| {
        *status != 401
    })
    .await;
    assert_eq!(status, 202, "the override lets one anonymous video through");
    let (status, json) = app
        .visitor()
        .order_video(serde_json::json!({"prompt": "rain", "seconds": 2, "wait": false}))
        .await;
    assert_eq!(status, 429, "the second is over the limit: {json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("anonymous videos")
    );
}

#[tokio::test]
async fn bad_orders_are_refused_with_a_sentence_and_change_nothing() {
    if !ffmpeg_or_skip("bad_orders_are_refused") {
        return;
    }
    let app = app_with_credits(20).await;
    let client = app.user("vidbad").await;
    for body in [
        serde_json::json!({"prompt": ""}),
        serde_json::json!({"prompt": "sea", "seconds": 1}),
        serde_json::json!({"prompt": "sea", "seconds": 9}),
        serde_json::json!({"prompt": "sea", "seconds": "four"}),
        serde_json::json!({"prompt": "sea", "size": "4096x4096"}),
        serde_json::json!({"prompt": "sea", "seed": -1}),
    ] {
        let (status, json) = client.order_video(body.clone()).await;
        assert_eq!(status, 400, "{body} → {json}");
        assert!(!json["error"].as_str().unwrap_or_default().is_empty());
    }
    let response = app
        .post_form(&client, "/video", &[("prompt", "sea"), ("seconds", "12")])
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.expect("page").contains("from 2 to 8"));
    assert_eq!(app.count_jobs(), 0);
    assert_eq!(app.credits_of("vidbad"), 20);
}

#[tokio::test]
async fn twenty_racing_orders_never_overspend_and_videos_never_use_free_images() {
    if !ffmpeg_or_skip("twenty_racing_orders_never_overspend") {
        return;
    }
    let app = app_with_credits(12).await;
    let client = app.user("racer").await;
    let orders = (0..20).map(|i| {
        client.order_video(
            serde_json::json!({"prompt": format!("a river {i}"), "seconds": 2, "wait": false}),
        )
    });
    let results = futures_util::future::join_all(orders).await;
    let accepted: Vec<i64> = results
        .iter()
        .filter(|(status, _)| *status == 202)
        .map(|(_, json)| json["job_id"].as_i64().expect("job id"))
        .collect();
    let refused = results.iter().filter(|(status, _)| *status == 402).count();
    assert_eq!(
        (accepted.len(), refused),
        (2, 18),
        "12 credits buy two 5-credit videos"
    );
    assert_eq!(app.credits_of("racer"), 2, "charged exactly 10");
    let (_, refusal) = results
        .iter()
        .find(|(status, _)| *status == 402)
        .expect("a refusal");
    let message = refusal["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("5 credits") && message.contains("Free images do not cover videos"),
        "{message}"
    );
    for id in accepted {
        let job = app.finished_job_within(&client, id, 60).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["kind"], "video");
        let clip = &job["images"][0];
        assert_eq!(clip["media"], "video");
        assert_eq!(clip["mime"], "video/mp4");
        assert_eq!(clip["seconds"], 2.0);
        assert!(
            clip["thumb_url"]
                .as_str()
                .unwrap_or_default()
                .ends_with(".jpg")
        );
    }
    // 2 credits left: one more costs 5, and the network's free images do not count.
    let (status, _) = client
        .order_video(serde_json::json!({"prompt": "one more"}))
        .await;
    assert_eq!(status, 402);
    assert_eq!(app.credits_of("racer"), 2);
    let ledger: i64 = diesel::RunQueryDsl::get_result::<Sum>(
        diesel::sql_query("SELECT coalesce(sum(delta), 0)::bigint AS total FROM credit_ledger WHERE reason = 'charge'"),
        &mut app.conn(),
    )
    .expect("ledger")
    .total;
    assert_eq!(ledger, -10, "the ledger holds exactly the two charges");
}

#[derive(diesel::QueryableByName)]
struct Sum {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    total: i64,
}

#[tokio::test]
async fn the_clip_plays_for_its_owner_only_and_cannot_be_edited() {
    if !ffmpeg_or_skip("the_clip_plays_for_its_owner_only") {
        return;
    }
    let app = app_with_credits(20).await;
    let owner = app.user("filmmaker").await;
    let (status, json) = owner.order_video(serde_json::json!({"prompt": "waves under a golden sunset", "seconds": 3, "size": "768x512", "seed": 42}),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["message"], "Video generated successfully");
    assert_eq!(
        (json["width"].as_i64(), json["height"].as_i64()),
        (Some(768), Some(512))
    );
    assert_eq!(json["seconds"], 3.0);
    assert_eq!(json["seed"], 42);
    let url = json["video_url"].as_str().expect("video url").to_owned();
    assert!(url.ends_with(".mp4"), "{url}");
    assert_eq!(app.credits_of("filmmaker"), 15);

    // The owner gets the clip, with Range and the proxy's headers.
    let whole = app.get(&owner, &url).await;
    assert_eq!(whole.status(), 200);
    let headers = whole.headers().clone();
    assert_eq!(headers["content-type"], "video/mp4");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    let clip = whole.bytes().await.expect("clip");
    assert_eq!(&clip[4..8], b"ftyp");
    let ranged = owner
        .get(app.url(&url))
        .header("range", "bytes=0-99")
        .send()
        .await
        .expect("range");
    assert_eq!(ranged.status(), 206);
    assert_eq!(
        ranged.headers()["content-range"],
        format!("bytes 0-99/{}", clip.len()).as_str()
    );
    assert_eq!(ranged.bytes().await.expect("bytes").len(), 100);
    let etag = headers["etag"].to_str().expect("etag").to_owned();
    let again = owner
        .get(app.url(&url))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("conditional");
    assert_eq!(again.status(), 304);

    // Another user, and nobody at all, get 404.
    let stranger = app.user("stranger").await;
    assert_eq!(app.get(&stranger, &url).await.status(), 404);
    assert_eq!(app.get(&new_client(), &url).await.status(), 404);
    let id = json["id"].as_i64().expect("id");
    assert_eq!(
        app.get(&stranger, &format!("/images/{id}")).await.status(),
        404
    );

    // The detail page plays it; the gallery shows a play badge.
    let page = app
        .get(&owner, &format!("/images/{id}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("<video class=\"player\"") && page.contains(&url),
        "player"
    );
    assert!(page.contains("3.0 s") && !page.contains("Edit with a prompt"));
    assert!(
        page.contains(r#"action="/video""#),
        "run again makes a video"
    );
    let gallery = app
        .get(&owner, "/gallery")
        .await
        .text()
        .await
        .expect("gallery");
    assert!(gallery.contains("play-badge") && gallery.contains("3.0 s"));

    // Pixel edits are refused with a sentence and change nothing; metadata edits work.
    for op in ["rotate90", "grayscale", "revert"] {
        let response = app
            .post_form(&owner, &format!("/images/{id}/edit"), &[("op", op)])
            .await;
        assert_eq!(response.status(), 400, "{op}");
        assert!(
            response
                .text()
                .await
                .expect("page")
                .contains("Videos cannot be rotated")
        );
    }
    let response = app
        .post_form(
            &owner,
            &format!("/images/{id}/prompt-edit"),
            &[("prompt", "warmer")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.count_jobs(), 1, "no prompt edit of a video was queued");
    let unchanged = app.get(&owner, &url).await.bytes().await.expect("clip");
    assert_eq!(unchanged, clip);
    let response = app
        .post_form(
            &owner,
            &format!("/images/{id}/update"),
            &[
                ("title", "Evening waves"),
                ("tags", "sea, film"),
                ("folder", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);

    // A share link plays it for anyone, with the poster as the picture.
    let response = app
        .post_form(&owner, &format!("/images/{id}/share"), &[])
        .await;
    assert_eq!(response.status(), 303);
    let page = app
        .get(&owner, &format!("/images/{id}"))
        .await
        .text()
        .await
        .expect("page");
    let share = page
        .split("href=\"/s/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|token| format!("/s/{token}"))
        .expect("share link");
    let public = new_client();
    let shared = app
        .get(&public, &share)
        .await
        .text()
        .await
        .expect("share page");
    assert!(
        shared.contains("<video class=\"player\"") && shared.contains(&format!("{share}/image"))
    );
    let served = app.get(&public, &format!("{share}/image")).await;
    assert_eq!(served.headers()["content-type"], "video/mp4");
    assert_eq!(served.bytes().await.expect("clip"), clip);
    let poster = app.get(&public, &format!("{share}/thumb")).await;
    assert_eq!(poster.headers()["content-type"], "image/jpeg");
}

#[tokio::test]
async fn the_same_order_makes_the_same_clip() {
    if !ffmpeg_or_skip("the_same_order_makes_the_same_clip") {
        return;
    }
    let app = app_with_credits(20).await;
    let client = app.user("repeat").await;
    let mut clips = Vec::new();
    for _ in 0..2 {
        let (status, json) = client
            .order_video(
                serde_json::json!({"prompt": "a city skyline at night", "seconds": 2, "seed": 7}),
            )
            .await;
        assert_eq!(status, 200, "{json}");
        let pristine = json["urls"]["pristine"]
            .as_str()
            .expect("pristine")
            .to_owned();
        clips.push(
            app.get(&client, &pristine)
                .await
                .bytes()
                .await
                .expect("clip"),
        );
    }
    assert_eq!(clips[0], clips[1], "byte-identical with builtin");
}

#[tokio::test]
async fn the_admin_case_file_and_report_show_the_video_with_its_ip_and_seconds() {
    if !ffmpeg_or_skip("the_admin_case_file_shows_the_video") {
        return;
    }
    let app = app_with_credits(20).await;
    let client = app.user_from("suspect", "198.51.100.77").await;
    let (status, json) = client
        .order_video(serde_json::json!({"prompt": "a stormy sea", "seconds": 2}))
        .await;
    assert_eq!(status, 200);
    let thumb = json["thumb_url"].as_str().expect("thumb").to_owned();
    let admin = new_client();
    assert_eq!(app.login(&admin, "root", PASSWORD).await.status(), 303);
    let case = app
        .get(&admin, "/admin/ips/198.51.100.77")
        .await
        .text()
        .await
        .expect("case file");
    assert!(case.contains("198.51.100.77"));
    assert!(
        case.contains("video #") && case.contains("· 2 s"),
        "the job line says video and seconds"
    );
    assert!(
        case.contains(&thumb) && case.contains("play-badge"),
        "the poster with a badge"
    );
    let gallery = app
        .get(&admin, "/admin/ips")
        .await
        .text()
        .await
        .expect("ips");
    assert!(gallery.contains("198.51.100.77") && gallery.contains(&thumb));
    // The admin may play it (original), never the provider's bytes.
    let original = json["image_url"].as_str().expect("original");
    assert_eq!(app.get(&admin, original).await.status(), 200);
    let pristine = json["urls"]["pristine"].as_str().expect("pristine");
    assert_eq!(app.get(&admin, pristine).await.status(), 404);
    let csv = app
        .get(&admin, "/admin/ips/198.51.100.77/report.csv")
        .await
        .text()
        .await
        .expect("csv");
    let mut lines = csv.lines();
    assert!(lines.next().expect("header").ends_with(",seconds"));
    let row = lines.next().expect("row");
    assert!(
        row.contains("198.51.100.77") && row.contains(",video,") && row.ends_with(",2"),
        "{row}"
    );
}

#[tokio::test]
async fn export_holds_the_video_and_deleting_the_account_removes_it() {
    if !ffmpeg_or_skip("export_holds_the_video") {
        return;
    }
    let app = app_with_credits(20).await;
    let client = app.user("leaver").await;
    let (status, json) = client
        .order_video(serde_json::json!({"prompt": "snow falling on pines", "seconds": 2}))
        .await;
    assert_eq!(status, 200, "{json}");
    let bytes = app
        .get(&client, "/account/export")
        .await
        .bytes()
        .await
        .expect("zip");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("zip");
    let names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("images/") && n.ends_with(".mp4")),
        "{names:?}"
    );
    let mut record = String::new();
    zip.by_name("atelier-export.json")
        .expect("record")
        .read_to_string(&mut record)
        .expect("read");
    let record: serde_json::Value = serde_json::from_str(&record).expect("json");
    assert_eq!(record["images"][0]["media"], "video");
    assert_eq!(record["images"][0]["seconds"], 2.0);
    assert!(
        app.stored_files()
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "mp4"))
    );
    let response = app
        .post_form(&client, "/account/delete", &[("password", PASSWORD)])
        .await;
    assert_eq!(response.status(), 200, "the goodbye page");
    assert!(
        app.stored_files().is_empty(),
        "files gone: {:?}",
        app.stored_files()
    );
    assert_eq!(app.count_images(), 0);
}

#[tokio::test]
async fn without_ffmpeg_video_is_off_and_says_so() {
    let app = spawn_app_with(|s| {
        s.insert("ffmpeg".into(), "/nonexistent/ffmpeg".into());
    })
    .await;
    let client = app.user("noffmpeg").await;
    let page = app.get(&client, "/video").await.text().await.expect("page");
    assert!(page.contains("Video is turned off on this server: ffmpeg is not installed."));
    assert!(page.contains("disabled"));
    let (status, json) = client
        .order_video(serde_json::json!({"prompt": "sea"}))
        .await;
    assert_eq!(status, 503, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("ffmpeg")
    );
    assert_eq!(app.count_jobs(), 0);
    // Pictures still work.
    let (status, _) = client
        .generate(serde_json::json!({"prompt": "a lake"}))
        .await;
    assert_eq!(status, 200);
}

async fn app_with_fake_videos() -> (TestApp, fake_openai::FakeOpenAi, Visitor) {
    let fake = fake_openai::start().await;
    let base = fake.base_url.clone();
    let app = spawn_app_with(move |s| {
        s.insert("generator".into(), "openai".into());
        s.insert("openai_base_url".into(), base);
        s.insert("openai_api_key".into(), KEY.into());
        s.insert("openai_video_model".into(), VIDEO_MODEL.into());
        s.insert("openai_timeout_secs".into(), "5".into());
        s.insert("signup_credits".into(), "20".into());
    })
    .await;
    let client = app.user("soraclient").await;
    (app, fake, client)
}

#[tokio::test]
async fn openai_videos_are_ordered_polled_downloaded_and_cleaned() {
    if !ffmpeg_or_skip("openai_videos_are_ordered_polled_downloaded") {
        return;
    }
    let (app, fake, client) = app_with_fake_videos().await;
    let (status, json) = client.order_video(serde_json::json!({"prompt": "a fox in the snow flaky-status", "seconds": 4, "size": "512x768"}),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["provider"], "openai");
    assert_eq!(json["model"], VIDEO_MODEL);
    assert_eq!(
        (json["width"].as_i64(), json["height"].as_i64()),
        (Some(512), Some(768))
    );
    assert_eq!(json["seconds"], 4.0);
    let sent: HashMap<String, String> = fake.seen.lock().expect("lock").video_orders[0].clone();
    assert_eq!(sent["model"], VIDEO_MODEL);
    assert_eq!(sent["seconds"], "4");
    assert_eq!(sent["size"], "512x768");
    assert_eq!(sent["prompt"], "a fox in the snow flaky-status");
    // The provider's bytes are kept for the owner; the served copy has no metadata.
    let pristine = app
        .get(
            &client,
            json["urls"]["pristine"].as_str().expect("pristine"),
        )
        .await
        .bytes()
        .await
        .expect("pristine");
    let served = app
        .get(&client, json["image_url"].as_str().expect("original"))
        .await
        .bytes()
        .await
        .expect("served");
    let has = |bytes: &[u8], needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        has(&pristine, CLIP_SECRET.as_bytes()),
        "the provider's bytes as sent"
    );
    assert!(!has(&served, CLIP_SECRET.as_bytes()), "metadata stripped");
    assert!(!has(&served, b"x264 - core"), "encoder banner stripped");
    assert_eq!(&served[4..8], b"ftyp");
    assert_eq!(app.credits_of("soraclient"), 15);
}

#[tokio::test]
async fn a_video_that_fails_at_sixty_percent_shows_why_and_is_refunded() {
    if !ffmpeg_or_skip("a_video_that_fails_at_sixty_percent") {
        return;
    }
    let (app, fake, client) = app_with_fake_videos().await;
    let response = app
        .post_form(
            &client,
            "/video",
            &[
                ("prompt", "a volcano fail-at-60 slow-poll"),
                ("seconds", "2"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let job_path = crate::support::helpers::location(&response).to_owned();
    assert_eq!(app.credits_of("soraclient"), 15, "charged while it runs");
    let id: i64 = job_path
        .trim_start_matches("/jobs/")
        .parse()
        .expect("job id");
    // The job page shows the provider's progress as it goes.
    let seen_progress = std::cell::Cell::new(0.0f64);
    poll(
        std::time::Duration::from_secs(30),
        || async {
            let json: serde_json::Value = app
                .get(&client, &format!("/api/jobs/{id}"))
                .await
                .json()
                .await
                .expect("job");
            let progress = json["job"]["progress"].as_f64().unwrap_or(0.0);
            seen_progress.set(seen_progress.get().max(progress));
            json
        },
        |json| json["job"]["status"] == "failed",
    )
    .await;
    let seen_progress = seen_progress.get();
    assert!(
        (seen_progress - 0.6).abs() < 0.01,
        "progress reached 60 %: {seen_progress}"
    );
    let job = app.finished_job(&client, id).await;
    assert_eq!(job["status"], "failed");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(error.contains("The renderer crashed at 60%"), "{error}");
    assert_eq!(app.credits_of("soraclient"), 20, "refunded exactly");
    assert_eq!(app.count_images(), 0);
    let page = app
        .get(&client, &job_path)
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("The renderer crashed at 60%"));
    assert!(page.contains("Your 5 credits were given back."), "{page}");
    assert!(
        page.contains(r#"href="/video?prompt="#),
        "Try again keeps the prompt: {page}"
    );
    // Retry-After: 1 was honoured between status requests.
    let seen = fake.seen.lock().expect("lock");
    let polls = &seen.videos.values().next().expect("video").polls;
    assert!(polls.len() >= 4);
    for pair in polls.windows(2) {
        assert!(
            pair[1] - pair[0] >= std::time::Duration::from_millis(900),
            "{:?}",
            pair[1] - pair[0]
        );
    }
}

#[tokio::test]
async fn the_video_workspace_is_private_and_a_killed_runs_leftovers_go_at_start() {
    if !crate::support::helpers::ffmpeg_or_skip("the_video_workspace_is_private") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().expect("data");
    let work = data.path().join("data/video-work");
    let leftover = work.join("atelier-video-killed");
    let recent = work.join("atelier-video-running-elsewhere");
    for dir in [&leftover, &recent] {
        std::fs::create_dir_all(dir).expect("workspace");
        std::fs::write(dir.join("input.mp4"), b"the provider's exact clip").expect("clip");
    }
    std::fs::File::open(&leftover)
        .and_then(|dir| {
            dir.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(7200))
        })
        .expect("age the leftover");
    let data_dir = data.path().join("data").display().to_string();
    let _app = crate::support::helpers::spawn_app_with(|s| {
        s.insert("data_dir".into(), data_dir);
    })
    .await;
    assert!(
        !leftover.exists(),
        "a killed run's workspace is removed at start"
    );
    assert!(recent.exists(), "a young one may be another instance's");
    let mode = std::fs::metadata(&work)
        .expect("work root")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[tokio::test]
async fn a_provider_clip_larger_than_the_memory_budget_is_refused_and_refunded() {
    if !ffmpeg_or_skip("a_provider_clip_larger_than_the_memory_budget") {
        return;
    }
    let fake = fake_openai::start().await;
    let base = fake.base_url.clone();
    let app = spawn_app_with(move |s| {
        s.insert("generator".into(), "openai".into());
        s.insert("openai_base_url".into(), base);
        s.insert("openai_api_key".into(), KEY.into());
        s.insert("openai_video_model".into(), VIDEO_MODEL.into());
        s.insert("signup_credits".into(), "20".into());
        // The smallest budget: a 40 MB clip and its served copy do not fit in 64 MiB.
        s.insert("decode_memory_bytes".into(), (64u64 << 20).to_string());
    })
    .await;
    let client = app.user("bigclip").await;
    let (status, json) = client
        .order_video(
            serde_json::json!({ "prompt": "a glacier huge-clip", "seconds": 2, "wait": true }),
        )
        .await;
    assert!(status >= 400, "{status}: {json}");
    let job_id = json["job_id"].as_i64().or(json["job"]["id"].as_i64());
    let error = json["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        error.contains("larger than this server can take in"),
        "{json} (job {job_id:?})"
    );
    assert_eq!(app.credits_of("bigclip"), 20, "refunded");
    assert_eq!(app.count_images(), 0);
    let leftovers =
        std::fs::read_dir(std::path::Path::new(&app.settings["data_dir"]).join("video-work"))
            .expect("work root")
            .count();
    assert_eq!(leftovers, 0, "the staged clip's workspace is gone");
}

#[tokio::test]
async fn without_the_credits_for_a_clip_the_button_is_off_and_says_why() {
    if !ffmpeg_or_skip("without_the_credits_for_a_clip") {
        return;
    }
    let app = app_with_credits(4).await;
    let client = app.user("almost").await;
    let page = app.page(&client, "/video").await;
    assert!(
        page.contains("A video costs 5 credits; you have 4: ask the site"),
        "{page}"
    );
    assert!(
        page.contains("disabled aria-describedby=\"video-cost\">Make the video"),
        "{page}"
    );
    let rich = app_with_credits(20).await;
    let client = rich.user("enough").await;
    let page = rich.page(&client, "/video").await;
    assert!(
        !page.contains("disabled aria-describedby=\"video-cost\""),
        "{page}"
    );
}
