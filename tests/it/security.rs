//! CSRF defence, security headers and error pages.

use crate::support::helpers::{PASSWORD, new_client, spawn_app};

async fn register_with(
    app: &crate::support::helpers::TestApp,
    headers: &[(&str, &str)],
    name: &str,
) -> u16 {
    let mut request = new_client().post(app.url("/register")).form(&[
        ("username", name),
        ("email", &format!("{name}@example.com")),
        ("password", PASSWORD),
        ("confirm_password", PASSWORD),
    ]);
    for (header, value) in headers {
        request = request.header(*header, *value);
    }
    request.send().await.expect("POST").status().as_u16()
}

#[tokio::test]
async fn cross_site_posts_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let own_origin = app.address.clone();
    assert_eq!(
        register_with(&app, &[("sec-fetch-site", "cross-site")], "xs1").await,
        403
    );
    assert_eq!(
        register_with(&app, &[("sec-fetch-site", "same-site")], "xs2").await,
        403
    );
    assert_eq!(
        register_with(&app, &[("origin", "https://evil.example")], "xs3").await,
        403
    );
    assert_eq!(register_with(&app, &[("origin", "null")], "xs4").await, 403);
    assert_eq!(app.count_users(), 0, "refused posts created nothing");

    assert_eq!(
        register_with(&app, &[("sec-fetch-site", "same-origin")], "ok1").await,
        303
    );
    assert_eq!(
        register_with(&app, &[("origin", &own_origin)], "ok2").await,
        303
    );
    assert_eq!(
        register_with(&app, &[], "ok3").await,
        303,
        "curl without headers passes"
    );
    assert_eq!(app.count_users(), 3);

    // A logged-in user's logout cannot be forced from another site either.
    let client = app.user("victim").await;
    let response = client
        .post(app.url("/logout"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 403);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("another site")
    );
    assert_eq!(app.get(&client, "/dashboard").await.status(), 200);
}

#[tokio::test]
async fn pages_carry_the_security_headers() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/login",
        "/register",
        "/no-such-page",
        "/static/css/app.css",
    ] {
        let response = app.get(&new_client(), path).await;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let csp = header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
    }
}

#[tokio::test]
async fn session_cookie_is_http_only_and_lax() {
    let app = spawn_app().await;
    let client = new_client();
    app.register(&client, "pat", "pat@example.com", PASSWORD)
        .await;
    let response = app.login(&client, "pat", PASSWORD).await;
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("atelier_session="))
        .expect("session cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "not Secure unless configured: {cookie}"
    );
}

#[tokio::test]
async fn errors_are_pages_for_browsers_and_json_for_api_clients() {
    let app = spawn_app().await;
    let response = app.get(&new_client(), "/no-such-page").await;
    assert_eq!(response.status(), 404);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
    let body = response.text().await.expect("body");
    assert!(
        body.contains("<h1>Not Found</h1>") && body.contains("/static/css/app.css"),
        "site layout"
    );

    let response = new_client()
        .get(app.url("/no-such-page"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 404);
    let json: serde_json::Value = response.json().await.expect("json");
    assert_eq!(json["success"], false);
    assert!(
        json["error"]
            .as_str()
            .expect("message")
            .contains("does not exist")
    );

    let response = app.get(&new_client(), "/api/nothing-here").await;
    assert_eq!(response.status(), 404);
    let json: serde_json::Value = response.json().await.expect("json");
    assert_eq!(json["success"], false);

    // Bodies of the wrong kind are a clear 4xx, never a 500.
    let response = new_client()
        .post(app.url("/login"))
        .header("content-type", "text/plain")
        .body("username=x&password=y")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 415);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("Send this as a form (application/x-www-form-urlencoded)")
    );
    let response = new_client()
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 415);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("This form takes application/x-www-form-urlencoded, not JSON.")
    );
}

/// Shares one picture and returns its page path (`/s/{token}`).
async fn shared_page(app: &crate::support::helpers::TestApp, client: &reqwest::Client) -> String {
    let id = app
        .upload_ok(client, crate::support::fixtures::png(40, 30), &[])
        .await;
    app.share(client, id, "unlisted").await
}

async fn page_with_forged_host(
    app: &crate::support::helpers::TestApp,
    path: &str,
) -> (String, String) {
    let response = crate::support::helpers::new_client()
        .get(app.url(path))
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "http")
        .header("forwarded", "host=evil.example;proto=http")
        .send()
        .await
        .expect("share page");
    assert_eq!(response.status(), 200);
    let caching = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (response.text().await.expect("page"), caching)
}

#[tokio::test]
async fn share_previews_never_take_their_host_from_an_untrusted_client() {
    // No public URL, no trusted proxy: no absolute URL can be known, so none is made up.
    let app = crate::support::helpers::spawn_app().await;
    let client = app.user("sharer").await;
    let path = shared_page(&app, &client).await;
    let (page, caching) = page_with_forged_host(&app, &path).await;
    assert!(!page.contains("evil.example"), "{page}");
    assert!(!page.contains("og:url"));
    assert_eq!(
        caching, "no-cache",
        "revalidated, so revocation bites at once"
    );

    // With ATELIER_PUBLIC_URL: that site, whatever the headers say.
    let app = crate::support::helpers::spawn_app_with(|s| {
        s.insert("public_url".into(), "https://atelier.example.org/".into());
    })
    .await;
    let client = app.user("sharer").await;
    let path = shared_page(&app, &client).await;
    let (page, _) = page_with_forged_host(&app, &path).await;
    assert!(!page.contains("evil.example"), "{page}");
    assert!(
        page.contains(&format!(
            r#"<meta property="og:url" content="https://atelier.example.org{path}">"#
        )),
        "{page}"
    );
    assert!(page.contains(r#"<meta property="og:image" content="https://atelier.example.org/s/"#));

    // Behind a trusted proxy, what the proxy says the site is called.
    let app = crate::support::helpers::spawn_app_with(|s| {
        s.insert("trusted_proxies".into(), "127.0.0.1".into());
    })
    .await;
    let client = app.user("sharer").await;
    let path = shared_page(&app, &client).await;
    let (page, _) = page_with_forged_host(&app, &path).await;
    assert!(
        page.contains(&format!(r#"content="http://evil.example{path}""#)),
        "{page}"
    );
}

#[tokio::test]
async fn signed_in_pages_are_never_stored_by_the_browser() {
    let app = crate::support::helpers::spawn_app().await;
    let client = app.user("shared-computer").await;
    for path in [
        "/dashboard",
        "/gallery",
        "/account",
        "/api/images",
        "/",
        "/no-such-page",
    ] {
        let response = app.get(&client, path).await;
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{path}"
        );
    }
    // Signed out, the public pages may be kept.
    let anonymous = crate::support::helpers::new_client();
    let response = app.get(&anonymous, "/").await;
    assert_ne!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
}
