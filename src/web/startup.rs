//! Builds the application from settings: database pool, migrations, the first admin,
//! middleware, routes and background tasks. Binds before returning, so tests can ask for
//! port 0 and read the port back.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::{PersistentSession, TtlExtensionPolicy};
use actix_web::cookie::{Key, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::base::config::Settings;
use crate::db::Db;
use crate::db::models;
use crate::domain::tokens;
use crate::operations::accounts;
use crate::services::generate::worker::{JobSignal, WorkerContext, spawn_workers};
use crate::services::library::Library;
use crate::services::library::media_cache::MediaCache;
use crate::services::library::privacy;
use crate::services::quota::charge::Rules;
use crate::services::quota::limits::{self, RecentRefusals};
use crate::storage::{Storage, StorageKind};
use crate::web::auth::cache::Heard;
use crate::web::auth::{AuthCache, PasswordHasher, PgSessionStore};
use crate::web::state::AppState;
use crate::web::{middleware, routes};

pub struct Application {
    port: u16,
    server: Server,
    auth_cache: AuthCache,
}

/// Upper bound on how long a cached session or user may be used without a notification.
const AUTH_CACHE_TTL_SECS: u64 = 30;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "atelier_session";

impl Application {
    /// `database_url` is the resolved database (the embedded cluster's, or the configured one).
    pub async fn build(settings: Settings, database_url: &str) -> anyhow::Result<Self> {
        let db = Db::new(
            database_url,
            settings.db_pool_size,
            settings.db_threads,
            Duration::from_secs(settings.db_connect_timeout_secs),
        );
        let session_key = session_key(&settings)?;
        let hasher = PasswordHasher::new(settings.bcrypt_cost, settings.bcrypt_concurrency)?;
        {
            let db = db.clone();
            let settings = settings.clone();
            web::block(move || -> anyhow::Result<()> {
                db.migrate()?;
                accounts::ensure_admin_from_settings(&db, &settings, settings.bcrypt_cost)
            })
            .await??;
        }

        let storage = {
            let settings = settings.clone();
            web::block(move || {
                let kind = StorageKind::parse(&settings.storage)
                    .context("ATELIER_STORAGE must be local or s3")?;
                open_storage(&settings, kind)
            })
            .await??
        };
        tracing::info!("users' files are kept in {}", storage.describe());
        let library = Library::new(
            storage,
            session_key.master(),
            settings.max_image_pixels,
            crate::storage::budget::DecodeBudget::new(settings.decode_memory_bytes),
        );
        let providers = crate::services::generate::Providers::from_settings(&settings)?;
        let tagger = crate::services::tagging::Tagger::from_settings(&settings)?;
        let mailer = crate::services::mail::Mailer::from_settings(&settings)?;
        if let Some(mailer) = &mailer {
            crate::services::mail::spawn_outbox_worker(db.clone(), mailer.clone());
        }

        let auth_cache = AuthCache::new(Duration::from_secs(AUTH_CACHE_TTL_SECS));
        let media_cache = MediaCache::new(Duration::from_secs(settings.media_cache_secs));
        let recent_refusals =
            RecentRefusals::new(Duration::from_secs(settings.refusal_memory_secs));
        let rules = Rules::from_settings(&settings);
        {
            // Another instance's edit, move or delete reaches this proxy's cache at once,
            // and its blocks and overrides this instance's policy.
            let media_cache = media_cache.clone();
            let policy = rules.policy.clone();
            auth_cache.subscribe(Arc::new(move |heard| match heard {
                Heard::Image(id) => media_cache.forget_image(id),
                Heard::Policy => policy.invalidate(),
                Heard::Everything => {
                    media_cache.clear();
                    policy.invalidate();
                }
            }));
        }
        crate::web::auth::cache::spawn_listener(auth_cache.clone(), database_url.to_owned());

        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            settings: Arc::new(settings),
            db,
            hasher,
            library,
            auth_cache: auth_cache.clone(),
            media_cache,
            summaries: Default::default(),
            jobs: Arc::new(JobSignal::default()),
            rules,
            recent_refusals,
            exports: crate::services::library::privacy::ExportsInProgress::default(),
            provider_names: providers.names(),
            video: providers
                .video()
                .map(|video| video.generator.provider())
                .map_err(str::to_owned),
            tagger,
            mailer,
        });
        spawn_housekeeping(
            state.db.clone(),
            state.library.clone(),
            &state.settings,
            state.rules.window,
        );
        let workers = WorkerContext {
            db: state.db.clone(),
            library: state.library.clone(),
            jobs: Arc::clone(&state.jobs),
            tagger: state.tagger.clone(),
        };
        spawn_workers(workers, providers, state.settings.generation_workers);

        let workers = state.settings.workers;
        let server_state = state.clone();
        let server = HttpServer::new(move || {
            let state = server_state.clone();
            let sessions = SessionMiddleware::builder(
                PgSessionStore::new(state.db.clone(), state.auth_cache.clone()),
                session_key.clone(),
            )
            .cookie_name(SESSION_COOKIE.to_owned())
            .cookie_secure(state.settings.cookie_secure)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .session_lifecycle(
                PersistentSession::default()
                    .session_ttl(CookieDuration::seconds(
                        i64::try_from(state.settings.session_ttl_secs).unwrap_or(i64::MAX),
                    ))
                    .session_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
            )
            .build();
            App::new()
                .app_data(state)
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
                .wrap(from_fn(middleware::error_pages))
                .wrap(from_fn(middleware::private_pages))
                .wrap(sessions)
                .wrap(from_fn(middleware::csrf))
                .wrap(from_fn(middleware::security_headers))
                .wrap(from_fn(middleware::request_log))
        })
        .workers(workers)
        // Small responses (thumbnails) must not wait on Nagle + delayed ACK.
        .tcp_nodelay(true)
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            server,
            auth_cache,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.auth_cache.close();
        result
    }
}

/// The configured key, or one generated on first run and kept in `data_dir/session.key`
/// (so restarts keep people signed in).
fn session_key(settings: &Settings) -> anyhow::Result<Key> {
    let hex = match &settings.session_key {
        Some(hex) => hex.clone(),
        None => {
            let path = settings.data_dir.join("session.key");
            match std::fs::read_to_string(&path) {
                Ok(hex) => hex.trim().to_owned(),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    crate::storage::create_private_dir(&settings.data_dir)?;
                    let hex = tokens::random_hex(64)?;
                    write_private(&path, &hex)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    hex
                }
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot read {}", path.display()));
                }
            }
        }
    };
    let bytes = tokens::unhex(&hex)
        .filter(|bytes| bytes.len() >= 64)
        .context("the session key must be at least 64 bytes, hex-encoded (128 hex digits)")?;
    Ok(Key::from(&bytes))
}

fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Periodic clean-up: expired sessions, old login failures and usage events, anonymous
/// images nobody claimed in time, pictures out of their trash time, and client IPs older
/// than the retention. Takes the pool,
/// the library and the durations it needs, nothing else.
fn spawn_housekeeping(
    db: Db,
    library: Library,
    settings: &Settings,
    usage_window: chrono::Duration,
) {
    let secs = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
    let login_window = secs(settings.login_failure_window_secs);
    let anon_retention = secs(settings.anon_retention_secs);
    let ip_retention = chrono::Duration::days(i64::from(settings.ip_retention_days));
    let trash_time = chrono::Duration::days(i64::from(settings.trash_days));
    let interval = Duration::from_secs(settings.housekeeping_interval_secs);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(interval);
        loop {
            every.tick().await;
            let library = library.clone();
            let result = db
                .run(move |conn| {
                    let sessions = models::SessionRow::purge_expired(conn)?;
                    let failures = models::login_failure::prune(conn, login_window)?;
                    let usage = limits::prune(conn, usage_window)?;
                    let anonymous =
                        library.purge_anonymous(conn, chrono::Utc::now() - anon_retention)?;
                    let trashed = crate::operations::trash::expire(
                        conn,
                        &library,
                        chrono::Utc::now() - trash_time,
                    )?;
                    let ips = privacy::purge_ips(conn, chrono::Utc::now() - ip_retention, |_| {})?;
                    Ok::<_, crate::base::error::AppError>((
                        sessions,
                        failures,
                        usage,
                        (anonymous, trashed),
                        ips.total(),
                    ))
                })
                .await;
            match result {
                Ok((sessions, failures, usage, (anonymous, trashed), ips)) => tracing::debug!(
                    sessions,
                    failures,
                    usage,
                    anonymous,
                    trashed,
                    ips,
                    "housekeeping removed expired rows and old addresses"
                ),
                Err(err) => tracing::warn!(error = %err, "housekeeping failed"),
            }
        }
    });
}

/// The storage backend `kind` as the settings describe it (`cli.rs` opens both for
/// `migrate-storage`).
pub fn open_storage(settings: &Settings, kind: StorageKind) -> anyhow::Result<Storage> {
    match kind {
        StorageKind::Local => Storage::local(&settings.uploads_dir).with_context(|| {
            format!(
                "cannot open the uploads folder {}",
                settings.uploads_dir.display()
            )
        }),
        StorageKind::S3 => {
            let required = |value: &Option<String>, name: &str| {
                value
                    .clone()
                    .with_context(|| format!("ATELIER_STORAGE=s3 needs ATELIER_{name}"))
            };
            let config = crate::storage::s3::S3Config {
                endpoint: required(&settings.s3_endpoint, "S3_ENDPOINT")?,
                bucket: required(&settings.s3_bucket, "S3_BUCKET")?,
                region: settings.s3_region.clone(),
                access_key_id: required(&settings.s3_access_key_id, "S3_ACCESS_KEY_ID")?,
                secret_access_key: required(
                    &settings.s3_secret_access_key,
                    "S3_SECRET_ACCESS_KEY",
                )?,
                path_style: settings.s3_path_style,
            };
            let what = format!("bucket {} at {}", config.bucket, config.endpoint);
            Storage::s3(config).with_context(|| format!("cannot reach the S3 {what}"))
        }
    }
}
