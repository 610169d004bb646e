//! The per-account tag counts (`library_tags`, kept by triggers) agree with a real count of
//! live pictures' tags after every change that touches them: uploads with tags (at once,
//! on two instances), an edit of one picture's tags, a bulk tag, the trash and a restore,
//! removal for good and a deleted account; and the gallery's tag list and a tag filter's
//! total read them.

use crate::support::fixtures::png;
use crate::support::helpers::{PASSWORD, TestApp, spawn_app, spawn_second_instance};

/// (real, kept): "user tag count" for every tag of a live picture.
fn both(app: &TestApp) -> (Vec<String>, Vec<String>) {
    (
        app.lines(
            "SELECT user_id || ' ' || tag || ' ' || count(*) AS line
             FROM images CROSS JOIN LATERAL unnest(tags) AS tag
             WHERE trashed_at IS NULL GROUP BY user_id, tag",
        ),
        app.lines("SELECT user_id || ' ' || tag || ' ' || images AS line FROM library_tags"),
    )
}

#[track_caller]
fn agree(app: &TestApp, after: &str) {
    let (real, kept) = both(app);
    assert_eq!(kept, real, "after {after}");
}

#[tokio::test]
async fn tag_counts_follow_every_change_to_a_picture_s_tags_or_trash() {
    let app = spawn_app().await;
    let owner = app.user("tagger").await;
    let other = app.user("neighbour").await;
    let mut ids = Vec::new();
    for (title, tags) in [
        ("a", "sea, boat"),
        ("b", "sea"),
        ("c", "boat, night"),
        ("d", ""),
    ] {
        ids.push(
            app.upload_ok(&owner, png(20, 20), &[("title", title), ("tags", tags)])
                .await,
        );
    }
    app.upload_ok(&other, png(20, 20), &[("tags", "sea")]).await;
    agree(&app, "uploads");

    // One picture's tags edited: boat leaves it, harbour arrives.
    let response = app
        .post_form(
            &owner,
            &format!("/images/{}/update", ids[0]),
            &[
                ("title", "a"),
                ("tags", "sea, harbour"),
                ("folder", "default"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    agree(&app, "an edit");

    // A bulk tag on three, one of which already has it.
    let body = format!(
        "ids={}&ids={}&ids={}&action=tag&tags=sea,+summer",
        ids[1], ids[2], ids[3]
    );
    let response = owner
        .post(app.url("/gallery/bulk"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("bulk");
    assert_eq!(response.status(), 303);
    agree(&app, "a bulk tag");

    // The gallery lists the tags and counts a tag's pictures from the kept rows.
    let page = app
        .get(&owner, "/gallery?tag=sea")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("4 images"), "{page}");
    for tag in ["#boat", "#harbour", "#night", "#sea", "#summer"] {
        assert!(page.contains(tag), "{tag} listed");
    }

    // The trash takes a picture's tags away, a restore brings them back.
    for id in [ids[2], ids[3]] {
        app.post_form(&owner, &format!("/images/{id}/delete"), &[])
            .await;
    }
    agree(&app, "the trash");
    let page = app
        .get(&owner, "/gallery")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        !page.contains("#night"),
        "a trashed picture's only tag is gone"
    );
    let restore = ids[2].to_string();
    app.post_form(&owner, "/trash/restore", &[("ids", restore.as_str())])
        .await;
    agree(&app, "a restore");
    let gone = ids[3].to_string();
    app.post_form(&owner, "/trash/delete", &[("ids", gone.as_str())])
        .await;
    agree(&app, "removal for good");

    // The account deleted: its rows go, the neighbour's stay.
    let response = app
        .post_form(&owner, "/account/delete", &[("password", PASSWORD)])
        .await;
    assert_eq!(response.status(), 200);
    agree(&app, "a deleted account");
    let (real, _) = both(&app);
    assert_eq!(real.len(), 1, "only the neighbour's tag is left: {real:?}");
}

#[tokio::test]
async fn uploads_with_the_same_tags_at_once_on_two_instances_are_each_counted() {
    let app = spawn_app().await;
    let second = spawn_second_instance(&app).await;
    let owner = app.user("busy").await;
    let instances = [app.address.clone(), second];
    let uploaders: Vec<_> = (0..12).map(|n| owner.on(&instances[n % 2])).collect();
    futures_util::future::join_all(
        uploaders
            .iter()
            .map(|uploader| uploader.api_upload(&[("tags", "same, other")])),
    )
    .await;
    agree(&app, "uploads at once");
    let (real, _) = both(&app);
    assert!(
        real.iter().any(|line| line.ends_with(" same 12")),
        "{real:?}"
    );
}
