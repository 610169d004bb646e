//! Housekeeping: expired sessions, login failures past their window and uses no rate
//! window counts any more are deleted a batch at a time, and nothing else is.

use diesel::RunQueryDsl;

use crate::support::helpers::{eventually, spawn_app_with};

#[tokio::test]
async fn housekeeping_clears_what_has_expired_in_batches_and_keeps_the_rest() {
    let app = spawn_app_with(|s| {
        s.insert("housekeeping_interval_secs".into(), "1".into());
    })
    .await;
    let keeper = app.user("keeper").await;
    // More than two batches of each, past their time, and a few still in it.
    for statement in [
        "INSERT INTO usage_events (ip_key, action, client_ip, at)
         SELECT '203.0.113.0/24', 'generate', '203.0.113.5',
                now() - interval '3 days' - make_interval(secs => n)
         FROM generate_series(1, 1234) AS n",
        "INSERT INTO usage_events (ip_key, action, client_ip, at)
         SELECT '203.0.113.0/24', 'generate', '203.0.113.5', now() - make_interval(mins => n)
         FROM generate_series(1, 3) AS n",
        "INSERT INTO login_failures (ip_key, account_key, at)
         SELECT '198.51.100.0/24', 'mallory', now() - interval '2 days' - make_interval(secs => n)
         FROM generate_series(1, 1101) AS n",
        "INSERT INTO login_failures (ip_key, account_key, at)
         SELECT '198.51.100.0/24', 'mallory', now() - make_interval(secs => n)
         FROM generate_series(1, 2) AS n",
        "INSERT INTO sessions (key_hash, user_id, state, created_at, last_seen_at, expires_at)
         SELECT sha256(('expired ' || n)::bytea), NULL, '{}', now() - interval '40 days',
                now() - interval '40 days', now() - make_interval(hours => n)
         FROM generate_series(1, 1050) AS n",
    ] {
        diesel::sql_query(statement)
            .execute(&mut app.conn())
            .expect(statement);
    }
    let left = || {
        app.lines(
            "SELECT (SELECT count(*) FROM usage_events) || ' ' || (SELECT count(*) FROM login_failures)
                    || ' ' || (SELECT count(*) FROM sessions WHERE expires_at <= now()) AS line",
        )
    };
    eventually("housekeeping deletes everything past its time", || async {
        left() == ["3 2 0"]
    })
    .await;
    assert!(
        app.lines("SELECT count(*)::text AS line FROM sessions")[0]
            .parse::<i64>()
            .expect("count")
            >= 1,
        "live sessions stay"
    );
    let gallery = app.get(&keeper, "/gallery").await;
    assert_eq!(
        (gallery.status().as_u16(), gallery.url().path().to_owned()),
        (200, "/gallery".to_owned()),
        "and the one signed in is still signed in"
    );
}
