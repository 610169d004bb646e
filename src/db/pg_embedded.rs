//! The private PostgreSQL cluster: Atelier's default database when `DATABASE_URL` is unset,
//! and the throwaway cluster the tests run against. Same code for both.
//!
//! The cluster lives in one directory (`<data dir>/pg`), listens only on a Unix socket inside
//! that directory (no TCP port, socket mode 0700, so `trust` authentication reaches nobody
//! else), and is started and stopped with the machine's own `initdb` / `pg_ctl`. PostgreSQL
//! refuses to run as root, so when this process is root the server binaries run as the
//! `postgres` OS user (the same switch `runuser -u postgres` makes, done in the child by
//! `Command::uid/gid`) and that user owns the directory.

use std::fs::{self, File};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use diesel::{Connection, PgConnection, RunQueryDsl};

/// The superuser role `initdb` creates; the app connects as this role.
const SUPERUSER: &str = "atelier";

/// How the cluster trades durability for speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// PostgreSQL's defaults, but for writing pages back as they go: the product's own data.
    Durable,
    /// fsync off and more connections: throwaway test clusters.
    Throwaway,
}

/// An OS user the server binaries run as when this process is root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// A running cluster started by this process. Call [`PgCluster::stop`] on shutdown.
#[derive(Debug)]
pub struct PgCluster {
    bin_dir: PathBuf,
    dir: PathBuf,
    run_as: Option<RunAs>,
    /// Held for the cluster's lifetime: one Atelier per data directory.
    _lock: File,
}

impl PgCluster {
    /// Creates the cluster in `dir` on first use, stops a postmaster left running by a
    /// crashed run, and starts it.
    pub fn start(dir: &Path, durability: Durability) -> anyhow::Result<Self> {
        let bin_dir = find_server_binaries()?;
        let dir = absolute(dir)?;
        let parent = dir.parent().context("cluster directory has no parent")?;
        let existed = parent.exists();
        if existed {
            refuse_shared_folder(parent)?;
        }
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let lock = lock_exclusive(&dir.with_extension("lock"))?;
        let run_as = run_as()?;
        // Only a folder Atelier made is Atelier's to make private; one that was there is
        // the operator's, and is left as it is.
        if !existed {
            make_data_dir_private(parent, run_as)?;
        }
        let dir = placement(&dir, run_as)?;
        let cluster = PgCluster {
            bin_dir,
            dir,
            run_as,
            _lock: lock,
        };
        if !cluster.dir.join("PG_VERSION").exists() {
            cluster.init()?;
        } else if cluster.dir.join("postmaster.pid").exists() && cluster.is_running()? {
            // We hold the lock, so no live Atelier owns this postmaster: a crash left it.
            tracing::warn!(dir = %cluster.dir.display(), "stopping a postmaster left running by an earlier run");
            cluster.stop()?;
        }
        cluster.launch(durability)?;
        Ok(cluster)
    }

    /// A libpq URL for `database` over the cluster's socket.
    pub fn url(&self, database: &str) -> String {
        socket_url(&self.dir, database)
    }

    /// When another Atelier holds the cluster in `dir` and it is running, a URL for
    /// `database` over its socket, so one-shot commands (`block-ip`, `grant-credits`…) work
    /// next to a running server. `None` when nobody holds it.
    pub fn url_of_running(dir: &Path, database: &str) -> anyhow::Result<Option<String>> {
        let dir = absolute(dir)?;
        let lock = dir.with_extension("lock");
        if !lock.exists() || try_lock(&lock)?.is_some() {
            return Ok(None);
        }
        let dir = match run_as()? {
            Some(user) if !reachable_by(&dir, user) => fallback_dir(&dir),
            _ => dir,
        };
        if !dir.join("postmaster.pid").exists() {
            return Ok(None);
        }
        Ok(Some(socket_url(&dir, database)))
    }

    /// Where the cluster's files and socket are (not always the folder asked for: see
    /// [`placement`]).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates `database` unless it exists already.
    pub fn ensure_database(&self, database: &str) -> anyhow::Result<()> {
        #[derive(diesel::QueryableByName)]
        struct Exists {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            exists: bool,
        }
        let mut conn = PgConnection::establish(&self.url("postgres"))
            .context("cannot connect to the embedded cluster")?;
        let found: Exists = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists",
        )
        .bind::<diesel::sql_types::Text, _>(database)
        .get_result(&mut conn)?;
        if !found.exists {
            if !database
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                bail!("database name {database:?} must be [A-Za-z0-9_]");
            }
            diesel::sql_query(format!("CREATE DATABASE \"{database}\"")).execute(&mut conn)?;
        }
        Ok(())
    }

    /// Fast shutdown: disconnects clients, waits for the postmaster to exit.
    pub fn stop(&self) -> anyhow::Result<()> {
        let status = self
            .pg_ctl()
            .args(["stop", "-s", "-m", "fast", "-w", "-t", "60"])
            .status()
            .context("cannot run pg_ctl stop")?;
        if !status.success() {
            bail!(
                "pg_ctl stop failed ({status}); see {}",
                self.log_path().display()
            );
        }
        Ok(())
    }

    /// Test harness helper: a detached watcher that stops the cluster and deletes `remove`
    /// once process `pid` has exited, since a test binary has no shutdown hook.
    pub fn stop_and_remove_after_exit_of(&self, pid: u32, remove: &Path) -> anyhow::Result<()> {
        let script = r#"
            while kill -0 "$0" 2>/dev/null; do sleep 0.5; done
            pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null)
            [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null
            i=0; while [ -e "$1/postmaster.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
            rm -rf "$2"
        "#;
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(pid.to_string())
            .arg(&self.dir)
            .arg(remove)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("cannot spawn the cluster reaper")?;
        Ok(())
    }

    fn init(&self) -> anyhow::Result<()> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))?;
        if let Some(user) = self.run_as {
            chown(&self.dir, Some(user.uid), Some(user.gid)).with_context(|| {
                format!("cannot hand {} to the postgres user", self.dir.display())
            })?;
        }
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(&self.dir)
            .args([
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .with_context(|| format!("cannot run initdb in {}", self.dir.display()))?;
        if !output.status.success() {
            bail!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&output.stderr),
                permission_hint(&self.dir)
            );
        }
        Ok(())
    }

    fn launch(&self, durability: Durability) -> anyhow::Result<()> {
        let mut options = format!(
            "-c listen_addresses='' -k '{}' -c unix_socket_permissions=0700",
            self.dir.display()
        );
        match durability {
            Durability::Throwaway => options.push_str(
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                 -c max_connections=400 -c shared_buffers=64MB",
            ),
            // Every process writes the pages it pushes out of the buffers to the disk as it
            // goes (as the checkpointer and background writer already do), rather than
            // leaving them in the kernel's cache, which writes them 30 s later in bursts of
            // hundreds of megabytes; while a burst is written, every commit's fsync waits.
            // Autovacuum after a purge was the largest writer.
            Durability::Durable => options.push_str(" -c backend_flush_after=256kB"),
        }
        let status = self
            .pg_ctl()
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .stdout(Stdio::null())
            .status()
            .context("cannot run pg_ctl start")?;
        if !status.success() {
            let log = fs::read_to_string(self.log_path()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            bail!(
                "PostgreSQL did not start ({status}). Last lines of {}:\n{}",
                self.log_path().display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }

    fn is_running(&self) -> anyhow::Result<bool> {
        let status = self
            .pg_ctl()
            .arg("status")
            .stdout(Stdio::null())
            .status()
            .context("cannot run pg_ctl status")?;
        Ok(status.success())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn pg_ctl(&self) -> Command {
        let mut command = self.command("pg_ctl");
        command.arg("-D").arg(&self.dir);
        command
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        command.current_dir(&self.dir).env_remove("PGDATA");
        if let Some(user) = self.run_as {
            command.uid(user.uid).gid(user.gid);
        }
        command
    }
}

/// `initdb`, `pg_ctl` and `postgres` from PATH, else the newest `/usr/lib/postgresql/*/bin`.
pub fn find_server_binaries() -> anyhow::Result<PathBuf> {
    find_server_binaries_in(std::env::var_os("PATH"), Path::new("/usr/lib/postgresql"))
}

fn find_server_binaries_in(
    path: Option<std::ffi::OsString>,
    versions_root: &Path,
) -> anyhow::Result<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|p| dir.join(p).is_file())
    };
    if let Some(path) = path {
        if let Some(dir) = std::env::split_paths(&path).find(|dir| has_all(dir)) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(versions_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (version >= 13 && has_all(&bin)).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).context(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under \
         /usr/lib/postgresql/*/bin: install PostgreSQL >= 13 server binaries or set DATABASE_URL",
    )
}

fn run_as() -> anyhow::Result<Option<RunAs>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = c"postgres";
    // SAFETY: getpwnam reads a NUL-terminated name; the result is copied out before any
    // other passwd call can overwrite it.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        bail!(
            "running as root, and PostgreSQL refuses root: create a `postgres` OS user, run \
             Atelier as an unprivileged user, or set DATABASE_URL"
        );
    }
    // SAFETY: entry is non-null and points to a valid passwd struct.
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Ok(Some(RunAs { uid, gid }))
}

/// Where the cluster asked for in `dir` can run. Usually `dir` itself; but when this
/// process is root and the `postgres` user cannot reach `dir` (a clone under `/root`,
/// which is mode 0700), the cluster gets a folder of its own under
/// [`FALLBACK_ROOT`], named after `dir`, so the first `cargo run` works from anywhere.
/// Atelier keeps the lock in `dir`'s parent either way.
fn placement(dir: &Path, run_as: Option<RunAs>) -> anyhow::Result<PathBuf> {
    let Some(user) = run_as else {
        return Ok(dir.to_path_buf());
    };
    if reachable_by(dir, user) {
        return Ok(dir.to_path_buf());
    }
    let fallback = fallback_dir(dir);
    let root = Path::new(FALLBACK_ROOT);
    fs::create_dir_all(root).with_context(|| {
        format!(
            "the postgres user cannot reach {} and {} cannot be created: give the folder's \
             parents o+x, set ATELIER_DATA_DIR to a folder postgres can reach, or set DATABASE_URL",
            dir.display(),
            root.display()
        )
    })?;
    fs::set_permissions(root, fs::Permissions::from_mode(0o755))?;
    tracing::warn!(
        asked = %dir.display(),
        cluster = %fallback.display(),
        "the postgres user cannot reach the data folder (a parent folder lacks o+x, like /root): the embedded cluster lives in its own folder instead"
    );
    Ok(fallback)
}

/// The data folder holds the session key and the cluster: private to the service user
/// (0700). When the cluster runs as `postgres`, that user's group may pass through it to
/// reach the cluster (0710, group `postgres`), and nobody else may.
fn make_data_dir_private(dir: &Path, run_as: Option<RunAs>) -> anyhow::Result<()> {
    let mode = match run_as {
        Some(user) => {
            chown(dir, None, Some(user.gid))
                .with_context(|| format!("cannot give {} to the postgres group", dir.display()))?;
            0o710
        }
        None => 0o700,
    };
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot make {} private", dir.display()))
}

/// Refuses a data folder others may write to (`/tmp`, a shared 1777 folder): they could
/// plant files where the session key and the cluster live.
fn refuse_shared_folder(dir: &Path) -> anyhow::Result<()> {
    let mode = fs::metadata(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o022 != 0 {
        anyhow::bail!(
            "{} can be written by other users of this machine (mode {:o}), and Atelier keeps \
             its database and session key there: set ATELIER_DATA_DIR to a folder of its own \
             (Atelier creates it private), or make this one private with chmod 700",
            dir.display(),
            mode & 0o7777
        );
    }
    Ok(())
}

/// Clusters of data folders the `postgres` user cannot reach live under here.
const FALLBACK_ROOT: &str = "/var/lib/atelier";

/// The fallback folder of `dir`: one per data folder, named by a digest of its path.
fn fallback_dir(dir: &Path) -> PathBuf {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(dir.as_os_str().as_encoded_bytes());
    let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Path::new(FALLBACK_ROOT).join(format!("pg-{name}"))
}

/// Can `user` walk down to `dir`? Checks the search bit of every existing ancestor for
/// the user's uid and primary gid (root owns what does not exist yet, and creates it 0755).
fn reachable_by(dir: &Path, user: RunAs) -> bool {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors()
        .skip(1)
        .all(|folder| match fs::metadata(folder) {
            Ok(meta) => {
                let mode = meta.mode();
                if meta.uid() == user.uid {
                    mode & 0o100 != 0
                } else if meta.gid() == user.gid {
                    mode & 0o010 != 0
                } else {
                    mode & 0o001 != 0
                }
            }
            Err(_) => true,
        })
}

fn lock_exclusive(path: &Path) -> anyhow::Result<File> {
    match try_lock(path)? {
        Some(file) => Ok(file),
        None => bail!(
            "another Atelier is already running with the database in {}",
            path.with_extension("").display()
        ),
    }
}

/// The lock file, locked; `None` when another process holds it.
fn try_lock(path: &Path) -> anyhow::Result<Option<File>> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    // SAFETY: flock on a file descriptor we own.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    Ok(locked.then_some(file))
}

fn socket_url(dir: &Path, database: &str) -> String {
    format!(
        "postgresql://{SUPERUSER}@/{database}?host={}",
        percent_encode_path(dir)
    )
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(std::path::absolute(path)?)
}

fn permission_hint(dir: &Path) -> String {
    if run_as().ok().flatten().is_some() {
        format!(
            "\n(the postgres user must be able to reach {}: every parent folder needs o+x)",
            dir.display()
        )
    } else {
        String::new()
    }
}

/// Encodes a socket directory for the `host=` query parameter of a libpq URL.
fn percent_encode_path(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.as_os_str().as_encoded_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'.' | b'_' | b'-' => {
                out.push(*byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_are_found_on_path_or_under_versioned_dirs_or_explained() {
        let root = tempfile::tempdir().expect("tempdir");
        let err = find_server_binaries_in(Some("/nonexistent".into()), root.path())
            .expect_err("nothing to find");
        assert!(
            err.to_string()
                .contains("install PostgreSQL >= 13 server binaries or set DATABASE_URL"),
            "{err}"
        );
        for version in ["12", "14", "16"] {
            let bin = root.path().join(version).join("bin");
            fs::create_dir_all(&bin).expect("mkdir");
            for program in ["initdb", "pg_ctl", "postgres"] {
                fs::write(bin.join(program), "").expect("touch");
            }
        }
        let found = find_server_binaries_in(None, root.path()).expect("found");
        assert_eq!(found, root.path().join("16/bin"), "the newest version wins");
        let on_path = root.path().join("12/bin");
        let found =
            find_server_binaries_in(Some(on_path.clone().into()), root.path()).expect("found");
        assert_eq!(found, on_path, "PATH comes first");
    }

    #[test]
    fn socket_paths_are_encoded_for_libpq() {
        assert_eq!(
            percent_encode_path(Path::new("/srv/my data/pg")),
            "/srv/my%20data/pg"
        );
        assert_eq!(percent_encode_path(Path::new("/a&b=c")), "/a%26b%3Dc");
    }
}
