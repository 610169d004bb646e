//! The `s3` storage backend beyond what every library test already runs on it (see
//! `on_each_backend!`): two instances on one database and one bucket, the store dying in
//! the middle of an upload, `atelier migrate-storage` both ways, and `atelier doctor` on a
//! bucket. Against a real S3 server (`s3s-fs`), never a mock.

use std::time::Duration;

use crate::support::fixtures::png;
use crate::support::helpers::{
    TestApp, atelier_cli as atelier, location, new_client, poll, spawn_app, spawn_app_on_s3,
    spawn_second_instance, spawn_second_instance_with, stdout,
};
use crate::support::s3_server::S3Server;

async fn bytes_at(client: &reqwest::Client, url: &str) -> (u16, Vec<u8>) {
    let response = client.get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

/// The urls of the signed-in user's only image, from the API of the server at `base`.
async fn only_image(client: &reqwest::Client, base: &str) -> serde_json::Value {
    let json: serde_json::Value = client
        .get(format!("{base}/api/images"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let images = json["images"].as_array().expect("images");
    assert_eq!(images.len(), 1, "{json}");
    images[0].clone()
}

#[tokio::test]
async fn two_instances_share_one_bucket_upload_on_one_edit_and_delete_on_the_other() {
    let test = "two_instances_share_one_bucket";
    let Some(first) = spawn_app_on_s3(test, |_| {}).await else {
        return;
    };
    let second = spawn_second_instance(&first).await;
    let client = first.user("twin").await;
    let id = first.upload_ok(&client, png(300, 100), &[]).await;

    // Seen from the other instance (the session is shared through PostgreSQL).
    let image = only_image(&client, &second).await;
    let original = image["urls"]["original"].as_str().expect("url").to_owned();
    let (status, on_second) = bytes_at(&client, &format!("{second}{original}")).await;
    assert_eq!(status, 200);
    let (_, on_first) = bytes_at(&client, &first.url(&original)).await;
    assert_eq!(on_first, on_second, "one object, two proxies");

    // Edited on the second instance: the first serves the new pixels.
    let response = client
        .post(format!("{second}/images/{id}/edit"))
        .form(&[("op", "rotate90")])
        .send()
        .await
        .expect("edit");
    assert_eq!(response.status(), 303);
    let image = only_image(&client, first.address.as_str()).await;
    assert_eq!(
        (image["width"].as_i64(), image["height"].as_i64()),
        (Some(100), Some(300))
    );
    // The first instance forgets its in-memory copy when the edit's notification arrives.
    let edited = |bytes: &[u8]| {
        let decoded = image::load_from_memory(bytes).expect("an image");
        (decoded.width(), decoded.height()) == (100, 300)
    };
    let served = poll(
        Duration::from_secs(2),
        || async {
            let (status, bytes) = bytes_at(&client, &first.url(&original)).await;
            assert_eq!(status, 200);
            bytes
        },
        |bytes| edited(bytes),
    )
    .await;
    assert!(
        edited(&served),
        "the first instance serves the edit within 2 s"
    );

    // A share link made on one instance works on both.
    let response = client
        .post(format!("{second}/images/{id}/share"))
        .send()
        .await
        .expect("share");
    assert_eq!(response.status(), 303);
    let page = first
        .get(&client, &format!("/images/{id}"))
        .await
        .text()
        .await
        .expect("page");
    let token = page
        .split("href=\"/s/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("share link");
    let stranger = new_client();
    for base in [first.address.as_str(), second.as_str()] {
        let (status, _) = bytes_at(&stranger, &format!("{base}/s/{token}")).await;
        assert_eq!(status, 200, "share page on {base}");
        let (status, shared) = bytes_at(&stranger, &format!("{base}/s/{token}/image")).await;
        assert_eq!(
            (status, shared.len()),
            (200, served.len()),
            "shared file on {base}"
        );
    }

    // Deleted on the second: gone from the bucket, 404 on the first.
    let response = client
        .post(format!("{second}/images/{id}/delete"))
        .form(&[("forever", "1")])
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 303);
    assert!(
        first.stored_files().is_empty(),
        "{:?}",
        first.stored_files()
    );
    let url = first.url(&original);
    crate::support::helpers::eventually("the first instance answers 404", || {
        let (client, url) = (&client, &url);
        async move { bytes_at(client, url).await.0 == 404 }
    })
    .await;
}

/// A multipart upload whose file part arrives in two halves; between them the test kills
/// the object store.
async fn upload_in_two_halves(
    app: &TestApp,
    client: &reqwest::Client,
    bytes: Vec<u8>,
    between: impl FnOnce(),
) -> reqwest::Response {
    // Room for one chunk: the second can be queued only once the first is on its way.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ));
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::stream(body).file_name("picture.png"),
    );
    let request = client.post(app.url("/upload")).multipart(form).send();
    let half = bytes.len() / 2;
    let feed = async move {
        sender
            .send(Ok(bytes[..half].to_vec()))
            .await
            .expect("first half");
        // The request has taken the first half: the upload is under way.
        let room = sender.reserve().await.expect("request still reading");
        between();
        room.send(Ok(bytes[half..].to_vec()));
    };
    let (response, ()) = tokio::join!(request, feed);
    response.expect("upload answered")
}

#[tokio::test]
async fn the_store_dying_mid_upload_is_a_clear_503_leaves_no_row_and_recovers() {
    // A short in-memory lifetime, so the proxy asks the dead store soon.
    let Some(app) = spawn_app_on_s3("the_store_dying_mid_upload", |s| {
        s.insert("media_cache_secs".into(), "1".into());
    })
    .await
    else {
        return;
    };
    let store = app.object_store.clone().expect("s3 server");
    let client = app.user("brownout").await;

    let response = upload_in_two_halves(&app, &client, png(400, 300), || store.kill()).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let page = response.text().await.expect("page");
    assert!(page.contains("The file store is not answering"), "{page}");
    assert_eq!(app.count_images(), 0, "no row without its objects");

    // The proxy says the same while the store is down, rather than a 500.
    store.resume();
    let id = app.upload_ok(&client, png(200, 100), &[]).await;
    let image = only_image(&client, app.address.as_str()).await;
    let thumb = app.url(image["urls"]["original"].as_str().expect("url"));
    store.kill();
    crate::support::helpers::eventually("the proxy says 503 once its copy is old", || async {
        bytes_at(&client, &thumb).await.0 == 503
    })
    .await;
    let edit = app
        .post_form(
            &client,
            &format!("/images/{id}/edit"),
            &[("op", "rotate90")],
        )
        .await;
    assert_eq!(
        edit.status(),
        503,
        "an edit with the store down changes nothing"
    );

    // Back: everything works, and the edit that failed changed nothing.
    store.resume();
    let (status, _) = bytes_at(&client, &thumb).await;
    assert_eq!(status, 200);
    let image = only_image(&client, app.address.as_str()).await;
    assert_eq!(
        (image["width"].as_i64(), image["height"].as_i64()),
        (Some(200), Some(100))
    );
    let response = app.upload(&client, png(64, 64), "again.png", &[]).await;
    assert_eq!(response.status(), 303, "{}", location(&response));
    assert_eq!(app.count_images(), 2);

    // Whatever the failed upload put before the store died has no row: doctor removes it.
    let output = atelier(
        &app,
        &["doctor", "--fix", "--grace-secs", "0"],
        &store.env(),
    );
    assert!(output.status.success(), "{output:?}");
    assert!(atelier(&app, &["doctor"], &store.env()).status.success());
    assert_eq!(app.stored_files().len(), 8);
}

#[tokio::test]
async fn migrate_storage_copies_every_file_to_s3_and_back_verified_and_idempotent() {
    let Some(store) = S3Server::start("migrate_storage") else {
        return;
    };
    let app = spawn_app().await;
    let client = app.user("mover").await;
    app.upload_ok(&client, png(120, 80), &[]).await;
    app.upload_ok(&client, png(80, 120), &[]).await;

    let output = atelier(&app, &["migrate-storage", "--to", "s3"], &store.env());
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("copied and verified 8 files"), "{text}");
    assert!(text.contains("set ATELIER_STORAGE=s3"), "{text}");
    let output = atelier(&app, &["migrate-storage", "--to", "s3"], &store.env());
    let text = stdout(&output);
    assert!(
        text.contains("copied and verified 0 files") && text.contains("8 were there already"),
        "{text}"
    );

    // An instance on the bucket serves what the local instance served.
    let on_s3 = spawn_second_instance_with(&app, |values| store.configure(values)).await;
    let json = app.json(&client, "/api/images").await;
    for image in json["images"].as_array().expect("images") {
        for variant in ["original", "thumb", "pristine"] {
            let url = image["urls"][variant].as_str().expect("url");
            let (_, local) = bytes_at(&client, &app.url(url)).await;
            let (status, remote) = bytes_at(&client, &format!("{on_s3}{url}")).await;
            assert_eq!(status, 200, "{variant} from the bucket");
            assert_eq!(local, remote, "{variant} copied exactly");
        }
    }

    // And back, into an empty uploads folder.
    let back = tempfile::tempdir().expect("dir");
    let mut env = store.env();
    env.push((
        "ATELIER_UPLOADS_DIR".into(),
        back.path().display().to_string(),
    ));
    let output = atelier(&app, &["migrate-storage", "--to", "local"], &env);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("copied and verified 8 files"));
    let mut copied = Vec::new();
    for path in app.stored_files() {
        let relative = path.strip_prefix(&app.uploads).expect("inside");
        let there = std::fs::read(back.path().join(relative)).expect("copied back");
        copied.push(there == std::fs::read(&path).expect("original"));
    }
    assert_eq!(copied, vec![true; 8]);

    // A store that does not answer is a clear error, not a half copy reported as done.
    store.kill();
    let output = atelier(&app, &["migrate-storage", "--to", "s3"], &store.env());
    assert!(!output.status.success());
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(errors.contains("cannot reach the S3 bucket"), "{errors}");
}

#[tokio::test]
async fn doctor_on_a_bucket_finds_and_removes_objects_without_rows() {
    let Some(app) = spawn_app_on_s3("doctor_on_a_bucket", |_| {}).await else {
        return;
    };
    let store = app.object_store.as_ref().expect("s3");
    let env = store.env();
    let client = app.user("doc").await;
    app.upload_ok(&client, png(30, 20), &[]).await;
    let gone = app.upload_ok(&client, png(20, 30), &[]).await;
    let output = atelier(&app, &["doctor"], &env);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).contains("checked 2 images and 8 files"),
        "{}",
        stdout(&output)
    );

    // What a crash between the objects and the row would leave: objects without a row.
    {
        use atelier::db::schema::images;
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
        diesel::delete(images::table.filter(images::id.eq(gone)))
            .execute(&mut app.conn())
            .expect("delete row");
    }
    let output = atelier(&app, &["doctor"], &env);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    assert_eq!(
        text.matches("min old): s3://atelier/doc/default/").count(),
        4,
        "{text}"
    );
    // A shared bucket: other programs' objects, at the top, beside and inside an account's
    // prefix, are not Atelier's and stay.
    let foreign = [
        "backups/2026/db.dump",
        "website/index.html",
        "robots.txt",
        "doc/notes.txt",
        "doc/default/original/not-ours.jpg",
    ];
    for key in foreign {
        let path = store.bucket_dir().join(key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, b"someone else's").expect("put a foreign object");
    }
    let output = atelier(&app, &["doctor", "--fix"], &env);
    assert_eq!(
        output.status.code(),
        Some(1),
        "young objects stay: {output:?}"
    );
    assert!(stdout(&output).contains("removed 0 files"));
    let output = atelier(&app, &["doctor", "--fix", "--grace-secs", "0"], &env);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("removed 4 files"), "{text}");
    assert!(text.contains("5 names not Atelier's"), "{text}");
    assert_eq!(
        app.stored_files().len(),
        4 + foreign.len(),
        "the real objects and everyone else's stay"
    );
    for key in foreign {
        assert!(store.bucket_dir().join(key).exists(), "{key} was removed");
    }
}
