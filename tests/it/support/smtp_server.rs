//! A real SMTP server for the mail tests: Python's `aiosmtpd` (installed by `.ci/run` into
//! the tests' venv, or found in the system Python) writing every message it accepts to a
//! Maildir. It can be stopped and started again on the same port, to show the outbox
//! retrying while the server is away.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct SmtpServer {
    pub port: u16,
    python: PathBuf,
    maildir: tempfile::TempDir,
    child: Option<Child>,
}

/// One received message: its headers and its text part, decoded.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub raw: String,
}

impl Received {
    /// The first link on this site (`path_start`, e.g. `/password/reset?token=`) in the
    /// text, as a path.
    pub fn link(&self, path_start: &str) -> Option<String> {
        let at = self.text.find(path_start)?;
        let rest = &self.text[at..];
        Some(rest.chars().take_while(|c| !c.is_whitespace()).collect())
    }
}

/// A Python that has `aiosmtpd`, or `None` (the test is skipped unless
/// `ATELIER_REQUIRE_SMTP` is set).
fn python_with_aiosmtpd(test: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("ATELIER_OPENAI_PYTHON").map(PathBuf::from),
        std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".cache/atelier-sdk/bin/python")),
        Some(PathBuf::from("python3")),
    ];
    let found = candidates.into_iter().flatten().find(|python| {
        Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    });
    if found.is_none() {
        let reason = "aiosmtpd is not installed (see .ci/run)";
        if std::env::var_os("ATELIER_REQUIRE_SMTP").is_some() {
            panic!("{test}: {reason}");
        }
        eprintln!("SKIPPED {test}: {reason}");
    }
    found
}

impl SmtpServer {
    /// Starts a server on a free port, or `None` when aiosmtpd is missing (skipped).
    pub async fn start(test: &str) -> Option<SmtpServer> {
        let python = python_with_aiosmtpd(test)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("port")
            .port();
        let mut server = SmtpServer {
            port,
            python,
            maildir: tempfile::tempdir().expect("maildir"),
            child: None,
        };
        server.resume().await;
        Some(server)
    }

    /// `smtp://127.0.0.1:{port}`, for `ATELIER_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops the server: connections are refused until [`SmtpServer::resume`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on its port and waits until it answers.
    pub async fn resume(&mut self) {
        let child = Command::new(&self.python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("aiosmtpd did not start on port {}", self.port);
    }

    /// Every message received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        let dir = self.maildir.path().join("mail").join("new");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .collect();
        files.sort_by_key(|path| {
            std::fs::metadata(path)
                .and_then(|meta| meta.modified())
                .ok()
        });
        files
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .map(|raw| parse(&raw))
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Headers and the decoded text/plain part of a raw message.
fn parse(raw: &str) -> Received {
    let header = |name: &str| {
        raw.lines()
            .find(|line| line.to_ascii_lowercase().starts_with(&format!("{name}:")))
            .map(|line| line[name.len() + 1..].trim().to_owned())
            .unwrap_or_default()
    };
    let text = raw
        .split("Content-Type: text/plain")
        .nth(1)
        .map(|part| {
            let (headers, body) = part
                .split_once("\r\n\r\n")
                .or_else(|| part.split_once("\n\n"))
                .unwrap_or((part, ""));
            let body = body.split("\n--").next().unwrap_or(body);
            if headers.contains("quoted-printable") {
                quoted_printable(body)
            } else {
                body.to_owned()
            }
        })
        .unwrap_or_default();
    Received {
        to: header("to"),
        subject: header("subject"),
        text,
        raw: raw.to_owned(),
    }
}

/// Decodes quoted-printable text (soft line breaks and `=XX` escapes).
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
