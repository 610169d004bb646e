//! The test harness: one throwaway PostgreSQL cluster per test process (the app's own
//! embedded-cluster code, or `TEST_DATABASE_URL`), a migrated template database, and per
//! test a fresh database cloned from it with the real server on port 0 in front.

use std::collections::HashMap;
use std::sync::OnceLock;

use atelier::base::config::Settings;
use atelier::db::pg_embedded::{Durability, PgCluster};
use atelier::web::startup::Application;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Client, Response, redirect};

use crate::support::s3_server::S3Server;

struct TestCluster {
    /// Builds a URL for a database name.
    base_url: String,
    query: String,
    template: String,
    _cluster: Option<PgCluster>,
}

impl TestCluster {
    fn url(&self, database: &str) -> String {
        format!("{}/{database}{}", self.base_url, self.query)
    }
}

fn cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let pid = std::process::id();
        let (base_url, query, template, cluster) = match std::env::var("TEST_DATABASE_URL") {
            Ok(url) => {
                let (without_query, query) = match url.split_once('?') {
                    Some((head, tail)) => (head.to_owned(), format!("?{tail}")),
                    None => (url.clone(), String::new()),
                };
                let base = without_query
                    .rsplit_once('/')
                    .map(|(base, _)| base.to_owned())
                    .expect("TEST_DATABASE_URL must name a database");
                (base, query, format!("atelier_template_{pid}"), None)
            }
            Err(_) => {
                let root = std::env::temp_dir().join(format!("atelier-test-pg-{pid}"));
                std::fs::create_dir_all(&root).expect("create test cluster dir");
                let cluster = PgCluster::start(&root.join("pg"), Durability::Throwaway)
                    .expect("start test cluster");
                cluster
                    .stop_and_remove_after_exit_of(pid, &root)
                    .expect("spawn reaper");
                let url = cluster.url("postgres");
                let (without_query, query) = url.split_once('?').expect("socket url");
                let base = without_query.rsplit_once('/').expect("db").0.to_owned();
                (
                    base,
                    format!("?{query}"),
                    "atelier_template".to_owned(),
                    Some(cluster),
                )
            }
        };
        let test_cluster = TestCluster {
            base_url,
            query,
            template,
            _cluster: cluster,
        };
        let mut admin =
            PgConnection::establish(&test_cluster.url("postgres")).expect("connect to postgres");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {}", test_cluster.template))
            .execute(&mut admin)
            .expect("drop old template");
        diesel::sql_query(format!("CREATE DATABASE {}", test_cluster.template))
            .execute(&mut admin)
            .expect("create template");
        let mut template = PgConnection::establish(&test_cluster.url(&test_cluster.template))
            .expect("connect template");
        atelier::db::run_migrations(&mut template).expect("migrate template");
        test_cluster
    })
}

/// A new empty database (migrated, from the template); returns its URL.
pub fn fresh_database() -> String {
    let cluster = cluster();
    let name = format!(
        "test_{}",
        atelier::domain::tokens::random_hex(8).expect("rng")
    );
    let mut admin = PgConnection::establish(&cluster.url("postgres")).expect("connect to postgres");
    diesel::sql_query(format!(
        "CREATE DATABASE {name} TEMPLATE {}",
        cluster.template
    ))
    .execute(&mut admin)
    .expect("clone template");
    cluster.url(&name)
}

/// A new database with nothing in it (for migration tests).
pub fn empty_database() -> String {
    let cluster = cluster();
    let name = format!(
        "empty_{}",
        atelier::domain::tokens::random_hex(8).expect("rng")
    );
    let mut admin = PgConnection::establish(&cluster.url("postgres")).expect("connect to postgres");
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .expect("create db");
    cluster.url(&name)
}

/// Forcibly removes a database (simulates the database going away under the app).
pub fn drop_database(url: &str) {
    let name = url
        .split('?')
        .next()
        .and_then(|u| u.rsplit('/').next())
        .expect("db name");
    let mut admin =
        PgConnection::establish(&cluster().url("postgres")).expect("connect to postgres");
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .expect("drop db");
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub db_url: String,
    pub uploads: std::path::PathBuf,
    /// The settings it was started with (a second instance gets the same).
    pub settings: HashMap<String, String>,
    /// The S3 server behind an app on the `s3` backend (then `uploads` is its bucket).
    pub object_store: Option<std::sync::Arc<S3Server>>,
    /// Holds the temporary data and uploads folders until the test ends.
    _data_dir: tempfile::TempDir,
}

/// Settings every test starts from: port 0, cheap bcrypt, a fixed session key.
pub fn test_settings(data_dir: &std::path::Path) -> HashMap<String, String> {
    HashMap::from([
        ("bind".to_owned(), "127.0.0.1:0".to_owned()),
        ("bcrypt_cost".to_owned(), "4".to_owned()),
        ("bcrypt_concurrency".to_owned(), "2".to_owned()),
        ("workers".to_owned(), "2".to_owned()),
        ("db_pool_size".to_owned(), "6".to_owned()),
        ("db_connect_timeout_secs".to_owned(), "2".to_owned()),
        (
            "data_dir".to_owned(),
            data_dir.join("data").display().to_string(),
        ),
        (
            "uploads_dir".to_owned(),
            data_dir.join("uploads").display().to_string(),
        ),
        (
            "session_key".to_owned(),
            atelier::domain::tokens::random_hex(64).expect("rng"),
        ),
        // Tests that are not about quotas should not run out of credits; the quota tests
        // set their own.
        ("signup_credits".to_owned(), "1000".to_owned()),
        // Tests that count jobs, addresses or rows should not meet tagging jobs they did
        // not ask for; the tagging tests turn suggestions unasked back on.
        ("auto_tag".to_owned(), "off".to_owned()),
    ])
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the real server with its files in a bucket of a real S3 server; `None` (the
/// test is skipped) where no S3 server is installed.
pub async fn spawn_app_on_s3(
    test: &str,
    customise: impl FnOnce(&mut HashMap<String, String>),
) -> Option<TestApp> {
    let server = std::sync::Arc::new(S3Server::start(test)?);
    let mut app = spawn_app_with(|values| {
        server.configure(values);
        customise(values);
    })
    .await;
    app.uploads = server.bucket_dir();
    app.object_store = Some(server);
    Some(app)
}

/// Runs a test body (`async fn name(app: TestApp)`) twice: as `name::local` on the local
/// backend and as `name::s3` on a real S3 server.
#[macro_export]
macro_rules! on_each_backend {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn local() {
                super::$name($crate::support::helpers::spawn_app().await).await
            }

            #[tokio::test]
            async fn s3() {
                let test = concat!(stringify!($name), "::s3");
                if let Some(app) = $crate::support::helpers::spawn_app_on_s3(test, |_| {}).await {
                    super::$name(app).await
                }
            }
        }
    };
}

/// Starts the real server on a fresh database; `customise` may change any setting.
pub async fn spawn_app_with(customise: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut values = test_settings(data_dir.path());
    customise(&mut values);
    let settings = Settings::from_map(&values).expect("test settings");
    let db_url = tokio::task::spawn_blocking(fresh_database)
        .await
        .expect("create db");
    let app = Application::build(settings, &db_url)
        .await
        .expect("build app");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        db_url,
        uploads: std::path::PathBuf::from(&values["uploads_dir"]),
        settings: values,
        object_store: None,
        _data_dir: data_dir,
    }
}

/// A second server on the same database and session key: another instance of a cluster.
pub async fn spawn_second_instance(app: &TestApp) -> String {
    spawn_second_instance_with(app, |_| {}).await
}

/// A second instance whose settings differ from the first's by `customise`.
pub async fn spawn_second_instance_with(
    app: &TestApp,
    customise: impl FnOnce(&mut HashMap<String, String>),
) -> String {
    let mut values = app.settings.clone();
    customise(&mut values);
    let settings = Settings::from_map(&values).expect("test settings");
    let second = Application::build(settings, &app.db_url)
        .await
        .expect("build second app");
    let port = second.port();
    tokio::spawn(second.run_until_stopped());
    format!("http://127.0.0.1:{port}")
}

/// Fetches a value with `fetch` every 50 ms until `done` holds for it or `limit` has
/// passed, and returns the last one: the caller's assertion then says what was seen. The
/// one way tests wait for something that happens by itself (a job, a notification).
pub async fn poll<T, F, Fut>(limit: std::time::Duration, fetch: F, done: impl Fn(&T) -> bool) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        let value = fetch().await;
        if done(&value) || std::time::Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Polls `check` for up to two seconds (another instance learns of changes by notification).
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let happened = poll(std::time::Duration::from_secs(2), check, |ok| *ok).await;
    assert!(happened, "{what} did not happen within 2 s");
}

/// A browser-like client: cookies kept, redirects shown. Idle connections are dropped after
/// 2 s, before the server's 5 s keep-alive closes them: a POST sent on a connection the
/// server is closing at that moment fails with `IncompleteMessage` (and is not retried).
pub fn new_client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("client")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.db_url).expect("connect test db")
    }

    /// The `line` column of every row `sql` returns, sorted: for comparing what a trigger
    /// keeps with a real count.
    pub fn lines(&self, sql: &str) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Line {
            #[diesel(sql_type = diesel::sql_types::Text)]
            line: String,
        }
        let mut lines: Vec<String> =
            diesel::RunQueryDsl::load::<Line>(diesel::sql_query(sql), &mut self.conn())
                .unwrap_or_else(|err| panic!("{sql}: {err}"))
                .into_iter()
                .map(|row| row.line)
                .collect();
        lines.sort();
        lines
    }

    pub async fn get(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.expect("GET")
    }

    /// `GET path` as `client`; the body as text, whatever the status.
    pub async fn page(&self, client: &Client, path: &str) -> String {
        self.get(client, path).await.text().await.expect("page")
    }

    /// `GET path` as `client`; the body as JSON, whatever the status.
    pub async fn json(&self, client: &Client, path: &str) -> serde_json::Value {
        self.get(client, path).await.json().await.expect("json")
    }

    pub async fn post_form(&self, client: &Client, path: &str, form: &[(&str, &str)]) -> Response {
        client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    pub async fn register(
        &self,
        client: &Client,
        username: &str,
        email: &str,
        password: &str,
    ) -> Response {
        self.post_form(
            client,
            "/register",
            &[
                ("username", username),
                ("email", email),
                ("password", password),
                ("confirm_password", password),
            ],
        )
        .await
    }

    pub async fn login(&self, client: &Client, username: &str, password: &str) -> Response {
        self.post_form(
            client,
            "/login",
            &[("username", username), ("password", password)],
        )
        .await
    }

    /// Uploads `bytes` as the multipart field `file`, with optional text fields.
    pub async fn upload(
        &self,
        client: &Client,
        bytes: Vec<u8>,
        file_name: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()),
        );
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        client
            .post(self.url("/upload"))
            .multipart(form)
            .send()
            .await
            .expect("upload")
    }

    /// Uploads and returns the new image's id (from the redirect).
    pub async fn upload_ok(&self, client: &Client, bytes: Vec<u8>, fields: &[(&str, &str)]) -> i64 {
        let response = self.upload(client, bytes, "picture.png", fields).await;
        assert_eq!(response.status(), 303, "upload accepted");
        location(&response)
            .strip_prefix("/images/")
            .and_then(|id| id.parse().ok())
            .expect("redirect to the image")
    }

    /// The API's view of the signed-in user's images.
    pub async fn api_images(&self, client: &Client) -> Vec<serde_json::Value> {
        let json = self.json(client, "/api/images").await;
        json["images"].as_array().expect("images").clone()
    }

    /// Shares image `id` with `visibility` (`unlisted` or `public`) as a script would and
    /// returns the link's path (`/s/{token}`).
    pub async fn share(&self, client: &Client, id: i64, visibility: &str) -> String {
        let reply: serde_json::Value = client
            .post(self.url(&format!("/images/{id}/share")))
            .header("accept", "application/json")
            .form(&[("visibility", visibility)])
            .send()
            .await
            .expect("share")
            .json()
            .await
            .expect("json");
        reply["share_url"].as_str().expect("share link").to_owned()
    }

    /// Every regular file under the uploads root.
    pub fn stored_files(&self) -> Vec<std::path::PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.uploads, &mut files);
        files
    }

    pub fn count_images(&self) -> i64 {
        use atelier::db::schema::images::dsl::images;
        use diesel::QueryDsl;
        images
            .count()
            .get_result(&mut self.conn())
            .expect("count images")
    }

    /// Generation jobs of every kind that makes pictures (tagging jobs are not counted:
    /// see [`TestApp::count_tag_jobs`]).
    pub fn count_jobs(&self) -> i64 {
        self.count_jobs_where(false)
    }

    /// Tagging jobs.
    pub fn count_tag_jobs(&self) -> i64 {
        self.count_jobs_where(true)
    }

    fn count_jobs_where(&self, tagging: bool) -> i64 {
        use atelier::db::schema::generation_jobs as jobs;
        use diesel::{ExpressionMethods, QueryDsl};
        let tag = atelier::domain::JobKind::Tag;
        let query = jobs::table.count().into_boxed();
        let query = if tagging {
            query.filter(jobs::kind.eq(tag))
        } else {
            query.filter(jobs::kind.ne(tag))
        };
        query.get_result(&mut self.conn()).expect("count jobs")
    }

    /// `GET /api/jobs/{id}` as `client` until the job has finished (up to 10 s); its JSON.
    pub async fn finished_job(&self, client: &Client, id: i64) -> serde_json::Value {
        self.finished_job_within(client, id, 10).await
    }

    /// As [`TestApp::finished_job`], waiting up to `secs`.
    pub async fn finished_job_within(
        &self,
        client: &Client,
        id: i64,
        secs: u64,
    ) -> serde_json::Value {
        let job = poll(
            std::time::Duration::from_secs(secs),
            || async {
                let json: serde_json::Value = self
                    .get(client, &format!("/api/jobs/{id}"))
                    .await
                    .json()
                    .await
                    .expect("job json");
                json["job"].clone()
            },
            |job| job["status"] == "succeeded" || job["status"] == "failed",
        )
        .await;
        assert!(
            job["status"] == "succeeded" || job["status"] == "failed",
            "job {id} did not finish within {secs} s: {job}"
        );
        job
    }

    /// The credit balance of the account named `username`.
    pub fn user_id(&self, username: &str) -> i64 {
        use atelier::db::schema::users;
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
        users::table
            .filter(users::username.eq(username))
            .select(users::id)
            .first(&mut self.conn())
            .expect("user")
    }

    pub fn credits_of(&self, username: &str) -> i64 {
        use atelier::db::schema::users;
        use diesel::{ExpressionMethods, QueryDsl};
        users::table
            .filter(users::username.eq(username))
            .select(users::credits)
            .first(&mut self.conn())
            .expect("credits")
    }

    pub fn count_users(&self) -> i64 {
        use atelier::db::schema::users::dsl::users;
        use diesel::ExpressionMethods;
        use diesel::QueryDsl;
        users
            .filter(atelier::db::schema::users::username.ne("_anon"))
            .count()
            .get_result(&mut self.conn())
            .expect("count users")
    }
}

/// A password that passes every rule.
pub const PASSWORD: &str = "testpass123";

pub fn location(response: &Response) -> &str {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Whether ffmpeg is here for the video tests; CI (`ATELIER_REQUIRE_FFMPEG`) demands it.
pub fn ffmpeg_or_skip(test: &str) -> bool {
    let root = std::env::temp_dir();
    if atelier::storage::video::Ffmpeg::find("ffmpeg", &root.join("atelier-test-video-work"))
        .is_ok()
    {
        return true;
    }
    let reason = "ffmpeg is not installed (apt-get install -y ffmpeg)";
    if std::env::var_os("ATELIER_REQUIRE_FFMPEG").is_some() {
        panic!("{test}: {reason}");
    }
    eprintln!("SKIPPED {test}: {reason}");
    false
}

/// No extra environment for [`atelier_cli`].
pub const NO_ENV: &[(&str, &str)] = &[];

/// Runs the `atelier` binary against the app's database and folders (its own uploads
/// folder even when the app keeps files in a bucket), with extra environment.
pub fn atelier_cli<K: AsRef<std::ffi::OsStr>, V: AsRef<std::ffi::OsStr>>(
    app: &TestApp,
    args: &[&str],
    env: &[(K, V)],
) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_atelier"));
    command
        .args(args)
        .env("DATABASE_URL", &app.db_url)
        .env("ATELIER_UPLOADS_DIR", &app.settings["uploads_dir"])
        .env("ATELIER_DATA_DIR", &app.settings["data_dir"])
        .env("ATELIER_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run atelier")
}

/// What a command printed.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Sets the modification time of every file below `root` `by` into the past: the store as
/// `atelier doctor` sees it once its grace period has passed (no test waits an hour).
pub fn age_files(root: &std::path::Path, by: std::time::Duration) {
    let then = std::time::SystemTime::now() - by;
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            age_files(&path, by);
        } else {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|file| file.set_modified(then))
                .expect("age a stored file");
        }
    }
}
