//! Uploads: every allowed type is stored as pristine/original/thumb; everything else is a
//! clear 4xx that leaves nothing on disk or in the table. EXIF GPS never leaves the server.

use image::ImageFormat;

use crate::support::fixtures::{encoded, has_exif, jpeg_with_exif, png, png_bomb};
use crate::support::helpers::{TestApp, new_client, spawn_app, spawn_app_with};

async fn fetch(app: &TestApp, client: &reqwest::Client, url: &str) -> (u16, Vec<u8>) {
    let response = app.get(client, url).await;
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

crate::on_each_backend!(every_allowed_type_is_stored_in_four_variants);

async fn every_allowed_type_is_stored_in_four_variants(app: TestApp) {
    let client = app.user("uma").await;
    for format in [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::WebP,
        ImageFormat::Gif,
    ] {
        let bytes = encoded(640, 480, format);
        let response = app
            .upload(&client, bytes.clone(), "x.bin", &[("tags", "one, Two")])
            .await;
        assert_eq!(response.status(), 303, "{format:?}");
    }
    let images = app.api_images(&client).await;
    assert_eq!(images.len(), 4);
    for image in &images {
        assert_eq!(
            (image["width"].as_i64(), image["height"].as_i64()),
            (Some(640), Some(480))
        );
        assert_eq!(image["tags"], serde_json::json!(["one", "two"]));
        let (status, thumb) = fetch(
            &app,
            &client,
            image["urls"]["thumb"].as_str().expect("thumb"),
        )
        .await;
        assert_eq!(status, 200);
        let thumb = image::load_from_memory(&thumb).expect("thumb decodes");
        assert_eq!(
            (thumb.width(), thumb.height()),
            (320, 240),
            "longest side 320"
        );
        let (status, original) = fetch(
            &app,
            &client,
            image["urls"]["original"].as_str().expect("original"),
        )
        .await;
        assert_eq!(status, 200);
        image::load_from_memory(&original).expect("original decodes");
    }
    assert_eq!(app.stored_files().len(), 16, "four files per image");
}

#[tokio::test]
async fn refused_uploads_say_why_and_leave_nothing_behind() {
    let app = spawn_app_with(|s| {
        s.insert("max_upload_bytes".into(), "300000".into());
    })
    .await;
    let client = app.user("victor").await;
    let mut truncated = png(200, 200);
    truncated.truncate(truncated.len() / 2);
    let oversize = vec![0u8; 400_000];
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        (
            "html renamed",
            b"<html><script>alert(1)</script></html>".to_vec(),
            "evil.png",
            415,
            "not a JPEG, PNG, WebP or GIF",
        ),
        (
            "svg",
            br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec(),
            "x.svg",
            415,
            "not a JPEG",
        ),
        (
            "truncated",
            truncated,
            "cut.png",
            422,
            "could not be decoded",
        ),
        ("bomb", png_bomb(), "bomb.png", 413, "60000×60000"),
        ("oversize", oversize, "big.png", 413, "too large"),
        ("empty", Vec::new(), "empty.png", 400, "Choose an image"),
    ];
    for (name, bytes, file_name, status, words) in cases {
        let response = app
            .upload(&client, bytes, file_name, &[("tags", "kept-tag")])
            .await;
        assert_eq!(response.status().as_u16(), status, "{name}");
        let body = response.text().await.expect("body");
        assert!(body.contains(words), "{name}: {words:?} in\n{body}");
        // The form comes back; fields read before the refusal are kept.
        assert!(
            body.contains("<form method=\"post\" action=\"/upload\""),
            "{name}: the form again"
        );
        if name != "oversize" {
            assert!(body.contains("value=\"kept-tag\""), "{name}: tags kept");
        }
    }
    // The JSON API gives the same answers as JSON.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(png_bomb()).file_name("b.png"),
    );
    let response = client
        .post(app.url("/api/upload"))
        .multipart(form)
        .send()
        .await
        .expect("api upload");
    assert_eq!(response.status(), 413);
    let json: serde_json::Value = response.json().await.expect("json");
    assert_eq!(json["success"], false);
    assert_eq!(app.count_images(), 0);
    assert!(
        app.stored_files().is_empty(),
        "no files: {:?}",
        app.stored_files()
    );
}

#[tokio::test]
async fn exif_gps_is_stripped_orientation_applied_and_pristine_kept_exact() {
    let app = spawn_app().await;
    let owner = app.user("wendy").await;
    // Orientation 6: the camera was turned; the picture is 40×20 as stored, 20×40 to view.
    let upload = jpeg_with_exif(40, 20, 6);
    assert!(has_exif(&upload));
    app.upload_ok(&owner, upload.clone(), &[]).await;
    let image = &app.api_images(&owner).await[0];
    assert_eq!(
        (image["width"].as_i64(), image["height"].as_i64()),
        (Some(20), Some(40))
    );

    let (status, original) = fetch(
        &app,
        &owner,
        image["urls"]["original"].as_str().expect("url"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(!has_exif(&original), "original carries no EXIF");
    assert!(!original.windows(4).any(|w| w == b"Exif"));
    let decoded = image::load_from_memory(&original).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (20, 40));
    let (_, thumb) = fetch(&app, &owner, image["urls"]["thumb"].as_str().expect("url")).await;
    assert!(
        !has_exif(&thumb) && !thumb.windows(4).any(|w| w == b"Exif"),
        "thumb carries no EXIF"
    );

    let pristine_url = image["urls"]["pristine"].as_str().expect("url");
    let (status, pristine) = fetch(&app, &owner, pristine_url).await;
    assert_eq!(status, 200);
    assert_eq!(pristine, upload, "pristine is byte-identical");
    let stranger = app.user("xavier").await;
    assert_eq!(fetch(&app, &stranger, pristine_url).await.0, 404);
    assert_eq!(fetch(&app, &new_client(), pristine_url).await.0, 404);
}

crate::on_each_backend!(proxy_headers_conditional_and_range_requests);

async fn proxy_headers_conditional_and_range_requests(app: TestApp) {
    let client = app.user("yara").await;
    app.upload_ok(&client, png(300, 200), &[]).await;
    let url = app.api_images(&client).await[0]["urls"]["original"]
        .as_str()
        .expect("url")
        .to_owned();

    let response = app.get(&client, &url).await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "image/png");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(
        header("content-security-policy"),
        "default-src 'none'; sandbox"
    );
    // The API's URL has no version: revalidated every time, so an edit shows at once.
    assert_eq!(header("cache-control"), "private, no-cache");
    assert!(!header("last-modified").is_empty());
    let etag = header("etag");
    assert!(!etag.is_empty());
    let full = response.bytes().await.expect("body");

    let response = client
        .get(app.url(&url))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 304);
    let response = client
        .get(app.url(&url))
        .header("range", "bytes=0-9")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.headers()["content-range"].to_str().expect("range"),
        format!("bytes 0-9/{}", full.len())
    );
    assert_eq!(response.bytes().await.expect("body"), full[..10]);

    // Pages use versioned URLs: kept for a year while current, new after an edit, and an
    // old version is revalidated (so it can never show stale pixels as current).
    let id = app.api_images(&client).await[0]["id"].as_i64().expect("id");
    let page_src = |page: String| {
        page.split("<img src=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("img src")
            .replace("&#x3d;", "=")
            .replace("&amp;", "&")
    };
    let page = app.page(&client, &format!("/images/{id}")).await;
    let versioned = page_src(page);
    let display = app.api_images(&client).await[0]["urls"]["display"]
        .as_str()
        .expect("display url")
        .to_owned();
    assert!(
        versioned.starts_with(&display) && versioned.contains("?v="),
        "{versioned}"
    );
    let response = app.get(&client, &versioned).await;
    assert_eq!(
        response.headers()["cache-control"],
        "private, max-age=31536000, immutable"
    );
    app.post_form(
        &client,
        &format!("/images/{id}/edit"),
        &[("op", "rotate90")],
    )
    .await;
    let page = app.page(&client, &format!("/images/{id}")).await;
    let after_edit = page_src(page);
    assert_ne!(after_edit, versioned, "an edit gives a new URL");
    let stale = app.get(&client, &versioned).await;
    assert_eq!(stale.headers()["cache-control"], "private, no-cache");
    assert_ne!(
        stale.bytes().await.expect("body"),
        full,
        "and serves the current file"
    );
}

crate::on_each_backend!(large_files_stream_with_the_same_headers);

async fn large_files_stream_with_the_same_headers(app: TestApp) {
    let client = app.user("zed").await;
    // Noise does not compress: a PNG well over the 256 KiB small-file limit.
    let mut seed = 12345u32;
    let noisy = image::RgbImage::from_fn(700, 500, |_, _| {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        image::Rgb([(seed >> 16) as u8, (seed >> 8) as u8, seed as u8])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(noisy)
        .write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Png)
        .expect("png");
    assert!(bytes.len() > 512 * 1024);
    app.upload_ok(&client, bytes.clone(), &[]).await;
    let url = app.api_images(&client).await[0]["urls"]["pristine"]
        .as_str()
        .expect("url")
        .to_owned();
    let response = app.get(&client, &url).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["cache-control"], "private, no-cache");
    let etag = response.headers()["etag"]
        .to_str()
        .expect("etag")
        .to_owned();
    assert_eq!(response.bytes().await.expect("body"), bytes);
    let response = client
        .get(app.url(&url))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 304);
    let response = client
        .get(app.url(&url))
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 206);
    assert_eq!(response.bytes().await.expect("body"), bytes[100..200]);
}

#[tokio::test]
async fn a_camera_clock_postgres_cannot_store_never_fails_an_upload() {
    let app = spawn_app().await;
    let client = app.user("oldcamera").await;
    for taken in [
        &b"-9999:01:01 00:00:00\0"[..],
        b"1799:12:31 23:59:59\0",
        b"2101:01:01 00:00:00\0",
    ] {
        let bytes = crate::support::fixtures::jpeg_from_a_phone_taken_at(64, 48, taken);
        let response = app.upload(&client, bytes, "clock.jpg", &[]).await;
        assert_eq!(response.status(), 303, "{}", String::from_utf8_lossy(taken));
        let page = app
            .page(&client, crate::support::helpers::location(&response))
            .await;
        assert!(
            page.contains("Google Pixel 8"),
            "the rest of the camera details stay"
        );
        assert!(
            !page.contains("<dt>Taken</dt>"),
            "no impossible time is shown"
        );
    }
    assert_eq!(app.count_images(), 3);
}

#[tokio::test]
async fn a_shared_original_keeps_only_what_decoding_needs() {
    let app = spawn_app().await;
    let client = app.user("segments").await;
    let id = app
        .upload_ok(
            &client,
            crate::support::fixtures::jpeg_with_hidden_segments(64, 48),
            &[],
        )
        .await;
    let path = format!("{}/image", app.share(&client, id, "unlisted").await);
    let served = new_client()
        .get(app.url(&path))
        .send()
        .await
        .expect("shared file")
        .bytes()
        .await
        .expect("bytes");
    assert!(served.starts_with(&[0xFF, 0xD8]), "a JPEG");
    let text = String::from_utf8_lossy(&served);
    for word in crate::support::fixtures::HIDDEN_WORDS {
        assert!(!text.contains(word), "{word} reached the shared original");
    }
    image::load_from_memory(&served).expect("still decodes");
}

/// A full disk: a 1 MiB tmpfs as the uploads folder (root only; skipped elsewhere).
#[tokio::test]
async fn a_full_disk_answers_507_and_saves_nothing() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED a_full_disk_answers_507: mounting a small disk needs root");
        return;
    }
    let disk = tempfile::tempdir().expect("mount point");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"])
        .arg(disk.path())
        .status()
        .is_ok_and(|status| status.success());
    if !mounted {
        eprintln!("SKIPPED a_full_disk_answers_507: this machine cannot mount a tmpfs");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(disk.path().to_owned());
    let uploads = disk.path().join("uploads");
    let app = crate::support::helpers::spawn_app_with(|s| {
        s.insert("uploads_dir".into(), uploads.display().to_string());
    })
    .await;
    let client = app.user("fulldisk").await;
    // Fill the disk, leaving less than one upload's worth.
    let filler = uploads.join("filler.bin");
    let mut chunk = vec![7u8; 64 * 1024];
    let mut file = std::fs::File::create(&filler).expect("filler");
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    chunk.clear();
    let before = app.count_images();
    let response = client
        .post(app.url("/upload"))
        .header("accept", "application/json")
        .multipart(
            reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(crate::support::fixtures::jpeg(300, 200))
                    .file_name("full.jpg"),
            ),
        )
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 507);
    let body: serde_json::Value = response.json().await.expect("json");
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains("storage is full; nothing was saved"),
        "{body}"
    );
    assert_eq!(app.count_images(), before);
    drop(file);
}
