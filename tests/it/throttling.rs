//! Failed-login throttling per client IP and per account, exact under parallel attempts.

use crate::support::helpers::{PASSWORD, new_client, spawn_app_with};

async fn login_from(
    app: &crate::support::helpers::TestApp,
    ip: &str,
    user: &str,
    password: &str,
) -> reqwest::Response {
    app.visitor_from(ip)
        .submit("/login", &[("username", user), ("password", password)])
        .await
}

#[tokio::test]
async fn too_many_failures_from_one_ip_get_429_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.insert("login_failure_limit".into(), "3".into());
        s.insert("login_failure_window_secs".into(), "600".into());
    })
    .await;
    app.register(&new_client(), "mona", "mona@example.com", PASSWORD)
        .await;
    for _ in 0..3 {
        assert_eq!(
            app.login(&new_client(), "nobody", "wrongpass1")
                .await
                .status(),
            401
        );
    }
    // A different account from the same IP is refused too, even with the right password.
    let response = app.login(&new_client(), "mona", PASSWORD).await;
    assert_eq!(response.status(), 429);
    let retry: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!((590..=601).contains(&retry), "Retry-After {retry}");
    let body = response.text().await.expect("body");
    assert!(body.contains("Too many failed logins"), "{body}");
    assert!(body.contains("value=\"mona\""), "typed username kept");
}

#[tokio::test]
async fn account_is_throttled_across_ips_and_success_resets_it() {
    let app = spawn_app_with(|s| {
        s.insert("login_failure_limit".into(), "3".into());
        s.insert("trusted_proxies".into(), "127.0.0.1/32".into());
    })
    .await;
    app.register(&new_client(), "nina", "nina@example.com", PASSWORD)
        .await;
    // Two failures, then a success: the account's count starts again.
    for ip in ["203.0.113.1", "203.0.113.2"] {
        assert_eq!(
            login_from(&app, ip, "nina", "wrongpass1").await.status(),
            401
        );
    }
    assert_eq!(
        login_from(&app, "203.0.113.3", "nina", PASSWORD)
            .await
            .status(),
        303
    );
    // Three failures from three IPs, by username and email alike: the account is locked.
    assert_eq!(
        login_from(&app, "203.0.113.4", "nina", "wrongpass1")
            .await
            .status(),
        401
    );
    assert_eq!(
        login_from(&app, "203.0.113.5", "NINA@example.com", "wrongpass1")
            .await
            .status(),
        401
    );
    assert_eq!(
        login_from(&app, "203.0.113.6", "nina", "wrongpass1")
            .await
            .status(),
        401
    );
    let response = login_from(&app, "198.51.100.9", "nina", PASSWORD).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    // Other accounts from a fresh IP are unaffected.
    app.register(&new_client(), "olga", "olga@example.com", PASSWORD)
        .await;
    assert_eq!(
        login_from(&app, "198.51.100.10", "olga", PASSWORD)
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn parallel_guesses_cannot_pass_the_limit() {
    let app = spawn_app_with(|s| {
        s.insert("login_failure_limit".into(), "5".into());
        s.insert("bcrypt_concurrency".into(), "4".into());
    })
    .await;
    app.register(&new_client(), "oscar", "oscar@example.com", PASSWORD)
        .await;
    for round in 0..3 {
        // Fresh IP key per round via a fresh account name; the IP is shared, so clear it.
        {
            use diesel::RunQueryDsl;
            diesel::delete(atelier::db::schema::login_failures::table)
                .execute(&mut app.conn())
                .expect("clear");
        }
        let guesses = (0..25).map(|_| async {
            app.login(&new_client(), "oscar", "wrongpass1")
                .await
                .status()
                .as_u16()
        });
        let statuses = futures_util::future::join_all(guesses).await;
        let wrong = statuses.iter().filter(|s| **s == 401).count();
        let throttled = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!((wrong, throttled), (5, 20), "round {round}: {statuses:?}");
    }
}
