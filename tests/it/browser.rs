//! Journeys in real headless Chromium: accounts, uploads and sharing, generation (also
//! without an account), and the admin blocking an address. Screenshots land in
//! `target/screenshots/`.

use crate::support::helpers::{poll, spawn_app};
use crate::support::webdriver::{Browser, browser_binaries, skip_or_fail};

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
    assert!(
        browser
            .wait_for_url(|u| u.ends_with("/register"))
            .await
            .ends_with("/register")
    );

    // A mistake first: the form comes back with the error beside the field, values kept.
    browser.fill("#username", "Web_User").await;
    browser.fill("#email", "web@example.com").await;
    browser.fill("#password", "testpass123").await;
    browser.fill("#confirm_password", "testpass124").await;
    browser.click("main form button[type=submit]").await;
    assert!(
        browser
            .text("#confirm_password-error")
            .await
            .contains("do not match")
    );
    browser.screenshot("02-register-error").await;

    browser.fill("#password", "testpass123").await;
    browser.fill("#confirm_password", "testpass123").await;
    browser.click("main form button[type=submit]").await;
    assert!(
        browser
            .wait_for_url(|u| u.ends_with("/dashboard"))
            .await
            .ends_with("/dashboard"),
        "registered → signed in, on the dashboard"
    );
    assert!(browser.text(".flash").await.contains("account is ready"));
    assert!(browser.text("h1").await.contains("web_user"));
    let shot = browser.screenshot("03-dashboard").await;
    eprintln!("dashboard screenshot: {}", shot.display());

    browser.click(".nav .link-button").await;
    let home = app.url("/");
    let after_logout = browser.wait_for_url(|url| url == home).await;
    browser.screenshot("03b-after-logout").await;
    assert_eq!(
        after_logout,
        app.url("/"),
        "logged out lands on the home page"
    );
    browser.goto(&app.url("/dashboard")).await;
    assert!(
        browser
            .wait_for_url(|u| u.contains("/login"))
            .await
            .contains("/login"),
        "logged out for real"
    );
    browser.screenshot("04-logged-out").await;
    browser.quit().await;
}

#[tokio::test]
async fn upload_see_in_gallery_share_and_open_in_a_fresh_profile() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("upload_see_in_gallery_share_and_open_in_a_fresh_profile");
        return;
    };
    let app = spawn_app().await;
    let client = crate::support::helpers::new_client();
    app.register(
        &client,
        "painter",
        "painter@example.com",
        crate::support::helpers::PASSWORD,
    )
    .await;
    let picture = tempfile::Builder::new()
        .suffix(".png")
        .tempfile()
        .expect("temp file");
    std::fs::write(picture.path(), crate::support::fixtures::png(800, 500)).expect("write picture");

    let browser = Browser::start(&chromium, &chromedriver).await;
    browser.goto(&app.url("/login")).await;
    browser.fill("#username", "painter").await;
    browser
        .fill("#password", crate::support::helpers::PASSWORD)
        .await;
    browser.click("main form button[type=submit]").await;
    browser.goto(&app.url("/upload")).await;
    browser
        .fill("#file", &picture.path().display().to_string())
        .await;
    browser.fill("#title", "Gradient study").await;
    browser.fill("#tags", "colour, test").await;
    browser.click("main form button[type=submit]").await;
    let landed = browser.wait_for_url(|u| u.contains("/images/")).await;
    browser.screenshot("10-after-upload").await;
    assert!(
        landed.contains("/images/"),
        "lands on the image page: {landed}"
    );
    assert!(
        browser.image_loaded(".stage-picture img").await,
        "the image loads through the proxy"
    );
    browser.screenshot("10-image-page").await;

    browser.goto(&app.url("/gallery")).await;
    assert!(browser.text(".tile-title").await.contains("Gradient study"));
    assert!(browser.image_loaded(".tile img").await, "thumbnail loads");
    browser.screenshot("11-gallery").await;

    // A click opens the viewer; the image page is the tile's link.
    let page = browser.attribute(".tile a", "href").await;
    browser.goto(&app.url(&page)).await;
    browser.click("form[action$='/share'] button").await;
    let link = browser.attribute("#sharing a[href^='/s/']", "href").await;
    assert!(link.contains("/s/"), "{link}");
    let shown = browser.property("#share-url", "value").await;
    assert!(
        shown.starts_with("http://127.0.0.1:") && shown.contains("/s/"),
        "the full address is shown: {shown}"
    );
    browser.screenshot("12-shared").await;
    browser.quit().await;

    // Someone else, with a brand-new profile and no account.
    let visitor = Browser::start(&chromium, &chromedriver).await;
    visitor.goto(&app.url(&link)).await;
    assert!(visitor.text("h1").await.contains("Gradient study"));
    assert!(
        visitor.image_loaded(".shared img").await,
        "shared image loads for a stranger"
    );
    visitor.screenshot("13-share-link-fresh-profile").await;
    visitor.quit().await;
}

#[tokio::test]
async fn generate_and_illustrate_a_story_in_chromium() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("generate_and_illustrate_a_story_in_chromium");
        return;
    };
    let app = spawn_app().await;
    app.register(
        &crate::support::helpers::new_client(),
        "artist",
        "artist@example.com",
        crate::support::helpers::PASSWORD,
    )
    .await;
    let browser = Browser::start(&chromium, &chromedriver).await;
    browser.goto(&app.url("/login")).await;
    browser.fill("#username", "artist").await;
    browser
        .fill("#password", crate::support::helpers::PASSWORD)
        .await;
    browser.click("main form button[type=submit]").await;

    browser.goto(&app.url("/generate")).await;
    browser
        .fill("#prompt", "golden mountains above a misty lake at sunset")
        .await;
    browser.click("main form button[type=submit]").await;
    let job = browser.wait_for_url(|u| u.contains("/jobs/")).await;
    assert!(job.contains("/jobs/"), "{job}");
    // The page updates itself until the picture is there.
    assert!(
        browser.image_loaded(".tile img").await,
        "the result appears"
    );
    browser.screenshot("20-generated").await;

    browser.goto(&app.url("/story")).await;
    browser
        .fill("#story", "A fox wakes at dawn in a pine forest. It runs to the blue lake. At night the stars shine over the city.")
        .await;
    // The price, counted as the story is typed.
    assert!(
        browser
            .wait_until("document.querySelector('#story-cost').textContent.startsWith('3 sentences · 3 credits')")
            .await,
        "{}",
        browser.text("#story-cost").await
    );
    browser.click("main form button[type=submit]").await;
    assert!(
        browser.image_loaded(".scene:nth-child(3) img").await,
        "all three scenes appear"
    );
    assert!(
        browser
            .text(".scene:nth-child(2) p")
            .await
            .contains("It runs to the blue lake.")
    );
    browser.screenshot("21-story").await;
    browser.quit().await;
}

#[tokio::test]
async fn a_visitor_generates_without_an_account_then_keeps_the_picture() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("a_visitor_generates_without_an_account_then_keeps_the_picture");
        return;
    };
    let app = spawn_app().await;
    let browser = Browser::start(&chromium, &chromedriver).await;
    browser.goto(&app.url("/")).await;
    assert!(browser.text("#try").await.contains("3 of 3 left"));
    browser
        .fill("#prompt", "a lighthouse at sunset over a calm violet sea")
        .await;
    browser.click("#try button[type=submit]").await;
    browser.wait_for_url(|u| u.contains("/jobs/")).await;
    assert!(
        browser.image_loaded(".tile img").await,
        "the picture appears"
    );
    assert!(browser.text("main").await.contains("Keep these pictures"));
    browser.screenshot("30-anonymous-result").await;

    browser.click(".notice a.button[href='/register']").await;
    browser.fill("#username", "keeper").await;
    browser.fill("#email", "keeper@example.com").await;
    browser
        .fill("#password", crate::support::helpers::PASSWORD)
        .await;
    browser
        .fill("#confirm_password", crate::support::helpers::PASSWORD)
        .await;
    browser.click("main form button[type=submit]").await;
    // Registered means signed in: straight to the dashboard, the picture claimed.
    assert!(
        browser
            .wait_for_url(|u| u.ends_with("/dashboard"))
            .await
            .ends_with("/dashboard")
    );
    assert!(
        browser
            .text(".flash")
            .await
            .contains("picture you made are in it")
    );
    browser.goto(&app.url("/gallery")).await;
    assert!(
        browser.image_loaded(".tile img").await,
        "it is in the gallery"
    );
    assert!(
        browser
            .attribute(".tile img", "src")
            .await
            .starts_with("/media/keeper/default/thumb/")
    );
    browser.screenshot("31-claimed-in-gallery").await;
    browser.goto(&app.url("/generate")).await;
    assert!(
        browser
            .text("#cost")
            .await
            .contains("Each image costs 1 credit")
    );
    browser.screenshot("32-generate-with-cost").await;
    browser.goto(&app.url("/account")).await;
    browser.fill("#token_name", "my script").await;
    browser
        .click("form[action='/account/tokens'] button[type=submit]")
        .await;
    assert!(
        browser
            .property("#new-token", "value")
            .await
            .starts_with("atl_")
    );
    browser.tap("button[data-copy='#new-token']").await;
    assert!(
        browser
            .wait_until("document.querySelector(\"button[data-copy='#new-token']\").textContent === 'Copied'")
            .await,
        "the token has a Copy button"
    );
    browser.screenshot("33-account-token-and-data").await;
    browser.goto(&app.url("/privacy")).await;
    browser.screenshot("34-privacy").await;
    browser.quit().await;
}

#[tokio::test]
async fn an_admin_drills_into_an_address_and_blocks_it() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("an_admin_drills_into_an_address_and_blocks_it");
        return;
    };
    let (app, _admin) = crate::admin::app_with_admin().await;
    let spammer = app.user_from("spammer", "203.0.113.66").await;
    for prompt in [
        "buy cheap pills now",
        "more cheap pills",
        "pills pills pills",
    ] {
        spammer.generated(prompt).await;
    }
    app.visitor_from("2001:db8::42")
        .generated("a calm forest")
        .await;

    let browser = Browser::start(&chromium, &chromedriver).await;
    browser.goto(&app.url("/login")).await;
    browser.fill("#username", "root").await;
    browser
        .fill("#password", crate::support::helpers::PASSWORD)
        .await;
    browser.click("main form button[type=submit]").await;
    browser.goto(&app.url("/admin")).await;
    assert!(browser.text("main").await.contains("203.0.113.66"));
    browser.screenshot("40-admin-overview").await;
    browser.goto(&app.url("/admin/ips")).await;
    assert!(
        browser.image_loaded(".strip img").await,
        "thumbnails in the gallery"
    );
    browser.screenshot("41-ip-gallery").await;
    browser.click("a[href='/admin/ips/203.0.113.66']").await;
    assert!(browser.text("main").await.contains("buy cheap pills now"));
    browser.screenshot("42-case-file").await;
    browser.fill("#reason", "pill spam").await;
    browser.fill("#expires_hours", "48").await;
    browser
        .click("form[action='/admin/ips/block'] button[type=submit]")
        .await;
    assert!(browser.text(".flash").await.contains("is blocked"));
    assert!(browser.text("main").await.contains("pill spam"));
    browser.screenshot("43-blocked").await;
    browser.quit().await;

    assert_eq!(spammer.try_order().await, 403);
}

#[tokio::test]
async fn a_generated_video_plays_in_chromium() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("a_generated_video_plays_in_chromium");
        return;
    };
    if !crate::support::helpers::ffmpeg_or_skip("a_generated_video_plays_in_chromium") {
        return;
    }
    let app = spawn_app().await;
    let api = crate::support::helpers::new_client();
    app.register(
        &api,
        "director",
        "director@example.com",
        crate::support::helpers::PASSWORD,
    )
    .await;
    app.login(&api, "director", crate::support::helpers::PASSWORD)
        .await;
    let browser = Browser::start(&chromium, &chromedriver).await;
    browser.goto(&app.url("/login")).await;
    browser.fill("#username", "director").await;
    browser
        .fill("#password", crate::support::helpers::PASSWORD)
        .await;
    browser.click("main form button[type=submit]").await;

    browser.goto(&app.url("/video")).await;
    browser
        .fill(
            "#prompt",
            "waves rolling onto a beach under a golden sunset",
        )
        .await;
    browser
        .execute(
            "document.querySelector('#seconds').value = '3';",
            serde_json::json!([]),
        )
        .await;
    browser.screenshot("30-video-form").await;
    browser.click("main form button[type=submit]").await;
    let job = browser.wait_for_url(|u| u.contains("/jobs/")).await;
    let id: i64 = job
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("job id");
    let finished = app.finished_job_within(&api, id, 60).await;
    assert_eq!(finished["status"], "succeeded", "{finished}");
    let image = finished["images"][0]["id"].as_i64().expect("image id");

    browser.goto(&app.url(&format!("/images/{image}"))).await;
    // Play it (muted, so the browser allows it) and wait for a decoded frame.
    browser
        .execute(
            "const v = document.querySelector('video.player'); v.muted = true; v.play();",
            serde_json::json!([]),
        )
        .await;
    let state = poll(
        std::time::Duration::from_secs(10),
        || {
            browser.execute(
                "const v = document.querySelector('video.player'); \
                 return v ? { ready: v.readyState, duration: v.duration, width: v.videoWidth, mediaError: v.error && v.error.code } : null;",
                serde_json::json!([]),
            )
        },
        |state| state["ready"].as_i64().unwrap_or(0) >= 2,
    )
    .await;
    assert!(
        state["ready"].as_i64().unwrap_or(0) >= 2,
        "the video decodes: {state}"
    );
    let duration = state["duration"].as_f64().expect("duration");
    assert!((duration - 3.0).abs() <= 0.5, "duration {duration}");
    assert_eq!(state["width"], 512);
    // A frame a second in, for the record.
    browser
        .execute(
            "const v = document.querySelector('video.player'); v.pause(); v.currentTime = 1.0;",
            serde_json::json!([]),
        )
        .await;
    let shown = poll(
        std::time::Duration::from_secs(5),
        || {
            browser.execute(
                "const v = document.querySelector('video.player'); \
                 return !v.seeking && v.readyState >= 2 && v.currentTime >= 0.9;",
                serde_json::json!([]),
            )
        },
        |shown| *shown == serde_json::Value::Bool(true),
    )
    .await;
    assert_eq!(shown, true, "the frame a second in is shown");
    browser.screenshot("31-video-frame").await;
    browser.goto(&app.url("/gallery")).await;
    assert!(browser.text(".play-badge").await.contains("3.0 s"));
    browser.screenshot("32-gallery-play-badge").await;
    browser.quit().await;
}

#[tokio::test]
async fn keyboard_and_phone_users_skip_the_menu_close_it_with_escape_and_are_told_they_left() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("keyboard_and_phone_users_skip_the_menu");
        return;
    };
    let app = spawn_app().await;
    app.user("keyboarder").await;
    let browser = Browser::start(&chromium, &chromedriver).await;
    browser.resize(390, 844).await;
    browser.goto(&app.url("/")).await;
    // The first Tab lands on "Skip to content", which moves the focus into the page.
    browser.press("\u{E004}").await;
    assert_eq!(
        browser
            .execute(
                "return document.activeElement.className;",
                serde_json::json!([])
            )
            .await,
        "skip-link"
    );
    browser.press("\u{E007}").await;
    assert!(
        browser
            .wait_until("document.activeElement.id === 'main'")
            .await
    );
    // The phone menu opens with its button and closes with Escape.
    browser.tap("details.nav-menu summary").await;
    assert!(
        browser
            .wait_until("document.querySelector('details.nav-menu').open")
            .await
    );
    browser.screenshot("70-phone-menu-open").await;
    browser.press("\u{E00C}").await;
    assert!(
        browser
            .wait_until("!document.querySelector('details.nav-menu').open")
            .await
    );

    // Logging out says so, once.
    browser.resize(1366, 900).await;
    browser.goto(&app.url("/login")).await;
    browser.fill("#username", "keyboarder").await;
    browser
        .fill("#password", crate::support::helpers::PASSWORD)
        .await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for_url(|u| u.ends_with("/dashboard")).await;
    browser
        .click(".nav-wide form[action='/logout'] button")
        .await;
    assert!(
        browser
            .wait_until("document.querySelector('.flash') && document.querySelector('.flash').textContent.includes('logged out')")
            .await,
        "{}",
        browser.text("main").await
    );
    browser.screenshot("71-logged-out").await;
    browser.goto(&app.url("/")).await;
    assert!(
        browser
            .wait_until("document.querySelector('.flash') === null")
            .await
    );
    browser.quit().await;
}
