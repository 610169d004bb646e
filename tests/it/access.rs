//! Who may join and getting back in (SPEC §3): the registration modes and invites, an
//! admin's and the command line's password resets and one-time reset links (each ending
//! every session and API token of the account at once, on every instance), the notice at
//! the next sign-in, and "Sign out everywhere else".

use std::collections::HashMap;
use std::io::Write;

use reqwest::Method;

use crate::support::helpers::{
    PASSWORD, TestApp, eventually, spawn_app_with, spawn_second_instance,
};
use crate::support::visitor::Visitor;

const NEW_PASSWORD: &str = "a brand new passphrase";

/// A server with an admin (`root`) and the given registration mode.
async fn app_registering(mode: &'static str) -> (TestApp, Visitor) {
    let app = spawn_app_with(move |s: &mut HashMap<String, String>| {
        crate::admin::admin_settings(s);
        s.insert("registration".into(), mode.into());
    })
    .await;
    let admin = app.visitor().signed_in("root").await;
    (app, admin)
}

/// `POST /register` from a new visitor, as a form or as JSON: status and body.
async fn register(
    app: &TestApp,
    username: &str,
    email: &str,
    invite: Option<&str>,
    json: bool,
) -> (u16, String) {
    let mut fields = vec![
        ("username", username),
        ("email", email),
        ("password", PASSWORD),
        ("confirm_password", PASSWORD),
    ];
    if let Some(invite) = invite {
        fields.push(("invite", invite));
    }
    let mut request = app
        .visitor()
        .request_to(Method::POST, "/register")
        .form(&fields);
    if json {
        request = request.header("accept", "application/json");
    }
    let response = request.send().await.expect("register");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// The token in the first `name=` link on `page`.
fn token_in(page: &str, name: &str) -> String {
    let start = page.find(&format!("{name}=")).expect("a link") + name.len() + 1;
    page[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

/// An invite made on `/admin/invites`; its token.
async fn invite(admin: &Visitor, email: &str, days: &str) -> String {
    let response = admin
        .submit("/admin/invites", &[("email", email), ("days", days)])
        .await;
    assert_eq!(response.status(), 200);
    token_in(&response.text().await.expect("page"), "invite")
}

#[tokio::test]
async fn closed_registration_refuses_forms_and_json_with_a_sentence() {
    let (app, _admin) = app_registering("closed").await;
    let users = app.count_users();
    let (status, page) = register(&app, "hopeful", "hopeful@example.com", None, false).await;
    assert_eq!(status, 403);
    assert!(page.contains("Registration is closed"), "{page}");
    let (status, body) = register(&app, "hopeful", "hopeful@example.com", None, true).await;
    assert_eq!(status, 403);
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["success"], false);
    assert!(
        json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("closed")
    );
    assert_eq!(app.count_users(), users, "nobody joined");
    let form = app.page(&app.visitor(), "/register").await;
    assert!(form.contains("not being created") && !form.contains("action=\"/register\""));
}

#[tokio::test]
async fn an_invite_works_once_only_for_its_email_and_not_after_it_expires() {
    let (app, admin) = app_registering("invite").await;
    let (status, page) = register(&app, "nolink", "nolink@example.com", None, false).await;
    assert_eq!(status, 403);
    assert!(page.contains("by invitation"), "{page}");
    assert!(page.contains("value=\"nolink\""), "typed values kept");

    let bound = invite(&admin, "guest@example.com", "7").await;
    assert_eq!(bound.len(), 48);
    let form = app
        .page(&app.visitor(), &format!("/register?invite={bound}"))
        .await;
    assert!(form.contains(&format!("name=\"invite\" value=\"{bound}\"")));
    let (status, page) =
        register(&app, "wrongmail", "other@example.com", Some(&bound), false).await;
    assert_eq!(status, 403);
    assert!(page.contains("another email address"), "{page}");
    let (status, _) = register(&app, "guest", "GUEST@example.com", Some(&bound), false).await;
    assert_eq!(status, 303, "the bound address, in any case");
    let (status, body) = register(&app, "again", "guest2@example.com", Some(&bound), true).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("used already"), "{body}");

    // An open invite works for anyone, once; a withdrawn or expired one for nobody.
    let open = invite(&admin, "", "1").await;
    assert_eq!(
        register(&app, "friend", "friend@example.com", Some(&open), false)
            .await
            .0,
        303
    );
    let withdrawn = invite(&admin, "", "3").await;
    let listing = app.page(&admin, "/admin/invites").await;
    assert!(
        listing.contains("used by guest") && listing.contains("used by friend"),
        "{listing}"
    );
    let id: i64 = {
        use atelier::db::schema::invites;
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
        invites::table
            .filter(invites::used_at.is_null())
            .select(invites::id)
            .first(&mut app.conn())
            .expect("the open invite")
    };
    let response = admin
        .submit(&format!("/admin/invites/{id}/revoke"), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        register(&app, "late", "late@example.com", Some(&withdrawn), false)
            .await
            .0,
        403
    );
    let expiring = invite(&admin, "", "1").await;
    {
        // No public path makes a day pass: the invite's expiry is moved into the past.
        use atelier::db::schema::invites;
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
        diesel::update(
            invites::table
                .filter(invites::used_at.is_null())
                .filter(invites::revoked_at.is_null()),
        )
        .set(invites::expires_at.eq(chrono::Utc::now() - chrono::Duration::seconds(1)))
        .execute(&mut app.conn())
        .expect("expire");
    }
    assert_eq!(
        register(&app, "tooslow", "slow@example.com", Some(&expiring), false)
            .await
            .0,
        403
    );
    let audit = app.page(&admin, "/admin/audit").await;
    assert!(audit.contains("create_invite") && audit.contains("revoke_invite"));
}

/// A token for `who` (an API token, as scripts use).
async fn token_of(who: &Visitor) -> String {
    let reply: serde_json::Value = who
        .request_to(Method::POST, "/account/tokens")
        .header("accept", "application/json")
        .form(&[("name", "backup")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    reply["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn an_admin_reset_ends_sessions_and_tokens_at_once_on_both_instances() {
    let (app, admin) = app_registering("open").await;
    let second = spawn_second_instance(&app).await;
    let user = app.user("forgetful").await;
    let token = token_of(&user).await;
    let scripted = app.visitor().with_token(&token);
    let elsewhere = user.on(&second);
    assert_eq!(user.fetch("/dashboard").await.status(), 200);
    assert_eq!(elsewhere.fetch("/dashboard").await.status(), 200);
    assert_eq!(scripted.fetch("/api/images").await.status(), 200);

    let id = app.user_id("forgetful");
    let response = admin
        .submit(
            &format!("/admin/users/{id}/password"),
            &[("password", "short"), ("confirm_password", "short")],
        )
        .await;
    assert_eq!(response.status(), 400, "the register rules hold");
    let response = admin
        .submit(
            &format!("/admin/users/{id}/password"),
            &[
                ("password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        user.fetch("/dashboard").await.status(),
        303,
        "this instance at once"
    );
    eventually("the other instance signs the session out", || async {
        elsewhere.fetch("/dashboard").await.status() == 303
    })
    .await;
    assert_eq!(scripted.fetch("/api/images").await.status(), 401);
    eventually("the token stops on the other instance", || async {
        scripted.on(&second).fetch("/api/images").await.status() == 401
    })
    .await;

    // The old password is gone; the new one works and the user is told.
    let again = app.visitor();
    let response = again
        .submit(
            "/login",
            &[("username", "forgetful"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), 401);
    let response = again
        .submit(
            "/login",
            &[("username", "forgetful"), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), 303);
    let dashboard = again.fetch("/dashboard").await.text().await.expect("page");
    assert!(
        dashboard.contains("reset by an administrator"),
        "{dashboard}"
    );
    let later = again.fetch("/dashboard").await.text().await.expect("page");
    assert!(!later.contains("reset by an administrator"), "said once");
    let audit = app.page(&admin, "/admin/audit").await;
    assert!(audit.contains("reset_password"));
}

#[tokio::test]
async fn a_reset_link_works_once_and_not_after_an_hour() {
    let (app, admin) = app_registering("open").await;
    let user = app.user("linked").await;
    let id = app.user_id("linked");
    let page = admin
        .submit(&format!("/admin/users/{id}/reset-link"), &[])
        .await
        .text()
        .await
        .expect("page");
    let token = token_in(&page, "token");
    assert_eq!(token.len(), 64, "{page}");
    let path = format!("/password/reset?token={token}");
    let stranger = app.visitor();
    let form = stranger.fetch(&path).await;
    assert_eq!(form.status(), 200);
    assert_eq!(
        form.headers()["cache-control"],
        "no-store",
        "it holds the link's secret"
    );
    assert!(form.text().await.expect("page").contains("linked"));
    let mismatch = stranger
        .submit(
            "/password/reset",
            &[
                ("token", &token),
                ("password", NEW_PASSWORD),
                ("confirm_password", "other"),
            ],
        )
        .await;
    assert_eq!(mismatch.status(), 400);
    let set = stranger
        .submit(
            "/password/reset",
            &[
                ("token", &token),
                ("password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(set.status(), 303);
    assert_eq!(
        stranger.fetch("/dashboard").await.status(),
        200,
        "signed in"
    );
    assert_eq!(
        user.fetch("/dashboard").await.status(),
        303,
        "the old session ended"
    );
    let reused = app
        .visitor()
        .submit(
            "/password/reset",
            &[
                ("token", &token),
                ("password", "yet another passphrase"),
                ("confirm_password", "yet another passphrase"),
            ],
        )
        .await;
    assert_eq!(reused.status(), 410, "once only");
    assert_eq!(app.visitor().fetch(&path).await.status(), 410);

    // A link an hour old no longer works.
    let page = admin
        .submit(&format!("/admin/users/{id}/reset-link"), &[])
        .await
        .text()
        .await
        .expect("page");
    let stale = token_in(&page, "token");
    {
        // No public path makes an hour pass: the link's expiry is moved into the past.
        use atelier::db::schema::password_resets;
        use diesel::{ExpressionMethods, RunQueryDsl};
        diesel::update(password_resets::table)
            .set(password_resets::expires_at.eq(chrono::Utc::now() - chrono::Duration::seconds(1)))
            .execute(&mut app.conn())
            .expect("expire");
    }
    let late = app
        .visitor()
        .submit(
            "/password/reset",
            &[
                ("token", &stale),
                ("password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(late.status(), 410);
}

/// `atelier reset-password` with `stdin` fed in.
fn reset_password_cli(app: &TestApp, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_atelier"))
        .arg("reset-password")
        .args(args)
        .env("DATABASE_URL", &app.db_url)
        .env("ATELIER_BCRYPT_COST", "4")
        .env("ATELIER_PUBLIC_URL", "https://atelier.example.org")
        .env("ATELIER_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run atelier");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    child.wait_with_output().expect("wait")
}

#[tokio::test]
async fn the_command_line_resets_a_password_or_prints_a_link() {
    let (app, admin) = app_registering("open").await;
    let user = app.user("shell").await;
    let second = spawn_second_instance(&app).await;
    assert_eq!(user.on(&second).fetch("/dashboard").await.status(), 200);
    let token = token_of(&user).await;
    let output = reset_password_cli(&app, &["--username", "shell"], &format!("{NEW_PASSWORD}\n"));
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("1 API tokens ended"),
        "{output:?}"
    );
    for base in [app.address.clone(), second.clone()] {
        eventually("the session ends on both instances", || async {
            user.on(&base).fetch("/dashboard").await.status() == 303
        })
        .await;
    }
    assert_eq!(
        app.visitor()
            .with_token(&token)
            .fetch("/api/images")
            .await
            .status(),
        401
    );
    let again = app.visitor();
    let response = again
        .submit(
            "/login",
            &[("username", "shell"), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), 303);

    let weak = reset_password_cli(&app, &["--username", "shell"], "password\n");
    assert!(!weak.status.success(), "the register rules hold: {weak:?}");
    let missing = reset_password_cli(&app, &["--username", "nobody"], "whatever it is\n");
    assert!(!missing.status.success());

    let output = reset_password_cli(&app, &["--username", "shell", "--link"], "");
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        printed.starts_with("https://atelier.example.org/password/reset?token="),
        "{printed}"
    );
    let path = printed.trim_start_matches("https://atelier.example.org");
    assert_eq!(app.visitor().fetch(path).await.status(), 200);
    let audit = app.page(&admin, "/admin/audit").await;
    assert!(
        audit.contains("command line") && audit.contains("reset_link"),
        "{audit}"
    );
}

#[tokio::test]
async fn sign_out_everywhere_else_keeps_only_this_session() {
    let app = crate::support::helpers::spawn_app().await;
    let here = app.user("traveller").await;
    let laptop = app.visitor().signed_in("traveller").await;
    let phone = app.visitor().signed_in("traveller").await;
    let page = here.fetch("/account").await.text().await.expect("page");
    assert!(page.contains("Sign out everywhere else"));
    let response = here
        .request_to(Method::POST, "/account/sessions/sign-out-others")
        .header("accept", "application/json")
        .send()
        .await
        .expect("POST");
    let json: serde_json::Value = response.json().await.expect("json");
    assert_eq!(json["ended"], 2, "{json}");
    assert_eq!(here.fetch("/dashboard").await.status(), 200);
    for other in [&laptop, &phone] {
        assert_eq!(other.fetch("/dashboard").await.status(), 303);
    }
}
