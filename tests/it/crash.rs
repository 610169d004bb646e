//! The crash drill: kill -9 the real server while uploads and generations are in flight,
//! start it again on the same database and folders, and check what a crash may leave: no
//! row without its files (`atelier doctor`), no job left running once its lease has
//! passed, every balance equal to its ledger, and every generated picture in exactly one
//! finished job, paid for once.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl, TextExpressionMethods};

use crate::embedded::{Running, signal, start_with, wait};
use crate::support::helpers::poll;
use crate::support::visitor::Visitor;

fn start(db_url: &str, dir: &std::path::Path) -> Running {
    start_with(|command| {
        command
            .env("DATABASE_URL", db_url)
            .env("ATELIER_DATA_DIR", dir.join("data"))
            .env("ATELIER_UPLOADS_DIR", dir.join("uploads"))
            .env("ATELIER_SIGNUP_CREDITS", "1000")
            .env("ATELIER_LOG", "warn,atelier=info");
    })
}

fn doctor(db_url: &str, dir: &std::path::Path, fix: bool) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_atelier"));
    command.arg("doctor");
    if fix {
        // The crash was long enough ago for its leftovers to be past the grace period.
        crate::support::helpers::age_files(&dir.join("uploads"), Duration::from_secs(7200));
        command.arg("--fix");
    }
    let output = command
        .env("DATABASE_URL", db_url)
        .env("ATELIER_DATA_DIR", dir.join("data"))
        .env("ATELIER_UPLOADS_DIR", dir.join("uploads"))
        .env("ATELIER_LOG", "warn")
        .output()
        .expect("run doctor");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// Keeps `client` uploading or generating (two images a job) until the server dies or
/// its share is sent, with a bounded number of requests so the restarted server can
/// finish the queue in time on a loaded machine; then waits for `killed`. How many were
/// answered.
async fn keep_busy(
    client: Visitor,
    uploads: bool,
    answered: Arc<AtomicUsize>,
    mut killed: tokio::sync::watch::Receiver<bool>,
) -> usize {
    let mut sent = 0;
    let most = if uploads { 200 } else { 12 };
    while sent < most {
        let result = if uploads {
            let part = reqwest::multipart::Part::bytes(crate::support::fixtures::jpeg(640, 480))
                .file_name("photo.jpg");
            client
                .request_to(reqwest::Method::POST, "/api/upload")
                .multipart(reqwest::multipart::Form::new().part("file", part))
                .send()
                .await
        } else {
            let order =
                serde_json::json!({ "prompt": "a storm over the sea", "count": 2, "wait": false });
            client
                .request_to(reqwest::Method::POST, "/api/generate-image")
                .json(&order)
                .send()
                .await
        };
        if result.is_err() {
            return sent;
        }
        sent += 1;
        answered.fetch_add(1, Ordering::Relaxed);
    }
    let _ = killed.wait_for(|killed| *killed).await;
    sent
}

#[tokio::test]
async fn a_server_killed_mid_work_restarts_consistent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db_url = tokio::task::spawn_blocking(crate::support::helpers::fresh_database)
        .await
        .expect("db");
    let running = start(&db_url, dir.path());
    let mut clients = Vec::new();
    for name in ["crash_a", "crash_b", "crash_c"] {
        clients.push(Visitor::at(&running.address).signed_up(name).await);
    }
    let mut load = Vec::new();
    let answered = Arc::new(AtomicUsize::new(0));
    let (kill, killed) = tokio::sync::watch::channel(false);
    for (index, client) in clients.iter().enumerate() {
        for uploads in [true, false] {
            load.push(tokio::spawn(keep_busy(
                client.clone(),
                uploads || index == 2,
                answered.clone(),
                killed.clone(),
            )));
        }
    }
    // Kill it mid-work: at least 1.5 s in and a dozen requests answered (a busy machine
    // answers fewer per second), at most 20 s.
    let started = std::time::Instant::now();
    poll(
        Duration::from_secs(20),
        || async { (started.elapsed(), answered.load(Ordering::Relaxed)) },
        |(elapsed, answered)| *elapsed >= Duration::from_millis(1500) && *answered > 12,
    )
    .await;
    signal(&running, libc::SIGKILL);
    let _ = wait(running);
    kill.send_replace(true);
    let mut sent = 0;
    for task in load {
        sent += task.await.expect("load task");
    }
    assert!(
        sent > 10,
        "the drill put the server under load ({sent} requests)"
    );

    // Start again in the same place; jobs whose lease ran out are retried or failed.
    let running = start(&db_url, dir.path());
    let conn = std::cell::RefCell::new(
        <diesel::PgConnection as diesel::Connection>::establish(&db_url).expect("connect"),
    );
    use atelier::db::schema::{credit_ledger as ledger, generation_jobs as jobs, images, users};
    let unfinished = poll(
        Duration::from_secs(180),
        || async {
            jobs::table
                .filter(jobs::status.eq_any(["queued", "running"]))
                .count()
                .get_result::<i64>(&mut *conn.borrow_mut())
                .expect("jobs")
        },
        |unfinished| *unfinished == 0,
    )
    .await;
    let mut conn = conn.into_inner();
    assert_eq!(
        unfinished, 0,
        "every job finished within a lease and a recovery round"
    );

    // No row without its files; what the crash left without a row, --fix removes.
    let (code, report) = doctor(&db_url, dir.path(), false);
    assert!(!report.contains("missing its file"), "{report}");
    if code != Some(0) {
        let (code, fixed) = doctor(&db_url, dir.path(), true);
        assert_eq!(code, Some(0), "{fixed}");
    }
    let (code, report) = doctor(&db_url, dir.path(), false);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("consistent"));

    // Every balance is the sum of its ledger.
    let balances: Vec<(i64, i64)> = users::table
        .filter(users::username.like("crash_%"))
        .select((users::id, users::credits))
        .load(&mut conn)
        .expect("users");
    assert_eq!(balances.len(), 3);
    for (id, credits) in &balances {
        let deltas: Vec<i64> = ledger::table
            .filter(ledger::user_id.eq(id))
            .select(ledger::delta)
            .load(&mut conn)
            .expect("ledger");
        assert_eq!(deltas.iter().sum::<i64>(), *credits, "user {id}");
    }

    // Every generated picture is in exactly one succeeded job, and pictures = credits paid.
    let generated: Vec<(i64, Option<i64>, i32)> = images::table
        .filter(images::kind.eq("generated"))
        .select((images::id, images::job_id, images::credits_used))
        .load(&mut conn)
        .expect("images");
    let finished: HashMap<i64, (String, Vec<i64>)> = jobs::table
        .select((jobs::id, jobs::status, jobs::image_ids))
        .load::<(i64, String, Vec<i64>)>(&mut conn)
        .expect("jobs")
        .into_iter()
        .map(|(id, status, ids)| (id, (status, ids)))
        .collect();
    for (image, job, _) in &generated {
        let job = job.expect("a generated image names its job");
        let (status, ids) = &finished[&job];
        assert_eq!(status, "succeeded", "image {image} of job {job}");
        assert!(
            ids.contains(image),
            "image {image} is in job {job}'s results"
        );
    }
    let listed: usize = finished
        .values()
        .filter(|(status, _)| status == "succeeded")
        .map(|(_, ids)| ids.len())
        .sum();
    assert_eq!(
        listed,
        generated.len(),
        "no job lists a picture that is gone"
    );
    let paid: i64 = ledger::table
        .filter(ledger::reason.eq_any(["charge", "refund"]))
        .select(ledger::delta)
        .load::<i64>(&mut conn)
        .expect("charges")
        .iter()
        .sum();
    let used: i64 = generated.iter().map(|(_, _, c)| i64::from(*c)).sum();
    assert_eq!(-paid, used, "credits charged = pictures made");
    assert!(!generated.is_empty());

    signal(&running, libc::SIGTERM);
    let (status, log) = wait(running);
    assert!(status.success());
    assert!(!log.iter().any(|line| line.contains("panicked")), "{log:?}");
}
