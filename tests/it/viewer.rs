//! The picture is the page (#30): display copies (made at upload, after edits, and by
//! `atelier display-copies` for older pictures) are what pages show, the working copy only
//! on Download and zoom; the image page walks the gallery view it was opened from.

use atelier::db::schema::images;
use diesel::prelude::*;

use crate::support::fixtures::{photo_like_jpeg, png};
use crate::support::helpers::{TestApp, atelier_cli, spawn_app, stdout};
use crate::support::visitor::Visitor;

/// The `src`, `srcset` and Download link of the picture on an image page.
struct Shown {
    src: String,
    srcset: String,
    download: String,
}

fn attribute<'a>(tag: &'a str, name: &str) -> &'a str {
    let marker = format!(" {name}=\"");
    tag.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
}

async fn shown(app: &TestApp, client: &Visitor, id: i64) -> Shown {
    let page = app
        .get(client, &format!("/images/{id}"))
        .await
        .text()
        .await
        .expect("page");
    let picture = page
        .split(r#"<a class="stage-zoom""#)
        .nth(1)
        .and_then(|rest| rest.split("<img").nth(1))
        .and_then(|rest| rest.split('>').next())
        .unwrap_or_else(|| panic!("a picture on the stage: {page}"))
        .to_owned();
    let download = page
        .split(r#"<a class="stage-button" href=""#)
        .find(|rest| rest.contains("\" download>Download"))
        .and_then(|rest| rest.split('"').next())
        .expect("a Download link")
        .to_owned();
    Shown {
        src: attribute(&picture, "src").replace("&#38;", "&"),
        srcset: attribute(&picture, "srcset").replace("&#38;", "&"),
        download: download.replace("&#38;", "&"),
    }
}

async fn fetch(app: &TestApp, client: &Visitor, url: &str) -> Vec<u8> {
    let response = app.get(client, url).await;
    assert_eq!(response.status(), 200, "{url}");
    response.bytes().await.expect("body").to_vec()
}

fn size_of(bytes: &[u8]) -> (u32, u32) {
    let image = image::load_from_memory(bytes).expect("a picture");
    (image.width(), image.height())
}

#[tokio::test]
async fn a_twelve_megapixel_upload_is_shown_by_its_display_copy() {
    let app = spawn_app().await;
    let client = app.user("photographer").await;
    let original = photo_like_jpeg(4000, 3000);
    assert!(
        original.len() > 1_000_000,
        "a heavy photo: {}",
        original.len()
    );
    let id = app.upload_ok(&client, original, &[]).await;

    let page = shown(&app, &client, id).await;
    assert!(page.src.contains("/display/"), "{}", page.src);
    assert!(
        !page.srcset.contains("/original/") && page.srcset.contains(" 1600w"),
        "the working copy is never offered to the browser: {}",
        page.srcset
    );
    assert!(page.download.contains("/original/"), "{}", page.download);
    let display = fetch(&app, &client, &page.src).await;
    assert_eq!(size_of(&display), (1600, 1200));
    assert!(
        display.len() < 600_000,
        "the page's picture weighs {} bytes",
        display.len()
    );
    let working = fetch(&app, &client, &page.download).await;
    assert_eq!(
        size_of(&working),
        (4000, 3000),
        "Download is the full picture"
    );

    // An edit makes a new display copy at once; the quota counts every stored byte.
    let response = app
        .post_form(
            &client,
            &format!("/images/{id}/edit"),
            &[("op", "rotate90")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let rotated = shown(&app, &client, id).await;
    assert_ne!(
        rotated.src, page.src,
        "a new URL, so no cache shows the old one"
    );
    assert_eq!(
        size_of(&fetch(&app, &client, &rotated.src).await),
        (1200, 1600)
    );
    let on_disk: u64 = app
        .stored_files()
        .iter()
        .map(|path| std::fs::metadata(path).expect("file").len())
        .sum();
    let counted: i64 = images::table
        .find(id)
        .select(images::disk_bytes)
        .first(&mut app.conn())
        .expect("row");
    assert_eq!(counted as u64, on_disk, "disk_bytes counts all four files");
}

#[tokio::test]
async fn older_pictures_get_their_display_copies_from_the_command() {
    let app = spawn_app().await;
    let client = app.user("archivist").await;
    let first = app.upload_ok(&client, png(2400, 1200), &[]).await;
    let second = app.upload_ok(&client, png(300, 200), &[]).await;
    // As a picture stored before display copies existed: no copy, no file.
    for path in app.stored_files() {
        if path.to_string_lossy().contains("/display/") {
            std::fs::remove_file(path).expect("remove");
        }
    }
    let old_bytes: Vec<i64> = diesel::update(images::table)
        .set(images::display_ext.eq(None::<String>))
        .returning(images::disk_bytes)
        .get_results(&mut app.conn())
        .expect("forget the copies");
    // Shown by the working copy meanwhile, never a broken picture.
    let before = shown(&app, &client, first).await;
    assert!(before.src.contains("/original/"), "{}", before.src);
    assert_eq!(
        size_of(&fetch(&app, &client, &before.src).await),
        (2400, 1200)
    );
    assert!(
        atelier_cli(&app, &["doctor"], &[] as &[(&str, &str)])
            .status
            .success()
    );

    let output = atelier_cli(&app, &["display-copies"], &[] as &[(&str, &str)]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("made 2 display copies"), "{text}");
    let after = shown(&app, &client, first).await;
    assert!(after.src.contains("/display/"), "{}", after.src);
    assert_eq!(
        size_of(&fetch(&app, &client, &after.src).await),
        (1600, 800)
    );
    let small = shown(&app, &client, second).await;
    assert_eq!(
        size_of(&fetch(&app, &client, &small.src).await),
        (300, 200),
        "never scaled up"
    );
    let new_bytes: Vec<i64> = images::table
        .order(images::id)
        .select(images::disk_bytes)
        .load(&mut app.conn())
        .expect("rows");
    assert!(new_bytes.iter().zip(&old_bytes).all(|(new, old)| new > old));
    // Run again: nothing left to do, and storage and rows agree.
    let again = atelier_cli(&app, &["display-copies"], &[] as &[(&str, &str)]);
    assert!(
        stdout(&again).contains("made 0 display copies"),
        "{again:?}"
    );
    assert!(
        atelier_cli(&app, &["doctor"], &[] as &[(&str, &str)])
            .status
            .success()
    );
}

/// The ids the image page's ‹ and › link to, and where Esc goes back to.
async fn walk(app: &TestApp, client: &Visitor, path: &str) -> (Option<i64>, Option<i64>, String) {
    let page = app.get(client, path).await.text().await.expect("page");
    let id_after = |marker: &str| {
        page.split(marker).nth(1).and_then(|rest| {
            rest.trim_start_matches("/images/")
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|id| id.parse().ok())
        })
    };
    let back = page
        .split(r#"href=""#)
        .find(|rest| rest.contains("data-back-link"))
        .and_then(|rest| rest.split('"').next())
        .expect("a way back")
        .replace("&#38;", "&");
    (
        id_after(r#"class="stage-nav stage-prev" href=""#),
        id_after(r#"class="stage-nav stage-next" href=""#),
        back,
    )
}

#[tokio::test]
async fn the_image_page_walks_the_view_it_was_opened_from() {
    let app = spawn_app().await;
    let client = app.user("walker").await;
    let mut ids = Vec::new();
    for title in ["red fox", "blue lake", "grey fox", "green hill", "old fox"] {
        ids.push(
            app.upload_ok(&client, png(40, 30), &[("title", title)])
                .await,
        );
    }
    // Newest first: › goes to the older picture, ‹ to the newer; none past the ends.
    assert_eq!(
        walk(&app, &client, &format!("/images/{}", ids[2])).await,
        (Some(ids[3]), Some(ids[1]), "/gallery".to_owned())
    );
    assert_eq!(
        walk(&app, &client, &format!("/images/{}", ids[4])).await.0,
        None
    );
    assert_eq!(
        walk(&app, &client, &format!("/images/{}", ids[0])).await.1,
        None
    );
    // A search walks its matches only, and the links keep the search.
    let (prev, next, back) = walk(&app, &client, &format!("/images/{}?q=fox", ids[2])).await;
    assert_eq!((prev, next), (Some(ids[4]), Some(ids[0])));
    assert_eq!(back, "/gallery?q=fox");
    let page = app
        .get(&client, &format!("/images/{}?q=fox", ids[2]))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains(&format!("href=\"/images/{}?q=fox\" rel=\"next\"", ids[0])));
    // The gallery's tiles carry their view, so opening one starts that walk.
    let gallery = app
        .get(&client, "/gallery?q=fox&sort=title")
        .await
        .text()
        .await
        .expect("gallery");
    assert!(
        gallery.contains(&format!("/images/{}?q=fox&#38;sort=title\"", ids[2])),
        "{gallery}"
    );
    // By title: grey fox, old fox, red fox.
    assert_eq!(
        walk(
            &app,
            &client,
            &format!("/images/{}?q=fox&sort=title", ids[4])
        )
        .await,
        (
            Some(ids[2]),
            Some(ids[0]),
            "/gallery?q=fox&sort=title".to_owned()
        )
    );
    // A folder nobody has, or nonsense, is the whole library, never an error.
    let (prev, next, _) = walk(
        &app,
        &client,
        &format!("/images/{}?folder=nope&sort=sideways", ids[2]),
    )
    .await;
    assert_eq!((prev, next), (Some(ids[3]), Some(ids[1])));
}

#[tokio::test]
async fn pictures_made_in_the_same_instant_are_each_walked_once() {
    let app = spawn_app().await;
    let client = app.user("twins").await;
    let mut ids = Vec::new();
    for title in ["one", "two", "three", "four"] {
        ids.push(
            app.upload_ok(&client, png(30, 30), &[("title", title)])
                .await,
        );
    }
    // The middle two share one timestamp (a batch of generations lands together): the
    // walk breaks the tie by id, as the gallery orders them.
    {
        use diesel::RunQueryDsl;
        let mut conn = app.conn();
        diesel::sql_query(format!(
            "UPDATE images SET created_at = (SELECT created_at FROM images WHERE id = {}) \
             WHERE id = {}",
            ids[1], ids[2]
        ))
        .execute(&mut conn)
        .expect("same instant");
    }
    // Newest first: four, three, two, one (three and two by id, higher first).
    let order = [ids[3], ids[2], ids[1], ids[0]];
    for (at, id) in order.iter().enumerate() {
        let (prev, next, _) = walk(&app, &client, &format!("/images/{id}")).await;
        assert_eq!(
            prev,
            at.checked_sub(1).map(|before| order[before]),
            "‹ of {id}"
        );
        assert_eq!(next, order.get(at + 1).copied(), "› of {id}");
    }
}
