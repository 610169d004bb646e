//! Browser journeys of issue #17 in real headless Chromium: edits show at once, phones
//! never scroll sideways, sharing says who can see, the viewer's keys, gallery bulk
//! actions, search, and drag-and-drop upload of two files. Screenshots of every main page
//! at 1366 and 390 px land in `target/screenshots/`.

use serde_json::json;

use crate::support::helpers::{PASSWORD, TestApp, new_client};
use crate::support::webdriver::{Browser, browser_binaries, skip_or_fail};

const RIGHT: &str = "\u{E014}";
const LEFT: &str = "\u{E012}";

/// Logs `username` in through the form.
async fn log_in(browser: &Browser, app: &TestApp, username: &str) {
    browser.goto(&app.url("/login")).await;
    browser.fill("#username", username).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for_url(|u| !u.contains("/login")).await;
}

/// The colour of the shown picture's top-left pixel and its natural size, read from the
/// pixels the browser decoded.
async fn shown_pixels(browser: &Browser, css: &str) -> serde_json::Value {
    assert!(browser.image_loaded(css).await, "{css} loads");
    browser
        .execute(
            // The file the page shows (with a srcset, naturalWidth is scaled by density).
            "return (async () => {
               const img = new Image();
               img.src = document.querySelector(arguments[0]).currentSrc;
               await img.decode();
               const canvas = document.createElement('canvas');
               canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
               const context = canvas.getContext('2d');
               context.drawImage(img, 0, 0);
               const [r, g, b] = context.getImageData(2, 2, 1, 1).data;
               return { width: img.naturalWidth, height: img.naturalHeight, corner: [r, g, b] };
             })();",
            json!([css]),
        )
        .await
}

#[tokio::test]
async fn an_edit_shows_at_once_on_the_page_and_in_the_gallery() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("an_edit_shows_at_once_on_the_page_and_in_the_gallery");
        return;
    };
    let app = crate::support::helpers::spawn_app().await;
    let client = app.user("editor").await;
    let id = app
        .upload_ok(&client, crate::support::fixtures::png(800, 500), &[])
        .await;

    let browser = Browser::start(&chromium, &chromedriver).await;
    log_in(&browser, &app, "editor").await;
    // Seen once, so the browser holds the old picture and thumbnail in its cache.
    browser.goto(&app.url("/gallery")).await;
    let thumb_before = shown_pixels(&browser, ".tile img").await;
    browser.goto(&app.url(&format!("/images/{id}"))).await;
    let before = shown_pixels(&browser, ".stage-picture img").await;
    assert_eq!(
        (before["width"].clone(), before["height"].clone()),
        (json!(800), json!(500))
    );

    browser
        .click("form[action$='/edit'] input[value='rotate90'] + button")
        .await;
    assert!(
        browser
            .wait_until("document.querySelector('.flash')?.textContent.includes('Edited')")
            .await
    );
    let after = shown_pixels(&browser, ".stage-picture img").await;
    assert_eq!(
        (after["width"].clone(), after["height"].clone()),
        (json!(500), json!(800)),
        "the rotated picture is shown, not the cached one"
    );
    assert_ne!(
        after["corner"], before["corner"],
        "other pixels in the corner"
    );
    browser.screenshot("60-rotated").await;
    // A reload shows the same new picture, and so does the gallery's thumbnail.
    browser.goto(&app.url(&format!("/images/{id}"))).await;
    assert_eq!(shown_pixels(&browser, ".stage-picture img").await, after);
    browser.goto(&app.url("/gallery")).await;
    let thumb_after = shown_pixels(&browser, ".tile img").await;
    assert_eq!(thumb_before["width"], json!(320));
    assert_eq!(
        thumb_after["height"],
        json!(320),
        "the thumbnail turned too"
    );

    // Reverting shows the original again at once.
    browser.goto(&app.url(&format!("/images/{id}"))).await;
    browser
        .click("form[action$='/edit'] input[value='revert'] + button")
        .await;
    assert!(
        browser
            .wait_until("document.querySelector('.flash')?.textContent.includes('Restored')")
            .await
    );
    assert_eq!(shown_pixels(&browser, ".stage-picture img").await, before);
    browser.quit().await;
}

#[tokio::test]
async fn sharing_is_unlisted_by_default_and_public_only_when_chosen() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("sharing_is_unlisted_by_default_and_public_only_when_chosen");
        return;
    };
    // Previews need the site's absolute URL: the browser reaches the app directly, so the
    // app is told it is its own trusted proxy, and takes the URL from the request.
    let app = crate::support::helpers::spawn_app_with(|s| {
        s.insert("trusted_proxies".into(), "127.0.0.1".into());
    })
    .await;
    let client = app.user("sharer").await;
    let quiet = app
        .upload_ok(
            &client,
            crate::support::fixtures::png(300, 200),
            &[("title", "Quiet one")],
        )
        .await;
    let loud = app
        .upload_ok(
            &client,
            crate::support::fixtures::png(300, 200),
            &[("title", "Loud one")],
        )
        .await;

    let browser = Browser::start(&chromium, &chromedriver).await;
    log_in(&browser, &app, "sharer").await;
    browser.goto(&app.url(&format!("/images/{quiet}"))).await;
    browser.screenshot("61-share-choices").await;
    browser
        .click("form.share-choice input[value='unlisted'] ~ .row button")
        .await;
    assert!(browser.text("#sharing").await.contains("Unlisted"));
    let link = browser.property("#share-url", "value").await;
    assert!(
        link.starts_with("http://127.0.0.1:") && link.contains("/s/"),
        "{link}"
    );
    // Copy puts the full link on the clipboard.
    browser.tap("button[data-copy='#share-url']").await;
    assert!(browser.wait_until("document.querySelector(\"button[data-copy='#share-url']\").textContent === 'Copied'").await);
    browser.screenshot("62-unlisted-link").await;

    browser.goto(&app.url(&format!("/images/{loud}"))).await;
    assert_eq!(
        browser
            .execute("return document.querySelector(\"form.share-choice input[value='public'] ~ .row select\").value;", json!([]))
            .await,
        json!("30"),
        "public shares expire after 30 days unless the owner says otherwise"
    );
    browser
        .click("form.share-choice input[value='public'] ~ .row button")
        .await;
    assert!(browser.text("#sharing").await.contains("On Explore"));
    assert!(browser.text("#sharing").await.contains("until"));
    browser.quit().await;

    // A stranger: Explore lists the public one only; the unlisted link still works and
    // carries a link preview.
    let visitor = Browser::start(&chromium, &chromedriver).await;
    visitor.goto(&app.url("/explore")).await;
    let explore = visitor.text("main").await;
    assert!(
        explore.contains("Loud one") && !explore.contains("Quiet one"),
        "{explore}"
    );
    visitor.goto(&link).await;
    assert!(visitor.text("h1").await.contains("Quiet one"));
    assert!(visitor.image_loaded(".shared img").await);
    let og_title = visitor
        .attribute("meta[property='og:title']", "content")
        .await;
    let og_image = visitor
        .attribute("meta[property='og:image']", "content")
        .await;
    assert_eq!(og_title, "Quiet one");
    assert!(
        og_image.starts_with("http://127.0.0.1:") && og_image.contains("/s/"),
        "{og_image}"
    );
    let preview = new_client()
        .get(&og_image)
        .send()
        .await
        .expect("GET og:image");
    assert_eq!(preview.status(), 200);
    assert_eq!(
        visitor.attribute("meta[name='robots']", "content").await,
        "noindex"
    );
    visitor.screenshot("63-share-page").await;
    visitor.quit().await;
}

#[tokio::test]
async fn the_viewer_bulk_actions_search_and_drag_and_drop_upload() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("the_viewer_bulk_actions_search_and_drag_and_drop_upload");
        return;
    };
    let app = crate::support::helpers::spawn_app().await;
    let client = app.user("curator").await;
    for (title, width) in [
        ("Red mountain", 400),
        ("Blue lake", 500),
        ("Green forest", 600),
    ] {
        app.upload_ok(
            &client,
            crate::support::fixtures::png(width, 300),
            &[("title", title)],
        )
        .await;
    }
    let browser = Browser::start(&chromium, &chromedriver).await;
    log_in(&browser, &app, "curator").await;

    // Drag and drop two files onto the upload page: two previews, two progress bars, two
    // images stored.
    browser.goto(&app.url("/upload")).await;
    browser
        .execute(
            "const make = (colour, name) => new Promise((resolve) => {
               const canvas = document.createElement('canvas');
               canvas.width = 120; canvas.height = 80;
               const context = canvas.getContext('2d');
               context.fillStyle = colour; context.fillRect(0, 0, 120, 80);
               canvas.toBlob((blob) => resolve(new File([blob], name, { type: 'image/png' })), 'image/png');
             });
             const done = arguments[arguments.length - 1];
             Promise.all([make('#c33', 'dropped-one.png'), make('#3c3', 'dropped-two.png')]).then((files) => {
               const transfer = new DataTransfer();
               for (const file of files) transfer.items.add(file);
               const zone = document.querySelector('.dropzone');
               zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
               zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
             });
             return true;",
            json!([]),
        )
        .await;
    assert!(
        browser
            .wait_until(
                "document.querySelectorAll(\".upload-item[data-done='true']\").length === 2"
            )
            .await,
        "both dropped files uploaded: {}",
        browser.text("main").await
    );
    assert_eq!(
        browser
            .execute("return document.querySelectorAll('.upload-item img, .upload-item progress').length;", json!([]))
            .await,
        json!(4),
        "a preview and a progress bar per file"
    );
    assert!(
        browser
            .wait_until("[...document.querySelectorAll('.upload-item img')].every((img) => img.complete && img.naturalWidth === 120)")
            .await,
        "the previews show the dropped pictures (blob: URLs pass the CSP)"
    );
    browser.screenshot("64-drag-and-drop").await;
    assert_eq!(app.count_images(), 5);

    // The viewer: click a picture, → and ← move between pictures, Escape closes.
    browser.goto(&app.url("/gallery?sort=title")).await;
    browser.tap(".tile a[data-title='Blue lake']").await;
    assert!(
        browser
            .wait_until("document.querySelector('dialog.lightbox').open")
            .await
    );
    let caption = || async { browser.text("dialog.lightbox figcaption").await };
    assert!(
        caption().await.starts_with("Blue lake"),
        "{}",
        caption().await
    );
    assert!(browser.image_loaded("dialog.lightbox img").await);
    browser.screenshot("65-viewer").await;
    browser.press(RIGHT).await;
    assert!(
        caption().await.starts_with("dropped-one")
            || caption().await.starts_with("dropped-two")
            || caption().await.starts_with("Green forest"),
        "{}",
        caption().await
    );
    let second = caption().await;
    browser.press(LEFT).await;
    assert!(caption().await.starts_with("Blue lake"), "← comes back");
    assert_ne!(second, caption().await);
    assert!(
        !browser
            .attribute("dialog.lightbox .lb-download", "href")
            .await
            .is_empty()
    );
    browser.press("\u{E00C}").await;
    assert!(
        browser
            .wait_until("!document.querySelector('dialog.lightbox').open")
            .await
    );

    // Search by title: one match.
    browser.fill("input[name=q]", "mountain").await;
    browser.click("form.toolbar button[type=submit]").await;
    assert!(
        browser
            .wait_until("location.search.includes('q=mountain')")
            .await
    );
    let titles = browser
        .execute(
            "return [...document.querySelectorAll('.tile-title')].map((t) => t.textContent);",
            json!([]),
        )
        .await;
    assert_eq!(titles, json!(["Red mountain"]));
    browser.screenshot("66-search").await;

    // Shift-click ticks a range; each box is at least 24 px to hit.
    browser.goto(&app.url("/gallery")).await;
    let ranged = browser
        .execute(
            "const boxes = [...document.querySelectorAll('input[name=ids]')];
             boxes[0].click();
             boxes[2].dispatchEvent(new MouseEvent('click', { shiftKey: true, bubbles: true, cancelable: true }));
             return { ticked: boxes.filter((box) => box.checked).length,
                      size: Math.min(boxes[0].getBoundingClientRect().width, boxes[0].getBoundingClientRect().height) };",
            json!([]),
        )
        .await;
    assert_eq!(ranged["ticked"], 3, "{ranged}");
    assert!(ranged["size"].as_f64().unwrap_or(0.0) >= 24.0, "{ranged}");
    assert!(browser.text(".bulk-count").await.contains("3 selected"));

    // Bulk: tick two, tag them, then move them into a new folder, then delete them.
    browser.goto(&app.url("/gallery")).await;
    browser
        .execute(
            "for (const title of ['Red mountain', 'Blue lake']) {
               document.querySelector(`input[aria-label='Select ${title}']`).click();
             }
             return true;",
            json!([]),
        )
        .await;
    assert!(browser.text(".bulk-count").await.contains("2 selected"));
    browser
        .execute("const s = document.querySelector('select[name=action]'); s.value = 'tag'; s.dispatchEvent(new Event('change', { bubbles: true })); return true;", json!([]))
        .await;
    browser.fill("input[name=tags]", "favourites-of-2026").await;
    browser.screenshot("67-bulk-selected").await;
    browser.click(".bulk-bar button[type=submit]").await;
    assert!(
        browser
            .wait_until("document.querySelector('.flash')?.textContent.includes('Tagged 2 images')")
            .await
    );
    let tagged = app.api_images(&client).await;
    let with_tag = tagged
        .iter()
        .filter(|image| image["tags"] == json!(["favourites-of-2026"]))
        .count();
    assert_eq!(with_tag, 2);

    browser
        .execute(
            "for (const title of ['Red mountain', 'Blue lake']) {
               document.querySelector(`input[aria-label='Select ${title}']`).click();
             }
             const s = document.querySelector('select[name=action]'); s.value = 'delete';
             s.dispatchEvent(new Event('change', { bubbles: true }));
             window.confirm = () => true;
             return true;",
            json!([]),
        )
        .await;
    browser.click(".bulk-bar button[type=submit]").await;
    assert!(
        browser
            .wait_until(
                "document.querySelector('.flash')?.textContent.includes('Moved 2 images to the trash')"
            )
            .await
    );
    assert_eq!(app.api_images(&client).await.len(), 3);
    browser.quit().await;
}

/// The main pages, for screenshots and the phone check: (name, path).
fn main_pages(image: i64, share: &str, job: i64) -> Vec<(&'static str, String)> {
    vec![
        ("home", "/".into()),
        ("explore", "/explore".into()),
        ("privacy", "/privacy".into()),
        ("dashboard", "/dashboard".into()),
        ("generate", "/generate".into()),
        ("story", "/story".into()),
        ("video", "/video".into()),
        ("job", format!("/jobs/{job}")),
        ("gallery", "/gallery".into()),
        ("upload", "/upload".into()),
        ("image", format!("/images/{image}")),
        ("share", share.to_owned()),
        ("account", "/account".into()),
        ("admin", "/admin".into()),
        ("admin-ips", "/admin/ips".into()),
        ("admin-limits", "/admin/limits".into()),
        ("admin-users", "/admin/users".into()),
        ("admin-audit", "/admin/audit".into()),
    ]
}

#[tokio::test]
async fn phones_never_scroll_sideways_and_every_main_page_has_screenshots() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("phones_never_scroll_sideways_and_every_main_page_has_screenshots");
        return;
    };
    let (app, admin) = crate::admin::app_with_admin().await;
    let image = app
        .upload_ok(
            &admin,
            crate::support::fixtures::png(1200, 700),
            &[
                (
                    "title",
                    "A rather long title for a picture of the sea at dusk",
                ),
                ("tags", "sea, dusk, long-tag-name"),
            ],
        )
        .await;
    let share = app.share(&admin, image, "public").await;
    crate::quotas::grant(&app, "root", 5);
    let (status, generated) = admin
        .generate(json!({ "prompt": "a lighthouse in a storm" }))
        .await;
    assert_eq!(status, 200, "{generated}");
    let job = generated["job_id"].as_i64().expect("job id");

    let browser = Browser::start(&chromium, &chromedriver).await;
    // Signed out first: the landing page's header must not wrap on a phone.
    browser.resize(390, 844).await;
    browser.goto(&app.url("/")).await;
    let header_height = browser
        .execute(
            "return document.querySelector('.topbar').getBoundingClientRect().height;",
            json!([]),
        )
        .await;
    assert!(
        header_height.as_f64().unwrap_or(999.0) <= 64.0,
        "one row: {header_height}"
    );
    for (name, path) in [("login", "/login"), ("register", "/register")] {
        browser.goto(&app.url(path)).await;
        assert_no_sideways_scroll(&browser, path).await;
        browser.screenshot(&format!("70-{name}-390")).await;
    }
    log_in(&browser, &app, "root").await;
    for (width, height) in [(1366, 900), (390, 844)] {
        browser.resize(width, height).await;
        for (name, path) in main_pages(image, &share, job) {
            browser.goto(&app.url(&path)).await;
            if width == 390 {
                assert_no_sideways_scroll(&browser, &path).await;
            }
            browser.screenshot(&format!("70-{name}-{width}")).await;
        }
    }
    // On the phone the menu opens from a <details> (no script needed) and holds Log out.
    browser.resize(390, 844).await;
    browser.goto(&app.url("/dashboard")).await;
    assert!(
        !browser
            .execute(
                "return document.querySelector('.nav-wide').offsetParent !== null;",
                json!([])
            )
            .await
            .as_bool()
            .unwrap_or(true)
    );
    browser.tap(".nav-menu > summary").await;
    assert!(
        browser
            .wait_until("document.querySelector('.nav-menu .link-button').offsetParent !== null")
            .await
    );
    let inside = browser
        .execute("const r = document.querySelector('.nav-menu .link-button').getBoundingClientRect(); return r.right <= window.innerWidth && r.left >= 0;", json!([]))
        .await;
    assert_eq!(inside, json!(true), "Log out is on screen");
    browser.screenshot("71-phone-menu-open").await;
    browser.click(".nav-menu .link-button").await;
    browser.wait_for_url(|u| u == app.url("/")).await;
    browser.quit().await;
}

async fn assert_no_sideways_scroll(browser: &Browser, path: &str) {
    let widths = browser
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth,
                     [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && getComputedStyle(e).position !== 'fixed' && !e.closest('.table, dialog, details:not([open])')).slice(0, 3).map((e) => e.tagName + '.' + e.className)];",
            json!([]),
        )
        .await;
    assert!(
        widths[0].as_i64() <= widths[1].as_i64(),
        "{path} scrolls sideways on a phone: {widths}"
    );
}

#[tokio::test]
async fn without_javascript_every_tool_still_posts_and_redirects() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        skip_or_fail("without_javascript_every_tool_still_posts_and_redirects");
        return;
    };
    let app = crate::support::helpers::spawn_app().await;
    let client = app.user("plain").await;
    let id = app
        .upload_ok(
            &client,
            crate::support::fixtures::png(320, 200),
            &[("title", "Plain one")],
        )
        .await;
    let picture = tempfile::Builder::new()
        .suffix(".png")
        .tempfile()
        .expect("temp file");
    std::fs::write(picture.path(), crate::support::fixtures::png(200, 120)).expect("write");

    let browser = Browser::without_javascript(&chromium, &chromedriver).await;
    log_in(&browser, &app, "plain").await;
    // The phone menu is a <details>: it opens with no script.
    browser.resize(390, 844).await;
    browser.goto(&app.url("/gallery")).await;
    browser.tap(".nav-menu > summary").await;
    assert_eq!(
        browser
            .execute(
                "return document.querySelector('.nav-menu').open;",
                json!([])
            )
            .await,
        json!(true)
    );
    browser.resize(1366, 900).await;
    // Bulk tag: tick, choose, type, apply.
    browser.goto(&app.url("/gallery")).await;
    browser.tap("input[aria-label='Select Plain one']").await;
    browser.tap("select[name=action] option[value='tag']").await;
    browser.fill("input[name=tags]", "no-script").await;
    browser.click(".bulk-bar button[type=submit]").await;
    assert!(browser.text(".flash").await.contains("Tagged 1 image"));
    assert_eq!(
        app.api_images(&client).await[0]["tags"],
        json!(["no-script"])
    );
    // A click on a picture opens its page (no viewer without script).
    browser.click(".tile a").await;
    assert!(browser.url().await.ends_with(&format!("/images/{id}")));
    // Share: the unlisted form posts; the Copy button stays hidden, the field shows the link.
    browser
        .click("form.share-choice input[value='unlisted'] ~ .row button")
        .await;
    assert!(browser.text("#sharing").await.contains("Unlisted"));
    assert_eq!(
        browser
            .execute(
                "return document.querySelector(\"button[data-copy='#share-url']\").hidden;",
                json!([])
            )
            .await,
        json!(true)
    );
    assert!(
        browser
            .property("#share-url", "value")
            .await
            .contains("/s/")
    );
    // Upload: the plain form, one file, straight to the new image's page.
    browser.goto(&app.url("/upload")).await;
    assert_eq!(
        browser
            .execute(
                "return document.querySelector('.dropzone') === null;",
                json!([])
            )
            .await,
        json!(true),
        "the script really is off"
    );
    browser
        .fill("#file", &picture.path().display().to_string())
        .await;
    browser.click("main form button[type=submit]").await;
    assert!(browser.url().await.contains("/images/"));
    assert_eq!(app.count_images(), 2);
    browser.screenshot("72-no-javascript-upload").await;
    browser.quit().await;
}
