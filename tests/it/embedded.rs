//! The embedded default: `atelier` with no DATABASE_URL starts its own cluster under the
//! data dir, stops it on SIGTERM, keeps data and sessions across restarts, and recovers
//! from a postmaster left behind by a crash. Runs the real binary.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::helpers::{PASSWORD, new_client};

/// The real `atelier` binary, running as a child process.
pub struct Running {
    child: Child,
    pub address: String,
    log: mpsc::Receiver<String>,
    /// What it logged before it was listening.
    pub startup_log: Vec<String>,
}

fn start(data_dir: &Path) -> Running {
    start_with(|command| {
        command
            .env_remove("DATABASE_URL")
            .env("ATELIER_DATA_DIR", data_dir)
            .env("ATELIER_UPLOADS_DIR", data_dir.join("uploads"));
    })
}

/// Starts the binary on a free port with cheap bcrypt; `configure` adds the rest.
#[allow(clippy::zombie_processes)] // `wait` below reaps it; a failed start panics the test.
pub fn start_with(configure: impl FnOnce(&mut Command)) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_atelier"));
    command
        .env("ATELIER_BIND", "127.0.0.1:0")
        .env("ATELIER_BCRYPT_COST", "4")
        .env("ATELIER_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    configure(&mut command);
    let mut child = command.spawn().expect("start atelier");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut startup_log = Vec::new();
    loop {
        let line = log
            .recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|_| panic!("atelier did not start: {startup_log:#?}"));
        if let Some(rest) = line.split("listening on ").nth(1) {
            let address = format!("http://{}", rest.trim().trim_start_matches("http://"));
            return Running {
                child,
                address,
                log,
                startup_log,
            };
        }
        startup_log.push(line);
    }
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

pub fn signal(running: &Running, signal: i32) {
    let pid = i32::try_from(running.child.id()).expect("pid");
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

pub fn wait(mut running: Running) -> (std::process::ExitStatus, Vec<String>) {
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
    // Private to the service user; when root runs the cluster as postgres, that user's group
    // may pass through to reach it, and nobody else may.
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    // SAFETY: geteuid has no preconditions.
    let expected = if unsafe { libc::geteuid() } == 0 {
        0o710
    } else {
        0o700
    };
    assert_eq!(mode(&data), expected, "data folder");
    assert_eq!(mode(&data.join("session.key")), 0o600);
    assert_eq!(mode(&data.join("uploads")), 0o700);

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

/// The README's first command as root in a fresh clone under root's home (mode 0700, which
/// the `postgres` user cannot enter): the cluster goes where it can run, the log says
/// where, and data survives a restart.
#[tokio::test]
async fn the_first_run_works_from_a_folder_the_postgres_user_cannot_enter() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: only root hands the cluster to the postgres user");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let project = home.path().join("x");
    std::fs::create_dir(&project).expect("mkdir");
    let run = || {
        start_with(|command| {
            command
                .current_dir(&project)
                .env_remove("DATABASE_URL")
                .env_remove("ATELIER_DATA_DIR")
                .env_remove("ATELIER_UPLOADS_DIR");
        })
    };
    let running = run();
    let placed = running
        .startup_log
        .iter()
        .find(|line| line.contains("cannot reach"))
        .unwrap_or_else(|| {
            panic!(
                "the log says where the cluster went: {:#?}",
                running.startup_log
            )
        })
        .clone();
    let cluster = placed
        .split_whitespace()
        .find_map(|field| field.strip_prefix("cluster="))
        .expect("cluster=")
        .to_owned();
    let cluster = std::path::PathBuf::from(cluster);
    assert!(cluster.join("PG_VERSION").exists(), "{placed}");
    assert!(
        project.join("data/session.key").exists(),
        "the data folder is where it was asked"
    );
    let client = new_client();
    let form = [
        ("username", "rooty"),
        ("email", "rooty@example.com"),
        ("password", PASSWORD),
        ("confirm_password", PASSWORD),
    ];
    let response = client
        .post(format!("{}/register", running.address))
        .form(&form)
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 303);
    signal(&running, libc::SIGTERM);
    let (status, _) = wait(running);
    assert!(status.success());

    // Again from the same folder: the same cluster, the account is still there.
    let running = run();
    let login = [("username", "rooty"), ("password", PASSWORD)];
    let response = client
        .post(format!("{}/login", running.address))
        .form(&login)
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 303);
    signal(&running, libc::SIGTERM);
    let (status, _) = wait(running);
    assert!(status.success());
    std::fs::remove_dir_all(&cluster).expect("remove the test's cluster");
}

#[test]
fn create_admin_reads_the_password_from_stdin() {
    use std::io::Write;
    let url = crate::support::helpers::fresh_database();
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
    let (role, hash): (String, String) = atelier::db::schema::users::table
        .filter(atelier::db::schema::users::username.eq("boss"))
        .select((
            atelier::db::schema::users::role,
            atelier::db::schema::users::password_hash,
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

#[test]
fn a_data_folder_others_can_write_to_is_refused_not_changed() {
    let root = tempfile::tempdir().expect("root");
    let shared = root.path().join("shared");
    std::fs::create_dir(&shared).expect("shared");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("1777");
    let output = Command::new(env!("CARGO_BIN_EXE_atelier"))
        .env_remove("DATABASE_URL")
        .env("ATELIER_DATA_DIR", &shared)
        .env("ATELIER_UPLOADS_DIR", root.path().join("uploads"))
        .env("ATELIER_BIND", "127.0.0.1:0")
        .stdin(Stdio::null())
        .output()
        .expect("run atelier");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("can be written by other users"), "{said}");
    let mode = std::fs::metadata(&shared)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o7777,
        0o1777,
        "the operator's folder is left as it was"
    );
}

#[test]
fn instances_started_together_with_the_same_admin_all_serve() {
    let db_url = crate::support::helpers::fresh_database();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let started: Vec<Running> = std::thread::scope(|scope| {
        let handles: Vec<_> = dirs
            .iter()
            .map(|dir| {
                let db_url = db_url.clone();
                scope.spawn(move || {
                    start_with(|command| {
                        command
                            .env("DATABASE_URL", &db_url)
                            .env("ATELIER_DATA_DIR", dir.path().join("data"))
                            .env("ATELIER_UPLOADS_DIR", dir.path().join("uploads"))
                            .env("ATELIER_ADMIN_USERNAME", "root")
                            .env("ATELIER_ADMIN_EMAIL", "root@example.com")
                            .env("ATELIER_ADMIN_PASSWORD", PASSWORD);
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("an instance started"))
            .collect()
    });
    assert_eq!(started.len(), 3, "every instance serves");
    let admins: i64 = {
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
        let mut conn =
            <diesel::PgConnection as diesel::Connection>::establish(&db_url).expect("db");
        atelier::db::schema::users::table
            .filter(atelier::db::schema::users::role.eq("admin"))
            .count()
            .get_result(&mut conn)
            .expect("count")
    };
    assert_eq!(admins, 1);
    for running in started {
        signal(&running, libc::SIGTERM);
        wait(running);
    }
}
