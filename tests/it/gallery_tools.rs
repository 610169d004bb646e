//! The gallery's tools over HTTP, as scripts and no-JS browsers use them: search, sort
//! and favourites; bulk actions (only ever on the user's own images); folder renaming;
//! unlisted and public shares with expiry; JSON answers for register, upload and share;
//! camera details without location; admin forms that keep what was typed.

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use serde_json::{Value, json};

use crate::support::fixtures::{jpeg_from_a_phone, png};
use crate::support::helpers::{PASSWORD, TestApp, location, new_client, spawn_app, spawn_app_with};

async fn titles(app: &TestApp, client: &reqwest::Client, query: &str) -> Vec<String> {
    let listing: Value = app.json(client, &format!("/api/images?{query}")).await;
    listing["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|image| image["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Posts `form` as a browser would; the answer must be a 400 page, whose text is returned.
async fn refused_page(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> String {
    let response = app.post_form(client, path, form).await;
    assert_eq!(response.status(), 400, "{path}");
    response.text().await.expect("page")
}

/// Posts a raw form body to `/gallery/bulk` asking for JSON.
async fn bulk_json(app: &TestApp, client: &reqwest::Client, body: String) -> (u16, Value) {
    let response = client
        .post(app.url("/gallery/bulk"))
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("bulk");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn json_post(client: &reqwest::Client, url: String, form: &[(&str, &str)]) -> (u16, Value) {
    let response = client
        .post(url)
        .header("accept", "application/json")
        .form(form)
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn search_sort_and_favourites_narrow_the_gallery() {
    let app = spawn_app().await;
    let client = app.user("finder").await;
    let mut ids = Vec::new();
    for (title, width) in [
        ("Mountains at dawn", 300),
        ("A quiet lake", 500),
        ("Mountain lake, evening", 400),
    ] {
        ids.push(
            app.upload_ok(&client, png(width, 200), &[("title", title)])
                .await,
        );
    }
    // Prefixes and stems match; every word must; punctuation is not query syntax.
    assert_eq!(
        titles(&app, &client, "q=mountain&sort=title").await,
        ["Mountain lake, evening", "Mountains at dawn"]
    );
    assert_eq!(
        titles(&app, &client, "q=mount+lake").await,
        ["Mountain lake, evening"]
    );
    assert_eq!(
        titles(&app, &client, "q=%27%29%3A*%26%7C%21").await.len(),
        3,
        "no words: no filter"
    );
    assert!(titles(&app, &client, "q=volcano").await.is_empty());
    assert_eq!(
        titles(&app, &client, "sort=largest").await,
        [
            "A quiet lake",
            "Mountain lake, evening",
            "Mountains at dawn"
        ]
    );
    assert_eq!(
        titles(&app, &client, "sort=oldest").await[0],
        "Mountains at dawn"
    );
    // The page shows the same, the box keeps the words, and no results say so.
    let page = app.page(&client, "/gallery?q=mountain").await;
    assert!(
        page.contains("value=\"mountain\"") && page.contains("2 images"),
        "{page}"
    );
    let page = app.page(&client, "/gallery?q=volcano").await;
    assert!(page.contains("No images match"));

    // Favourites: starred from the image page's form or as JSON.
    let star = app
        .post_form(
            &client,
            &format!("/images/{}/favourite", ids[1]),
            &[("favourite", "1")],
        )
        .await;
    assert_eq!(star.status(), 303);
    assert_eq!(
        titles(&app, &client, "favourites=1").await,
        ["A quiet lake"]
    );
    let page = app.page(&client, "/gallery?favourites=1").await;
    assert!(page.contains("fav-badge") && page.contains("Favourites"));
    let image_page = app.page(&client, &format!("/images/{}", ids[1])).await;
    assert!(image_page.contains("aria-pressed=\"true\""), "{image_page}");
    let (status, answer) = json_post(
        &client,
        app.url(&format!("/images/{}/favourite", ids[1])),
        &[("favourite", "0")],
    )
    .await;
    assert_eq!((status, answer["favourite"].clone()), (200, json!(false)));
    assert!(titles(&app, &client, "favourites=1").await.is_empty());
    assert!(!app.page(&client, "/gallery").await.contains("fav-badge"));
    let image_page = app.page(&client, &format!("/images/{}", ids[1])).await;
    assert!(
        image_page.contains("aria-pressed=\"false\""),
        "{image_page}"
    );
    let (status, _) = json_post(
        &client,
        app.url(&format!("/images/{}/favourite", ids[1])),
        &[("favourite", "maybe")],
    )
    .await;
    assert_eq!(status, 400);
    // Someone else's image cannot be starred.
    let other = app.user("nosy").await;
    let response = app
        .post_form(&other, &format!("/images/{}/favourite", ids[0]), &[])
        .await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn bulk_actions_touch_only_the_users_own_images() {
    let app = spawn_app().await;
    let owner = app.user("bulky").await;
    let a = app
        .upload_ok(&owner, png(200, 100), &[("title", "a"), ("tags", "keep")])
        .await;
    let b = app
        .upload_ok(&owner, png(200, 100), &[("title", "b")])
        .await;
    let stranger = app.user("stranger").await;
    let theirs = app
        .upload_ok(&stranger, png(200, 100), &[("title", "theirs")])
        .await;
    assert_eq!(
        app.post_form(&owner, "/folders", &[("name", "Holidays")])
            .await
            .status(),
        303
    );
    let ids = format!("ids={a}&ids={b}&ids={theirs}");
    let bulk = |body: String| {
        owner
            .post(app.url("/gallery/bulk"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    // Tag: added to what was there, only on the owner's two.
    let response = bulk(format!(
        "{ids}&action=tag&tags=trip,+2026&back=/gallery%3Fpage%3D1"
    ))
    .await
    .expect("bulk");
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/gallery?page=1");
    let images = app.api_images(&owner).await;
    let tags_of = |id: i64| {
        images
            .iter()
            .find(|image| image["id"] == id)
            .map(|image| image["tags"].clone())
            .expect("image")
    };
    assert_eq!(tags_of(a), json!(["keep", "trip", "2026"]));
    assert_eq!(tags_of(b), json!(["trip", "2026"]));
    let theirs_tags: Vec<String> = {
        use atelier::db::schema::images;
        images::table
            .find(theirs)
            .select(images::tags)
            .first(&mut app.conn())
            .expect("theirs")
    };
    assert!(
        theirs_tags.is_empty(),
        "a stranger's image is never touched"
    );
    // Move: the files follow, and the page proxy serves them from the new folder.
    let response = bulk(format!("{ids}&action=move&folder=holidays"))
        .await
        .expect("bulk");
    assert_eq!(response.status(), 303);
    assert_eq!(
        titles(&app, &owner, "folder=holidays&sort=title").await,
        ["a", "b"]
    );
    for image in app.api_images(&owner).await {
        let url = image["urls"]["original"].as_str().expect("url");
        assert!(url.contains("/holidays/"), "{url}");
        assert_eq!(app.get(&owner, url).await.status(), 200);
    }
    // Share: unlisted links, shown as JSON to scripts; none of them on Explore.
    let (_, answer) = bulk_json(&app, &owner, format!("{ids}&action=share")).await;
    let links = answer["share_urls"].as_array().expect("links").clone();
    assert_eq!(links.len(), 2, "{answer}");
    for link in &links {
        assert_eq!(
            app.get(&new_client(), link.as_str().expect("link"))
                .await
                .status(),
            200
        );
    }
    let explore = app.page(&new_client(), "/explore").await;
    assert!(
        !explore.contains("/s/"),
        "unlisted links never show on Explore"
    );
    // Bad requests change nothing and say why.
    for (body, message) in [
        ("action=delete".to_owned(), "Tick at least one image"),
        (
            format!("{ids}&action=explode"),
            "not something the gallery can do",
        ),
        (
            format!("{ids}&action=move&folder=nowhere"),
            "does not exist",
        ),
        (format!("{ids}&action=tag&tags=%21%21"), "not allowed"),
    ] {
        let (status, error) = bulk_json(&app, &owner, body).await;
        assert_eq!(status, 400);
        assert!(
            error["error"]
                .as_str()
                .unwrap_or_default()
                .contains(message),
            "{error}"
        );
    }
    let too_many: String = (1..=101).map(|id| format!("ids={id}&")).collect();
    let response = bulk(format!("{too_many}action=delete"))
        .await
        .expect("bulk");
    assert_eq!(response.status(), 303, "the page says why");
    assert_eq!(app.count_images(), 3);
    // Delete: the owner's two go to their trash (out of every listing, files kept); the
    // stranger's stays where it is.
    let files = app.stored_files().len();
    let response = bulk(format!("{ids}&action=delete")).await.expect("bulk");
    assert_eq!(response.status(), 303);
    assert!(app.api_images(&owner).await.is_empty());
    assert_eq!(app.api_images(&stranger).await.len(), 1);
    assert_eq!(
        app.stored_files().len(),
        files,
        "restorable: nothing removed yet"
    );
    assert!(
        app.page(&owner, "/trash")
            .await
            .contains("Trash <span class=\"muted small\">2 pictures")
    );
}

#[tokio::test]
async fn folders_can_be_renamed_and_keep_their_address() {
    let app = spawn_app().await;
    let client = app.user("renamer").await;
    app.post_form(&client, "/folders", &[("name", "Trips")])
        .await;
    let id = app
        .upload_ok(&client, png(120, 80), &[("folder", "trips")])
        .await;
    let folder_id: i64 = {
        use atelier::db::schema::folders;
        folders::table
            .filter(folders::slug.eq("trips"))
            .select(folders::id)
            .first(&mut app.conn())
            .expect("folder")
    };
    // The folder's page is seen first, so the server holds its summary when it is renamed.
    assert!(
        app.page(&client, "/gallery?folder=trips")
            .await
            .contains("<h1>Trips <span")
    );
    let response = app
        .post_form(
            &client,
            &format!("/folders/{folder_id}/rename"),
            &[("name", "Trips 2026")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/gallery?folder=trips");
    let page = app.page(&client, "/gallery?folder=trips").await;
    assert!(
        page.contains("<h1>Trips 2026 <span"),
        "the new name at once: {page}"
    );
    let page = app.page(&client, &format!("/images/{id}")).await;
    assert!(page.contains("Trips 2026"));
    // A bad name: 400, the form says why; someone else's folder: 404.
    let page = refused_page(
        &app,
        &client,
        &format!("/folders/{folder_id}/rename"),
        &[("name", "   ")],
    )
    .await;
    assert!(page.contains("1 to 64 characters"));
    let other = app.user("other").await;
    let response = app
        .post_form(
            &other,
            &format!("/folders/{folder_id}/rename"),
            &[("name", "Mine")],
        )
        .await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn shares_are_unlisted_unless_published_and_expire_when_told() {
    // Previews need the site's absolute URL: here a trusted proxy (the test) names it.
    let app = spawn_app_with(|s| {
        s.insert("trusted_proxies".into(), "127.0.0.1".into());
    })
    .await;
    let client = app.user("publisher").await;
    let id = app
        .upload_ok(&client, png(200, 100), &[("title", "Harbour")])
        .await;
    let share = |form: &'static [(&'static str, &'static str)]| {
        json_post(&client, app.url(&format!("/images/{id}/share")), form)
    };
    let (status, unlisted) = share(&[]).await;
    assert_eq!(status, 200);
    assert_eq!(unlisted["visibility"], "unlisted");
    assert_eq!(unlisted["expires_at"], Value::Null);
    let link = unlisted["share_url"].as_str().expect("link").to_owned();
    assert_eq!(app.get(&new_client(), &link).await.status(), 200);
    let explore = app.page(&new_client(), "/explore").await;
    assert!(!explore.contains("Harbour"), "unlisted: not on Explore");

    let (_, public) = share(&[("visibility", "public")]).await;
    assert_eq!(public["visibility"], "public");
    let expires =
        chrono::DateTime::parse_from_rfc3339(public["expires_at"].as_str().expect("expiry"))
            .expect("rfc3339");
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours() / 24;
    assert_eq!(days, 29, "public links expire after 30 days by default");
    let public_link = public["share_url"].as_str().expect("link").to_owned();
    assert_eq!(
        app.get(&new_client(), &link).await.status(),
        404,
        "a new link replaces the old"
    );
    let explore = app.page(&new_client(), "/explore").await;
    assert!(explore.contains("Harbour") && explore.contains("publisher"));
    // The share page previews in chat apps and search engines may index it.
    let page = app.page(&new_client(), &public_link).await;
    assert!(
        page.contains("property=\"og:title\" content=\"Harbour\""),
        "{page}"
    );
    assert!(page.contains("property=\"og:image\" content=\"http://"));
    assert!(page.contains("content=\"index\""));

    // Expired: the link is a 404 and Explore forgets it. (Written in the database: no
    // public path sets an expiry in the past, and no test waits a day.)
    {
        use atelier::db::schema::images;
        diesel::update(images::table.find(id))
            .set(images::share_expires_at.eq(chrono::Utc::now() - chrono::Duration::minutes(1)))
            .execute(&mut app.conn())
            .expect("expire");
    }
    crate::support::helpers::eventually("the expired link stops", || async {
        app.get(&new_client(), &public_link).await.status() == 404
    })
    .await;
    let explore = app.page(&new_client(), "/explore").await;
    assert!(!explore.contains("Harbour"));
    let page = app.page(&client, &format!("/images/{id}")).await;
    assert!(page.contains("The last link expired"));

    // Bad choices are refused and change nothing; the browser form keeps its page.
    let (status, error) = share(&[("visibility", "everyone")]).await;
    assert_eq!(status, 400);
    assert!(
        error["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unlisted")
    );
    let (status, _) = share(&[("expires", "3")]).await;
    assert_eq!(status, 400);
    let page = refused_page(
        &app,
        &client,
        &format!("/images/{id}/share"),
        &[("expires", "forever")],
    )
    .await;
    assert!(page.contains("1, 7, 30 or 365 days"));
    // JSON bodies work as forms do.
    let response = client
        .post(app.url(&format!("/images/{id}/share")))
        .header("accept", "application/json")
        .json(&json!({ "visibility": "unlisted", "expires": "7" }))
        .send()
        .await
        .expect("POST");
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["visibility"], "unlisted");
    assert!(answer["expires_at"].is_string());
    let (status, revoked) =
        json_post(&client, app.url(&format!("/images/{id}/unshare")), &[]).await;
    assert_eq!((status, revoked["success"].clone()), (200, json!(true)));
}

#[tokio::test]
async fn register_and_upload_answer_scripts_in_json() {
    let app = spawn_app().await;
    let client = new_client();
    let (status, created) = json_post(
        &client,
        app.url("/register"),
        &[
            ("username", "scripted"),
            ("email", "scripted@example.com"),
            ("password", PASSWORD),
            ("confirm_password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["user"]["username"], "scripted");
    let (status, taken) = json_post(
        &new_client(),
        app.url("/register"),
        &[
            ("username", "scripted"),
            ("email", "other@example.com"),
            ("password", PASSWORD),
            ("confirm_password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, 409);
    assert!(taken["errors"]["username"].is_string(), "{taken}");
    let (status, bad) = json_post(&new_client(), app.url("/register"), &[("username", "x")]).await;
    assert_eq!(status, 400);
    assert!(
        bad["errors"]["email"].is_string() && bad["errors"]["password"].is_string(),
        "{bad}"
    );

    // Signed in by registering: upload at once, answered in JSON when asked.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(png(90, 60)).file_name("a.png"),
        )
        .text("title", "From a script");
    let response = client
        .post(app.url("/upload"))
        .header("accept", "application/json")
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 201);
    let uploaded: Value = response.json().await.expect("json");
    assert_eq!(uploaded["image"]["title"], "From a script");
    assert!(
        uploaded["image"]["page_url"]
            .as_str()
            .unwrap_or_default()
            .starts_with("/images/")
    );
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"not a picture".to_vec()).file_name("a.png"),
    );
    let response = client
        .post(app.url("/upload"))
        .header("accept", "application/json")
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 415);
    let refused: Value = response.json().await.expect("json");
    assert_eq!(refused["success"], false);
}

#[tokio::test]
async fn camera_details_show_without_location() {
    let app = spawn_app().await;
    let client = app.user("photographer").await;
    let response = app
        .upload(&client, jpeg_from_a_phone(64, 48), "phone.jpg", &[])
        .await;
    assert_eq!(response.status(), 303);
    let page_url = location(&response).to_owned();
    let page = app.page(&client, &page_url).await;
    assert!(
        page.contains("<dt>Camera</dt><dd>Google Pixel 8</dd>"),
        "{page}"
    );
    assert!(page.contains("2024-05-01 18:30"));
    assert!(
        !page.contains("48°") && !page.contains("GPS"),
        "never location"
    );
    let original = app.api_images(&client).await[0]["urls"]["original"]
        .as_str()
        .expect("url")
        .to_owned();
    let served = app
        .get(&client, &original)
        .await
        .bytes()
        .await
        .expect("body");
    assert!(
        !crate::support::fixtures::has_exif(&served),
        "the working copy carries no EXIF"
    );
    // A picture without EXIF shows no camera rows.
    let id = app.upload_ok(&client, png(40, 40), &[]).await;
    let page = app.page(&client, &format!("/images/{id}")).await;
    assert!(!page.contains("<dt>Camera</dt>"));
}

#[tokio::test]
async fn admin_forms_keep_what_was_typed_and_the_log_speaks_in_words() {
    let (app, admin) = crate::admin::app_with_admin().await;
    let page = refused_page(
        &app,
        &admin,
        "/admin/ips/block",
        &[
            ("network", "300.1.2.3/99"),
            ("reason", "spam wave"),
            ("expires_hours", "48"),
        ],
    )
    .await;
    assert!(
        page.contains("value=\"300.1.2.3/99\"") && page.contains("value=\"spam wave\""),
        "{page}"
    );
    assert!(page.contains("flash-error"));
    let page = refused_page(
        &app,
        &admin,
        "/admin/limits",
        &[("network", "198.51.100.0/24"), ("anon_generate", "lots")],
    )
    .await;
    assert!(
        page.contains("value=\"lots\"") && page.contains("value=\"198.51.100.0/24\""),
        "{page}"
    );
    // Scripts still get the plain 400 in JSON.
    let (status, error) =
        json_post(&admin, app.url("/admin/ips/block"), &[("network", "nope")]).await;
    assert_eq!(status, 400);
    assert_eq!(error["success"], false);
    // A good block, then the log: a sentence, not a code word.
    let response = app
        .post_form(
            &admin,
            "/admin/ips/block",
            &[("network", "192.0.2.0/24"), ("reason", "spam")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let log = app.page(&admin, "/admin/audit").await;
    assert!(log.contains("Blocked a network"), "{log}");
    assert!(!log.contains("None") && !log.contains("Some("), "{log}");
    let user_page = app.page(&admin, "/admin/users").await;
    assert!(user_page.contains("root@example.com"));

    // A user's page: a bad credit amount keeps the typed values beside the error, and a
    // wrong confirmation keeps the account.
    app.register(&new_client(), "casey", "Casey.Jones@Example.com", PASSWORD)
        .await;
    let id = app.user_id("casey");
    let page = refused_page(
        &app,
        &admin,
        &format!("/admin/users/{id}/update"),
        &[
            ("tier", "plus"),
            ("credits_delta", "ten"),
            ("reason", "launch bonus"),
        ],
    )
    .await;
    assert!(page.contains("whole number like 10"), "{page}");
    assert!(page.contains("value=\"ten\"") && page.contains("value=\"launch bonus\""));
    assert!(
        page.contains("<option value=\"plus\" selected>"),
        "the choice is kept"
    );
    assert!(
        page.contains("casey.jones@example.com"),
        "emails stored and shown in lower case, never capitalised"
    );
    assert_eq!(app.credits_of("casey"), 1000, "nothing changed");
    let page = refused_page(
        &app,
        &admin,
        &format!("/admin/users/{id}/update"),
        &[("credits_delta", "-5000")],
    )
    .await;
    assert!(
        page.contains("value=\"-5000\"") && page.contains("fewer than 5000 credits"),
        "credits never go below zero: {page}"
    );
    let page = refused_page(
        &app,
        &admin,
        &format!("/admin/users/{id}/delete"),
        &[("confirm", "mixed")],
    )
    .await;
    assert!(page.contains("to confirm the deletion"));
    assert_eq!(app.credits_of("casey"), 1000);
    assert_eq!(app.count_users(), 2, "root and casey");
}

#[tokio::test]
async fn racing_bulk_actions_on_the_same_images_never_fail_the_server() {
    let app = spawn_app().await;
    let owner = app.user("racer").await;
    assert_eq!(
        app.post_form(&owner, "/folders", &[("name", "Elsewhere")])
            .await
            .status(),
        303
    );
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(
            app.upload_ok(&owner, png(120 + n, 80), &[("title", "racing")])
                .await,
        );
    }
    let ids: String = ids.iter().map(|id| format!("ids={id}&")).collect();
    let actions = [
        "action=delete",
        "action=move&folder=elsewhere",
        "action=tag&tags=fast",
        "action=share",
        "action=favourite",
        "action=move&folder=default",
        "action=delete",
        "action=unshare",
    ];
    let requests = actions.iter().map(|action| {
        let (app, owner) = (&app, &owner);
        let body = format!("{ids}{action}");
        async move { bulk_json(app, owner, body).await }
    });
    let answers = futures_util::future::join_all(requests).await;
    for ((status, answer), action) in answers.iter().zip(actions) {
        assert!(
            *status == 200 || *status == 400,
            "{action}: {status} {answer}"
        );
    }
    // Whatever interleaving happened, the deletes won: every picture is in the trash with
    // its four files and no share link.
    assert!(app.api_images(&owner).await.is_empty());
    let (trashed, shared): (i64, i64) = {
        use atelier::db::schema::images;
        use diesel::dsl::count_star;
        let trashed = images::table
            .filter(images::trashed_at.is_not_null())
            .select(count_star())
            .first(&mut app.conn())
            .expect("trash");
        let shared = images::table
            .filter(images::share_token_hash.is_not_null())
            .select(count_star())
            .first(&mut app.conn())
            .expect("shares");
        (trashed, shared)
    };
    assert_eq!((trashed, shared), (4, 0));
    assert_eq!(app.stored_files().len(), 16, "{:?}", app.stored_files());
    // Each tile's star (kept on the picture's row) agrees with the favourites.
    let starred = "SELECT id || ' ' || starred AS line FROM images";
    let favourites = "SELECT id || ' ' || EXISTS (SELECT 1 FROM favourites f \
                      WHERE f.image_id = images.id) AS line FROM images";
    assert_eq!(app.lines(starred), app.lines(favourites));
}

#[tokio::test]
async fn one_image_moved_edited_and_deleted_at_once_stays_whole() {
    let app = spawn_app().await;
    let owner = app.user("juggler").await;
    app.post_form(&owner, "/folders", &[("name", "Other")])
        .await;
    for round in 0..3 {
        let id = app
            .upload_ok(&owner, png(160 + round, 90), &[("title", "juggled")])
            .await;
        let image = format!("/images/{id}");
        let requests: Vec<(String, Vec<(&str, &str)>)> = vec![
            (
                format!("{image}/update"),
                vec![("title", "moved"), ("folder", "other")],
            ),
            (format!("{image}/edit"), vec![("op", "rotate90")]),
            (format!("{image}/delete"), vec![("forever", "1")]),
            (format!("{image}/edit"), vec![("op", "grayscale")]),
            (
                format!("{image}/update"),
                vec![("title", "back"), ("folder", "default")],
            ),
        ];
        let statuses = futures_util::future::join_all(requests.iter().map(|(path, form)| {
            let (app, owner) = (&app, &owner);
            async move { app.post_form(owner, path, form).await.status().as_u16() }
        }))
        .await;
        for status in &statuses {
            assert!([303, 404].contains(status), "round {round}: {statuses:?}");
        }
        assert_eq!(app.count_images(), 0, "the delete went through");
        assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    }
}

#[tokio::test]
async fn a_page_past_the_last_says_so_and_links_the_last() {
    let app = spawn_app().await;
    let client = app.user("pager").await;
    app.upload_ok(&client, png(40, 30), &[]).await;
    let page = app.page(&client, "/gallery?page=99").await;
    assert!(page.contains("There is no page 99."), "{page}");
    assert!(page.contains("The 1 image here is on 1 page."), "{page}");
    assert!(page.contains("Go to page 1"));
    assert!(!page.contains("Nothing here yet"));
}

#[tokio::test]
async fn a_date_ordered_gallery_has_month_headings() {
    let app = spawn_app().await;
    let client = app.user("chronicler").await;
    let old = app
        .upload_ok(&client, png(40, 30), &[("title", "Old")])
        .await;
    app.upload_ok(&client, png(40, 30), &[("title", "New")])
        .await;
    {
        // No public path dates a picture in the past: the older upload is moved back a year.
        use atelier::db::schema::images;
        diesel::update(images::table.find(old))
            .set(images::created_at.eq(chrono::Utc::now() - chrono::Duration::days(400)))
            .execute(&mut app.conn())
            .expect("age");
    }
    let page = app.page(&client, "/gallery").await;
    let this_month = chrono::Utc::now().format("%B %Y").to_string();
    let then = (chrono::Utc::now() - chrono::Duration::days(400))
        .format("%B %Y")
        .to_string();
    let (now_at, then_at) = (
        page.find(&format!("<h2>{this_month}</h2>"))
            .expect("this month"),
        page.find(&format!("<h2>{then}</h2>")).expect("that month"),
    );
    assert!(now_at < then_at, "newest first");
    let by_title = app.page(&client, "/gallery?sort=title").await;
    assert!(
        !by_title.contains("class=\"date-heading\""),
        "only when ordered by date"
    );
}
