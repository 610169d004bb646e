//! Email against a real SMTP server (aiosmtpd): forgot-password mails a single-use link and
//! answers the same for unknown addresses; the outbox keeps mail while the server is away
//! and delivers when it returns; addresses are confirmed by link (and free images wait for
//! that with ATELIER_REQUIRE_VERIFIED_EMAIL); changed addresses and invites are mailed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};

use crate::support::helpers::{PASSWORD, TestApp, poll, spawn_app_with};
use crate::support::smtp_server::{Received, SmtpServer};

const SITE: &str = "https://atelier.example.org";
const NEW_PASSWORD: &str = "remembered at last";
/// How long a mail may take through the outbox (it is looked at every second).
const DELIVERY: Duration = Duration::from_secs(10);

fn mail_settings(smtp: &SmtpServer) -> impl FnOnce(&mut HashMap<String, String>) {
    let url = smtp.url();
    move |s| {
        s.insert("smtp_url".into(), url);
        s.insert("mail_from".into(), "Atelier <atelier@example.org>".into());
        s.insert("public_url".into(), SITE.into());
    }
}

/// The one mail to `to` with `subject_part` in its subject, waited for.
async fn mail_to(smtp: &SmtpServer, to: &str, subject_part: &str) -> Received {
    let deadline = Instant::now() + DELIVERY;
    loop {
        let found = smtp
            .received()
            .into_iter()
            .find(|mail| mail.to.contains(to) && mail.subject.contains(subject_part));
        if let Some(mail) = found {
            return mail;
        }
        assert!(
            Instant::now() < deadline,
            "no mail to {to} about {subject_part:?}: {:?}",
            smtp.received()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The outbox rows for `to` (the database says what was queued without waiting).
fn queued_for(app: &TestApp, to: &str) -> i64 {
    use atelier::db::schema::mail_outbox;
    mail_outbox::table
        .filter(mail_outbox::to_address.eq(to))
        .count()
        .get_result(&mut app.conn())
        .expect("outbox")
}

#[tokio::test]
async fn a_forgotten_password_comes_back_through_a_mailed_single_use_link() {
    let Some(smtp) = SmtpServer::start("a_forgotten_password_comes_back").await else {
        return;
    };
    let app = spawn_app_with(mail_settings(&smtp)).await;
    let user = app.user("forgetter").await;
    assert!(
        app.page(&app.visitor(), "/login")
            .await
            .contains("Forgot your password?")
    );

    let visitor = app.visitor();
    let known = visitor
        .submit("/password/forgot", &[("email", "Forgetter@Example.com")])
        .await;
    assert_eq!(known.status(), 200);
    let known = known.text().await.expect("page");
    let unknown = app
        .visitor()
        .submit("/password/forgot", &[("email", "nobody@example.com")])
        .await;
    assert_eq!(unknown.status(), 200);
    let unknown = unknown.text().await.expect("page");
    assert_eq!(
        known.replace(char::is_whitespace, ""),
        unknown.replace(char::is_whitespace, ""),
        "the same answer, whoever asks"
    );
    assert_eq!(
        queued_for(&app, "nobody@example.com"),
        0,
        "and no mail for nobody"
    );

    let mail = mail_to(&smtp, "forgetter@example.com", "Set a new password").await;
    assert!(
        mail.raw.contains("Content-Type: text/html"),
        "an HTML part too"
    );
    let link = mail.link("/password/reset?token=").expect("a link");
    assert!(
        mail.text.contains(&format!("{SITE}{link}")),
        "absolute: {}",
        mail.text
    );
    let token = link.trim_start_matches("/password/reset?token=").to_owned();
    assert_eq!(visitor.fetch(&link).await.status(), 200);
    let set = visitor
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
    assert_eq!(visitor.fetch("/dashboard").await.status(), 200, "signed in");
    assert_eq!(
        user.fetch("/dashboard").await.status(),
        303,
        "the old session ended"
    );
    let again = app
        .visitor()
        .submit(
            "/password/reset",
            &[
                ("token", &token),
                ("password", "and once more now"),
                ("confirm_password", "and once more now"),
            ],
        )
        .await;
    assert_eq!(again.status(), 410, "a link works once");

    // An hour later a fresh link no longer works.
    app.visitor()
        .submit("/password/forgot", &[("email", "forgetter@example.com")])
        .await;
    let second_link = || async {
        smtp.received()
            .iter()
            .filter(|mail| mail.to.contains("forgetter@example.com"))
            .filter_map(|mail| mail.link("/password/reset?token="))
            .find(|found| *found != link)
    };
    let stale = poll(DELIVERY, second_link, Option::is_some)
        .await
        .expect("a second link");
    {
        // No public path makes an hour pass: the link's expiry is moved into the past.
        use atelier::db::schema::password_resets;
        diesel::update(password_resets::table)
            .set(password_resets::expires_at.eq(chrono::Utc::now() - chrono::Duration::seconds(1)))
            .execute(&mut app.conn())
            .expect("expire");
    }
    assert_eq!(app.visitor().fetch(&stale).await.status(), 410);
}

#[tokio::test]
async fn asking_for_resets_is_throttled_per_network_and_address() {
    let Some(smtp) = SmtpServer::start("asking_for_resets_is_throttled").await else {
        return;
    };
    let settings = mail_settings(&smtp);
    let app = spawn_app_with(|s| {
        settings(s);
        s.insert("login_failure_limit".into(), "3".into());
    })
    .await;
    for _ in 0..3 {
        let answer = app
            .visitor()
            .submit("/password/forgot", &[("email", "someone@example.com")])
            .await;
        assert_eq!(answer.status(), 200);
    }
    let refused = app
        .visitor()
        .submit("/password/forgot", &[("email", "someone@example.com")])
        .await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn mail_waits_in_the_outbox_while_the_server_is_away_and_arrives_when_it_returns() {
    let Some(mut smtp) = SmtpServer::start("mail_waits_in_the_outbox").await else {
        return;
    };
    let app = spawn_app_with(mail_settings(&smtp)).await;
    app.user("patient").await;
    mail_to(&smtp, "patient@example.com", "Confirm your address").await;
    smtp.stop();
    let started = Instant::now();
    let answer = app
        .visitor()
        .submit("/password/forgot", &[("email", "patient@example.com")])
        .await;
    assert_eq!(
        answer.status(),
        200,
        "the page does not wait for the mail server"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let failed = poll(
        Duration::from_secs(10),
        || async {
            use atelier::db::schema::mail_outbox;
            mail_outbox::table
                .filter(mail_outbox::kind.eq("reset"))
                .select((mail_outbox::attempts, mail_outbox::last_error))
                .first::<(i32, Option<String>)>(&mut app.conn())
                .expect("queued")
        },
        |(_, error)| error.is_some(),
    )
    .await;
    assert!(
        failed.0 >= 1 && failed.1.is_some(),
        "tried and said why: {failed:?}"
    );
    smtp.resume().await;
    let mail = mail_to(&smtp, "patient@example.com", "Set a new password").await;
    assert!(mail.link("/password/reset?token=").is_some());
}

#[tokio::test]
async fn addresses_are_confirmed_by_link_and_free_images_wait_for_it() {
    let Some(smtp) = SmtpServer::start("addresses_are_confirmed_by_link").await else {
        return;
    };
    let settings = mail_settings(&smtp);
    let app = spawn_app_with(|s| {
        settings(s);
        s.insert("require_verified_email".into(), "true".into());
        s.insert("signup_credits".into(), "0".into());
        s.insert("free_min_account_age_secs".into(), "0".into());
    })
    .await;
    let user = app.user("careful").await;
    let (status, refused) = user
        .generate(serde_json::json!({ "prompt": "a quiet lake" }))
        .await;
    assert_eq!(status, 402);
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or_default()
            .contains("confirmed email")
    );

    let mail = mail_to(&smtp, "careful@example.com", "Confirm your address").await;
    let link = mail.link("/email/verify?token=").expect("a link");
    let confirmed = user.fetch(&link).await;
    assert_eq!(confirmed.status(), 303);
    assert_eq!(app.visitor().fetch(&link).await.status(), 410, "once");
    let (status, made) = user
        .generate(serde_json::json!({ "prompt": "a quiet lake" }))
        .await;
    assert_eq!(status, 200, "{made}");

    // A new address: the old one is told, the new one must be confirmed again.
    let response = user
        .submit(
            "/account/email",
            &[("email", "careful@example.net"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), 303);
    let told = mail_to(&smtp, "careful@example.com", "address was changed").await;
    assert!(told.text.contains("careful@example.net"));
    let fresh = mail_to(&smtp, "careful@example.net", "Confirm your address").await;
    assert!(fresh.link("/email/verify?token=").is_some());
    // The first link was for the old address: it confirms nothing now.
    let verified: Option<chrono::DateTime<chrono::Utc>> = {
        use atelier::db::schema::users;
        users::table
            .filter(users::username.eq("careful"))
            .select(users::email_verified_at)
            .first(&mut app.conn())
            .expect("user")
    };
    assert!(verified.is_none(), "a new address starts unconfirmed");
}

#[tokio::test]
async fn an_invite_for_an_address_is_mailed_there() {
    let Some(smtp) = SmtpServer::start("an_invite_for_an_address_is_mailed").await else {
        return;
    };
    let settings = mail_settings(&smtp);
    let app = spawn_app_with(|s| {
        settings(s);
        crate::admin::admin_settings(s);
        s.insert("registration".into(), "invite".into());
    })
    .await;
    let admin = app.visitor().signed_in("root").await;
    let response = admin
        .submit(
            "/admin/invites",
            &[("email", "guest@example.org"), ("days", "3")],
        )
        .await;
    assert_eq!(response.status(), 200);
    let mail = mail_to(&smtp, "guest@example.org", "invited").await;
    let link = mail.link("/register?invite=").expect("a link");
    assert!(mail.text.contains("3 days"));
    let form = app.page(&app.visitor(), &link).await;
    assert!(form.contains("name=\"invite\""), "{form}");
}

#[tokio::test]
async fn a_sign_in_without_a_second_factor_is_mailed() {
    let Some(smtp) = SmtpServer::start("a_sign_in_without_a_second_factor").await else {
        return;
    };
    let app = spawn_app_with(mail_settings(&smtp)).await;
    app.user("watchful").await;
    let mail = mail_to(&smtp, "watchful@example.com", "new sign-in").await;
    assert!(mail.text.contains("127.0.0.1"), "{}", mail.text);
}
