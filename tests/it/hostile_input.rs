//! What a hostile client sends: every form and JSON endpoint with NUL, ESC and BEL in every
//! field, as every content type it could be sent as and with extra fields JSON cannot hold;
//! control characters in query strings and paths; and a flood of made-up HTTP methods
//! against a server of its own, whose memory must not grow. Never a 5xx, nothing stored
//! with a control character.

use diesel::RunQueryDsl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::admin::app_with_admin;
use crate::embedded::start_with;
use crate::support::helpers::{TestApp, new_client};

/// Field names each endpoint reads (`{id}` is one of the user's images or folders).
const ENDPOINTS: &[(&str, &[&str])] = &[
    (
        "/register",
        &["username", "email", "password", "confirm_password"],
    ),
    ("/login", &["username", "password"]),
    ("/generate", &["prompt", "count"]),
    ("/api/generate-image", &["prompt", "size", "seed"]),
    ("/story", &["prompt"]),
    ("/api/generate-story", &["prompt"]),
    ("/video", &["prompt"]),
    ("/api/generate-video", &["prompt"]),
    ("/images/{id}/update", &["title", "tags", "folder"]),
    ("/images/{id}/edit", &["op", "x", "y", "width", "height"]),
    ("/images/{id}/prompt-edit", &["prompt"]),
    ("/images/{id}/favourite", &["favourite"]),
    ("/images/{id}/share", &["visibility", "expires"]),
    ("/images/{id}/suggest-tags", &["wait"]),
    ("/images/{id}/tags/accept", &["tags", "all"]),
    ("/images/{id}/tags/dismiss", &["tags", "all"]),
    (
        "/gallery/bulk",
        &["ids", "action", "folder", "tags", "back"],
    ),
    ("/folders", &["name"]),
    ("/folders/{folder}/rename", &["name"]),
    ("/folders/{folder}/delete", &["pictures"]),
    ("/images/{id}/delete", &["forever"]),
    ("/trash/restore", &["ids"]),
    ("/trash/delete", &["ids"]),
    ("/account/email", &["email", "password"]),
    (
        "/account/password",
        &["current_password", "new_password", "confirm_password"],
    ),
    ("/account/tokens", &["name"]),
    ("/account/tagging", &["remote_tagging", "language"]),
    ("/account/2fa/confirm", &["code"]),
    ("/account/2fa/disable", &["password", "code"]),
    ("/password/forgot", &["email"]),
    (
        "/password/reset",
        &["token", "password", "confirm_password"],
    ),
    ("/login/2fa", &["code"]),
    ("/account/delete", &["password", "confirm"]),
    (
        "/admin/users/{user}/update",
        &["tier", "role", "credits_delta", "reason"],
    ),
    ("/admin/ips/block", &["network", "reason", "expires"]),
    ("/admin/ips/unblock", &["network"]),
    (
        "/admin/limits",
        &["network", "generations", "uploads", "reason"],
    ),
    ("/admin/disposable-domains", &["domain"]),
    ("/admin/invites", &["email", "days"]),
    (
        "/admin/users/{user}/password",
        &["password", "confirm_password"],
    ),
];

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/x-www-form-urlencoded"),
    Some("application/json"),
    Some("text/json"),
    Some("application/merge-patch+json"),
    Some("application/vnd.atelier+json; charset=utf-8"),
    Some("text/plain"),
    Some("multipart/form-data; boundary=x"),
    Some("application/xml"),
    None,
];

const CONTROLS: &[char] = &['\0', '\u{1b}', '\u{7}'];

/// A value that would be accepted, so the control character is the only problem.
fn plausible(field: &str) -> &'static str {
    match field {
        "email" => "someone@example.com",
        "count" | "seed" | "x" | "y" | "width" | "height" | "credits_delta" | "ids" => "1",
        "generations" | "uploads" => "5",
        "network" => "198.51.100.0/24",
        "visibility" => "public",
        "expires" => "7",
        "favourite" => "1",
        "action" => "tag",
        "op" => "rotate90",
        "tier" => "plus",
        "role" => "user",
        "back" => "/gallery",
        "size" => "512x512",
        "domain" => "mailinator.example",
        _ => "a fox at dawn",
    }
}

fn body(fields: &[&str], poisoned: &str, control: char, json: bool, extra: usize) -> String {
    let value = |field: &str| {
        if field == poisoned {
            format!("a{control}b")
        } else {
            plausible(field).to_owned()
        }
    };
    if json {
        let mut text = String::from("{");
        for field in fields {
            text.push_str(&serde_json::to_string(field).expect("name"));
            text.push(':');
            text.push_str(&serde_json::to_string(&value(field)).expect("value"));
            text.push(',');
        }
        // Extra fields a handler ignores, one a number JSON cannot hold.
        text.push_str(match extra % 3 {
            0 => r#""x":1e400"#,
            1 => r#""note":{"deep":["fine",2,null]}"#,
            _ => r#""unused":"plain""#,
        });
        if poisoned == "extra" {
            text.push_str(&format!(r#","extra":"\u{:04x}""#, u32::from(control)));
        }
        text.push('}');
        text
    } else {
        let mut pairs: Vec<(String, String)> = fields
            .iter()
            .map(|field| ((*field).to_owned(), value(field)))
            .collect();
        if poisoned == "extra" {
            pairs.push(("extra".into(), format!("x{control}")));
        }
        serde_urlencoded::to_string(pairs).expect("form")
    }
}

/// How many rows of any table hold a C0 control other than tab and line breaks, or DEL.
fn rows_with_control_characters(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(
        r"SELECT coalesce(sum((xpath('/row/c/text()', query_to_xml(format(
              'SELECT count(*) AS c FROM %I t WHERE t::text ~ %L', tablename,
              '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'), false, true, '')))[1]::text::bigint), 0)::bigint AS n
          FROM pg_tables WHERE schemaname = 'public'",
    )
    .get_result::<Count>(&mut app.conn())
    .expect("count rows")
    .n
}

#[tokio::test]
async fn control_characters_never_pass_and_never_break_a_request() {
    let (app, admin) = app_with_admin().await;
    let client = app.user("fuzzer").await;
    let image = app
        .upload_ok(&client, crate::support::fixtures::png(40, 30), &[])
        .await
        .to_string();
    let user = app.user_id("fuzzer").to_string();
    let response = app
        .post_form(&client, "/folders", &[("name", "Holiday")])
        .await;
    assert!(response.status().is_redirection(), "{response:?}");
    let folder: i64 = {
        use atelier::db::schema::folders;
        use diesel::{ExpressionMethods, QueryDsl};
        folders::table
            .filter(folders::name.eq("Holiday"))
            .select(folders::id)
            .first(&mut app.conn())
            .expect("folder")
    };
    let folder = folder.to_string();
    let before = rows_with_control_characters(&app);
    assert_eq!(before, 0);

    let (mut sent, mut by_status) = (0, std::collections::BTreeMap::<u16, usize>::new());
    for (index, (path, fields)) in ENDPOINTS.iter().enumerate() {
        let path = path
            .replace("{id}", &image)
            .replace("{folder}", &folder)
            .replace("{user}", &user);
        let caller = if path.starts_with("/admin") {
            &admin
        } else {
            &client
        };
        let poisoned = fields.iter().copied().chain(["extra"]);
        for field in poisoned {
            for &control in CONTROLS {
                for (kind, content_type) in CONTENT_TYPES.iter().enumerate() {
                    let json = content_type.is_some_and(|ct| ct.contains("json"));
                    let mut request = caller
                        .post(app.url(&path))
                        .header("accept", "application/json")
                        .body(body(fields, field, control, json, index + kind));
                    if let Some(content_type) = content_type {
                        request = request.header("content-type", *content_type);
                    }
                    let status = request.send().await.expect("send").status().as_u16();
                    sent += 1;
                    *by_status.entry(status).or_default() += 1;
                    assert!(
                        status < 500,
                        "{path} with {field} = a{control:?}b as {content_type:?}: {status}"
                    );
                    assert!(
                        !(200..300).contains(&status),
                        "{path} accepted {field} = a{control:?}b as {content_type:?}"
                    );
                }
            }
        }
    }
    eprintln!("{sent} poisoned requests: {by_status:?}");

    // Query strings and path segments.
    for path in [
        "/gallery?q=a%00b",
        "/gallery?folder=%1b",
        "/api/images?q=%07",
        "/explore?page=%00",
        "/login?next=%00",
        "/generate?prompt=a%00b",
        "/s/a%00b",
        "/s/a%00b/image",
        "/media/fuzzer/default/original/a%00b.png",
    ] {
        let status = client
            .get(app.url(path))
            .send()
            .await
            .expect("get")
            .status();
        assert!(status.is_client_error(), "{path}: {status}");
    }
    for path in [
        "/admin/users?q=%00",
        "/admin/ips?q=%1b",
        "/admin/audit?action=%00",
        "/admin/ips/a%00b",
        "/admin/ips/a%00b/report.csv",
    ] {
        let status = admin.get(app.url(path)).send().await.expect("get").status();
        assert!(status.is_client_error(), "{path}: {status}");
    }
    assert_eq!(rows_with_control_characters(&app), 0);
}

/// Resident memory of a process, in bytes.
fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// Sends `count` requests with distinct made-up methods of about `length` bytes, one per
/// connection, over `lanes` connections at a time.
async fn method_flood(address: &str, first: usize, count: usize, length: usize) {
    let host = address.trim_start_matches("http://").to_owned();
    let lanes = 16;
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            for n in (first + lane..first + count).step_by(lanes) {
                let method = format!("M{n:08}{}", "X".repeat(length.saturating_sub(9)));
                let request = format!(
                    "{method} /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                );
                let Ok(mut stream) = tokio::net::TcpStream::connect(&host).await else {
                    continue;
                };
                if stream.write_all(request.as_bytes()).await.is_err() {
                    continue;
                }
                while matches!(stream.read(&mut buffer).await, Ok(read) if read > 0) {}
            }
        }));
    }
    for task in tasks {
        task.await.expect("flood lane");
    }
}

#[tokio::test]
async fn made_up_methods_do_not_grow_memory_or_metrics() {
    const TOKEN: &str = "a-metrics-token-for-tests";
    let db_url = tokio::task::spawn_blocking(crate::support::helpers::fresh_database)
        .await
        .expect("db");
    let dir = tempfile::tempdir().expect("dir");
    let running = start_with(|command| {
        command
            .env("DATABASE_URL", &db_url)
            .env("ATELIER_DATA_DIR", dir.path().join("data"))
            .env("ATELIER_UPLOADS_DIR", dir.path().join("uploads"))
            .env("ATELIER_METRICS_TOKEN", TOKEN)
            .env("ATELIER_LOG", "warn,atelier::cli=info");
    });
    // Warm up: allocator arenas, connection buffers and the route table settle first.
    method_flood(&running.address, 0, 2_000, 30_000).await;
    let before = rss_of(running.pid());
    method_flood(&running.address, 2_000, 20_000, 30_000).await;
    let after = rss_of(running.pid());
    let metrics = new_client()
        .get(format!("{}/metrics", running.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    eprintln!(
        "method flood: RSS {:.1} MB before, {:.1} MB after 20,000 made-up methods; /metrics {} bytes",
        before as f64 / 1e6,
        after as f64 / 1e6,
        metrics.len()
    );
    assert!(
        metrics.contains("method=\"OTHER\""),
        "the flood reached the metrics"
    );
    assert!(
        after < before + 20 * 1024 * 1024,
        "RSS grew from {before} to {after}"
    );
    assert!(
        metrics.len() < 100 * 1024,
        "/metrics is {} bytes",
        metrics.len()
    );
    crate::embedded::signal(&running, libc::SIGTERM);
    crate::embedded::wait(running);
}
