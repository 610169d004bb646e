//! SPEC §12's routes and §2's commands, exactly as a script author reads them: the admin
//! paths with the network in the URL, the one-limit form, optional reasons, conditional and
//! range requests on the proxy, seeds, bcrypt's 72-byte limit at login, `purge-ips` with no
//! retention and `atelier doctor`.

use std::path::Path;

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};

use crate::admin::app_with_admin;
use crate::support::helpers::{
    NO_ENV, TestApp, atelier_cli as atelier, location, new_client, spawn_app, stdout,
};

fn audit_count(app: &TestApp) -> i64 {
    atelier::db::schema::admin_audit::table
        .count()
        .get_result(&mut app.conn())
        .expect("audit count")
}

fn live_blocks(app: &TestApp) -> Vec<(String, String)> {
    use atelier::db::schema::ip_blocks as blocks;
    blocks::table
        .filter(blocks::lifted_at.is_null())
        .select((blocks::network, blocks::reason))
        .load::<(ipnetwork::IpNetwork, String)>(&mut app.conn())
        .expect("blocks")
        .into_iter()
        .map(|(network, reason)| (network.to_string(), reason))
        .collect()
}

#[tokio::test]
async fn admin_ip_actions_work_on_the_spec_paths_for_scripts() {
    let (app, admin) = app_with_admin().await;

    // Block a CIDR named in the path, without a reason or an expiry.
    let response = app
        .post_form(&admin, "/admin/ips/192.0.2.240/28/block", &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin/ips/192.0.2.240/28");
    let blocks = live_blocks(&app);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].0, "192.0.2.240/28");
    assert!(
        blocks[0].1.contains("root"),
        "the default reason names the admin"
    );
    assert_eq!(app.visitor_from("192.0.2.241").try_order().await, 403);
    assert_eq!(app.visitor_from("192.0.2.239").try_order().await, 202);

    // Unblock it URL-encoded, as curl --data-urlencode users write it.
    let response = app
        .post_form(&admin, "/admin/ips/192.0.2.240%2F28/unblock", &[])
        .await;
    assert_eq!(response.status(), 303);
    assert!(live_blocks(&app).is_empty());
    assert_eq!(app.visitor_from("192.0.2.241").try_order().await, 202);

    // A single address with a reason and an expiry.
    let response = app
        .post_form(
            &admin,
            "/admin/ips/198.51.100.7/block",
            &[("reason", "spam"), ("expires_hours", "2")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let expires: Option<chrono::DateTime<chrono::Utc>> = atelier::db::schema::ip_blocks::table
        .filter(atelier::db::schema::ip_blocks::lifted_at.is_null())
        .select(atelier::db::schema::ip_blocks::expires_at)
        .first(&mut app.conn())
        .expect("block");
    let hours = (expires.expect("expiry") - chrono::Utc::now()).num_minutes();
    assert!((115..=120).contains(&hours), "{hours} minutes");

    // Bad input: a clear 400, nothing written.
    let before = (live_blocks(&app), audit_count(&app));
    for (path, form) in [
        ("/admin/ips/not-an-ip/block", vec![]),
        ("/admin/ips/10.0.0.0/33/block", vec![]),
        (
            "/admin/ips/203.0.113.9/block",
            vec![("expires_hours", "soon")],
        ),
        (
            "/admin/ips/203.0.113.9/block",
            vec![("expires_hours", "-3")],
        ),
    ] {
        let response = app.post_form(&admin, path, &form).await;
        assert_eq!(response.status(), 400, "{path} {form:?}");
    }
    assert_eq!((live_blocks(&app), audit_count(&app)), before);

    // delete-all: everything from that network goes, without a confirmation step.
    let kim = app.user("kim").await;
    kim.from("203.0.113.50")
        .generated("from the doomed network")
        .await;
    let kept = kim.from("203.0.113.99").generated("from elsewhere").await;
    let files_before = app.stored_files().len();
    let response = app
        .post_form(&admin, "/admin/ips/203.0.113.50/delete-all", &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.stored_files().len(), files_before - 4);
    use atelier::db::schema::{images, users};
    let remaining: Vec<i64> = images::table
        .inner_join(users::table)
        .filter(users::username.eq("kim"))
        .select(images::id)
        .load(&mut app.conn())
        .expect("kept");
    assert_eq!(remaining, vec![kept["db_id"].as_i64().expect("id")]);

    // Every action wrote its audit row.
    use atelier::db::schema::admin_audit as audit;
    let actions: Vec<String> = audit::table
        .order(audit::id.asc())
        .select(audit::action)
        .load(&mut app.conn())
        .expect("audit");
    for action in ["block", "unblock", "delete_everything"] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }

    // Non-admins get 404 on the script paths too.
    let response = app.post_form(&kim, "/admin/ips/192.0.2.1/block", &[]).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn admin_user_updates_take_the_spec_fields_and_apply_all_or_nothing() {
    let (app, admin) = app_with_admin().await;
    let lee = app.user("lee").await;
    use atelier::db::schema::users;
    let lee_id: i64 = users::table
        .filter(users::username.eq("lee"))
        .select(users::id)
        .first(&mut app.conn())
        .expect("lee");
    let standing = |app: &TestApp| -> (String, i64, bool) {
        users::table
            .find(lee_id)
            .select((users::tier, users::credits, users::disabled))
            .first(&mut app.conn())
            .expect("lee")
    };
    let path = format!("/admin/users/{lee_id}/update");

    // The SPEC's example: no reason needed; the ledger note names the admin.
    let response = app
        .post_form(&admin, &path, &[("tier", "plus"), ("credits_delta", "2")])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(standing(&app), ("plus".into(), 1002, false));
    let note: String = atelier::db::schema::credit_ledger::table
        .filter(atelier::db::schema::credit_ledger::user_id.eq(lee_id))
        .order(atelier::db::schema::credit_ledger::id.desc())
        .select(atelier::db::schema::credit_ledger::note)
        .first(&mut app.conn())
        .expect("ledger");
    assert!(note.contains("root"), "{note}");

    // A refused credits change leaves the tier and the disabled flag as they were, and
    // writes no audit row.
    let audit_before = audit_count(&app);
    let response = app
        .post_form(
            &admin,
            &path,
            &[
                ("tier", "standard"),
                ("disabled", "true"),
                ("credits_delta", "-5000"),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(standing(&app), ("plus".into(), 1002, false));
    assert_eq!(audit_count(&app), audit_before);
    assert_eq!(app.get(&lee, "/dashboard").await.status(), 200);

    // disabled=true|false in the same form; absent: unchanged.
    let response = app.post_form(&admin, &path, &[("disabled", "true")]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(standing(&app), ("plus".into(), 1002, true));
    assert_eq!(app.get(&lee, "/dashboard").await.status(), 303);
    let response = app.post_form(&admin, &path, &[("tier", "plus")]).await;
    assert_eq!(response.status(), 303);
    assert!(standing(&app).2, "absent disabled leaves it");
    let response = app.post_form(&admin, &path, &[("disabled", "false")]).await;
    assert_eq!(response.status(), 303);
    assert!(!standing(&app).2);

    // Each change and its audit row commit together.
    use atelier::db::schema::admin_audit as audit;
    let rows: Vec<(String, String)> = audit::table
        .filter(audit::target.eq(format!("user lee ({lee_id})")))
        .order(audit::id.asc())
        .select((audit::action, audit::detail))
        .load(&mut app.conn())
        .expect("audit");
    let actions: Vec<&str> = rows.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["set_tier", "grant_credits", "disable_user", "enable_user"]
    );
}

#[tokio::test]
async fn limit_overrides_take_cidr_action_and_limit() {
    let (app, admin) = app_with_admin().await;
    use atelier::db::schema::limit_overrides as overrides;
    /// generate, story, video, free images
    type Limits = (Option<i32>, Option<i32>, Option<i32>, Option<i32>);
    let row = |app: &TestApp| -> Vec<Limits> {
        overrides::table
            .select((
                overrides::anon_generate,
                overrides::anon_story,
                overrides::anon_video,
                overrides::free_images,
            ))
            .load(&mut app.conn())
            .expect("overrides")
    };
    let response = app
        .post_form(
            &admin,
            "/admin/limits",
            &[
                ("cidr", "198.51.100.14/32"),
                ("action", "generate"),
                ("limit", "5"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(row(&app), vec![(Some(5), None, None, None)]);
    // The anonymous limit for that address is now 5.
    for _ in 0..5 {
        assert_eq!(app.visitor_from("198.51.100.14").try_order().await, 202);
    }
    assert_eq!(app.visitor_from("198.51.100.14").try_order().await, 429);

    // Another action on the same network keeps the first.
    for (action, limit) in [("video", "2"), ("free_images", "0"), ("story", "1")] {
        let response = app
            .post_form(
                &admin,
                "/admin/limits",
                &[
                    ("cidr", "198.51.100.14/32"),
                    ("action", action),
                    ("limit", limit),
                    ("reason", "testing"),
                ],
            )
            .await;
        assert_eq!(response.status(), 303, "{action}");
    }
    assert_eq!(row(&app), vec![(Some(5), Some(1), Some(2), Some(0))]);

    let before = (row(&app), audit_count(&app));
    for form in [
        vec![
            ("cidr", "198.51.100.14/32"),
            ("action", "upload"),
            ("limit", "1"),
        ],
        vec![
            ("cidr", "198.51.100.14/32"),
            ("action", "generate"),
            ("limit", "-1"),
        ],
        vec![("cidr", "198.51.100.14/32"), ("action", "generate")],
        vec![("cidr", "nonsense"), ("action", "generate"), ("limit", "1")],
    ] {
        let response = app.post_form(&admin, "/admin/limits", &form).await;
        assert_eq!(response.status(), 400, "{form:?}");
    }
    assert_eq!((row(&app), audit_count(&app)), before);

    // The admin page's own form still works beside it.
    let response = app
        .post_form(
            &admin,
            "/admin/limits",
            &[("network", "203.0.113.0/24"), ("anon_generate", "9")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let page = app
        .get(&admin, "/admin/limits")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("203.0.113.0/24") && page.contains("Anonymous videos"));
}

/// A PNG of noise, large enough to stream rather than be sent from memory.
fn noisy_png(width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let image = image::RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [r, g, b, _] = state.to_le_bytes();
        image::Rgb([r, g, b])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("encode");
    bytes
}

#[tokio::test]
async fn the_proxy_answers_conditional_head_and_range_requests_as_the_spec_says() {
    let app = spawn_app().await;
    let client = app.user("moe").await;
    let big = noisy_png(400, 400);
    assert!(big.len() > 300 * 1024, "{} bytes", big.len());
    app.upload_ok(&client, crate::support::fixtures::png(64, 48), &[])
        .await;
    app.upload_ok(&client, big.clone(), &[]).await;
    let images = app.api_images(&client).await;
    let stranger = app.user("stranger").await;
    let small_url = images[1]["urls"]["thumb"]
        .as_str()
        .expect("thumb")
        .to_owned();
    let pristine_url = images[0]["urls"]["pristine"]
        .as_str()
        .expect("pristine")
        .to_owned();

    for (url, length) in [
        (small_url.as_str(), None),
        (pristine_url.as_str(), Some(big.len())),
    ] {
        let full = app.get(&client, url).await;
        assert_eq!(full.status(), 200, "{url}");
        let last_modified = full.headers()["last-modified"]
            .to_str()
            .expect("lm")
            .to_owned();
        let etag = full.headers()["etag"].to_str().expect("etag").to_owned();
        let body = full.bytes().await.expect("body");
        if let Some(length) = length {
            assert_eq!(body.len(), length);
            assert_eq!(&body[..], &big[..], "streamed bytes are the file");
        }
        let total = body.len();

        let get = |headers: Vec<(&'static str, String)>| {
            let mut request = client.get(app.url(url));
            for (name, value) in headers {
                request = request.header(name, value);
            }
            async move { request.send().await.expect("GET") }
        };
        // If-Modified-Since equal to Last-Modified: 304; older: 200.
        let response = get(vec![("if-modified-since", last_modified.clone())]).await;
        assert_eq!(response.status(), 304, "{url}");
        assert!(response.bytes().await.expect("body").is_empty());
        let response = get(vec![(
            "if-modified-since",
            "Mon, 01 Jan 2001 00:00:00 GMT".into(),
        )])
        .await;
        assert_eq!(response.status(), 200);
        let response = get(vec![("if-none-match", etag.clone())]).await;
        assert_eq!(response.status(), 304);
        // An ETag that does not match wins over a matching date.
        let response = get(vec![
            ("if-none-match", "\"other\"".into()),
            ("if-modified-since", last_modified.clone()),
        ])
        .await;
        assert_eq!(response.status(), 200);

        // Ranges: bytes only; other units are ignored.
        let response = get(vec![("range", "items=0-1".into())]).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.expect("body").len(), total);
        let response = get(vec![("range", "bytes=1-4".into())]).await;
        assert_eq!(response.status(), 206);
        assert_eq!(
            response.headers()["content-range"],
            format!("bytes 1-4/{total}").as_str()
        );
        assert_eq!(&response.bytes().await.expect("body")[..], &body[1..5]);
        let response = get(vec![("range", format!("bytes={}-", total - 3))]).await;
        assert_eq!(response.status(), 206);
        assert_eq!(
            &response.bytes().await.expect("body")[..],
            &body[total - 3..]
        );
        let response = get(vec![("range", format!("bytes={total}-"))]).await;
        assert_eq!(response.status(), 416);
        assert_eq!(
            response.headers()["content-range"],
            format!("bytes */{total}").as_str()
        );

        // HEAD answers like GET, without a body.
        let response = client.head(app.url(url)).send().await.expect("HEAD");
        assert_eq!(response.status(), 200, "HEAD {url}");
        assert_eq!(
            response.headers()["content-length"],
            total.to_string().as_str()
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert!(response.bytes().await.expect("body").is_empty());
        // HEAD never confirms someone else's file.
        let response = stranger.head(app.url(url)).send().await.expect("HEAD");
        assert_eq!(response.status(), 404);
    }
}

#[tokio::test]
async fn seeds_are_accepted_recorded_shown_and_reproduce_the_picture() {
    let app = spawn_app().await;
    let client = app.user("sid").await;
    let (status, first) = client
        .generate(serde_json::json!({ "prompt": "a lighthouse in a storm", "seed": 42 }))
        .await;
    assert_eq!(status, 200, "{first}");
    let (status, second) = client
        .generate(serde_json::json!({ "prompt": "a lighthouse in a storm", "seed": "42" }))
        .await;
    assert_eq!(status, 200);
    let (status, other) = client
        .generate(serde_json::json!({ "prompt": "a lighthouse in a storm", "seed": 43 }))
        .await;
    assert_eq!(status, 200);
    let bytes = |reply: &serde_json::Value| {
        let url = reply["image_url"]
            .as_str()
            .expect("url")
            .replace("/original/", "/pristine/");
        let client = client.clone();
        let app_url = app.url(&url);
        async move {
            client
                .get(app_url)
                .send()
                .await
                .expect("GET")
                .bytes()
                .await
                .expect("bytes")
        }
    };
    let (a, b, c) = (
        bytes(&first).await,
        bytes(&second).await,
        bytes(&other).await,
    );
    assert!(!a.is_empty());
    assert_eq!(a, b, "same prompt, seed and size: byte-identical");
    assert_ne!(a, c, "another seed: another picture");

    // The seed is recorded and shown with "run again".
    use atelier::db::schema::images;
    let seeds: Vec<Option<i64>> = images::table
        .order(images::id.asc())
        .select(images::seed)
        .load(&mut app.conn())
        .expect("seeds");
    assert_eq!(seeds, vec![Some(42), Some(42), Some(43)]);
    let id = first["db_id"].as_i64().expect("id");
    let page = app
        .get(&client, &format!("/images/{id}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("<code>42</code>"), "seed shown");
    assert!(
        page.contains("Run again with this seed · 1 credit"),
        "the price is said"
    );
    assert!(page.contains(r#"name="seed" value="42""#));
    assert!(page.contains(r#"name="size" value="512x512""#));

    // "Run again" posts the form: same picture again.
    let response = app
        .post_form(
            &client,
            "/generate",
            &[
                ("prompt", "a lighthouse in a storm"),
                ("seed", "42"),
                ("size", "512x512"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let job: i64 = location(&response)
        .trim_start_matches("/jobs/")
        .parse()
        .expect("job id");
    let finished = app.finished_job(&client, job).await;
    assert_eq!(finished["status"], "succeeded");
    let again = finished["images"][0].clone();
    assert_eq!(bytes(&again).await, a);

    // Without a seed one is drawn, recorded, and within the range a form accepts.
    let (_, drawn) = client
        .generate(serde_json::json!({ "prompt": "a lighthouse" }))
        .await;
    let seed: Option<i64> = images::table
        .find(drawn["db_id"].as_i64().expect("id"))
        .select(images::seed)
        .first(&mut app.conn())
        .expect("seed");
    assert!(seed.is_some_and(|s| (0..1 << 53).contains(&s)));

    // Bad seeds: 400 with a sentence, nothing queued; the form keeps what was typed.
    let jobs = app.count_jobs();
    for seed in [
        serde_json::json!(-1),
        serde_json::json!(9_007_199_254_740_992_u64),
        serde_json::json!("abc"),
        serde_json::json!(1.5),
    ] {
        let (status, reply) = client
            .generate(serde_json::json!({ "prompt": "x", "seed": seed }))
            .await;
        assert_eq!(status, 400, "{seed}");
        assert!(reply["error"].as_str().expect("error").contains("seed"));
    }
    let response = app
        .post_form(
            &client,
            "/generate",
            &[("prompt", "kept prompt"), ("seed", "12x")],
        )
        .await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.expect("page");
    assert!(page.contains("kept prompt") && page.contains(r#"value="12x""#));
    assert_eq!(app.count_jobs(), jobs);
}

#[tokio::test]
async fn passwords_longer_than_72_bytes_never_log_in() {
    let app = spawn_app().await;
    let password: String = "p".repeat(72);
    let response = app
        .register(&new_client(), "longpw", "longpw@example.com", &password)
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.login(&new_client(), "longpw", &password).await.status(),
        303
    );
    let wrong = app.login(&new_client(), "longpw", "wrongpass123").await;
    for suffix in ["x", "anything at all", "é"] {
        let response = app
            .login(&new_client(), "longpw", &format!("{password}{suffix}"))
            .await;
        assert_eq!(response.status(), wrong.status(), "suffix {suffix:?}");
        assert!(
            response
                .text()
                .await
                .expect("page")
                .contains("Invalid username/email or password.")
        );
    }
}

/// Runs the `atelier` binary against the app's database and uploads folder.
#[tokio::test]
async fn purge_ips_with_zero_retention_erases_every_address_now() {
    let app = crate::support::helpers::spawn_app_with(|s| {
        s.insert("trusted_proxies".into(), "127.0.0.1/32".into());
    })
    .await;
    let client = app.user("pia").await;
    client
        .from("198.51.100.5")
        .generated("a fresh picture")
        .await;
    let kept = atelier(&app, &["purge-ips"], NO_ENV);
    assert!(kept.status.success(), "{kept:?}");
    let count_ips = |app: &TestApp| -> i64 {
        use atelier::db::schema::{image_origins, job_origins, sessions};
        let mut conn = app.conn();
        image_origins::table
            .count()
            .get_result::<i64>(&mut conn)
            .expect("images")
            + job_origins::table
                .count()
                .get_result::<i64>(&mut conn)
                .expect("jobs")
            + sessions::table
                .filter(sessions::ip.is_not_null())
                .count()
                .get_result::<i64>(&mut conn)
                .expect("sessions")
    };
    assert!(
        count_ips(&app) >= 3,
        "fresh addresses survive the default 90 days"
    );
    let output = atelier(&app, &["purge-ips"], &[("ATELIER_IP_RETENTION_DAYS", "0")]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).contains("erased every stored address"),
        "{}",
        stdout(&output)
    );
    assert_eq!(count_ips(&app), 0);
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

#[tokio::test]
async fn doctor_reports_files_without_rows_rows_without_files_and_temp_files() {
    let app = spawn_app().await;
    let client = app.user("doc").await;
    app.upload_ok(&client, crate::support::fixtures::png(30, 20), &[])
        .await;
    app.upload_ok(&client, crate::support::fixtures::png(20, 30), &[])
        .await;

    let output = atelier(&app, &["doctor"], NO_ENV);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("checked 2 images and 8 files"));

    let orphan = app
        .uploads
        .join("doc/default/original/0123456789abcdef0123456789abcdef.png");
    let temp = app
        .uploads
        .join("doc/default/thumb/.tmp-00112233445566778899aabbccddeeff");
    let stray_user = app
        .uploads
        .join("ghost/default/thumb/ffffffffffffffffffffffffffffffff.webp");
    write(&orphan, b"not a row");
    write(&temp, b"half a file");
    write(&stray_user, b"nobody's");
    // What another program keeps beside the uploads is never Atelier's to remove.
    let foreign = [
        app.uploads.join("robots.txt"),
        app.uploads.join("Backups/2026/db.dump"),
        app.uploads.join("doc/notes.txt"),
        app.uploads.join("doc/default/thumb/holiday.jpg"),
    ];
    for path in &foreign {
        write(path, b"someone else's");
    }
    crate::support::helpers::age_files(&app.uploads, std::time::Duration::from_secs(7200));
    // Written just now, as an upload in flight would be: left alone by default.
    let young = app
        .uploads
        .join("doc/default/original/abcdefabcdefabcdefabcdefabcdefab.png");
    write(&young, b"an upload in flight");

    let output = atelier(&app, &["doctor"], NO_ENV);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    for path in [&orphan, &temp, &stray_user] {
        assert!(
            text.contains(&format!("would remove: {}", path.display())),
            "{text}"
        );
    }
    assert!(text.contains("dry run: 3 files would be removed"), "{text}");
    assert!(text.contains("4 names not Atelier's"), "{text}");
    assert!(!text.contains(&format!("would remove: {}", young.display())));
    let output = atelier(&app, &["doctor", "--fix"], NO_ENV);
    let text = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the young file is left: {text}"
    );
    assert!(text.contains("removed 3 files"), "{text}");
    assert!(
        text.contains("1 files are younger than the grace period"),
        "{text}"
    );
    for path in [&orphan, &temp, &stray_user] {
        assert!(!path.exists());
    }
    assert!(young.exists());
    let output = atelier(&app, &["doctor", "--fix", "--grace-secs", "0"], NO_ENV);
    assert!(output.status.success(), "{output:?}");
    assert!(!young.exists());
    for path in &foreign {
        assert!(path.exists(), "{} was removed", path.display());
    }
    assert_eq!(
        app.stored_files().len(),
        8 + foreign.len(),
        "the real files stay"
    );
    assert!(atelier(&app, &["doctor"], NO_ENV).status.success());

    // A row whose file is gone is reported, and --fix cannot repair it.
    let thumb = app
        .stored_files()
        .into_iter()
        .find(|path| path.to_string_lossy().contains("/thumb/") && !foreign.contains(path))
        .expect("a thumbnail");
    std::fs::remove_file(&thumb).expect("remove");
    for args in [vec!["doctor"], vec!["doctor", "--fix"]] {
        let output = atelier(&app, &args, NO_ENV);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(stdout(&output).contains(&format!("missing its file {}", thumb.display())));
    }
}
