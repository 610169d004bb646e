//! The command line: `serve` (default), `migrate`, `create-admin`.
//!
//! Every command resolves the database the same way: `DATABASE_URL` when set, otherwise
//! the embedded cluster under `<data dir>/pg`, started for the command and stopped after.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::db::Db;
use crate::pg_embedded::{Durability, PgCluster};
use crate::startup::Application;

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
    let database = Database::open(&settings)?;
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
            let admin = crate::accounts::create_admin_blocking(
                &db,
                settings.bcrypt_cost,
                &username,
                &email,
                &password,
            )?;
            println!("admin {} created", admin.username);
            Ok(())
        }
    };
    database.close();
    result
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
    fn open(settings: &Settings) -> anyhow::Result<Self> {
        if let Some(url) = &settings.database_url {
            return Ok(Database {
                url: url.clone(),
                cluster: None,
            });
        }
        let dir = settings.data_dir.join("pg");
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

fn read_password(settings: &Settings) -> anyhow::Result<String> {
    if let Some(password) = &settings.admin_password {
        return Ok(password.clone());
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password for the new admin (input is visible): ");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
