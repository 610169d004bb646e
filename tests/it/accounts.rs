//! Registration and login, as SPEC §3 and §12 define them.

use crate::support::helpers::{PASSWORD, location, new_client, spawn_app};

#[tokio::test]
async fn the_spec_curl_flow_works() {
    let app = spawn_app().await;
    let client = new_client();

    let response = app
        .post_form(
            &client,
            "/register",
            &[
                ("username", "testuser"),
                ("email", "test@example.com"),
                ("password", "testpass123"),
                ("confirm_password", "testpass123"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/login");

    let response = app
        .post_form(
            &client,
            "/login",
            &[("username", "testuser"), ("password", "testpass123")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/dashboard");
    assert!(
        response.headers().get("set-cookie").is_some(),
        "login sets the session cookie"
    );

    let response = app.get(&client, "/dashboard").await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    assert!(body.contains("testuser"), "dashboard names the user");
}

#[tokio::test]
async fn registering_signs_the_new_account_in_on_a_fresh_session_id() {
    let app = spawn_app().await;
    let client = app.visitor();
    // A session exists before registering: the visitor made a picture anonymously.
    let before = client
        .order_image(&serde_json::json!({ "prompt": "a quiet harbour", "wait": true }))
        .await;
    assert_eq!(before.status(), 200);
    let cookie_before = before
        .headers()
        .get("set-cookie")
        .map(|value| value.to_str().expect("cookie").to_owned());
    assert!(cookie_before.is_some(), "the visitor has a session");
    let response = app
        .register(&client, "fresh", "fresh@example.com", PASSWORD)
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/login", "the documented answer");
    let cookie_after = response
        .headers()
        .get("set-cookie")
        .map(|value| value.to_str().expect("cookie").to_owned())
        .expect("a session cookie");
    assert_ne!(Some(cookie_after), cookie_before, "a new session id");
    // /login passes a signed-in browser on to the dashboard, with the welcome.
    let onwards = app.get(&client, "/login").await;
    assert_eq!(onwards.status(), 303);
    assert_eq!(location(&onwards), "/dashboard");
    let page = app.get(&client, "/dashboard").await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.expect("body");
    assert!(
        body.contains("Welcome, fresh. Your account is ready"),
        "{body}"
    );
}

#[tokio::test]
async fn anonymous_dashboard_redirects_to_login() {
    let app = spawn_app().await;
    for path in ["/dashboard", "/account"] {
        let response = app.get(&new_client(), path).await;
        assert_eq!(response.status(), 303, "{path}");
        assert!(location(&response).starts_with("/login"), "{path}");
    }
}

#[tokio::test]
async fn invalid_registrations_show_errors_keep_values_and_create_nothing() {
    let app = spawn_app().await;
    let long_multibyte = "é".repeat(40); // 40 characters, 80 bytes: over bcrypt's 72.
    // (username, email, password, confirm, field expected to complain, words in the message)
    let cases = [
        (
            "ab",
            "a@example.com",
            PASSWORD,
            PASSWORD,
            "username",
            "3 to 32",
        ),
        (
            "bad name",
            "a@example.com",
            PASSWORD,
            PASSWORD,
            "username",
            "may only use",
        ),
        (
            "../etc",
            "a@example.com",
            PASSWORD,
            PASSWORD,
            "username",
            "may only use",
        ),
        (
            &"x".repeat(33),
            "a@example.com",
            PASSWORD,
            PASSWORD,
            "username",
            "3 to 32",
        ),
        (
            "gooduser",
            "not-an-email",
            PASSWORD,
            PASSWORD,
            "email",
            "valid email",
        ),
        ("gooduser", "", PASSWORD, PASSWORD, "email", "required"),
        (
            "gooduser",
            "a@example.com",
            "short",
            "short",
            "password",
            "at least 8",
        ),
        (
            "gooduser",
            "a@example.com",
            &long_multibyte,
            &long_multibyte,
            "password",
            "at most 72",
        ),
        (
            "gooduser",
            "a@example.com",
            "password1",
            "password1",
            "password",
            "commonly used",
        ),
        (
            "gooduser",
            "a@example.com",
            PASSWORD,
            "different1",
            "confirm_password",
            "do not match",
        ),
    ];
    for (username, email, password, confirm, field, words) in cases {
        let response = app
            .post_form(
                &new_client(),
                "/register",
                &[
                    ("username", username),
                    ("email", email),
                    ("password", password),
                    ("confirm_password", confirm),
                ],
            )
            .await;
        assert_eq!(response.status(), 400, "{field}: {words}");
        let body = response.text().await.expect("body");
        assert!(
            body.contains(words),
            "{field} error {words:?} shown:\n{body}"
        );
        assert!(
            body.contains(&format!("id=\"{field}-error\"")),
            "error sits beside {field}"
        );
        if !email.is_empty() {
            assert!(body.contains(&format!("value=\"{email}\"")), "email kept");
        }
        if password.len() >= 8 {
            assert!(!body.contains(password), "the password is never echoed");
        }
    }
    // Missing fields entirely are errors too, not a crash.
    let response = app.post_form(&new_client(), "/register", &[]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(app.count_users(), 0);
}

#[tokio::test]
async fn duplicates_are_field_errors_whatever_the_case() {
    let app = spawn_app().await;
    assert_eq!(
        app.register(&new_client(), "alice", "alice@example.com", PASSWORD)
            .await
            .status(),
        303
    );

    let response = app
        .register(&new_client(), "ALICE", "other@example.com", PASSWORD)
        .await;
    assert_eq!(response.status(), 409);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("already taken")
    );

    let response = app
        .register(&new_client(), "alice2", "Alice@Example.COM", PASSWORD)
        .await;
    assert_eq!(response.status(), 409);
    let body = response.text().await.expect("body");
    assert!(body.contains("already exists"));
    assert!(body.contains("value=\"alice2\""), "typed username kept");
    assert_eq!(app.count_users(), 1);
}

#[tokio::test]
async fn racing_registrations_create_exactly_one_account() {
    let app = spawn_app().await;
    for round in 0..3 {
        let username = format!("racer{round}");
        let attempts = (0..12).map(|i| {
            let app = &app;
            let username = username.clone();
            async move {
                // Half race on the username, half on the email.
                let email = if i % 2 == 0 {
                    format!("{username}-{i}@example.com")
                } else {
                    format!("{username}@example.com")
                };
                let name = if i % 2 == 0 {
                    username.clone()
                } else {
                    format!("{username}-{i}")
                };
                app.register(&new_client(), &name, &email, PASSWORD)
                    .await
                    .status()
                    .as_u16()
            }
        });
        let statuses = futures_util::future::join_all(attempts).await;
        assert!(
            statuses.iter().all(|s| *s == 303 || *s == 409),
            "{statuses:?}"
        );
        // Exactly one winner per group: the even requests share the username, the odd ones
        // share the email, and the groups share neither with each other.
        assert_eq!(
            statuses.iter().filter(|s| **s == 303).count(),
            2,
            "{statuses:?}"
        );
    }
    assert_eq!(app.count_users(), 6);
}

#[tokio::test]
async fn login_by_email_in_any_case() {
    let app = spawn_app().await;
    app.register(&new_client(), "bob", "bob@example.com", PASSWORD)
        .await;
    let client = new_client();
    let response = app.login(&client, "BOB@Example.com", PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.get(&client, "/dashboard").await.status(), 200);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let app = spawn_app().await;
    app.register(&new_client(), "carol", "carol@example.com", PASSWORD)
        .await;
    let wrong = app.login(&new_client(), "carol", "wrongpass123").await;
    let unknown = app.login(&new_client(), "nobody", "wrongpass123").await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), wrong.status());
    let wrong = wrong.text().await.expect("body");
    let unknown = unknown.text().await.expect("body");
    assert!(wrong.contains("Invalid username/email or password."));
    assert!(unknown.contains("Invalid username/email or password."));
    assert!(wrong.contains("value=\"carol\""), "typed username kept");
    assert!(!wrong.contains("wrongpass123"), "password not echoed");
}

#[tokio::test]
async fn login_returns_to_a_local_next_only() {
    let app = spawn_app().await;
    app.register(&new_client(), "dave", "dave@example.com", PASSWORD)
        .await;
    let client = new_client();
    let response = app
        .post_form(
            &client,
            "/login",
            &[
                ("username", "dave"),
                ("password", PASSWORD),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(location(&response), "/account");
    let client = new_client();
    let response = app
        .post_form(
            &client,
            "/login",
            &[
                ("username", "dave"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(location(&response), "/dashboard");
}

#[tokio::test]
async fn disabled_accounts_cannot_log_in_and_lose_their_sessions_at_once() {
    let app = spawn_app().await;
    let client = app.user("erin").await;
    assert_eq!(app.get(&client, "/dashboard").await.status(), 200);

    {
        use atelier::db::schema::users::dsl::*;
        use diesel::{ExpressionMethods, RunQueryDsl};
        diesel::update(users)
            .set(disabled.eq(true))
            .execute(&mut app.conn())
            .expect("disable");
    }
    // Changed behind the app's back (plain SQL): the row's trigger notifies every instance.
    crate::support::helpers::eventually("the live session stops working", || async {
        app.get(&client, "/dashboard").await.status() == 303
    })
    .await;
    let response = app.login(&new_client(), "erin", PASSWORD).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.expect("body").contains("disabled"));
}

#[tokio::test]
async fn first_admin_comes_from_the_environment_once() {
    let app = crate::support::helpers::spawn_app_with(|settings| {
        settings.insert("admin_username".into(), "root-admin".into());
        settings.insert("admin_email".into(), "admin@example.com".into());
        settings.insert("admin_password".into(), "correct horse battery".into());
    })
    .await;
    use atelier::db::schema::users::dsl::*;
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    let roles: Vec<(String, String)> = users
        .select((username, role))
        .filter(role.eq("admin"))
        .load(&mut app.conn())
        .expect("admins");
    assert_eq!(roles, vec![("root-admin".to_owned(), "admin".to_owned())]);
    let client = new_client();
    assert_eq!(
        app.login(&client, "root-admin", "correct horse battery")
            .await
            .status(),
        303
    );
}
