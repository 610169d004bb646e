//! The image proxy under attack: traversal in every encoding, other users' names, planted
//! symlinks, files without rows; and IDOR on every per-image action.

use crate::support::fixtures::{png, raw_get};
use crate::support::helpers::{TestApp, new_client, spawn_app};

/// Signs in `username` and returns their session cookie header value.
async fn cookie_for(app: &TestApp, client: &reqwest::Client, username: &str) -> String {
    app.register(
        client,
        username,
        &format!("{username}@example.com"),
        crate::support::helpers::PASSWORD,
    )
    .await;
    let response = app
        .login(client, username, crate::support::helpers::PASSWORD)
        .await;
    let cookie = response
        .cookies()
        .find(|c| c.name() == "atelier_session")
        .expect("cookie");
    format!("atelier_session={}", cookie.value())
}

#[tokio::test]
async fn traversal_battery_never_serves_anything_else() {
    let app = spawn_app().await;
    let alice = new_client();
    let alice_cookie = cookie_for(&app, &alice, "alice").await;
    app.upload_ok(&alice, png(64, 64), &[]).await;
    let image = app.api_images(&alice).await[0].clone();
    let original = image["urls"]["original"].as_str().expect("url").to_owned();
    let name = original.rsplit('/').next().expect("file").to_owned();
    let stem = name.split('.').next().expect("stem").to_owned();
    let secret = b"TOP-SECRET-OUTSIDE-THE-ROOT";
    let outside = tempfile::tempdir().expect("outside");
    std::fs::write(outside.path().join("secret.png"), secret).expect("secret");
    let outside_path = outside.path().join("secret.png").display().to_string();

    let attacks = vec![
        format!("/media/alice/default/original/..%2F..%2F..%2F..%2Fetc%2Fpasswd"),
        format!("/media/alice/default/original/%2e%2e%2f%2e%2e%2fsession.key"),
        format!("/media/alice/default/original/%252e%252e%252fpasswd"),
        format!("/media/alice/default/original/..%252f{name}"),
        format!("/media/alice/%2e%2e/original/{name}"),
        format!("/media/alice/default/%2e%2e/{name}"),
        format!("/media/%2e%2e/default/original/{name}"),
        format!("/media/alice/default/original/..%5C..%5Cetc%5Cpasswd"),
        format!("/media/alice/default/original/{stem}.png%00.html"),
        format!("/media/alice/default/original/%00"),
        format!("/media/alice/default/original/%2Fetc%2Fpasswd"),
        format!(
            "/media/alice/default/original/{}",
            outside_path.replace('/', "%2F")
        ),
        format!("/media/alice/default/original/../../../../etc/passwd"),
        format!("/media/alice/default/original//etc/passwd"),
        format!("/media/ALICE/default/original/{name}"),
        format!("/media/alice/DEFAULT/original/{name}"),
        format!("/media/alice/default/original/{}", name.to_uppercase()),
        format!("/media/alice/default/original/{stem}.svg"),
        format!("/media/alice/default/secret/{name}"),
        format!("/media/alice/default/original/{stem}.png.."),
    ];
    for attack in &attacks {
        let (status, body) = raw_get(app.port, attack, Some(&alice_cookie));
        assert_ne!(status, 200, "{attack}");
        assert!(status == 404 || status == 400, "{attack}: {status}");
        assert!(
            !body.windows(secret.len()).any(|w| w == secret),
            "{attack} leaked"
        );
        assert!(
            !String::from_utf8_lossy(&body).contains("root:"),
            "{attack} leaked passwd"
        );
    }
    let (status, _) = raw_get(app.port, &original, Some(&alice_cookie));
    assert_eq!(status, 200, "the real file is served");

    // Another user asking for alice's file by her name: 404.
    let bob = new_client();
    let bob_cookie = cookie_for(&app, &bob, "bob").await;
    assert_eq!(raw_get(app.port, &original, Some(&bob_cookie)).0, 404);
    // Bob cannot reach it by putting his own name in the path either.
    let as_bob = original.replacen("/media/alice/", "/media/bob/", 1);
    assert_eq!(raw_get(app.port, &as_bob, Some(&bob_cookie)).0, 404);

    // A symlink planted in alice's folder under a valid-looking name, with no row: 404.
    let variant_dir = app.uploads.join("alice/default/original");
    let planted = "0123456789abcdef0123456789abcdef.png";
    std::os::unix::fs::symlink(outside.path().join("secret.png"), variant_dir.join(planted))
        .expect("plant");
    let (status, body) = raw_get(
        app.port,
        &format!("/media/alice/default/original/{planted}"),
        Some(&alice_cookie),
    );
    assert_eq!(status, 404);
    assert!(!body.windows(secret.len()).any(|w| w == secret));
    // Alice's real file replaced by a symlink to the secret: the row matches, the link does
    // not. A variant never served before is read from disk: 404.
    let pristine = image["urls"]["pristine"].as_str().expect("url").to_owned();
    let pristine_dir = app.uploads.join("alice/default/pristine");
    let pristine_name = pristine.rsplit('/').next().expect("file").to_owned();
    std::fs::remove_file(pristine_dir.join(&pristine_name)).expect("rm");
    std::os::unix::fs::symlink(
        outside.path().join("secret.png"),
        pristine_dir.join(&pristine_name),
    )
    .expect("plant");
    let (status, body) = raw_get(app.port, &pristine, Some(&alice_cookie));
    assert_eq!(status, 404);
    assert!(!body.windows(secret.len()).any(|w| w == secret));
    // The original was just served, so for a few seconds the proxy may answer from its
    // in-memory copy of the real bytes; it never follows the link.
    let real = std::fs::read(variant_dir.join(&name)).expect("real bytes");
    std::fs::remove_file(variant_dir.join(&name)).expect("rm");
    std::os::unix::fs::symlink(outside.path().join("secret.png"), variant_dir.join(&name))
        .expect("plant");
    let (status, body) = raw_get(app.port, &original, Some(&alice_cookie));
    assert!(!body.windows(secret.len()).any(|w| w == secret));
    assert!(
        status == 404 || (status == 200 && body.ends_with(&real)),
        "{status}: only the real bytes, or nothing"
    );
    // A symlinked folder on the way is refused too.
    let thumb_dir = app.uploads.join("alice/default/thumb");
    std::fs::remove_dir_all(&thumb_dir).expect("rm thumb dir");
    std::os::unix::fs::symlink(outside.path(), &thumb_dir).expect("plant dir");
    let thumb = image["urls"]["thumb"].as_str().expect("url");
    std::fs::write(
        outside.path().join(thumb.rsplit('/').next().expect("name")),
        secret,
    )
    .expect("write");
    let (status, body) = raw_get(app.port, thumb, Some(&alice_cookie));
    assert_eq!(status, 404);
    assert!(!body.windows(secret.len()).any(|w| w == secret));
}

#[tokio::test]
async fn other_users_and_anonymous_get_404_on_every_image_action() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let id = app
        .upload_ok(&alice, png(64, 48), &[("tags", "mine")])
        .await;
    let image = app.api_images(&alice).await[0].clone();
    let bob = app.user("bob").await;

    for (who, client) in [("bob", &bob), ("anonymous", &app.visitor())] {
        for variant in ["original", "thumb", "pristine"] {
            let response = app
                .get(client, image["urls"][variant].as_str().expect("url"))
                .await;
            assert_eq!(response.status(), 404, "{who} {variant}");
        }
        let response = app.get(client, &format!("/images/{id}")).await;
        let expected = if who == "bob" { 404 } else { 303 };
        assert_eq!(response.status(), expected, "{who} image page");
        for (action, form) in [
            (
                "update",
                vec![("title", "pwned"), ("tags", ""), ("folder", "default")],
            ),
            ("edit", vec![("op", "rotate90")]),
            ("share", vec![]),
            ("unshare", vec![]),
            ("delete", vec![]),
        ] {
            let response = app
                .post_form(client, &format!("/images/{id}/{action}"), &form)
                .await;
            let status = response.status().as_u16();
            assert!(
                status == 404 || (who == "anonymous" && status == 303),
                "{who} {action}: {status}"
            );
        }
    }
    let after = app.api_images(&alice).await;
    assert_eq!(after.len(), 1, "still there");
    assert_eq!(after[0]["title"], "");
    assert_eq!(after[0]["width"], 64, "not rotated");
    assert_eq!(
        app.get(&alice, &format!("/images/{id}")).await.status(),
        200
    );
    let page = app
        .get(&alice, &format!("/images/{id}"))
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("Only you can see this image."), "not shared");
}
