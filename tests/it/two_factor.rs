//! Two-factor sign-in (SPEC §3): set up with a confirming code and recovery codes; a
//! sign-in without the code does not sign in, a wrong code counts as a failure, a code
//! works once, a recovery code works once; turning it off needs the password and a code;
//! an admin can remove it, and with ATELIER_ADMIN_REQUIRE_2FA an admin sets it up before
//! any admin page. A Chromium journey: forgot password → mail → new password → signed in →
//! two-factor turned on from the shown key.

use atelier::domain::totp;
use reqwest::Method;

use crate::support::helpers::{PASSWORD, TestApp, spawn_app_with};
use crate::support::visitor::Visitor;

/// The key `/account/2fa` shows while setting up, without its spaces.
fn shown_key(page: &str) -> String {
    let start = page.find("id=\"totp-secret\">").expect("the key") + "id=\"totp-secret\">".len();
    page[start..]
        .split('<')
        .next()
        .expect("key text")
        .replace(' ', "")
}

/// The code for `key` at the current step plus `ahead`.
fn code(key: &str, ahead: u64) -> String {
    let secret = totp::unbase32(key).expect("base32");
    let now = totp::step_of(chrono::Utc::now().timestamp() as u64);
    format!("{:06}", totp::code_at(&secret, now + ahead))
}

/// Sets up two-factor for `who`; the key and the recovery codes.
async fn set_up(who: &Visitor) -> (String, Vec<String>) {
    assert_eq!(who.submit("/account/2fa/setup", &[]).await.status(), 303);
    let page = who.fetch("/account/2fa").await.text().await.expect("page");
    assert!(page.contains("<svg"), "a QR code");
    let key = shown_key(&page);
    let wrong = who
        .submit("/account/2fa/confirm", &[("code", "000000")])
        .await;
    assert_eq!(wrong.status(), 400);
    let done = who
        .submit("/account/2fa/confirm", &[("code", &code(&key, 0))])
        .await;
    assert_eq!(done.status(), 200);
    let page = done.text().await.expect("page");
    let codes: Vec<String> = page
        .split("<li><code>")
        .skip(1)
        .map(|rest| rest.split('<').next().expect("code").to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{page}");
    (key, codes)
}

async fn log_in(app: &TestApp, username: &str, extra: &[(&str, &str)]) -> (Visitor, u16, String) {
    let visitor = app.visitor();
    let mut fields = vec![("username", username), ("password", PASSWORD)];
    fields.extend_from_slice(extra);
    let response = visitor.submit("/login", &fields).await;
    let status = response.status().as_u16();
    let location = crate::support::helpers::location(&response).to_owned();
    (visitor, status, location)
}

#[tokio::test]
async fn two_factor_sign_in_needs_a_fresh_code_or_a_recovery_code() {
    let app = crate::support::helpers::spawn_app().await;
    let user = app.user("guarded").await;
    let (key, recovery) = set_up(&user).await;

    // The password alone: no session, only the code form.
    let (visitor, status, location) = log_in(&app, "guarded", &[]).await;
    assert_eq!((status, location.as_str()), (303, "/login/2fa"));
    assert_eq!(
        visitor.fetch("/dashboard").await.status(),
        303,
        "not signed in"
    );
    let wrong = visitor.submit("/login/2fa", &[("code", "123456")]).await;
    assert_eq!(wrong.status(), 401);
    // The setup used this step's code: the next one is accepted once, then never again.
    let next = code(&key, 1);
    let right = visitor.submit("/login/2fa", &[("code", &next)]).await;
    assert_eq!(right.status(), 303);
    assert_eq!(visitor.fetch("/dashboard").await.status(), 200);
    let (replayed, _, _) = log_in(&app, "guarded", &[]).await;
    let again = replayed.submit("/login/2fa", &[("code", &next)]).await;
    assert_eq!(again.status(), 401, "a code works once");

    // Scripts send the code with the password; without it they are told.
    let refused = app
        .visitor()
        .request_to(Method::POST, "/login")
        .header("accept", "application/json")
        .form(&[("username", "guarded"), ("password", PASSWORD)])
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 401);
    assert!(refused.text().await.expect("body").contains("code"));
    let (with_recovery, status, _) = log_in(&app, "guarded", &[("code", &recovery[0])]).await;
    assert_eq!(status, 303, "a recovery code stands in for the app");
    assert_eq!(with_recovery.fetch("/dashboard").await.status(), 200);
    let (_, status, _) = log_in(&app, "guarded", &[("code", &recovery[0])]).await;
    assert_eq!(status, 401, "once");

    // Off needs the password and a code.
    let page = user.fetch("/account/2fa").await.text().await.expect("page");
    assert!(
        page.contains("9 recovery codes left"),
        "one used, one refused: {page}"
    );
    let refused = user
        .submit(
            "/account/2fa/disable",
            &[("password", "wrong password"), ("code", &recovery[1])],
        )
        .await;
    assert_eq!(refused.status(), 400);
    let off = user
        .submit(
            "/account/2fa/disable",
            &[("password", PASSWORD), ("code", &recovery[1])],
        )
        .await;
    assert_eq!(off.status(), 303);
    let (_, status, location) = log_in(&app, "guarded", &[]).await;
    assert_eq!((status, location.as_str()), (303, "/dashboard"));
}

#[tokio::test]
async fn wrong_codes_count_like_wrong_passwords() {
    let app = spawn_app_with(|s| {
        s.insert("login_failure_limit".into(), "3".into());
    })
    .await;
    let user = app.user("guessed").await;
    set_up(&user).await;
    let (pending, status, _) = log_in(&app, "guessed", &[]).await;
    assert_eq!(status, 303);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let answer = pending.submit("/login/2fa", &[("code", "999999")]).await;
        statuses.push(answer.status().as_u16());
    }
    // The password step and two wrong codes make the three failures allowed.
    assert_eq!(statuses, [401, 401, 429]);
}

#[tokio::test]
async fn admins_set_up_two_factor_before_any_admin_page_and_can_remove_a_users() {
    let app = spawn_app_with(|s| {
        crate::admin::admin_settings(s);
        s.insert("admin_require_2fa".into(), "true".into());
    })
    .await;
    let admin = app.visitor().signed_in("root").await;
    let sent = admin.fetch("/admin").await;
    assert_eq!(sent.status(), 303);
    assert_eq!(crate::support::helpers::location(&sent), "/account/2fa");
    assert_eq!(admin.fetch("/admin/users").await.status(), 303);
    set_up(&admin).await;
    assert_eq!(admin.fetch("/admin").await.status(), 200);

    let user = app.user("lostphone").await;
    set_up(&user).await;
    let id = app.user_id("lostphone");
    let page = app.page(&admin, &format!("/admin/users/{id}")).await;
    assert!(page.contains("Remove two-factor sign-in"));
    let removed = admin
        .submit(&format!("/admin/users/{id}/2fa/remove"), &[])
        .await;
    assert_eq!(removed.status(), 303);
    let (_, status, location) = log_in(&app, "lostphone", &[]).await;
    assert_eq!((status, location.as_str()), (303, "/dashboard"));
    assert!(
        app.page(&admin, "/admin/audit")
            .await
            .contains("remove_2fa")
    );
}

#[tokio::test]
async fn in_chromium_a_forgotten_password_comes_back_by_mail_and_two_factor_goes_on() {
    use crate::support::smtp_server::SmtpServer;
    use crate::support::webdriver::{Browser, browser_binaries, skip_or_fail};
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("in_chromium_a_forgotten_password_comes_back_by_mail");
        return;
    };
    let Some(smtp) = SmtpServer::start("in_chromium_a_forgotten_password_comes_back").await else {
        return;
    };
    let smtp_url = smtp.url();
    let app = spawn_app_with(move |s| {
        s.insert("smtp_url".into(), smtp_url);
        s.insert("mail_from".into(), "Atelier <atelier@example.org>".into());
        s.insert("public_url".into(), "https://atelier.example.org".into());
    })
    .await;
    app.user("wanderer").await;
    const CHOSEN: &str = "found my way back";

    let browser = Browser::start(&chromium, &chromedriver).await;
    browser.goto(&app.url("/login")).await;
    browser.click("a[href='/password/forgot']").await;
    browser
        .wait_for_url(|u| u.ends_with("/password/forgot"))
        .await;
    browser.fill("#email", "wanderer@example.com").await;
    browser.click("main form button[type=submit]").await;
    assert!(
        browser
            .wait_until("document.body.textContent.includes('is on its way')")
            .await,
        "{}",
        browser.text("main").await
    );
    browser.screenshot("60-forgot-sent").await;

    let mail = crate::support::helpers::poll(
        std::time::Duration::from_secs(10),
        || async {
            smtp.received()
                .into_iter()
                .find(|mail| mail.subject.contains("Set a new password"))
        },
        Option::is_some,
    )
    .await
    .expect("the reset mail arrives");
    let link = mail.link("/password/reset?token=").expect("a link");
    browser.goto(&app.url(&link)).await;
    assert!(browser.text("main").await.contains("wanderer"));
    browser.fill("#password", CHOSEN).await;
    browser.fill("#confirm_password", CHOSEN).await;
    browser.screenshot("61-reset-form").await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for_url(|u| u.ends_with("/dashboard")).await;
    assert!(browser.text(".flash").await.contains("new password is set"));

    // Two-factor, with the code computed from the key the page shows.
    browser.goto(&app.url("/account")).await;
    browser.click("a[href='/account/2fa']").await;
    browser.wait_for_url(|u| u.ends_with("/account/2fa")).await;
    browser.click("main form button[type=submit]").await;
    assert!(
        browser
            .wait_until("document.querySelector('#totp-secret') !== null")
            .await
    );
    assert!(
        browser
            .wait_until("document.querySelector('.qr svg') !== null")
            .await,
        "the QR code is drawn"
    );
    browser.screenshot("62-two-factor-setup").await;
    let key = browser.text("#totp-secret").await.replace(' ', "");
    browser.fill("#code", &code(&key, 0)).await;
    browser.click("main form button[type=submit]").await;
    assert!(
        browser
            .wait_until("document.querySelectorAll('.recovery-codes li').length === 10")
            .await,
        "{}",
        browser.text("main").await
    );
    browser.screenshot("63-two-factor-on").await;

    // Signing in again asks for the code.
    browser.goto(&app.url("/account")).await;
    browser.click("form[action='/logout'] button").await;
    browser.goto(&app.url("/login")).await;
    browser.fill("#username", "wanderer").await;
    browser.fill("#password", CHOSEN).await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for_url(|u| u.ends_with("/login/2fa")).await;
    browser.fill("#code", &code(&key, 1)).await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for_url(|u| u.ends_with("/dashboard")).await;
    browser.screenshot("64-signed-in-with-two-factor").await;
    browser.quit().await;
}
