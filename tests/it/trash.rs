//! The trash (#30): a delete puts a picture there (out of every listing, its share link
//! ended, its bytes still counted), the owner restores it or deletes it for good, and the
//! clean-up removes it with its files after `trash_days`. Deleting a folder takes its
//! pictures to the default folder or to the trash.

use atelier::db::schema::{folders, images};
use diesel::prelude::*;

use crate::support::fixtures::png;
use crate::support::helpers::{TestApp, eventually, spawn_app, spawn_app_with};
use crate::support::visitor::Visitor;

/// (pictures shown, bytes stored) of the user's folder `slug`, as the folder row keeps them.
fn folder_counts(app: &TestApp, slug: &str) -> (i64, i64) {
    folders::table
        .filter(folders::slug.eq(slug))
        .select((folders::image_count, folders::disk_bytes))
        .first(&mut app.conn())
        .expect("folder")
}

fn trashed_ids(app: &TestApp) -> Vec<i64> {
    images::table
        .filter(images::trashed_at.is_not_null())
        .order(images::id)
        .select(images::id)
        .load(&mut app.conn())
        .expect("trash")
}

async fn status(app: &TestApp, client: &Visitor, path: &str) -> u16 {
    app.get(client, path).await.status().as_u16()
}

#[tokio::test]
async fn a_deleted_picture_waits_in_the_trash_and_comes_back() {
    let app = spawn_app().await;
    let owner = app.user("keeper").await;
    let kept = app
        .upload_ok(&owner, png(60, 40), &[("title", "kept")])
        .await;
    let id = app
        .upload_ok(
            &owner,
            png(80, 40),
            &[("title", "regretted"), ("tags", "sea")],
        )
        .await;
    let share_path = app.share(&owner, id, "unlisted").await;
    assert_eq!(status(&app, &owner, &share_path).await, 200);
    let (_, bytes_before) = folder_counts(&app, "default");
    let files = app.stored_files().len();

    let response = app
        .post_form(&owner, &format!("/images/{id}/delete"), &[])
        .await;
    assert_eq!(response.status(), 303);
    // Out of every listing and page; its link is dead; its files and bytes stay.
    let listed: Vec<i64> = app
        .api_images(&owner)
        .await
        .iter()
        .filter_map(|image| image["id"].as_i64())
        .collect();
    assert_eq!(listed, [kept]);
    assert_eq!(status(&app, &owner, &format!("/images/{id}")).await, 404);
    assert_eq!(
        status(&app, &owner, &format!("/api/images/{id}")).await,
        404
    );
    assert_eq!(status(&app, &app.visitor(), &share_path).await, 404);
    let gallery = app.page(&owner, "/gallery").await;
    assert!(gallery.contains("1 image<"), "{gallery}");
    assert!(!gallery.contains("#sea"), "its tag went with it");
    assert!(gallery.contains("Trash <span class=\"count\">1</span>"));
    assert_eq!(
        folder_counts(&app, "default"),
        (1, bytes_before),
        "quota still counts it"
    );
    assert_eq!(app.stored_files().len(), files);
    let trash = app.page(&owner, "/trash").await;
    assert!(
        trash.contains("regretted") && trash.contains("30 days left"),
        "{trash}"
    );
    // Nobody else's restore touches it; the owner's brings it back, private.
    let stranger = app.user("stranger").await;
    let id_text = id.to_string();
    app.post_form(&stranger, "/trash/restore", &[("ids", id_text.as_str())])
        .await;
    assert_eq!(trashed_ids(&app), [id]);
    let response = app
        .post_form(&owner, "/trash/restore", &[("ids", id_text.as_str())])
        .await;
    assert_eq!(response.status(), 303);
    assert!(trashed_ids(&app).is_empty());
    assert_eq!(status(&app, &owner, &format!("/images/{id}")).await, 200);
    assert_eq!(folder_counts(&app, "default").0, 2);
    assert_eq!(
        status(&app, &app.visitor(), &share_path).await,
        404,
        "still unshared"
    );
    assert!(app.page(&owner, "/gallery").await.contains("#sea"));
}

#[tokio::test]
async fn deleting_for_good_and_emptying_remove_rows_and_files() {
    let app = spawn_app().await;
    let owner = app.user("tidy").await;
    let mut ids = Vec::new();
    for width in [30, 40, 50, 60] {
        ids.push(app.upload_ok(&owner, png(width, 20), &[]).await);
    }
    for id in &ids[..3] {
        app.post_form(&owner, &format!("/images/{id}/delete"), &[])
            .await;
    }
    assert_eq!(app.stored_files().len(), 16);
    let first = ids[0].to_string();
    // Nothing ticked: said, and nothing happens.
    app.post_form(&owner, "/trash/delete", &[]).await;
    assert!(
        app.page(&owner, "/trash")
            .await
            .contains("Tick at least one picture first.")
    );
    assert_eq!(app.count_images(), 4);
    app.post_form(&owner, "/trash/delete", &[("ids", first.as_str())])
        .await;
    assert_eq!(app.count_images(), 3);
    assert_eq!(app.stored_files().len(), 12);
    // A live picture's id in the trash's form is left alone.
    let live = ids[3].to_string();
    app.post_form(&owner, "/trash/delete", &[("ids", live.as_str())])
        .await;
    assert_eq!(app.count_images(), 3);
    let response = app.post_form(&owner, "/trash/empty", &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.count_images(), 1);
    assert_eq!(app.stored_files().len(), 4);
    assert!(
        app.page(&owner, "/trash")
            .await
            .contains("The trash is empty.")
    );
    // `forever=1` skips the trash (scripts cleaning up); anything else but 0 is refused.
    let path = format!("/images/{}/delete", ids[3]);
    let response = app
        .post_form(&owner, &path, &[("forever", "perhaps")])
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(app.count_images(), 1, "nothing changed");
    app.post_form(
        &owner,
        &format!("/images/{}/delete", ids[3]),
        &[("forever", "1")],
    )
    .await;
    assert_eq!((app.count_images(), app.stored_files().len()), (0, 0));
}

#[tokio::test]
async fn the_trash_empties_itself_after_its_time() {
    let app = spawn_app_with(|s| {
        s.insert("housekeeping_interval_secs".into(), "1".into());
    })
    .await;
    let owner = app.user("forgetful").await;
    let old = app.upload_ok(&owner, png(30, 20), &[]).await;
    let recent = app.upload_ok(&owner, png(40, 20), &[]).await;
    for id in [old, recent] {
        app.post_form(&owner, &format!("/images/{id}/delete"), &[])
            .await;
    }
    // One has been in the trash for 31 days, the other for 29.
    for (id, days) in [(old, 31), (recent, 29)] {
        diesel::update(images::table.find(id))
            .set(images::trashed_at.eq(chrono::Utc::now() - chrono::Duration::days(days)))
            .execute(&mut app.conn())
            .expect("age");
    }
    eventually("the clean-up removes the 31-day-old picture", || async {
        trashed_ids(&app) == [recent]
    })
    .await;
    assert_eq!(app.stored_files().len(), 4, "its files went with it");
    assert!(app.page(&owner, "/trash").await.contains("1 day left"));
}

#[tokio::test]
async fn a_folder_goes_with_its_pictures_to_the_default_folder_or_the_trash() {
    let app = spawn_app().await;
    let owner = app.user("mover").await;
    for name in ["Trips", "Drafts"] {
        app.post_form(&owner, "/folders", &[("name", name)]).await;
    }
    let folder_id = |slug: &str| -> i64 {
        folders::table
            .filter(folders::slug.eq(slug))
            .select(folders::id)
            .first(&mut app.conn())
            .expect("folder")
    };
    let trip = app
        .upload_ok(&owner, png(50, 30), &[("folder", "trips")])
        .await;
    let binned = app
        .upload_ok(&owner, png(51, 30), &[("folder", "trips")])
        .await;
    app.post_form(&owner, &format!("/images/{binned}/delete"), &[])
        .await;
    let drafts: Vec<i64> = {
        let mut ids = Vec::new();
        for width in [20, 21] {
            ids.push(
                app.upload_ok(&owner, png(width, 30), &[("folder", "drafts")])
                    .await,
            );
        }
        ids
    };
    let files = app.stored_files().len();
    // Without a choice, a folder with pictures stays (scripts' contract), and says why.
    let trips = folder_id("trips");
    let response = app
        .post_form(&owner, &format!("/folders/{trips}/delete"), &[])
        .await;
    assert_eq!(response.status(), 409);
    assert!(
        response
            .text()
            .await
            .expect("page")
            .contains("default folder or to the trash")
    );
    let response = app
        .post_form(
            &owner,
            &format!("/folders/{trips}/delete"),
            &[("pictures", "sideways")],
        )
        .await;
    assert_eq!(response.status(), 400);
    // Move: the live one and the trashed one land in the default folder, files and all.
    let response = app
        .post_form(
            &owner,
            &format!("/folders/{trips}/delete"),
            &[("pictures", "move")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let folder_of = |id: i64| -> String {
        images::table
            .inner_join(folders::table)
            .filter(images::id.eq(id))
            .select(folders::slug)
            .first(&mut app.conn())
            .expect("image")
    };
    assert_eq!(
        (folder_of(trip), folder_of(binned)),
        ("default".into(), "default".into())
    );
    assert_eq!(trashed_ids(&app), [binned]);
    assert_eq!(status(&app, &owner, &format!("/images/{trip}")).await, 200);
    // Trash: both drafts go to the trash, restorable into the default folder.
    let drafts_id = folder_id("drafts");
    let response = app
        .post_form(
            &owner,
            &format!("/folders/{drafts_id}/delete"),
            &[("pictures", "trash")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(trashed_ids(&app), [binned, drafts[0], drafts[1]]);
    let names: Vec<String> = folders::table
        .select(folders::slug)
        .order(folders::slug)
        .load(&mut app.conn())
        .expect("folders");
    assert_eq!(names, ["default"]);
    assert_eq!(
        app.stored_files().len(),
        files,
        "every file moved, none lost"
    );
    assert!(
        app.stored_files()
            .iter()
            .all(|path| path.to_string_lossy().contains("/mover/default/")),
        "{:?}",
        app.stored_files()
    );
    let restored = drafts[0].to_string();
    app.post_form(&owner, "/trash/restore", &[("ids", restored.as_str())])
        .await;
    assert_eq!(folder_of(drafts[0]), "default");
    assert_eq!(
        status(&app, &owner, &format!("/images/{}", drafts[0])).await,
        200
    );
    // The media behind every moved picture still loads.
    for image in app.api_images(&owner).await {
        let thumb = image["thumb_url"].as_str().expect("thumb");
        assert_eq!(status(&app, &owner, thumb).await, 200, "{thumb}");
    }
}
