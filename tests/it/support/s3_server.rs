//! A real S3-compatible server for the storage tests: `s3s-fs` (crates.io, `cargo install
//! s3s-fs --features binary`), one process per test on a free port, keeping objects as
//! plain files under `{root}/{bucket}/{key}` (so a test can look at what is stored just as
//! for the local backend). `ATELIER_S3S_FS` names the binary; CI sets
//! `ATELIER_REQUIRE_S3=1` so a missing server fails instead of skipping.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const BUCKET: &str = "atelier";
const ACCESS_KEY: &str = "atelier-test-key";
const SECRET_KEY: &str = "atelier-test-secret-0123456789";

pub struct S3Server {
    binary: PathBuf,
    port: u16,
    root: tempfile::TempDir,
    child: Mutex<Option<Child>>,
}

fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ATELIER_S3S_FS") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("s3s-fs"));
    let in_cargo = std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo/bin/s3s-fs"));
    on_path.chain(in_cargo).find(|path| path.is_file())
}

impl S3Server {
    /// A fresh server with an empty bucket, or `None` (test skipped) without `s3s-fs`.
    pub fn start(test: &str) -> Option<Self> {
        let Some(binary) = binary() else {
            let reason =
                "s3s-fs is not installed (cargo install s3s-fs --version 0.14.1 --features binary)";
            if std::env::var_os("ATELIER_REQUIRE_S3").is_some() {
                panic!("{test}: {reason}");
            }
            eprintln!("SKIPPED {test}: {reason}");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        let root = tempfile::tempdir().expect("s3 root");
        std::fs::create_dir(root.path().join(BUCKET)).expect("bucket");
        let server = S3Server {
            binary,
            port,
            root,
            child: Mutex::new(None),
        };
        server.resume();
        Some(server)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where the bucket's objects are, as files.
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.path().join(BUCKET)
    }

    /// The settings that point Atelier at this server.
    pub fn configure(&self, values: &mut HashMap<String, String>) {
        for (name, value) in self.settings() {
            values.insert(name.to_owned(), value);
        }
    }

    /// The same, as `ATELIER_*` environment variables for the CLI.
    pub fn env(&self) -> Vec<(String, String)> {
        self.settings()
            .into_iter()
            .map(|(name, value)| (format!("ATELIER_{}", name.to_ascii_uppercase()), value))
            .collect()
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("storage", "s3".to_owned()),
            ("s3_endpoint", self.endpoint()),
            ("s3_bucket", BUCKET.to_owned()),
            ("s3_region", "us-east-1".to_owned()),
            ("s3_access_key_id", ACCESS_KEY.to_owned()),
            ("s3_secret_access_key", SECRET_KEY.to_owned()),
            ("s3_path_style", "true".to_owned()),
        ]
    }

    /// Kills the server (the objects stay on disk).
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().expect("child").take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port and folder; waits until it listens.
    pub fn resume(&self) {
        let child = Command::new(&self.binary)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        *self.child.lock().expect("child") = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "s3s-fs did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}
