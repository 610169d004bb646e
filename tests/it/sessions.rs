//! Server-side sessions: renewal at login, real logout, listing and revoking, and password
//! changes ending the other sessions.

use reqwest::Client;
use reqwest::header::COOKIE;

use crate::support::helpers::{PASSWORD, TestApp, location, new_client, spawn_app};

/// The `atelier_session` cookie the server set on `response`.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .cookies()
        .find(|c| c.name() == "atelier_session")
        .map(|c| format!("atelier_session={}", c.value()))
}

async fn dashboard_with_cookie(app: &TestApp, cookie: &str) -> u16 {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(app.url("/dashboard"))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("GET")
        .status()
        .as_u16()
}

#[tokio::test]
async fn login_renews_the_session_key() {
    let app = spawn_app().await;
    let client = new_client();
    // Registering leaves an anonymous session (it carries the "account ready" message).
    let response = app
        .register(&client, "frank", "frank@example.com", PASSWORD)
        .await;
    let before = session_cookie(&response).expect("anonymous session cookie");
    let response = app.login(&client, "frank", PASSWORD).await;
    let after = session_cookie(&response).expect("new session cookie");
    assert_ne!(before, after, "the session id changes at login");
    assert_eq!(dashboard_with_cookie(&app, &after).await, 200);
    assert_eq!(
        dashboard_with_cookie(&app, &before).await,
        303,
        "the pre-login session never becomes signed in (no fixation)"
    );
}

#[tokio::test]
async fn logout_makes_a_copied_cookie_useless() {
    let app = spawn_app().await;
    let client = new_client();
    app.register(&client, "grace", "grace@example.com", PASSWORD)
        .await;
    let response = app.login(&client, "grace", PASSWORD).await;
    let copied = session_cookie(&response).expect("cookie");
    assert_eq!(dashboard_with_cookie(&app, &copied).await, 200);

    let response = app.post_form(&client, "/logout", &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
    assert_eq!(
        dashboard_with_cookie(&app, &copied).await,
        303,
        "copied cookie no longer works"
    );
    assert_eq!(app.get(&client, "/dashboard").await.status(), 303);
}

async fn session_ids(app: &TestApp, client: &Client) -> Vec<i64> {
    let body = app
        .get(client, "/account")
        .await
        .text()
        .await
        .expect("body");
    body.split("/account/sessions/")
        .skip(1)
        .filter_map(|rest| rest.split('/').next()?.parse().ok())
        .collect()
}

#[tokio::test]
async fn account_lists_sessions_and_revokes_one() {
    let app = spawn_app().await;
    let laptop = new_client();
    let phone = new_client();
    app.register(&laptop, "heidi", "heidi@example.com", PASSWORD)
        .await;
    app.login(&laptop, "heidi", PASSWORD).await;
    let response = phone
        .post(app.url("/login"))
        .header(
            "user-agent",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1",
        )
        .form(&[("username", "heidi"), ("password", PASSWORD)])
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 303);

    let body = app
        .get(&laptop, "/account")
        .await
        .text()
        .await
        .expect("body");
    assert!(
        body.contains("Safari on iOS"),
        "the phone's browser is described"
    );
    assert!(body.contains("this device"));
    assert!(body.contains("127.0.0.1"), "the session's IP is shown");
    let ids = session_ids(&app, &laptop).await;
    assert_eq!(ids.len(), 2, "{ids:?}");

    let phone_row = body
        .split("<tr>")
        .find(|row| row.contains("Safari on iOS"))
        .expect("phone row");
    let phone_session: i64 = phone_row
        .split("/account/sessions/")
        .nth(1)
        .and_then(|rest| rest.split('/').next()?.parse().ok())
        .expect("phone session id");
    let response = app
        .post_form(
            &laptop,
            &format!("/account/sessions/{phone_session}/revoke"),
            &[],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.get(&phone, "/dashboard").await.status(),
        303,
        "revoked session ends"
    );
    assert_eq!(
        app.get(&laptop, "/dashboard").await.status(),
        200,
        "this one lives on"
    );
    assert_eq!(session_ids(&app, &laptop).await.len(), 1);
}

#[tokio::test]
async fn nobody_revokes_someone_elses_session() {
    let app = spawn_app().await;
    let ivan = app.user("ivan").await;
    let judy = app.user("judy").await;
    let judys = session_ids(&app, &judy).await[0];
    let response = app
        .post_form(&ivan, &format!("/account/sessions/{judys}/revoke"), &[])
        .await;
    assert_eq!(response.status(), 404);
    assert_eq!(app.get(&judy, "/dashboard").await.status(), 200);
}

#[tokio::test]
async fn password_change_ends_the_other_sessions() {
    let app = spawn_app().await;
    let here = app.user("kim").await;
    let elsewhere = new_client();
    app.login(&elsewhere, "kim", PASSWORD).await;

    let response = app
        .post_form(
            &here,
            "/account/password",
            &[
                ("current_password", "wrong-password"),
                ("new_password", "newpass4567"),
                ("confirm_password", "newpass4567"),
            ],
        )
        .await;
    assert_eq!(response.status(), 400, "wrong current password is refused");
    assert_eq!(
        app.get(&elsewhere, "/dashboard").await.status(),
        200,
        "nothing changed"
    );

    let response = app
        .post_form(
            &here,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "newpass4567"),
                ("confirm_password", "newpass4567"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let page = app.get(&here, "/account").await.text().await.expect("body");
    assert!(page.contains("Password changed. Your other session was signed out."));
    assert_eq!(app.get(&elsewhere, "/dashboard").await.status(), 303);
    assert_eq!(
        app.login(&new_client(), "kim", PASSWORD).await.status(),
        401
    );
    assert_eq!(
        app.login(&new_client(), "kim", "newpass4567")
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn email_change_checks_password_and_uniqueness() {
    let app = spawn_app().await;
    app.register(&new_client(), "taken", "taken@example.com", PASSWORD)
        .await;
    let client = app.user("liam").await;

    let response = app
        .post_form(
            &client,
            "/account/email",
            &[("email", "Taken@Example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), 409);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("value=\"Taken@Example.com\"")
    );

    let response = app
        .post_form(
            &client,
            "/account/email",
            &[("email", "liam2@example.com"), ("password", "nope-nope")],
        )
        .await;
    assert_eq!(response.status(), 400);

    let response = app
        .post_form(
            &client,
            "/account/email",
            &[("email", "Liam2@Example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.login(&new_client(), "liam2@example.com", PASSWORD)
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn two_instances_share_sessions_and_logout_reaches_both() {
    let app = spawn_app().await;
    let second = crate::support::helpers::spawn_second_instance(&app).await;
    let client = new_client();
    app.register(&client, "multi", "multi@example.com", PASSWORD)
        .await;
    let response = app.login(&client, "multi", PASSWORD).await;
    let cookie = session_cookie(&response).expect("cookie");
    let on_second = |cookie: String| {
        let url = format!("{second}/dashboard");
        async move {
            Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client")
                .get(url)
                .header(COOKIE, cookie)
                .send()
                .await
                .expect("GET")
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        on_second(cookie.clone()).await,
        200,
        "a session made on one instance works on the other"
    );
    assert_eq!(
        on_second(cookie.clone()).await,
        200,
        "and is now cached there"
    );

    let response = app.post_form(&client, "/logout", &[]).await;
    assert_eq!(response.status(), 303);
    crate::support::helpers::eventually("the other instance forgets the session", || {
        let status = on_second(cookie.clone());
        async move { status.await == 303 }
    })
    .await;
}

#[tokio::test]
async fn viewing_pages_does_not_rewrite_the_session() {
    use diesel::{QueryDsl, RunQueryDsl};
    let app = spawn_app().await;
    let client = app.user("reader").await;
    // The login redirect's page shows no flash; after it, the row should stay as it is.
    app.get(&client, "/dashboard").await;
    // The row's version (PostgreSQL's xmin): any UPDATE makes a new one, even one that
    // writes the same values, so no clock has to move for a write to show.
    let version = || -> String {
        atelier::db::schema::sessions::table
            .select(diesel::dsl::sql::<diesel::sql_types::Text>("xmin::text"))
            .first(&mut app.conn())
            .expect("session row")
    };
    let before = version();
    for path in ["/dashboard", "/gallery", "/account", "/"] {
        assert_eq!(app.get(&client, path).await.status(), 200, "{path}");
    }
    assert_eq!(version(), before, "no write per page view");
}
