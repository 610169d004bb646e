//! Browser journeys of #30 in real headless Chromium, at 1366 and 390 px, with
//! screenshots in `target/screenshots/`: ← and → through ten pictures and Esc back to the
//! grid (a swipe on the phone), a 12-megapixel upload's page under 600 KB of pictures, the
//! trash restoring a picture and emptying, and a 0-credit account finding every spending
//! button off with the reason and a place to ask.

use serde_json::json;

use crate::support::fixtures::{photo_like_jpeg, png};
use crate::support::helpers::{PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::support::webdriver::{Browser, browser_binaries, skip_or_fail};

const RIGHT: &str = "\u{E014}";
const LEFT: &str = "\u{E012}";
const ESCAPE: &str = "\u{E00C}";

/// The two window widths every journey runs at: a laptop and a phone.
const WIDTHS: [(u32, u32, &str); 2] = [(1366, 900, "1366"), (390, 844, "390")];

async fn log_in(browser: &Browser, app: &TestApp, username: &str) {
    browser.goto(&app.url("/login")).await;
    browser.fill("#username", username).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for_url(|u| !u.contains("/login")).await;
}

/// The image id in a page URL (`/images/12?q=…` → 12).
fn id_in(url: &str) -> i64 {
    url.split("/images/")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not an image page: {url}"))
}

#[tokio::test]
async fn arrows_walk_ten_pictures_and_escape_goes_back_to_the_grid() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("arrows_walk_ten_pictures_and_escape_goes_back_to_the_grid");
        return;
    };
    let app = spawn_app().await;
    let client = app.user("walker").await;
    let mut ids = Vec::new();
    for n in 0..11u32 {
        let (width, height) = [(300, 200), (200, 300), (320, 120)][n as usize % 3];
        let title = format!("walk {n}");
        ids.push(
            app.upload_ok(&client, png(width, height), &[("title", &title)])
                .await,
        );
    }
    // Newest first: the walk goes from the newest down.
    ids.reverse();
    let browser = Browser::start(&chromium, &chromedriver).await;
    log_in(&browser, &app, "walker").await;
    for (width, height, label) in WIDTHS {
        browser.resize(width, height).await;
        browser.goto(&app.url("/gallery?sort=newest&page=1")).await;
        browser
            .screenshot(&format!("80-justified-grid-{label}"))
            .await;
        let shapes = browser
            .execute(
                "return [...document.querySelectorAll('.grid.justified .tile a')]
                   .slice(0, 3).map(a => Math.round(10 * a.clientWidth / a.clientHeight));",
                json!([]),
            )
            .await;
        // The newest three: 200×300, 300×200, and 320×120 (shown at the widest, 2.5:1).
        assert_eq!(
            shapes,
            json!([7, 15, 25]),
            "each tile in its picture's shape"
        );
        browser.goto(&app.url(&format!("/images/{}", ids[0]))).await;
        browser.screenshot(&format!("81-viewer-{label}")).await;
        let fills = browser
            .execute(
                "const img = document.querySelector('.stage-picture img');
                 return img.getBoundingClientRect().height / window.innerHeight;",
                json!([]),
            )
            .await
            .as_f64()
            .expect("ratio");
        if width > 600 {
            assert!(fills > 0.6, "the picture fills the stage: {fills}");
        }
        for (step, id) in ids.iter().enumerate().skip(1) {
            browser.press(RIGHT).await;
            let url = browser
                .wait_for_url(|u| u.contains("/images/") && id_in(u) == *id)
                .await;
            assert_eq!(id_in(&url), *id, "step {step}");
        }
        assert!(
            browser
                .execute(
                    "return document.querySelector('[data-next]') === null;",
                    json!([])
                )
                .await
                .as_bool()
                .unwrap_or(false),
            "the oldest picture has no next"
        );
        browser.press(LEFT).await;
        browser
            .wait_for_url(|u| u.contains("/images/") && id_in(u) == ids[9])
            .await;
        if width < 600 {
            // A swipe to the left is "next", as on any phone gallery.
            browser
                .execute(
                    "const stage = document.querySelector('.stage-picture');
                     const touch = (x) => new Touch({ identifier: 1, target: stage, clientX: x, clientY: 300 });
                     stage.dispatchEvent(new TouchEvent('touchstart', { touches: [touch(300)], bubbles: true }));
                     stage.dispatchEvent(new TouchEvent('touchend', { changedTouches: [touch(80)], bubbles: true }));
                     return true;",
                    json!([]),
                )
                .await;
            browser
                .wait_for_url(|u| u.contains("/images/") && id_in(u) == ids[10])
                .await;
        }
        browser.press(ESCAPE).await;
        let back = browser.wait_for_url(|u| u.contains("/gallery")).await;
        assert!(back.contains("/gallery"), "{back}");
    }
    browser.quit().await;
}

#[tokio::test]
async fn a_twelve_megapixel_upload_page_loads_under_600_kb_of_pictures() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("a_twelve_megapixel_upload_page_loads_under_600_kb_of_pictures");
        return;
    };
    let app = spawn_app().await;
    let client = app.user("photographer").await;
    let photo = photo_like_jpeg(4000, 3000);
    let id = app.upload_ok(&client, photo.clone(), &[]).await;
    let browser = Browser::start(&chromium, &chromedriver).await;
    log_in(&browser, &app, "photographer").await;
    for (width, height, label) in WIDTHS {
        browser.resize(width, height).await;
        browser.goto(&app.url(&format!("/images/{id}"))).await;
        assert!(browser.image_loaded(".stage-picture img").await);
        browser
            .screenshot(&format!("82-twelve-megapixels-{label}"))
            .await;
        let bytes = browser
            .execute(
                "return performance.getEntriesByType('resource')
                   .filter(e => e.initiatorType === 'img' || /\\/media\\//.test(e.name))
                   .reduce((sum, e) => sum + e.encodedBodySize, 0);",
                json!([]),
            )
            .await
            .as_f64()
            .expect("bytes");
        assert!(
            bytes > 10_000.0 && bytes < 600_000.0,
            "{label} px: {bytes} bytes of pictures (the upload is {} bytes)",
            photo.len()
        );
    }
    browser.quit().await;
}

#[tokio::test]
async fn the_trash_gives_a_picture_back_and_empties() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("the_trash_gives_a_picture_back_and_empties");
        return;
    };
    let app = spawn_app().await;
    let client = app.user("binner").await;
    let kept = app
        .upload_ok(&client, png(300, 200), &[("title", "keeper")])
        .await;
    let binned = app
        .upload_ok(&client, png(200, 300), &[("title", "regret")])
        .await;
    let browser = Browser::start(&chromium, &chromedriver).await;
    log_in(&browser, &app, "binner").await;
    for (width, height, label) in WIDTHS {
        browser.resize(width, height).await;
        browser.goto(&app.url(&format!("/images/{binned}"))).await;
        browser.click("#delete form button[type=submit]").await;
        assert!(browser.text(".flash").await.contains("moved to the trash"));
        browser.goto(&app.url("/trash")).await;
        browser.screenshot(&format!("83-trash-{label}")).await;
        assert!(browser.text("main").await.contains("regret"));
        browser.click(".tile-restore").await;
        assert!(browser.text(".flash").await.contains("Restored 1 picture"));
        browser.goto(&app.url(&format!("/images/{binned}"))).await;
        assert!(
            browser.text("h1").await.contains("regret"),
            "back at its page"
        );
    }
    // Empty: asked first, then gone with its files.
    for id in [kept, binned] {
        app.post_form(&client, &format!("/images/{id}/delete"), &[])
            .await;
    }
    browser.goto(&app.url("/trash")).await;
    browser
        .execute("window.confirm = () => true; return true;", json!([]))
        .await;
    browser.click("form[action='/trash/empty'] button").await;
    assert!(browser.text("main").await.contains("The trash is empty."));
    assert_eq!((app.count_images(), app.stored_files().len()), (0, 0));
    browser.screenshot("84-trash-emptied").await;
    browser.quit().await;
}

#[tokio::test]
async fn with_no_credits_every_spending_button_is_off_and_says_why() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("with_no_credits_every_spending_button_is_off_and_says_why");
        return;
    };
    let app = spawn_app_with(|s| {
        s.insert("signup_credits".into(), "1".into());
        s.insert("free_images_standard".into(), "0".into());
        s.insert("credits_per_video".into(), "5".into());
        s.insert(
            "credits_contact".into(),
            "mailto:credits@example.com".into(),
        );
    })
    .await;
    let client = app.user("spent").await;
    let made = client.generated("a lighthouse in a storm").await;
    let (image, job) = (
        made["id"].as_i64().expect("id"),
        made["job_id"].as_i64().expect("job"),
    );
    assert_eq!(app.credits_of("spent"), 0);
    let browser = Browser::start(&chromium, &chromedriver).await;
    log_in(&browser, &app, "spent").await;
    let pages = [
        ("dashboard", "/dashboard".to_owned()),
        ("generate", "/generate".to_owned()),
        ("story", "/story".to_owned()),
        ("video", "/video".to_owned()),
        ("job", format!("/jobs/{job}")),
        ("image", format!("/images/{image}")),
    ];
    for (width, height, label) in WIDTHS {
        browser.resize(width, height).await;
        for (name, path) in &pages {
            browser.goto(&app.url(path)).await;
            browser
                .screenshot(&format!("85-no-credits-{name}-{label}"))
                .await;
            // Every button that spends is off, and names where its reason is written.
            let spending = browser
                .execute(
                    "const spends = [...document.querySelectorAll('main button[type=submit]')]
                       .filter(b => /Generate|Illustrate|Make|Vary|Re-run|Run again/.test(b.textContent));
                     return spends.map(b => ({
                       text: b.textContent.trim(),
                       disabled: b.disabled,
                       reason: (document.getElementById(b.getAttribute('aria-describedby') || '') || {}).textContent || ''
                     }));",
                    json!([]),
                )
                .await;
            let spending = spending.as_array().expect("buttons");
            assert!(!spending.is_empty(), "{name}: a spending button");
            for button in spending {
                assert_eq!(button["disabled"], json!(true), "{name}: {button}");
                let reason = button["reason"].as_str().unwrap_or_default();
                assert!(
                    reason.contains("credit") || reason.contains("0"),
                    "{name}: {button}"
                );
            }
            let ask = browser
                .execute(
                    "return [...document.querySelectorAll('main a.ask-credits')].map(a => a.href);",
                    json!([]),
                )
                .await;
            assert!(
                ask.as_array().is_some_and(|links| !links.is_empty()
                    && links.iter().all(|l| l == "mailto:credits@example.com")),
                "{name}: {ask}"
            );
        }
    }
    browser.quit().await;
}

#[tokio::test]
async fn the_crop_box_keeps_a_shape_and_the_theme_switch_remembers() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("the_crop_box_keeps_a_shape_and_the_theme_switch_remembers");
        return;
    };
    let app = spawn_app().await;
    let client = app.user("cropper").await;
    let id = app.upload_ok(&client, png(400, 300), &[]).await;
    let browser = Browser::start(&chromium, &chromedriver).await;
    log_in(&browser, &app, "cropper").await;
    for (width, height, label) in WIDTHS {
        browser.resize(width, height).await;
        // A fresh load each time (a jump to the same page's #edit would keep the fields).
        browser.goto(&app.url("/gallery")).await;
        browser.goto(&app.url(&format!("/images/{id}#edit"))).await;
        let fields = || async {
            browser
                .execute(
                    "return ['x', 'y', 'w', 'h'].map(n =>
                       Number(document.querySelector(`form[data-crop] input[name=${n}]`).value));",
                    json!([]),
                )
                .await
        };
        assert_eq!(fields().await, json!([0, 0, 400, 300]), "the whole picture");
        browser.tap(".crop-aspects [data-aspect='1']").await;
        assert_eq!(fields().await, json!([50, 0, 300, 300]), "a centred square");
        // The frame moves with the keyboard, inside the picture.
        browser.tap(".crop-frame").await;
        for _ in 0..40 {
            browser.press(LEFT).await;
        }
        let moved = fields().await;
        assert_eq!(moved[0], json!(0), "stopped at the edge: {moved}");
        assert_eq!(
            (moved[2].clone(), moved[3].clone()),
            (json!(300), json!(300))
        );
        browser.screenshot(&format!("86-crop-box-{label}")).await;
    }
    browser.click("form[data-crop] button[type=submit]").await;
    assert!(browser.text(".facts").await.contains("300 × 300 px"));

    // Light or dark: the footer's switch, remembered on the next page.
    let background = || async {
        browser
            .execute(
                "return [document.documentElement.dataset.theme || '',
                         getComputedStyle(document.body).backgroundColor];",
                json!([]),
            )
            .await
    };
    browser.goto(&app.url("/gallery")).await;
    browser.tap("[data-theme-switch]").await;
    assert!(browser.text("[data-theme-switch]").await.contains("Dark"));
    browser.goto(&app.url("/dashboard")).await;
    let dark = background().await;
    assert_eq!(dark[0], json!("dark"), "{dark}");
    assert_eq!(dark[1], json!("rgb(18, 17, 25)"), "{dark}");
    browser.screenshot("87-dark-dashboard").await;
    browser.tap("[data-theme-switch]").await;
    browser.goto(&app.url("/dashboard")).await;
    assert_eq!(background().await, json!(["light", "rgb(247, 247, 251)"]));
    browser.quit().await;
}

#[tokio::test]
async fn page_numbers_jump_and_a_folder_goes_with_its_pictures() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("page_numbers_jump_and_a_folder_goes_with_its_pictures");
        return;
    };
    let app = spawn_app_with(|s| {
        s.insert("uploads_per_hour".into(), "1000".into());
    })
    .await;
    let client = app.user("archivist").await;
    app.post_form(&client, "/folders", &[("name", "Old trips")])
        .await;
    for n in 0..(24 * 5 + 1) {
        let title = format!("trip {n}");
        app.upload_ok(
            &client,
            png(12, 8),
            &[("title", &title), ("folder", "old-trips")],
        )
        .await;
    }
    let browser = Browser::start(&chromium, &chromedriver).await;
    log_in(&browser, &app, "archivist").await;
    browser.goto(&app.url("/gallery?folder=old-trips")).await;
    assert_eq!(
        browser
            .text(".page-numbers")
            .await
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["1", "2", "3", "…", "6"]
    );
    browser.click(".page-numbers a[aria-label='Page 6']").await;
    assert!(browser.url().await.ends_with("page=6"));
    assert_eq!(browser.text(".page-numbers .current").await, "6");
    browser.screenshot("88-page-six").await;
    // Delete the folder, its pictures to the trash.
    browser.tap(".folder-delete summary").await;
    browser.tap(".folder-delete input[value='trash']").await;
    browser.click(".folder-delete button[type=submit]").await;
    assert!(
        browser
            .text(".flash")
            .await
            .contains("Its 121 pictures went to the trash.")
    );
    let trash = browser.text(".folder-list a[href='/trash']").await;
    assert!(trash.contains("Trash") && trash.contains("121"), "{trash}");
    browser.screenshot("89-folder-deleted").await;
}
