//! Liveness, readiness, and behaviour when the database goes away.

use std::time::{Duration, Instant};

use crate::helpers::{drop_database, new_client, spawn_app};

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    let response = app.get(&new_client(), "/healthz").await;
    assert_eq!(response.status(), 200);
    let response = app.get(&new_client(), "/readyz").await;
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.expect("json");
    assert_eq!(json["database"], "ok");
}

#[tokio::test]
async fn a_lost_database_means_503_within_seconds_not_a_hang() {
    let app = spawn_app().await;
    let client = new_client();
    app.signed_in_user(&client, "quinn").await;
    let url = app.db_url.clone();
    tokio::task::spawn_blocking(move || drop_database(&url))
        .await
        .expect("drop");

    let started = Instant::now();
    let response = app.get(&new_client(), "/readyz").await;
    assert_eq!(response.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );

    // A signed-in page needs the session store first: still a 503 page, not a 500.
    let started = Instant::now();
    let response = app.get(&client, "/dashboard").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("database is not reachable")
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );

    // The server itself stays up.
    assert_eq!(app.get(&new_client(), "/healthz").await.status(), 200);
}
