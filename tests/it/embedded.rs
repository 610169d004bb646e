//! The embedded default: `atelier` with no DATABASE_URL starts its own cluster under the
//! data dir, stops it on SIGTERM, keeps data and sessions across restarts, and recovers
//! from a postmaster left behind by a crash. Runs the real binary.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::helpers::{PASSWORD, new_client};

struct Running {
    child: Child,
    address: String,
    log: mpsc::Receiver<String>,
}

#[allow(clippy::zombie_processes)] // `wait` below reaps it; a failed start panics the test.
fn start(data_dir: &Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atelier"))
        .env_remove("DATABASE_URL")
        .env("ATELIER_DATA_DIR", data_dir)
        .env("ATELIER_UPLOADS_DIR", data_dir.join("uploads"))
        .env("ATELIER_BIND", "127.0.0.1:0")
        .env("ATELIER_BCRYPT_COST", "4")
        .env("ATELIER_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start atelier");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = log
            .recv_timeout(Duration::from_secs(90))
            .expect("atelier did not start");
        if let Some(rest) = line.split("listening on ").nth(1) {
            let address = rest.trim().to_owned();
            return Running {
                child,
                address,
                log,
            };
        }
    }
}

fn signal(running: &Running, signal: i32) {
    let pid = i32::try_from(running.child.id()).expect("pid");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

fn wait(mut running: Running) -> (std::process::ExitStatus, Vec<String>) {
    let status = running.child.wait().expect("wait");
    let lines = running.log.try_iter().collect();
    (status, lines)
}

#[tokio::test]
async fn starts_and_stops_its_own_cluster_and_survives_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The postgres user must be able to reach the cluster when the tests run as root.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let data = dir.path().join("data");
    let pid_file = data.join("pg").join("postmaster.pid");

    // First start: initdb, start, migrate, serve.
    let running = start(&data);
    assert!(pid_file.exists(), "cluster runs under the data dir");
    let client = new_client();
    let base = running.address.clone();
    let ready = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let form = [
        ("username", "embed"),
        ("email", "embed@example.com"),
        ("password", PASSWORD),
        ("confirm_password", PASSWORD),
    ];
    assert_eq!(
        client
            .post(format!("{base}/register"))
            .form(&form)
            .send()
            .await
            .expect("register")
            .status(),
        303
    );
    let login = [("username", "embed"), ("password", PASSWORD)];
    assert_eq!(
        client
            .post(format!("{base}/login"))
            .form(&login)
            .send()
            .await
            .expect("login")
            .status(),
        303
    );

    // SIGTERM: drains, stops the cluster, exits cleanly.
    signal(&running, libc::SIGTERM);
    let (status, _) = wait(running);
    assert!(status.success(), "clean exit: {status}");
    assert!(!pid_file.exists(), "the cluster was stopped");
    assert!(data.join("session.key").exists(), "session key persisted");

    // Second start: same data, same session key, so the old cookie still signs in.
    let running = start(&data);
    let base = running.address.clone();
    let page = client
        .get(format!("{base}/dashboard"))
        .send()
        .await
        .expect("dashboard");
    assert_eq!(page.status(), 200, "still signed in after a restart");

    // Operator commands work next to the running server: they use its cluster.
    let output = Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args(["grant-credits", "--username", "embed", "--amount", "7"])
        .env_remove("DATABASE_URL")
        .env("ATELIER_DATA_DIR", &data)
        .env("ATELIER_LOG", "warn")
        .output()
        .expect("run grant-credits");
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("embed now has 7 credits"));
    assert!(pid_file.exists(), "the server's cluster keeps running");
    let usage: serde_json::Value = client
        .get(format!("{base}/api/usage"))
        .send()
        .await
        .expect("usage")
        .json()
        .await
        .expect("json");
    assert_eq!(usage["usage"]["credits"], 7);

    // A crash (SIGKILL) leaves the postmaster running; the next start must stop it.
    signal(&running, libc::SIGKILL);
    let _ = wait(running);
    assert!(pid_file.exists(), "a crash leaves the postmaster behind");
    let running = start(&data);
    let base = running.address.clone();
    assert_eq!(
        client
            .get(format!("{base}/dashboard"))
            .send()
            .await
            .expect("dashboard")
            .status(),
        200
    );
    signal(&running, libc::SIGTERM);
    let (status, lines) = wait(running);
    assert!(status.success());
    assert!(!pid_file.exists());
    assert!(!lines.iter().any(|l| l.contains("panicked")), "{lines:?}");
}

#[test]
fn create_admin_reads_the_password_from_stdin() {
    use std::io::Write;
    let url = crate::helpers::fresh_database();
    let mut child = Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args([
            "create-admin",
            "--username",
            "Boss",
            "--email",
            "boss@example.com",
        ])
        .env("DATABASE_URL", &url)
        .env("ATELIER_BCRYPT_COST", "4")
        .env_remove("ATELIER_ADMIN_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run create-admin");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"a long admin secret\n")
        .expect("write password");
    let output = child.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("admin boss created"));

    use diesel::{Connection, ExpressionMethods, QueryDsl, RunQueryDsl};
    let mut conn = diesel::PgConnection::establish(&url).expect("connect");
    let (role, hash): (String, String) = atelier::schema::users::table
        .filter(atelier::schema::users::username.eq("boss"))
        .select((
            atelier::schema::users::role,
            atelier::schema::users::password_hash,
        ))
        .first(&mut conn)
        .expect("admin row");
    assert_eq!(role, "admin");
    assert!(bcrypt::verify("a long admin secret", &hash).expect("verify"));

    // A weak password is refused with the rule, and nothing is created.
    let output = Command::new(env!("CARGO_BIN_EXE_atelier"))
        .args([
            "create-admin",
            "--username",
            "boss2",
            "--email",
            "boss2@example.com",
        ])
        .env("DATABASE_URL", &url)
        .env("ATELIER_ADMIN_PASSWORD", "password")
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("commonly used"));
}
