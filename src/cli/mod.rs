//! The command line: `serve` (default), `migrate`, `create-admin`, and the
//! operator's tools `block-ip`, `unblock-ip`, `grant-credits`, `purge-ips`, `doctor`,
//! `display-copies`, `migrate-storage` and `reset-password`.
//!
//! Every command resolves the database the same way: `DATABASE_URL` when set, otherwise
//! the embedded cluster under `<data dir>/pg`, started for the command and stopped after.

pub mod doctor;
pub mod storage_migration;

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::base::config::Settings;
use crate::db::Db;
use crate::db::pg_embedded::{Durability, PgCluster};
use crate::services::quota::{blocks, credits};
use crate::storage::{Storage, StorageKind};
use crate::web::startup::{Application, open_storage};

#[derive(Debug, Parser)]
#[command(
    name = "atelier",
    version,
    about = "A self-hosted, multi-user AI image studio"
)]
pub struct Cli {
    /// A TOML settings file (names as the ATELIER_* variables, lower case, no prefix).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Default, Subcommand)]
pub enum Command {
    /// Serve the web app (the default).
    #[default]
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an admin account. The password is read from stdin (or ATELIER_ADMIN_PASSWORD).
    CreateAdmin {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
    },
    /// Block an address or CIDR range from generating, uploading and registering.
    BlockIp {
        /// An address (`203.0.113.7`) or range (`198.51.100.0/24`, `2001:db8::/48`).
        network: String,
        #[arg(long)]
        reason: String,
        /// Lift the block by itself after this many seconds.
        #[arg(long)]
        expires_in_secs: Option<u64>,
    },
    /// Lift the block of exactly this address or range.
    UnblockIp { network: String },
    /// Erase client IPs older than ATELIER_IP_RETENTION_DAYS everywhere (also done
    /// periodically by the server).
    PurgeIps,
    /// Check that the stored files (uploads folder or bucket) and the database agree:
    /// files without rows, rows without files, leftover temp files. Says what `--fix` would
    /// remove; touches only Atelier's own keys, and is safe beside a running server.
    /// Exits 0 when consistent, 1 otherwise.
    Doctor {
        /// Remove the files that have no row and the temp files older than the grace
        /// period (rows whose files are missing are reported: they cannot be repaired here).
        #[arg(long, conflicts_with = "dry_run")]
        fix: bool,
        /// Only say what `--fix` would remove (the default).
        #[arg(long)]
        dry_run: bool,
        /// Files younger than this many seconds are left alone (uploads in flight write
        /// their files before their row commits).
        #[arg(long, default_value_t = crate::cli::doctor::DEFAULT_GRACE.as_secs())]
        grace_secs: u64,
    },
    /// Make the display-sized copy (1600 px) of every picture stored before Atelier made
    /// them, in batches; safe beside a running server and to run again. Pages show the
    /// full working copy of a picture until it has one.
    DisplayCopies,
    /// Copy every stored file to the other storage backend and verify it (run again after
    /// an interruption: what is there already is skipped). The source is left as it was;
    /// afterwards set ATELIER_STORAGE to the target and restart.
    MigrateStorage {
        /// The backend to copy to: `s3` (from the uploads folder) or `local` (from the bucket).
        #[arg(long, value_parser = ["s3", "local"])]
        to: String,
    },
    /// Reset an account's password: a new one read from stdin, or with `--link` a one-time
    /// link (valid an hour) printed for the user. Either way every session and API token
    /// of the account ends, and the reset is in the audit log.
    ResetPassword {
        #[arg(long)]
        username: String,
        /// Print a one-time reset link instead of reading a new password.
        #[arg(long)]
        link: bool,
    },
    /// Add credits to an account (negative amounts take them away), with a ledger row.
    GrantCredits {
        #[arg(long)]
        username: String,
        #[arg(long, allow_hyphen_values = true)]
        amount: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
}

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ATELIER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

pub fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    // One-shot commands may run next to a server that holds the embedded cluster.
    let share_running = !matches!(command, Command::Serve);
    let database = Database::open(&settings, share_running)?;
    let result = match command {
        Command::Serve => serve(settings, database.url.clone()),
        Command::Migrate => {
            database.pool(&settings).migrate()?;
            println!("migrations applied");
            Ok(())
        }
        Command::CreateAdmin { username, email } => {
            let password = read_password(&settings)?;
            let db = database.pool(&settings);
            db.migrate()?;
            let admin = crate::operations::accounts::create_admin_blocking(
                &db,
                settings.bcrypt_cost,
                &username,
                &email,
                &password,
            )?;
            println!("admin {} created", admin.username);
            Ok(())
        }
        Command::BlockIp {
            network,
            reason,
            expires_in_secs,
        } => {
            let network = blocks::parse_network(&network).map_err(anyhow::Error::msg)?;
            let expires_at = expires_in_secs
                .map(|secs| {
                    i64::try_from(secs)
                        .ok()
                        .and_then(chrono::Duration::try_seconds)
                        .and_then(|d| chrono::Utc::now().checked_add_signed(d))
                        .context("--expires-in-secs is too large")
                })
                .transpose()?;
            let mut conn = migrated(&database, &settings)?;
            let block = blocks::block(&mut conn, network, reason.trim(), expires_at, None)?;
            println!("blocked {} (block {})", block.network, block.id);
            Ok(())
        }
        Command::UnblockIp { network } => {
            let network = blocks::parse_network(&network).map_err(anyhow::Error::msg)?;
            let mut conn = migrated(&database, &settings)?;
            match blocks::lift(&mut conn, network, None)? {
                0 => Err(anyhow::anyhow!("{network} has no live block")),
                _ => {
                    println!("unblocked {network}");
                    Ok(())
                }
            }
        }
        Command::PurgeIps => {
            let mut conn = migrated(&database, &settings)?;
            let before =
                chrono::Utc::now() - chrono::Duration::days(i64::from(settings.ip_retention_days));
            let mut said = std::time::Instant::now();
            let purged =
                crate::services::library::privacy::purge_ips(&mut conn, before, |so_far| {
                    // A line every few seconds on a long run, so the operator sees it move.
                    if said.elapsed() >= Duration::from_secs(2) {
                        println!("… {} rows erased so far", so_far.total());
                        said = std::time::Instant::now();
                    }
                })?;
            let which = match settings.ip_retention_days {
                0 => "every stored address".to_owned(),
                days => format!("addresses older than {days} days"),
            };
            println!(
                "erased {which}: {} images, {} generation jobs, {} sessions, \
                 {} usage events, {} audit entries; {} address-only counters deleted",
                purged.images,
                purged.jobs,
                purged.sessions,
                purged.usage_events,
                purged.audit,
                purged.deleted_counters
            );
            Ok(())
        }
        Command::Doctor {
            fix, grace_secs, ..
        } => {
            let mut conn = migrated(&database, &settings)?;
            doctor(&mut conn, &settings, fix, Duration::from_secs(grace_secs))
        }
        Command::DisplayCopies => {
            let mut conn = migrated(&database, &settings)?;
            display_copies(&mut conn, &settings)
        }
        Command::MigrateStorage { to } => {
            let mut conn = migrated(&database, &settings)?;
            migrate_storage(&mut conn, &settings, &to)
        }
        Command::ResetPassword { username, link } => {
            let mut conn = migrated(&database, &settings)?;
            let user = crate::db::models::User::find_by_login(&mut conn, &username)?
                .with_context(|| format!("no account named {username:?}"))?;
            let by = crate::operations::access::Resetter::CommandLine;
            if link {
                let token = crate::operations::access::make_reset_link(&mut conn, &by, &user)
                    .map_err(|err| anyhow::anyhow!("{err:?}"))?;
                let origin = settings.public_url.as_deref().unwrap_or("");
                println!("{origin}/password/reset?token={token}");
                if origin.is_empty() {
                    eprintln!("(set ATELIER_PUBLIC_URL to print the whole address)");
                }
            } else {
                let password = read_new_password(&user.username)?;
                let password = crate::domain::NewPassword::parse(&password, &password)
                    .map_err(|problem| anyhow::anyhow!(problem.message()))?;
                let hash = bcrypt::hash(password.expose(), settings.bcrypt_cost)?;
                let reset = crate::operations::access::reset_password(&mut conn, &by, &user, &hash)
                    .map_err(|err| anyhow::anyhow!("{err:?}"))?;
                println!(
                    "new password set for {}; {} sessions and {} API tokens ended",
                    user.username, reset.sessions, reset.tokens
                );
            }
            Ok(())
        }
        Command::GrantCredits {
            username,
            amount,
            note,
        } => {
            let mut conn = migrated(&database, &settings)?;
            let user = crate::db::models::User::find_by_login(&mut conn, &username)?
                .with_context(|| format!("no account named {username:?}"))?;
            let entry = credits::Entry {
                note: &note,
                ..credits::Entry::default()
            };
            match credits::add(&mut conn, user.id, amount, credits::Reason::Grant, &entry)? {
                Some(balance) => {
                    println!("{} now has {balance} credits", user.username);
                    Ok(())
                }
                None => Err(anyhow::anyhow!(
                    "{} has {} credits: cannot take {}",
                    user.username,
                    user.credits,
                    -amount
                )),
            }
        }
    };
    database.close();
    result
}

/// The storage backend the settings choose.
fn configured_storage(settings: &Settings) -> anyhow::Result<Storage> {
    let kind =
        StorageKind::parse(&settings.storage).context("ATELIER_STORAGE must be local or s3")?;
    open_storage(settings, kind)
}

/// Copies every file to the backend `to` and says what happened.
fn migrate_storage(
    conn: &mut diesel::PgConnection,
    settings: &Settings,
    to: &str,
) -> anyhow::Result<()> {
    let to = StorageKind::parse(to).context("--to must be s3 or local")?;
    let from = match to {
        StorageKind::S3 => StorageKind::Local,
        StorageKind::Local => StorageKind::S3,
    };
    let source = open_storage(settings, from)?;
    let target = open_storage(settings, to)?;
    println!(
        "copying from {} to {}",
        source.describe(),
        target.describe()
    );
    let done = crate::cli::storage_migration::copy_all(conn, &source, &target)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    for key in &done.missing_in_source {
        println!("missing in the source: {}", source.locate(key));
    }
    println!(
        "copied and verified {} files ({} bytes); {} were there already; {} missing in the source",
        done.copied,
        done.bytes_copied,
        done.already_there,
        done.missing_in_source.len()
    );
    if !done.missing_in_source.is_empty() {
        anyhow::bail!("some files are missing in the source (see `atelier doctor`)");
    }
    println!(
        "every file is in {}: set ATELIER_STORAGE={} and restart",
        target.describe(),
        to.as_str()
    );
    Ok(())
}

/// Makes the missing display copies, saying how far it got after each batch.
fn display_copies(conn: &mut diesel::PgConnection, settings: &Settings) -> anyhow::Result<()> {
    use crate::services::library::display_copies::backfill;
    let storage = configured_storage(settings)?;
    let budget = crate::storage::budget::DecodeBudget::new(settings.decode_memory_bytes);
    let done = backfill(
        conn,
        &storage,
        settings.max_image_pixels,
        &budget,
        |so_far| {
            println!(
                "{} display copies made so far ({} MB)",
                so_far.made,
                so_far.bytes / 1_000_000
            );
        },
    )
    .map_err(|err| anyhow::anyhow!("{err}"))?;
    for (id, why) in &done.failed {
        println!("image {id}: no display copy, {why}");
    }
    println!(
        "made {} display copies ({} bytes); {} pictures could not have one",
        done.made,
        done.bytes,
        done.failed.len()
    );
    if done.failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("some pictures keep showing their working copy (see above)")
    }
}

/// Prints what `doctor::check` finds and what `--fix` would remove (or removed); an
/// error when anything is left broken.
fn doctor(
    conn: &mut diesel::PgConnection,
    settings: &Settings,
    fix: bool,
    grace: Duration,
) -> anyhow::Result<()> {
    use crate::cli::doctor::TEMP_MIN_AGE;
    let storage = configured_storage(settings)?;
    let report =
        crate::cli::doctor::check(conn, &storage).map_err(|err| anyhow::anyhow!("{err}"))?;
    let at = |name: &str| storage.locate(name);
    let minutes = |age: Duration| age.as_secs() / 60;
    for stray in &report.files_without_rows {
        println!(
            "file without a row ({} min old): {}",
            minutes(stray.age),
            at(&stray.name)
        );
    }
    for stray in &report.temp_files {
        println!(
            "leftover temp file ({} min old): {}",
            minutes(stray.age),
            at(&stray.name)
        );
    }
    for (id, name) in &report.rows_without_files {
        println!("image {id} is missing its file {}", at(name));
    }
    const SHOWN: usize = 20;
    for name in report.foreign.iter().take(SHOWN) {
        println!("not Atelier's, left alone: {}", at(name));
    }
    if report.foreign.len() > SHOWN {
        println!(
            "… and {} more names that are not Atelier's, left alone",
            report.foreign.len() - SHOWN
        );
    }
    println!(
        "checked {} images and {} files: {} files without rows, {} temp files, {} missing files, {} names not Atelier's",
        report.rows_checked,
        report.files_checked,
        report.files_without_rows.len(),
        report.temp_files.len(),
        report.rows_without_files.len(),
        report.foreign.len()
    );
    if report.is_consistent() {
        println!("consistent");
        return Ok(());
    }
    let removable = report.removable(grace).count();
    let young = report.files_without_rows.len() + report.temp_files.len() - removable;
    if young > 0 {
        println!(
            "{young} files are younger than the grace period ({} s; temp files {} s) and are left alone",
            grace.as_secs(),
            grace.max(TEMP_MIN_AGE).as_secs()
        );
    }
    if !fix {
        for stray in report.removable(grace) {
            println!("would remove: {}", at(&stray.name));
        }
        println!("dry run: {removable} files would be removed (run with --fix to remove them)");
        anyhow::bail!("{} and the database disagree", storage.describe());
    }
    let fixed = crate::cli::doctor::fix(conn, &report, &storage, grace)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    for name in &fixed.removed {
        println!("removed: {}", at(name));
    }
    for (name, why) in &fixed.kept {
        println!("kept, {why}: {}", at(name));
    }
    println!("removed {} files", fixed.removed.len());
    if report.rows_without_files.is_empty() && young == 0 && fixed.kept.is_empty() {
        println!("consistent");
        return Ok(());
    }
    if !report.rows_without_files.is_empty() {
        anyhow::bail!(
            "{} images are missing files and cannot be repaired here: delete them from their \
             owner's gallery or the admin pages",
            report.rows_without_files.len()
        );
    }
    anyhow::bail!("some files were left alone (see above); run `atelier doctor` again later")
}

/// A migrated database connection for one-shot commands.
fn migrated(
    database: &Database,
    settings: &Settings,
) -> anyhow::Result<
    diesel::r2d2::PooledConnection<diesel::r2d2::ConnectionManager<diesel::PgConnection>>,
> {
    let db = database.pool(settings);
    db.migrate()?;
    db.checkout()
        .map_err(|err| anyhow::anyhow!("{}", err.message()))
}

fn serve(settings: Settings, url: String) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings.clone(), &url).await?;
        tracing::info!(
            "Atelier is listening on http://{}",
            display_address(&settings.bind, app.port())
        );
        app.run_until_stopped().await?;
        tracing::info!("server stopped");
        Ok(())
    })
}

fn display_address(bind: &str, port: u16) -> String {
    let host = bind.rsplit_once(':').map_or(bind, |(host, _)| host);
    format!("{host}:{port}")
}

/// The database for this run, and the embedded cluster if we started one.
struct Database {
    url: String,
    cluster: Option<PgCluster>,
}

impl Database {
    /// With `share_running`, a cluster already run by a live server is used as it is (and
    /// left running); otherwise this process starts and owns it.
    fn open(settings: &Settings, share_running: bool) -> anyhow::Result<Self> {
        if let Some(url) = &settings.database_url {
            return Ok(Database {
                url: url.clone(),
                cluster: None,
            });
        }
        let dir = settings.data_dir.join("pg");
        if share_running {
            if let Some(url) = PgCluster::url_of_running(&dir, "atelier")? {
                tracing::info!(dir = %dir.display(), "using the embedded cluster of the running server");
                return Ok(Database { url, cluster: None });
            }
        }
        tracing::info!(dir = %dir.display(), "DATABASE_URL is not set: starting the embedded PostgreSQL cluster");
        let cluster = PgCluster::start(&dir, Durability::Durable)?;
        if let Err(err) = cluster.ensure_database("atelier") {
            let _ = cluster.stop();
            return Err(err);
        }
        Ok(Database {
            url: cluster.url("atelier"),
            cluster: Some(cluster),
        })
    }

    fn pool(&self, settings: &Settings) -> Db {
        Db::new(
            &self.url,
            2,
            2,
            Duration::from_secs(settings.db_connect_timeout_secs),
        )
    }

    fn close(self) {
        if let Some(cluster) = self.cluster {
            match cluster.stop() {
                Ok(()) => tracing::info!("embedded PostgreSQL stopped"),
                Err(err) => tracing::error!(error = %err, "could not stop embedded PostgreSQL"),
            }
        }
    }
}

/// A new password for `username`, one line from stdin.
fn read_new_password(username: &str) -> anyhow::Result<String> {
    read_line(&format!("New password for {username} (input is visible): "))
}

/// One line from stdin without its line ending, asking with `prompt` on a terminal.
fn read_line(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{prompt}");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn read_password(settings: &Settings) -> anyhow::Result<String> {
    if let Some(password) = &settings.admin_password {
        return Ok(password.clone());
    }
    read_line("Password for the new admin (input is visible): ")
}
