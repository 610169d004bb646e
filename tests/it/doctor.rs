//! `atelier doctor --fix` beside a running server: six users upload (and move and delete)
//! for a minute while the repair runs again and again with no grace period at all, and
//! afterwards every image that has a row still has every file. Run on both backends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::fixtures::png;
use crate::support::helpers::{TestApp, atelier_cli, new_client, stdout};

const RACE: Duration = Duration::from_secs(60);
const USERS: usize = 6;

fn store_env(app: &TestApp) -> Vec<(String, String)> {
    app.object_store
        .as_ref()
        .map(|store| store.env())
        .unwrap_or_default()
}

/// Uploads until `stop`, moving every third image to another folder and deleting every
/// fifth; returns how many uploads succeeded. Any 5xx fails the test.
async fn keep_uploading(app: Arc<TestApp>, user: usize, stop: Arc<AtomicBool>) -> usize {
    let client = app.user(&format!("racer{user}")).await;
    let mut stored = 0;
    while !stop.load(Ordering::Relaxed) {
        let side = 16 + (stored % 40) as u32;
        let response = app
            .upload(&client, png(side, side + 3), "race.png", &[])
            .await;
        let status = response.status();
        assert!(
            !status.is_server_error(),
            "upload failed beside doctor: {status}"
        );
        if status != 303 {
            continue;
        }
        stored += 1;
        let location = crate::support::helpers::location(&response).to_owned();
        let Some(id) = location
            .strip_prefix("/images/")
            .and_then(|rest| rest.split(['?', '/']).next())
            .map(str::to_owned)
        else {
            continue;
        };
        if stored % 3 == 0 {
            let response = app
                .post_form(
                    &client,
                    &format!("/images/{id}"),
                    &[("title", "moved"), ("folder", "elsewhere"), ("tags", "")],
                )
                .await;
            assert!(!response.status().is_server_error(), "move: {response:?}");
        }
        if stored % 5 == 0 {
            let response = app
                .post_form(&client, &format!("/images/{id}/delete"), &[])
                .await;
            assert!(!response.status().is_server_error(), "delete: {response:?}");
        }
    }
    stored
}

async fn doctor_fix_never_removes_a_file_that_has_a_row(app: TestApp) {
    let app = Arc::new(app);
    let stop = Arc::new(AtomicBool::new(false));
    let uploaders: Vec<_> = (0..USERS)
        .map(|user| tokio::spawn(keep_uploading(app.clone(), user, stop.clone())))
        .collect();

    // The repair, over and over, treating every file without a row as old enough.
    let env = store_env(&app);
    let started = Instant::now();
    let (mut runs, mut removed, mut kept) = (0, 0, 0);
    while started.elapsed() < RACE {
        let (app, env) = (app.clone(), env.clone());
        let output = tokio::task::spawn_blocking(move || {
            atelier_cli(&app, &["doctor", "--fix", "--grace-secs", "0"], &env)
        })
        .await
        .expect("doctor");
        let text = stdout(&output);
        assert!(
            !text.contains("missing its file"),
            "a row lost its file: {text}"
        );
        runs += 1;
        removed += text.lines().filter(|l| l.starts_with("removed: ")).count();
        kept += text.lines().filter(|l| l.starts_with("kept, ")).count();
    }
    stop.store(true, Ordering::Relaxed);
    let mut uploaded = 0;
    for uploader in uploaders {
        uploaded += uploader.await.expect("uploader");
    }
    eprintln!(
        "doctor race: {runs} doctor runs beside {uploaded} uploads removed {removed} files and kept {kept} it looked at again"
    );
    assert!(
        runs >= 3 && uploaded >= USERS * 5,
        "{runs} runs, {uploaded} uploads"
    );

    // Every listed image serves every file, and the store and the rows agree.
    for user in 0..USERS {
        let client = new_client();
        let response = app
            .login(
                &client,
                &format!("racer{user}"),
                crate::support::helpers::PASSWORD,
            )
            .await;
        assert_eq!(response.status(), 303);
        for page in 1.. {
            let listing: serde_json::Value = app
                .get(&client, &format!("/api/images?page={page}"))
                .await
                .json()
                .await
                .expect("listing");
            let images = listing["images"].as_array().expect("images");
            if images.is_empty() {
                break;
            }
            for image in images {
                for variant in ["original", "thumb", "pristine"] {
                    let path = image["urls"][variant].as_str().expect("a file URL");
                    let response = client.get(app.url(path)).send().await.expect("file");
                    assert_eq!(response.status(), 200, "{path} of a listed image");
                }
            }
        }
    }
    let output = atelier_cli(&app, &["doctor"], &env);
    assert!(output.status.success(), "{}", stdout(&output));
}

fn unlimited_uploads(values: &mut std::collections::HashMap<String, String>) {
    values.insert("uploads_per_hour".into(), "0".into());
}

#[tokio::test]
async fn doctor_fix_beside_six_uploaders_on_local_storage() {
    let app = crate::support::helpers::spawn_app_with(unlimited_uploads).await;
    doctor_fix_never_removes_a_file_that_has_a_row(app).await;
}

#[tokio::test]
async fn doctor_fix_beside_six_uploaders_on_a_bucket() {
    let test = "doctor_fix_beside_six_uploaders_on_a_bucket";
    if let Some(app) = crate::support::helpers::spawn_app_on_s3(test, unlimited_uploads).await {
        doctor_fix_never_removes_a_file_that_has_a_row(app).await;
    }
}
