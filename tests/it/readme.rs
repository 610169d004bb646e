//! The README's curl section is a script: its `sh` blocks, run top to bottom with bash
//! against a fresh server, must all succeed exactly as written (only the address and the
//! `cargo run --release --` prefix are swapped for the test server and the built binary).

use std::process::Command;

use crate::support::helpers::spawn_app_with;

/// The `sh` blocks between two headings of the README, in order.
fn shell_blocks(readme: &str, from: &str, to: &str) -> String {
    let start = readme.find(from).expect("section start");
    let end = start + readme[start..].find(to).expect("section end");
    let mut script = String::new();
    let mut inside = false;
    for line in readme[start..end].lines() {
        match (inside, line.trim()) {
            (false, "```sh") => inside = true,
            (true, "```") => inside = false,
            (true, _) => {
                script.push_str(line);
                script.push('\n');
            }
            _ => {}
        }
    }
    script
}

#[tokio::test]
async fn the_readme_curl_section_runs_top_to_bottom_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let script = shell_blocks(&readme, "## Using it with curl", "## Admin and privacy");
    assert!(script.lines().filter(|l| l.starts_with("curl")).count() >= 15);
    let app = spawn_app_with(|s| {
        // As on a real first start: no signup credits, so the README's grant is needed.
        s.insert("signup_credits".into(), "0".into());
    })
    .await;
    let script = script
        .replace("http://localhost:8080", &app.address)
        .replace("cargo run --release --", env!("CARGO_BIN_EXE_atelier"));
    // Any HTTP error fails the script, as it would fail a reader.
    let prelude = "set -euo pipefail\n\
                   curl() { command curl -sS --fail-with-body --max-time 120 \"$@\"; echo; }\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let output = tokio::task::spawn_blocking({
        let (db_url, uploads) = (app.db_url.clone(), app.uploads.clone());
        let dir = dir.path().to_owned();
        move || {
            Command::new("bash")
                .arg("-c")
                .arg(format!("{prelude}{script}"))
                .current_dir(&dir)
                .env("DATABASE_URL", db_url)
                .env("ATELIER_UPLOADS_DIR", &uploads)
                .env("ATELIER_DATA_DIR", uploads.with_file_name("data"))
                .env("ATELIER_LOG", "warn")
                .output()
                .expect("run bash")
        }
    })
    .await
    .expect("script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("testuser now has 20 credits"), "{stdout}");
    assert!(stdout.contains(r#""share_url":"/s/"#), "{stdout}");
    assert!(stdout.contains("ratelimit-remaining: 2"), "{stdout}");
    assert!(dir.path().join("my-data.zip").exists());
    // fox ×2, lake ×2, mountains, three story scenes, the prompt edit, two uploads, two
    // videos and the visitor's lighthouse: the jobs queued without waiting finish shortly
    // (a clip takes a few seconds in a debug build).
    let made = crate::support::helpers::poll(
        std::time::Duration::from_secs(30),
        || async { app.count_images() },
        |made| *made == 14,
    )
    .await;
    assert_eq!(made, 14, "every queued picture and clip is made");
}
