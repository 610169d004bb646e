//! What the fast request path must not loosen: blocks and overrides live in memory but
//! reach every instance at once, a disabled user's cached pages stop, the folder counts a
//! trigger keeps stay equal to the images, and a pool without checkout pings still gets
//! over lost connections by itself.

use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Text};

use crate::admin::app_with_admin;
use crate::support::helpers::{TestApp, eventually, location, spawn_second_instance};
use crate::support::visitor::Visitor;

#[tokio::test]
async fn blocks_reach_every_instance_at_once_for_both_address_families() {
    let (app, admin) = app_with_admin().await;
    let second = spawn_second_instance(&app).await;
    // Both instances have loaded their policy before the block exists.
    assert_eq!(
        Visitor::at(&second).from("198.51.100.7").try_order().await,
        202
    );
    assert_eq!(app.visitor_from("198.51.100.8").try_order().await, 202);

    let response = app
        .post_form(
            &admin,
            "/admin/ips/198.51.100.0%2F24/block",
            &[("reason", "spam run")],
        )
        .await;
    assert_eq!(response.status(), 303);
    // The instance that made the block refuses on the very next request…
    assert_eq!(app.visitor_from("198.51.100.9").try_order().await, 403);
    // …and the other as soon as the notification arrives, without a TTL to wait out.
    eventually(
        "the second instance refuses the blocked network",
        || async { Visitor::at(&second).from("198.51.100.10").try_order().await == 403 },
    )
    .await;
    assert_eq!(
        Visitor::at(&second).from("198.51.101.1").try_order().await,
        202
    );

    // A block written by plain SQL (as `atelier block-ip` does) reaches both as well,
    // and IPv6 ranges match by prefix.
    let mut conn = app.conn();
    diesel::sql_query("INSERT INTO ip_blocks (network, reason) VALUES ('2001:db8::/32', 'cli')")
        .execute(&mut conn)
        .expect("insert block");
    for base in [app.address.clone(), second.clone()] {
        eventually("both instances refuse the IPv6 range", || async {
            Visitor::at(&base).from("2001:db8:5::1").try_order().await == 403
        })
        .await;
        assert_eq!(
            Visitor::at(&base).from("2001:db9::1").try_order().await,
            202
        );
    }

    // Lifting reaches the other instance too.
    let response = app
        .post_form(&admin, "/admin/ips/198.51.100.0%2F24/unblock", &[])
        .await;
    assert_eq!(response.status(), 303);
    eventually("the second instance lets the network in again", || async {
        Visitor::at(&second).from("198.51.100.11").try_order().await == 202
    })
    .await;
}

#[tokio::test]
async fn a_disabled_user_is_stopped_at_once_on_every_instance() {
    let (app, admin) = app_with_admin().await;
    let second = spawn_second_instance(&app).await;
    let user = app.user("mallory").await;
    // Sessions are shared: the same cookie works on the second instance, which now holds
    // the session and the user in its cache.
    for _ in 0..3 {
        let response = user
            .get(format!("{second}/gallery"))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200);
    }
    let id = app.user_id("mallory");
    let response = app
        .post_form(
            &admin,
            &format!("/admin/users/{id}/update"),
            &[("disabled", "true")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let response = app.get(&user, "/gallery").await;
    assert_eq!(response.status(), 303, "this instance forgets at once");
    assert!(location(&response).starts_with("/login"));
    eventually("the second instance stops the disabled user", || async {
        let response = user
            .get(format!("{second}/gallery"))
            .send()
            .await
            .expect("GET");
        response.status() == 303
    })
    .await;
}

/// Every folder whose kept counts differ from its images: (slug, kept, counted).
fn miscounted_folders(app: &TestApp) -> Vec<(String, i64, i64)> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        slug: String,
        #[diesel(sql_type = BigInt)]
        kept: i64,
        #[diesel(sql_type = BigInt)]
        counted: i64,
    }
    diesel::sql_query(
        // A folder counts the pictures it shows (not those in the trash) and stores the
        // bytes of all of them.
        "SELECT f.slug, f.image_count AS kept, count(i.id) FILTER (WHERE i.trashed_at IS NULL) AS counted
         FROM folders f LEFT JOIN images i ON i.folder_id = f.id
         GROUP BY f.id
         HAVING f.image_count <> count(i.id) FILTER (WHERE i.trashed_at IS NULL)
             OR f.disk_bytes <> coalesce(sum(i.disk_bytes), 0)::bigint",
    )
    .load::<Row>(&mut app.conn())
    .expect("counts")
    .into_iter()
    .map(|row| (row.slug, row.kept, row.counted))
    .collect()
}

/// The gallery's sidebar and tag list as the owner sees them, from the first instance and
/// from the second, which must agree at once: the kept summaries are checked against the
/// library version read with each page, not refreshed by a notification.
async fn gallery_text(
    (app, second): (&TestApp, &str),
    client: &reqwest::Client,
    query: &str,
) -> String {
    let mut bodies = Vec::new();
    for base in [app.address.as_str(), second] {
        let response = client
            .get(format!("{base}/gallery{query}"))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200);
        bodies.push(response.text().await.expect("body"));
    }
    // A flash message shows once, on whichever instance is asked first.
    let comparable = |body: &str| {
        body.lines()
            .filter(|line| !line.contains("flash") && !line.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        comparable(&bodies[0]),
        comparable(&bodies[1]),
        "the instances disagree on {query}"
    );
    bodies.remove(0)
}

#[tokio::test]
async fn counts_and_tags_follow_upload_move_edit_and_delete() {
    let app = crate::support::helpers::spawn_app().await;
    let second = spawn_second_instance(&app).await;
    let both = (&app, second.as_str());
    let client = app.user("tally").await;
    let response = app
        .post_form(&client, "/folders", &[("name", "Trips")])
        .await;
    assert_eq!(response.status(), 303);
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            app.upload_ok(&client, crate::support::fixtures::png(60 + n, 40), &[])
                .await,
        );
    }
    assert!(gallery_text(both, &client, "").await.contains("3 images"));
    assert!(miscounted_folders(&app).is_empty());

    // Move one into Trips with a tag: the counts, the folder view and the tag list follow.
    let response = app
        .post_form(
            &client,
            &format!("/images/{}/update", ids[0]),
            &[
                ("title", "Pier"),
                ("tags", "sea, dusk"),
                ("folder", "trips"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let trips = gallery_text(both, &client, "?folder=trips").await;
    assert!(trips.contains("1 image"), "{trips}");
    assert!(trips.contains("dusk") && trips.contains("sea"));
    let tagged = gallery_text(both, &client, "?tag=sea").await;
    assert!(tagged.contains("1 image"));
    assert!(miscounted_folders(&app).is_empty());

    // An edit changes the bytes kept for the folder.
    let response = app
        .post_form(
            &client,
            &format!("/images/{}/edit", ids[1]),
            &[
                ("op", "crop"),
                ("x", "0"),
                ("y", "0"),
                ("w", "20"),
                ("h", "20"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert!(miscounted_folders(&app).is_empty());

    // Deleting the tagged image takes its tag and its count with it.
    let response = app
        .post_form(&client, &format!("/images/{}/delete", ids[0]), &[])
        .await;
    assert_eq!(response.status(), 303);
    let all = gallery_text(both, &client, "").await;
    assert!(all.contains("2 images"), "{all}");
    assert!(!all.contains("dusk"));
    assert!(
        gallery_text(both, &client, "?folder=trips")
            .await
            .contains("0 images")
    );
    assert!(miscounted_folders(&app).is_empty());

    // The account's deletion leaves no folder behind to miscount.
    let response = app
        .post_form(
            &client,
            "/account/delete",
            &[("password", crate::support::helpers::PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.count_images(), 0);
    assert!(miscounted_folders(&app).is_empty());
}
