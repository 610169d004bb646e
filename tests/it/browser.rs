//! The main account journey in real headless Chromium: register, log in, see the
//! dashboard, log out. Screenshots land in `target/screenshots/`.

use crate::helpers::spawn_app;
use crate::webdriver::{Browser, browser_binaries, skip_or_fail};

#[tokio::test]
async fn register_login_dashboard_logout_in_chromium() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("register_login_dashboard_logout_in_chromium");
        return;
    };
    let app = spawn_app().await;
    let browser = Browser::start(&chromium, &chromedriver).await;

    browser.goto(&app.url("/")).await;
    browser.screenshot("01-home").await;
    browser.click("a.button[href='/register']").await;
    assert!(browser.url().await.ends_with("/register"));

    // A mistake first: the form comes back with the error beside the field, values kept.
    browser.fill("#username", "Web_User").await;
    browser.fill("#email", "web@example.com").await;
    browser.fill("#password", "testpass123").await;
    browser.fill("#confirm_password", "testpass124").await;
    browser.click("form button[type=submit]").await;
    assert!(
        browser
            .text("#confirm_password-error")
            .await
            .contains("do not match")
    );
    browser.screenshot("02-register-error").await;

    browser.fill("#password", "testpass123").await;
    browser.fill("#confirm_password", "testpass123").await;
    browser.click("form button[type=submit]").await;
    assert!(
        browser.url().await.ends_with("/login"),
        "registered → login page"
    );
    assert!(browser.text(".flash").await.contains("account is ready"));

    browser.fill("#username", "web@example.com").await;
    browser.fill("#password", "testpass123").await;
    browser.click("form button[type=submit]").await;
    assert!(browser.url().await.ends_with("/dashboard"));
    assert!(browser.text("h1").await.contains("web_user"));
    let shot = browser.screenshot("03-dashboard").await;
    eprintln!("dashboard screenshot: {}", shot.display());

    browser.click(".nav .link-button").await;
    assert!(browser.url().await.ends_with('/'));
    browser.goto(&app.url("/dashboard")).await;
    assert!(
        browser.url().await.contains("/login"),
        "logged out for real"
    );
    browser.screenshot("04-logged-out").await;
    browser.quit().await;
}
