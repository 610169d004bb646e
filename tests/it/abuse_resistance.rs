//! What an attack pass found and what must hold now: the decode memory budget under
//! parallel large uploads (peak RSS read from /proc), control characters anywhere in the
//! input, date overflow, edits past the pixel limit, disabled owners' shares, tokens after
//! a password change, admins and pristine files, file modes, multipart bounds, the CSRF
//! origin's scheme, and another instance forgetting a deleted image at once.

use std::os::unix::fs::PermissionsExt;

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};

use crate::admin::app_with_admin;
use crate::embedded::{signal, start_with, wait};
use crate::support::helpers::{
    PASSWORD, TestApp, eventually, new_client, spawn_app, spawn_app_with, spawn_second_instance,
};

/// A valid PNG of `side`×`side` black pixels: tiny on the wire, `side² × 3` bytes decoded.
fn black_png(side: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::new(side, side))
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("encode");
    bytes
}

/// A field of `/proc/{pid}/status` in KiB (`VmRSS`, `VmHWM`).
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .expect("field")
}

#[tokio::test]
async fn parallel_large_uploads_stay_within_the_decode_budget() {
    const BUDGET_MIB: u64 = 256;
    let dir = tempfile::tempdir().expect("tempdir");
    let db_url = tokio::task::spawn_blocking(crate::support::helpers::fresh_database)
        .await
        .expect("db");
    let running = start_with(|command| {
        command
            .env("DATABASE_URL", &db_url)
            .env("ATELIER_DATA_DIR", dir.path().join("data"))
            .env("ATELIER_UPLOADS_DIR", dir.path().join("uploads"))
            .env(
                "ATELIER_DECODE_MEMORY_BYTES",
                (BUDGET_MIB << 20).to_string(),
            )
            .env("ATELIER_LOG", "warn,atelier=info");
    });
    let pid = running.pid();
    let client = new_client();
    for (path, form) in [
        (
            "/register",
            vec![
                ("username", "big"),
                ("email", "big@example.com"),
                ("password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        ),
        ("/login", vec![("username", "big"), ("password", PASSWORD)]),
    ] {
        let response = client
            .post(format!("{}{path}", running.address))
            .form(&form)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 303, "{path}");
    }
    // 4000×4000: 48 MB decoded, about 112 MB reserved with its working copy; eight at once
    // would take 900 MB without the budget.
    let png = tokio::task::spawn_blocking(|| black_png(4000))
        .await
        .expect("png");
    assert!(png.len() < 512 * 1024, "{} bytes on the wire", png.len());
    let baseline = proc_kib(pid, "VmRSS");
    let mut uploads = Vec::new();
    for _ in 0..8 {
        let (client, url, png) = (
            client.clone(),
            format!("{}/api/upload", running.address),
            png.clone(),
        );
        uploads.push(tokio::spawn(async move {
            let part = reqwest::multipart::Part::bytes(png).file_name("black.png");
            let response = client
                .post(url)
                .multipart(reqwest::multipart::Form::new().part("file", part))
                .send()
                .await
                .expect("upload");
            let retry = response.headers().get("retry-after").cloned();
            (response.status().as_u16(), retry)
        }));
    }
    let mut statuses = Vec::new();
    for upload in uploads {
        let (status, retry) = upload.await.expect("task");
        assert!(matches!(status, 201 | 503), "{status}");
        if status == 503 {
            assert!(retry.is_some(), "a full budget says when to retry");
        }
        statuses.push(status);
    }
    assert!(statuses.contains(&201), "{statuses:?}");
    let peak = proc_kib(pid, "VmHWM");
    let grown_mib = peak.saturating_sub(baseline) / 1024;
    eprintln!(
        "decode budget {BUDGET_MIB} MiB, 8 parallel 16 MP uploads {statuses:?}: RSS {} MiB before, peak {} MiB",
        baseline / 1024,
        peak / 1024
    );
    assert!(
        grown_mib < BUDGET_MIB + 96,
        "peak RSS grew by {grown_mib} MiB with a {BUDGET_MIB} MiB budget"
    );
    signal(&running, libc::SIGTERM);
    let (status, _) = wait(running);
    assert!(status.success());
}

fn count_rows(app: &TestApp) -> (i64, i64, Vec<String>) {
    let titles: Vec<String> = atelier::db::schema::images::table
        .select(atelier::db::schema::images::title)
        .load(&mut app.conn())
        .expect("titles");
    (app.count_images(), app.count_jobs(), titles)
}

#[tokio::test]
async fn control_characters_get_a_400_with_a_sentence_everywhere() {
    let (app, admin) = app_with_admin().await;
    let client = app.user("nul").await;
    let id = app
        .upload_ok(&client, crate::support::fixtures::png(20, 20), &[])
        .await;
    let before = count_rows(&app);

    let nul = "a\u{0}b";
    let (visitor, stranger) = (new_client(), new_client());
    /// Who posts, where, and the form.
    type Post<'a> = (&'a reqwest::Client, String, Vec<(&'a str, &'a str)>);
    let forms: Vec<Post> = vec![
        (&client, "/generate".into(), vec![("prompt", nul)]),
        (
            &client,
            "/story".into(),
            vec![("story", "One. Two\u{0}. Three.")],
        ),
        (
            &client,
            format!("/images/{id}/prompt-edit"),
            vec![("prompt", nul)],
        ),
        (
            &client,
            format!("/images/{id}/update"),
            vec![("title", nul), ("tags", ""), ("folder", "default")],
        ),
        (&client, "/folders".into(), vec![("name", "bell\u{7}")]),
        (
            &visitor,
            "/login".into(),
            vec![("username", nul), ("password", "x")],
        ),
        (
            &stranger,
            "/register".into(),
            vec![
                ("username", "esc\u{1b}"),
                ("email", "e@example.com"),
                ("password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        ),
        (
            &admin,
            "/admin/ips/192.0.2.1/block".into(),
            vec![("reason", nul)],
        ),
    ];
    for (who, path, form) in forms {
        let response = app.post_form(who, &path, &form).await;
        assert_eq!(response.status(), 400, "{path}");
        let page = response.text().await.expect("page");
        assert!(page.contains("control character"), "{path}: {page}");
    }
    for (who, path) in [
        (&client, "/gallery?tag=a%00b"),
        (&client, "/gallery?folder=%00"),
        (&client, "/api/images?tag=%00"),
        (&client, "/api/images?folder=x%01"),
        (&admin, "/admin/users?q=%00"),
        (&admin, "/admin/ips?q=1.2.3.4%00"),
    ] {
        let response = app.get(who, path).await;
        assert_eq!(response.status(), 400, "{path}");
    }
    for body in [
        serde_json::json!({ "prompt": "a\u{0}b" }),
        serde_json::json!({ "prompt": "fine", "size": "512x512\u{0}" }),
    ] {
        let (status, reply) = client.generate(body).await;
        assert_eq!(status, 400);
        assert_eq!(reply["success"], false);
        assert!(
            reply["error"]
                .as_str()
                .expect("error")
                .contains("control character")
        );
    }
    let response = client
        .post(app.url("/api/generate-story"))
        .json(&serde_json::json!({ "story": "One.\u{0} Two. Three." }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 400);
    let response = app
        .upload(
            &client,
            crate::support::fixtures::png(8, 8),
            "x.png",
            &[("title", nul)],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(count_rows(&app), before, "nothing changed");
    assert!(
        atelier::db::schema::ip_blocks::table
            .count()
            .get_result::<i64>(&mut app.conn())
            .expect("blocks")
            == 0
    );

    // Multi-line text keeps its line breaks and tabs.
    let (status, _) = client
        .generate(serde_json::json!({ "prompt": "a fox\r\n\tat dawn", "wait": false }))
        .await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn dates_out_of_range_and_edits_past_the_pixel_limit_are_refused() {
    let (app, admin) = app_with_admin().await;
    for query in [
        "until=+262142-12-31",
        "since=-262143-01-01",
        "until=9999-12-31x",
        "until=10000-01-01",
    ] {
        let response = app.get(&admin, &format!("/admin/ips?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        assert!(
            response
                .text()
                .await
                .expect("page")
                .contains("must be a date")
        );
    }
    assert_eq!(
        app.get(&admin, "/admin/ips?until=9999-12-31")
            .await
            .status(),
        200
    );

    let client = app.user("pixels").await;
    let id = app
        .upload_ok(&client, crate::support::fixtures::png(40, 30), &[])
        .await;
    let response = app
        .post_form(
            &client,
            &format!("/images/{id}/edit"),
            &[("op", "resize"), ("w", "8192"), ("h", "8192")],
        )
        .await;
    assert_eq!(response.status(), 400);
    let (width, height): (i32, i32) = atelier::db::schema::images::table
        .find(id)
        .select((
            atelier::db::schema::images::width,
            atelier::db::schema::images::height,
        ))
        .first(&mut app.conn())
        .expect("image");
    assert_eq!((width, height), (40, 30), "nothing changed");
    // Edits within the limit still work afterwards.
    let response = app
        .post_form(
            &client,
            &format!("/images/{id}/edit"),
            &[("op", "rotate90")],
        )
        .await;
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn disabled_owners_shares_stop_and_admins_never_get_pristine_files() {
    let (app, admin) = app_with_admin().await;
    let owner = app.user("sharer").await;
    let id = app
        .upload_ok(&owner, crate::support::fixtures::png(30, 30), &[])
        .await;
    let link = app.share(&owner, id, "public").await;
    let anyone = new_client();
    assert_eq!(app.get(&anyone, &link).await.status(), 200);
    assert!(
        app.get(&anyone, "/explore")
            .await
            .text()
            .await
            .expect("page")
            .contains(&link[3..])
    );

    // Admins see the working copy, never the pristine upload.
    let image = &app.api_images(&owner).await[0];
    let (original, pristine) = (
        image["urls"]["original"].as_str().expect("original"),
        image["urls"]["pristine"].as_str().expect("pristine"),
    );
    assert_eq!(app.get(&admin, original).await.status(), 200);
    assert_eq!(app.get(&admin, pristine).await.status(), 404);
    assert_eq!(app.get(&owner, pristine).await.status(), 200);

    let owner_id: i64 = atelier::db::schema::users::table
        .filter(atelier::db::schema::users::username.eq("sharer"))
        .select(atelier::db::schema::users::id)
        .first(&mut app.conn())
        .expect("id");
    let response = app
        .post_form(
            &admin,
            &format!("/admin/users/{owner_id}/update"),
            &[("disabled", "true")],
        )
        .await;
    assert_eq!(response.status(), 303);
    for path in [
        link.clone(),
        format!("{link}/image"),
        format!("{link}/thumb"),
    ] {
        assert_eq!(app.get(&anyone, &path).await.status(), 404, "{path}");
    }
    let explore = app
        .get(&anyone, "/explore")
        .await
        .text()
        .await
        .expect("page");
    assert!(!explore.contains(&link[3..]), "gone from explore");
}

#[tokio::test]
async fn a_password_change_revokes_api_tokens_and_says_so() {
    let app = spawn_app().await;
    let client = app.user("tokened").await;
    let reply: serde_json::Value = client
        .post(app.url("/account/tokens"))
        .header("accept", "application/json")
        .form(&[("name", "script")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = reply["token"].as_str().expect("token").to_owned();
    let with_token = || {
        new_client()
            .get(app.url("/api/images"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(with_token().await.expect("GET").status(), 200);
    let response = app
        .post_form(
            &client,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new secret"),
                ("confirm_password", "a brand new secret"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(with_token().await.expect("GET").status(), 401);
    let page = app
        .get(&client, "/account")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("API token was revoked"), "the flash says so");
}

#[tokio::test]
async fn stored_files_and_folders_are_private_to_the_service_user() {
    let app = spawn_app().await;
    let client = app.user("private").await;
    app.upload_ok(&client, crate::support::fixtures::png(20, 20), &[])
        .await;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&app.uploads), 0o700, "uploads root");
    let files = app.stored_files();
    assert_eq!(files.len(), 4);
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
        let mut dir = file.parent().expect("parent");
        while dir != app.uploads {
            assert_eq!(mode(dir), 0o700, "{}", dir.display());
            dir = dir.parent().expect("parent");
        }
    }
}

#[tokio::test]
async fn multipart_bodies_are_bounded_as_a_whole() {
    let app = spawn_app_with(|s| {
        s.insert("max_upload_bytes".into(), (1024 * 1024).to_string());
    })
    .await;
    let client = app.user("parts").await;
    let send =
        |form: reqwest::multipart::Form| client.post(app.url("/api/upload")).multipart(form).send();
    let file = || {
        reqwest::multipart::Part::bytes(crate::support::fixtures::png(10, 10)).file_name("a.png")
    };

    // Two files in one upload.
    let response = send(
        reqwest::multipart::Form::new()
            .part("file", file())
            .part("file", file()),
    )
    .await
    .expect("POST");
    assert_eq!(response.status(), 400);
    // Thousands of parts.
    let mut many = reqwest::multipart::Form::new().part("file", file());
    for i in 0..3000 {
        many = many.text(format!("junk{i}"), "x");
    }
    assert_eq!(send(many).await.expect("POST").status(), 400);
    // Megabytes of ignored fields, sent chunked (no Content-Length to refuse up front).
    let mut padded = reqwest::multipart::Form::new().part("file", file());
    for i in 0..10 {
        let stream =
            futures_util::stream::iter((0..64).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 4096])));
        padded = padded.part(
            format!("pad{i}"),
            reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(stream)),
        );
    }
    let status = send(padded).await.expect("POST").status().as_u16();
    assert!(matches!(status, 400 | 413), "{status}");
    assert_eq!(app.count_images(), 0, "nothing stored");
    // One file and its fields still work.
    let ok = reqwest::multipart::Form::new()
        .part("file", file())
        .text("title", "fine")
        .text("tags", "a, b");
    assert_eq!(send(ok).await.expect("POST").status(), 201);
}

#[tokio::test]
async fn an_origin_with_another_scheme_is_cross_site() {
    let app = spawn_app().await;
    let https_origin = app.address.replace("http://", "https://");
    let register = |origin: String, name: &'static str| {
        new_client()
            .post(app.url("/register"))
            .header("origin", origin)
            .form(&[
                ("username", name),
                ("email", &format!("{name}@example.com")),
                ("password", PASSWORD),
                ("confirm_password", PASSWORD),
            ])
            .send()
    };
    assert_eq!(
        register(https_origin, "scheme1")
            .await
            .expect("POST")
            .status(),
        403
    );
    assert_eq!(
        register(app.address.clone(), "scheme2")
            .await
            .expect("POST")
            .status(),
        303
    );
    assert_eq!(app.count_users(), 1);
}

#[tokio::test]
async fn another_instance_stops_serving_a_deleted_image_at_once() {
    let app = spawn_app().await;
    let second = spawn_second_instance(&app).await;
    let client = app.user("twice").await;
    let id = app
        .upload_ok(&client, crate::support::fixtures::png(24, 24), &[])
        .await;
    let thumb = app.api_images(&client).await[0]["urls"]["thumb"]
        .as_str()
        .expect("thumb")
        .to_owned();
    // The second instance serves it (and keeps the row and bytes in memory).
    for _ in 0..3 {
        let response = client
            .get(format!("{second}{thumb}"))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200);
    }
    let response = app
        .post_form(
            &client,
            &format!("/images/{id}/delete"),
            &[("forever", "1")],
        )
        .await;
    assert_eq!(response.status(), 303);
    eventually("the other instance forgets the deleted image", || async {
        client
            .get(format!("{second}{thumb}"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 404)
    })
    .await;
}

#[tokio::test]
async fn uploads_are_held_to_the_hourly_rate_and_the_storage_quota_even_in_parallel() {
    let app = spawn_app_with(|s| {
        s.insert("uploads_per_hour".into(), "3".into());
    })
    .await;
    let client = app.user("rate").await;
    let mut racing = Vec::new();
    for _ in 0..10 {
        let (client, url) = (client.clone(), app.url("/api/upload"));
        racing.push(tokio::spawn(async move {
            let part = reqwest::multipart::Part::bytes(crate::support::fixtures::png(16, 16))
                .file_name("r.png");
            let response = client
                .post(url)
                .multipart(reqwest::multipart::Form::new().part("file", part))
                .send()
                .await
                .expect("upload");
            let retry = response.headers().contains_key("retry-after");
            (
                response.status().as_u16(),
                retry,
                response.text().await.expect("body"),
            )
        }));
    }
    let mut accepted = 0;
    for task in racing {
        let (status, retry, body) = task.await.expect("task");
        match status {
            201 => accepted += 1,
            429 => {
                assert!(retry, "says when");
                assert!(body.contains("in the last hour"), "{body}");
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(accepted, 3, "exactly the hourly rate, however many race");
    assert_eq!(app.count_images(), 3);
    let dashboard = app
        .get(&client, "/dashboard")
        .await
        .text()
        .await
        .expect("page");
    assert!(dashboard.contains("Uploads this hour") && dashboard.contains("3 of 3"));

    let app = spawn_app_with(|s| {
        s.insert("user_storage_bytes".into(), "20000".into());
    })
    .await;
    let client = app.user("quota").await;
    let first = app
        .upload(&client, crate::support::fixtures::png(32, 32), "q.png", &[])
        .await;
    assert_eq!(first.status(), 303);
    let mut refused = None;
    for _ in 0..10 {
        let response = app
            .upload(&client, crate::support::fixtures::png(32, 32), "q.png", &[])
            .await;
        if response.status() != 303 {
            refused = Some((
                response.status().as_u16(),
                response.text().await.expect("page"),
            ));
            break;
        }
    }
    let (status, page) = refused.expect("the quota is reached");
    assert_eq!(status, 413);
    assert!(page.contains("Your storage is full"), "{page}");
    let stored: i64 = atelier::db::schema::images::table
        .select(atelier::db::schema::images::disk_bytes)
        .load::<i64>(&mut app.conn())
        .expect("sizes")
        .iter()
        .sum();
    assert!(stored <= 20000, "{stored} bytes stored");
    let dashboard = app
        .get(&client, "/dashboard")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        dashboard.contains("of 20 KB"),
        "the quota is on the dashboard"
    );
}
