//! Liveness, readiness, and behaviour when the database goes away.

use std::time::{Duration, Instant};

use crate::support::helpers::{drop_database, new_client, spawn_app};

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
    let client = app.user("quinn").await;
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

#[tokio::test]
async fn lost_connections_are_replaced_without_a_ping_per_checkout() {
    use diesel::RunQueryDsl;
    let app = spawn_app().await;
    let client = app.user("rosa").await;
    // Warm the pool: several connections, all idle afterwards.
    let pages = (0..8).map(|_| app.get(&client, "/dashboard"));
    for response in futures_util::future::join_all(pages).await {
        assert_eq!(response.status(), 200);
    }
    // The server drops every connection of this database (a restart, a failover).
    let database = app.db_url.rsplit('/').next().expect("name").to_owned();
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    ))
    .execute(&mut app.conn())
    .expect("terminate");

    // A request may meet a dead connection: then it is a 503, never a 500 or a hang, and
    // within a few requests every dead connection has been replaced.
    let started = Instant::now();
    let mut statuses = Vec::new();
    loop {
        let status = app.get(&client, "/dashboard").await.status().as_u16();
        assert!(matches!(status, 200 | 503), "{status}");
        statuses.push(status);
        if statuses.ends_with(&[200, 200, 200]) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no recovery: {statuses:?}"
        );
    }
    assert!(
        statuses.iter().filter(|s| **s == 503).count() <= 1,
        "more than one request met a dead connection: {statuses:?}"
    );
}

#[tokio::test]
async fn metrics_speak_prometheus_to_the_token_holder_only() {
    const TOKEN: &str = "metrics-token-0123456789";
    let app = crate::support::helpers::spawn_app_with(|s| {
        s.insert("metrics_token".into(), TOKEN.into());
    })
    .await;
    assert_eq!(app.get(&new_client(), "/healthz").await.status(), 200);
    let client = app.user("counted").await;
    let (status, json) = client
        .generate(serde_json::json!({ "prompt": "a lighthouse", "wait": true }))
        .await;
    assert_eq!(status, 200, "{json}");

    let scrape = |token: Option<&'static str>| {
        let request = client.get(app.url("/metrics"));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move { request.send().await.expect("GET /metrics") }
    };
    assert_eq!(scrape(None).await.status(), 404, "off the public site");
    assert_eq!(scrape(Some("wrong-token-0123456789")).await.status(), 404);
    let response = scrape(Some(TOKEN)).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.expect("body");
    for line in [
        "atelier_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}",
        "atelier_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"}",
        "atelier_queue_jobs{status=\"queued\"} 0",
        "atelier_job_duration_seconds_count{provider=\"builtin\",kind=\"image\",outcome=\"succeeded\"}",
        "atelier_credits_charged_total 1",
        "atelier_credits_refunded_total 0",
        "atelier_decode_budget_waits_total",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    // Every sample line is `name{labels} value` or `name value` with a number.
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let value = line.rsplit(' ').next().expect("value");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }

    // Without a token configured there is no such page.
    let closed = spawn_app().await;
    let response = new_client()
        .get(closed.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 404);
}
