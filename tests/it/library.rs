//! The gallery's actions: edits and revert, folders and moves, share links, the JSON list
//! and the dashboard.

use crate::support::fixtures::png;
use crate::support::helpers::{TestApp, new_client, spawn_app};

async fn dims(app: &TestApp, client: &reqwest::Client) -> (i64, i64) {
    let image = &app.api_images(client).await[0];
    (
        image["width"].as_i64().expect("w"),
        image["height"].as_i64().expect("h"),
    )
}

async fn thumb_dims(app: &TestApp, client: &reqwest::Client) -> (u32, u32) {
    let image = &app.api_images(client).await[0];
    let bytes = app
        .get(client, image["urls"]["thumb"].as_str().expect("url"))
        .await
        .bytes()
        .await
        .expect("body");
    let thumb = image::load_from_memory(&bytes).expect("thumb");
    (thumb.width(), thumb.height())
}

crate::on_each_backend!(edits_change_pixels_bad_edits_change_nothing_and_revert_restores);

async fn edits_change_pixels_bad_edits_change_nothing_and_revert_restores(app: TestApp) {
    let client = app.user("edith").await;
    let id = app.upload_ok(&client, png(400, 200), &[]).await;
    let edit = |form: Vec<(&'static str, &'static str)>| {
        let (app, client) = (&app, &client);
        async move {
            app.post_form(client, &format!("/images/{id}/edit"), &form)
                .await
                .status()
                .as_u16()
        }
    };

    // Served once before the edit (the proxy keeps small files in memory briefly): the
    // edit must still show at once.
    assert_eq!(thumb_dims(&app, &client).await, (320, 160));
    assert_eq!(edit(vec![("op", "rotate90")]).await, 303);
    assert_eq!(dims(&app, &client).await, (200, 400));
    assert_eq!(
        thumb_dims(&app, &client).await,
        (160, 320),
        "thumb regenerated"
    );
    assert_eq!(
        edit(vec![
            ("op", "crop"),
            ("x", "10"),
            ("y", "20"),
            ("w", "100"),
            ("h", "50")
        ])
        .await,
        303
    );
    assert_eq!(dims(&app, &client).await, (100, 50));
    assert_eq!(
        edit(vec![("op", "resize"), ("w", "60"), ("h", "30")]).await,
        303
    );
    assert_eq!(dims(&app, &client).await, (60, 30));
    assert_eq!(edit(vec![("op", "grayscale")]).await, 303);
    assert_eq!(edit(vec![("op", "fliph")]).await, 303);
    assert_eq!(edit(vec![("op", "flipv")]).await, 303);
    assert_eq!(edit(vec![("op", "rotate180")]).await, 303);
    assert_eq!(dims(&app, &client).await, (60, 30));

    for bad in [
        vec![
            ("op", "crop"),
            ("x", "50"),
            ("y", "0"),
            ("w", "20"),
            ("h", "10"),
        ],
        vec![
            ("op", "crop"),
            ("x", "0"),
            ("y", "0"),
            ("w", "0"),
            ("h", "10"),
        ],
        vec![
            ("op", "crop"),
            ("x", "-1"),
            ("y", "0"),
            ("w", "5"),
            ("h", "5"),
        ],
        vec![("op", "resize"), ("w", "0"), ("h", "10")],
        vec![("op", "resize"), ("w", "100000"), ("h", "100000")],
        vec![("op", "resize"), ("w", "ten"), ("h", "10")],
        vec![("op", "explode")],
        vec![],
    ] {
        assert_eq!(edit(bad.clone()).await, 400, "{bad:?}");
        assert_eq!(
            dims(&app, &client).await,
            (60, 30),
            "{bad:?} changed nothing"
        );
    }

    assert_eq!(edit(vec![("op", "revert")]).await, 303);
    assert_eq!(dims(&app, &client).await, (400, 200));
    assert_eq!(thumb_dims(&app, &client).await, (320, 160));
}

crate::on_each_backend!(moving_to_another_folder_moves_the_files_and_the_url);

async fn moving_to_another_folder_moves_the_files_and_the_url(app: TestApp) {
    let client = app.user("mover").await;
    let response = app
        .post_form(&client, "/folders", &[("name", "Summer Trip")])
        .await;
    assert_eq!(response.status(), 303);
    let id = app.upload_ok(&client, png(50, 50), &[]).await;
    let before = app.api_images(&client).await[0]["urls"]["original"]
        .as_str()
        .expect("url")
        .to_owned();
    assert!(before.starts_with("/media/mover/default/original/"));

    let response = app
        .post_form(
            &client,
            &format!("/images/{id}/update"),
            &[
                ("title", "Beach"),
                ("tags", "sea, sun"),
                ("folder", "summer-trip"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let image = app.api_images(&client).await[0].clone();
    let after = image["urls"]["original"].as_str().expect("url");
    assert!(
        after.starts_with("/media/mover/summer-trip/original/"),
        "{after}"
    );
    assert_eq!(image["title"], "Beach");
    assert_eq!(image["tags"], serde_json::json!(["sea", "sun"]));
    assert_eq!(app.get(&client, after).await.status(), 200, "new URL works");
    assert_eq!(
        app.get(&client, &before).await.status(),
        404,
        "old URL is gone"
    );
    assert!(
        app.stored_files()
            .iter()
            .all(|p| p.to_string_lossy().contains("/summer-trip/"))
    );

    // Bad metadata changes nothing.
    let response = app
        .post_form(
            &client,
            &format!("/images/{id}/update"),
            &[("title", "x"), ("tags", "<b>"), ("folder", "summer-trip")],
        )
        .await;
    assert_eq!(response.status(), 400);
    let response = app
        .post_form(
            &client,
            &format!("/images/{id}/update"),
            &[("title", "x"), ("tags", ""), ("folder", "no-such-folder")],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(app.api_images(&client).await[0]["title"], "Beach");

    // Filters.
    let in_folder = app.json(&client, "/api/images?folder=summer-trip").await;
    assert_eq!(in_folder["total"], 1);
    let by_tag = app.json(&client, "/api/images?tag=rain").await;
    assert_eq!(by_tag["total"], 0);
    let page = app
        .get(&client, "/gallery?tag=sea")
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("Beach"));
}

#[tokio::test]
async fn folders_refuse_deletion_while_holding_images() {
    let app = spawn_app().await;
    let client = app.user("folderer").await;
    assert_eq!(
        app.post_form(&client, "/folders", &[("name", "Work")])
            .await
            .status(),
        303
    );
    let response = app
        .post_form(&client, "/folders", &[("name", "work")])
        .await;
    assert_eq!(response.status(), 409, "same slug twice");
    assert_eq!(
        app.post_form(&client, "/folders", &[("name", "!!!")])
            .await
            .status(),
        400
    );
    app.upload_ok(&client, png(20, 20), &[("folder", "work")])
        .await;

    let folder_id = |wanted: &'static str| {
        use atelier::db::schema::folders::dsl::*;
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
        folders
            .filter(slug.eq(wanted))
            .select(id)
            .first::<i64>(&mut app.conn())
            .expect("folder")
    };
    let work = folder_id("work");
    let response = app
        .post_form(&client, &format!("/folders/{work}/delete"), &[])
        .await;
    assert_eq!(response.status(), 409);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("still holds 1 image")
    );
    let default = folder_id("default");
    assert_eq!(
        app.post_form(&client, &format!("/folders/{default}/delete"), &[])
            .await
            .status(),
        409
    );

    let id = app.api_images(&client).await[0]["id"].as_i64().expect("id");
    assert_eq!(
        app.post_form(
            &client,
            &format!("/images/{id}/delete"),
            &[("forever", "1")]
        )
        .await
        .status(),
        303
    );
    assert!(
        app.stored_files().is_empty(),
        "files removed with the image"
    );
    assert_eq!(
        app.post_form(&client, &format!("/folders/{work}/delete"), &[])
            .await
            .status(),
        303
    );
    assert_eq!(app.count_images(), 0);
}

crate::on_each_backend!(share_links_work_for_anyone_and_die_when_revoked);

async fn share_links_work_for_anyone_and_die_when_revoked(app: TestApp) {
    let owner = app.user("sharer").await;
    let id = app.upload_ok(&owner, png(120, 80), &[]).await;
    assert_eq!(
        app.post_form(
            &owner,
            &format!("/images/{id}/share"),
            &[("visibility", "public")]
        )
        .await
        .status(),
        303
    );
    let page = app
        .get(&owner, &format!("/images/{id}"))
        .await
        .text()
        .await
        .expect("body");
    let link = page
        .split("href=\"/s/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("share link");
    assert!(link.len() >= 32, "at least 128 bits: {link}");
    let link = format!("/s/{link}");

    let stranger = new_client();
    assert_eq!(app.get(&stranger, &link).await.status(), 200);
    let original = app
        .get(
            &owner,
            app.api_images(&owner).await[0]["urls"]["original"]
                .as_str()
                .expect("url"),
        )
        .await
        .bytes()
        .await
        .expect("body");
    let shared = app.get(&stranger, &format!("{link}/image")).await;
    assert_eq!(
        shared.headers()["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    assert_eq!(
        shared.bytes().await.expect("body"),
        original,
        "shares serve the working copy"
    );
    assert_eq!(
        app.get(&stranger, &format!("{link}/thumb")).await.status(),
        200
    );
    assert_eq!(
        app.get(&stranger, &format!("{link}/pristine"))
            .await
            .status(),
        404,
        "never pristine"
    );
    let explore = app
        .get(&stranger, "/explore")
        .await
        .text()
        .await
        .expect("body");
    assert!(explore.contains(&format!("{link}/thumb")));
    // The token is not in the database in the clear.
    {
        use diesel::RunQueryDsl;
        let stored: Vec<Option<Vec<u8>>> = atelier::db::schema::images::table
            .select(atelier::db::schema::images::share_token_hash)
            .load(&mut app.conn())
            .expect("hashes");
        let token = link.trim_start_matches("/s/");
        assert!(stored.iter().flatten().all(|hash| hash != token.as_bytes()));
        use diesel::QueryDsl;
    }

    assert_eq!(
        app.post_form(&owner, &format!("/images/{id}/unshare"), &[])
            .await
            .status(),
        303
    );
    for path in [
        link.clone(),
        format!("{link}/image"),
        format!("{link}/thumb"),
    ] {
        assert_eq!(
            app.get(&stranger, &path).await.status(),
            404,
            "{path} after unshare"
        );
    }
    assert!(
        !app.get(&stranger, "/explore")
            .await
            .text()
            .await
            .expect("body")
            .contains(&link)
    );
    assert_eq!(app.get(&stranger, "/s/not-a-token").await.status(), 404);
}

#[tokio::test]
async fn api_upload_and_dashboard_counts() {
    let app = spawn_app().await;
    let client = app.user("apiuser").await;
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(png(90, 60)).file_name("a.png"),
        )
        .text("folder", "From API")
        .text("tags", "api");
    let response = client
        .post(app.url("/api/upload"))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 201);
    let json: serde_json::Value = response.json().await.expect("json");
    assert_eq!(json["success"], true);
    assert_eq!(json["image"]["folder"], "from-api");
    assert_eq!(json["image"]["width"], 90);

    let unauthenticated = new_client()
        .get(app.url("/api/images"))
        .send()
        .await
        .expect("GET");
    assert_eq!(unauthenticated.status(), 401);
    let body: serde_json::Value = unauthenticated.json().await.expect("json");
    assert_eq!(body["success"], false);

    let dashboard = app
        .get(&client, "/dashboard")
        .await
        .text()
        .await
        .expect("body");
    assert!(
        dashboard.contains(
            "<span class=\"stat-label\">Images</span><span class=\"stat-value\">1</span>"
        ),
        "{dashboard}"
    );
    assert!(
        dashboard.contains(json["image"]["urls"]["thumb"].as_str().expect("thumb")),
        "recent image shown"
    );
}

/// Pages past the first ten pick their ids before reading rows (`Image::page_for_user`):
/// in every sort, the pages read in turn hold the listing in its order, none lost or
/// repeated where the two ways of reading meet.
#[tokio::test]
async fn deep_pages_continue_the_first_ones_in_every_sort() {
    use diesel::RunQueryDsl;
    let app = spawn_app().await;
    let client = app.user("prolific").await;
    let first = app.upload_ok(&client, png(8, 8), &[("tags", "many")]).await;
    // 279 more rows like it (the listing reads rows, not files), with distinct dates,
    // titles and sizes, some of them equal to exercise the id tie-break.
    copies_of(
        &app,
        first,
        279,
        [
            "'picture ' || n % 97",
            "bytes + n % 7",
            "created_at - make_interval(mins => n % 150)",
        ],
    );
    let orders = [
        ("newest", "created_at DESC, id DESC"),
        ("oldest", "created_at, id"),
        ("title", "title, id"),
        ("largest", "bytes DESC, id DESC"),
    ];
    for (sort, order) in orders {
        let expected: Vec<i64> = diesel::sql_query(format!(
            "SELECT id FROM images WHERE id >= {first} ORDER BY {order}"
        ))
        .load::<Id>(&mut app.conn())
        .expect("order")
        .into_iter()
        .map(|row| row.id)
        .collect();
        let mut seen = Vec::new();
        for page in 1..=12 {
            let html = app
                .get(&client, &format!("/gallery?sort={sort}&page={page}"))
                .await
                .text()
                .await
                .expect("page");
            seen.extend(tile_ids(&html));
        }
        assert_eq!(seen, expected, "sort={sort}");
    }
}

/// The ids of a gallery page's tiles, in order.
fn tile_ids(html: &str) -> Vec<i64> {
    html.split(r#"<li class="tile "#)
        .skip(1)
        .map(|tile| {
            let link = tile.split(r#"href="/images/"#).nth(1).expect("link");
            let digits: String = link.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<i64>().expect("id")
        })
        .collect()
}

/// `count` more rows like picture `first` (the listing reads rows, not files), numbered
/// `n` from 1, their title, size and date SQL expressions of `n` and the first's columns.
fn copies_of(app: &TestApp, first: i64, count: u32, [title, bytes, created_at]: [&str; 3]) {
    use diesel::RunQueryDsl;
    diesel::sql_query(format!(
        "INSERT INTO images (user_id, folder_id, kind, stem, original_ext, thumb_ext, pristine_ext,
                             display_ext, mime, width, height, bytes, disk_bytes, title, tags,
                             created_at, updated_at, prompt)
         SELECT user_id, folder_id, kind, md5(stem || n), original_ext, thumb_ext, pristine_ext,
                display_ext, mime, width, height, {bytes}, disk_bytes, {title}, tags,
                {created_at}, updated_at, prompt
         FROM images, generate_series(1, {count}) AS n WHERE id = {first}"
    ))
    .execute(&mut app.conn())
    .expect("more rows");
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// A search is counted only as far as the pages around the one shown (a thousand past
/// it): "1000+ images", a pager that leads on without a last page; near the end the count
/// is exact again. A tag alone and the JSON API keep exact totals.
#[tokio::test]
async fn a_search_matching_thousands_is_counted_as_far_as_its_pages() {
    use diesel::RunQueryDsl;
    let app = spawn_app().await;
    let client = app.user("prolific").await;
    let first = app
        .upload_ok(&client, png(8, 8), &[("title", "fox 0"), ("tags", "wild")])
        .await;
    copies_of(
        &app,
        first,
        1130,
        [
            "CASE WHEN n <= 1100 THEN 'fox ' ELSE 'owl ' END || n",
            "bytes",
            "created_at - make_interval(secs => n)",
        ],
    );
    let page = |path: String| {
        let (app, client) = (&app, &client);
        async move { app.get(client, &path).await.text().await.expect("page") }
    };
    let pager_of = |html: &str| {
        html.split(r#"class="pager""#)
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };

    let foxes = page("/gallery?q=fox".into()).await;
    assert!(foxes.contains("1000+ images"), "{foxes}");
    // So many match that the page walks the listing in order, testing each picture.
    let newest_foxes: Vec<i64> = diesel::sql_query(
        "SELECT id FROM images WHERE title LIKE 'fox %' ORDER BY created_at DESC, id DESC LIMIT 24",
    )
    .load::<Id>(&mut app.conn())
    .expect("foxes")
    .into_iter()
    .map(|row| row.id)
    .collect();
    assert_eq!(tile_ids(&foxes), newest_foxes);
    let pager = pager_of(&foxes);
    assert!(pager.contains("page=2\" rel=\"next\""), "{pager}");
    assert!(
        !pager.contains("Page 42\""),
        "no last page to jump to: {pager}"
    );
    assert!(pager.contains(r#"<li class="gap""#), "{pager}");

    // Page 46 of 1,101 foxes: counted to the end, the last page and its number shown.
    let near_the_end = page("/gallery?q=fox&page=45".into()).await;
    assert!(near_the_end.contains("1101 images"), "{near_the_end}");
    let pager = pager_of(&near_the_end);
    assert!(pager.contains("aria-label=\"Page 46\">46</a>"), "{pager}");
    let last = page("/gallery?q=fox&page=46".into()).await;
    assert_eq!(last.matches(r#"<li class="tile "#).count(), 1101 - 45 * 24);
    assert!(!pager_of(&last).contains(r#"rel="next""#));

    let owls = page("/gallery?q=owl".into()).await;
    assert!(owls.contains("30 images"), "fewer than the cap: exact");
    // A tag alone is counted exactly, however many carry it (its count is kept).
    let wild = page("/gallery?tag=wild".into()).await;
    assert!(wild.contains("1131 images"), "{wild}");
    let listing = app.json(&client, "/api/images?q=fox").await;
    assert_eq!(listing["total"], 1101, "{listing}");
}

#[tokio::test]
async fn the_gallery_pages_through_many_images() {
    let app = spawn_app().await;
    let client = app.user("prolific").await;
    for _ in 0..25 {
        app.upload_ok(&client, png(8, 8), &[("tags", "many")]).await;
    }
    let page = |path: &'static str| {
        let (app, client) = (&app, &client);
        async move { app.get(client, path).await.text().await.expect("page") }
    };
    let tiles = |html: &str| html.matches(r#"<li class="tile "#).count();
    let first = page("/gallery?tag=many").await;
    assert_eq!(tiles(&first), 24);
    let pager = first.split(r#"class="pager""#).nth(1).unwrap_or_default();
    assert!(
        pager.contains(r#"<span class="current" aria-current="page">1</span>"#),
        "{pager}"
    );
    assert!(pager.contains(r#"aria-label="Page 2">2</a>"#), "{pager}");
    assert!(pager.contains("page=2\" rel=\"next\""), "{pager}");
    let second = page("/gallery?tag=many&page=2").await;
    assert_eq!(tiles(&second), 1);
    assert!(second.contains(r#"aria-current="page">2<"#) && second.contains(r#"rel="prev""#));
    assert!(!second.contains(r#"rel="next""#));
}

#[tokio::test]
async fn a_message_waiting_for_a_gallery_that_fails_shows_on_the_next_page() {
    let app = spawn_app().await;
    let client = app.user("messenger").await;
    let response = app
        .post_form(&client, "/folders", &[("name", "Trips")])
        .await;
    assert_eq!(response.status(), 303);
    // The message waits; a folder that is not there is a 404 and does not use it up.
    let missing = app.get(&client, "/gallery?folder=nowhere").await;
    assert_eq!(missing.status(), 404);
    let page = app
        .get(&client, "/gallery?folder=trips")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Folder “Trips” created."), "{page}");
    // Shown once.
    let again = app
        .get(&client, "/gallery?folder=trips")
        .await
        .text()
        .await
        .expect("page");
    assert!(!again.contains("Folder “Trips” created."));
}

/// Words the newest thousand pictures lack are asked of the search index as the whole
/// words they start (`atelier_search_query`): the answer is the one the prefixes give,
/// for words known when the library was made, words a retitle brings in, stop words, and
/// a start shared by more words than the expansion takes.
#[tokio::test]
async fn a_search_on_the_index_finds_what_its_word_starts_find() {
    use diesel::RunQueryDsl;
    let app = spawn_app().await;
    let client = app.user("archivist").await;
    let first = app
        .upload_ok(&client, png(8, 8), &[("title", "filler 0")])
        .await;
    // 1,100 newest pictures of nothing in particular; older ones with the words sought,
    // 40 of them each with its own word starting "qua" (more than 32).
    copies_of(
        &app,
        first,
        1150,
        [
            "CASE WHEN n <= 1100 THEN 'filler ' || n
                  WHEN n <= 1103 THEN 'Stormy lighthouse ' || n
                  WHEN n <= 1105 THEN 'storm over the lighthouses ' || n
                  WHEN n <= 1108 THEN 'lighthouse keeper ' || n
                  WHEN n <= 1110 THEN 'storm cellar ' || n
                  ELSE 'lighthouse qua' || n END",
            "bytes",
            "created_at - make_interval(secs => n)",
        ],
    );
    let prefix_answer = |words: &str| -> Vec<i64> {
        let tsquery = words
            .split(' ')
            .map(|word| format!("{word}:*"))
            .collect::<Vec<_>>()
            .join(" & ");
        diesel::sql_query(format!(
            "SELECT id FROM images WHERE search @@ to_tsquery('english', '{tsquery}')
             ORDER BY created_at DESC, id DESC LIMIT 24"
        ))
        .load::<Id>(&mut app.conn())
        .expect("prefix answer")
        .into_iter()
        .map(|row| row.id)
        .collect()
    };
    let gallery = |words: &'static str| {
        let (app, client) = (&app, &client);
        async move {
            let html = app
                .page(client, &format!("/gallery?q={}", words.replace(' ', "+")))
                .await;
            tile_ids(&html)
        }
    };

    for (words, matches) in [
        ("storm lighthou", 5),
        ("sto ligh", 5),
        ("the stormy lighthouse", 3),
        ("lighthouse keep", 3),
        ("qua lighthouse", 24),
        ("storm nowhere", 0),
    ] {
        let expected = prefix_answer(&words.replace("the ", ""));
        assert_eq!(expected.len(), matches, "{words}");
        assert_eq!(gallery(words).await, expected, "{words}");
    }
    let api = app.json(&client, "/api/images?q=storm+lighthou").await;
    assert_eq!(api["total"], 5, "{api}");

    // Whole words where a start has few continuations, the prefix where it has many.
    #[derive(diesel::QueryableByName)]
    struct Query {
        #[diesel(sql_type = diesel::sql_types::Text)]
        query: String,
    }
    let asked = |words: &str| {
        diesel::sql_query(format!(
            "SELECT atelier_search_query(string_to_array('{words}', ' '))::text AS query"
        ))
        .get_result::<Query>(&mut app.conn())
        .expect("query")
        .query
    };
    assert_eq!(
        asked("storm lighthou"),
        "( 'storm' | 'stormi' ) & 'lighthous'"
    );
    assert_eq!(asked("qua"), "'qua':*");
    assert_eq!(asked("nowhere"), "'nowher'");

    // A word a retitle brings in is found the same way.
    let keeper = prefix_answer("keeper")[0];
    let response = app
        .post_form(
            &client,
            &format!("/images/{keeper}/update"),
            &[
                ("title", "Blizzard lighthouse"),
                ("tags", ""),
                ("folder", "default"),
            ],
        )
        .await;
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(asked("blizz"), "'blizzard'");
    assert_eq!(gallery("blizz lighthouse").await, vec![keeper]);
}

/// Uploads racing in with the same new words, in every order, each note them once: none
/// waits on another for long or fails, and every one is found by its words.
#[tokio::test]
async fn uploads_racing_in_with_the_same_new_words_all_land_and_are_found() {
    use diesel::RunQueryDsl;
    let app = spawn_app().await;
    let (ann, bob) = (app.user("ann").await, app.user("bob").await);
    let titles = [
        "zebra yak quokka",
        "quokka yak zebra",
        "yak zebra quokka",
        "zebras yaks",
        "quokkas zebra",
        "yak quokka zebras",
    ];
    let uploads = titles.iter().flat_map(|title| {
        [&ann, &bob].map(|client| {
            let app = &app;
            async move {
                app.upload(client, png(8, 8), "p.png", &[("title", *title)])
                    .await
                    .status()
                    .as_u16()
            }
        })
    });
    let statuses = futures_util::future::join_all(uploads).await;
    assert_eq!(statuses, vec![303; 12]);

    #[derive(diesel::QueryableByName)]
    struct Word {
        #[diesel(sql_type = diesel::sql_types::Text)]
        word: String,
    }
    let words: Vec<String> = diesel::sql_query("SELECT word FROM search_words ORDER BY word")
        .load::<Word>(&mut app.conn())
        .expect("words")
        .into_iter()
        .map(|row| row.word)
        .collect();
    assert_eq!(words, ["quokka", "yak", "zebra"]);
    for client in [&ann, &bob] {
        let found = app.json(client, "/api/images?q=zeb+yak").await;
        assert_eq!(found["total"], 5, "{found}");
    }
}
