//! A small W3C WebDriver client over reqwest, enough to drive headless Chromium through
//! chromedriver: navigate, find, type, click, read, screenshot.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian's packages put them; `None` when not installed.
pub fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())?;
    let driver = PathBuf::from("/usr/bin/chromedriver");
    driver.exists().then_some((chromium, driver))
}

/// A browser test cannot run here: skip loudly, or fail when CI demands browsers.
pub fn skip_or_fail(test: &str) {
    let reason = "chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver)";
    if std::env::var_os("ATELIER_REQUIRE_BROWSER").is_some() {
        panic!("{test}: {reason}");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        Self::start_with(chromium, chromedriver, true).await
    }

    /// A browser with JavaScript switched off, to prove pages work without it.
    pub async fn without_javascript(chromium: &Path, chromedriver: &Path) -> Browser {
        Self::start_with(chromium, chromedriver, false).await
    }

    async fn start_with(chromium: &Path, chromedriver: &Path, javascript: bool) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    // 2 = blocked for every site (the "JavaScript" content setting).
                    "prefs": { "profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 } },
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                        "--window-size=1280,900",
                        format!("--user-data-dir={}", profile.path().display()),
                    ]
                }
            }}
        });
        let response: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let session = response["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {response}"))
            .to_owned();
        Browser {
            driver,
            base,
            session,
            http,
            _profile: profile,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = self.http.request(method.clone(), url);
        let request = if method == reqwest::Method::GET {
            request
        } else {
            request.json(&body)
        };
        let value: Value = request
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("json");
        if value["value"]["error"].is_string() {
            panic!("webdriver {path}: {value}");
        }
        value["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    pub async fn url(&self) -> String {
        self.run_script("return window.location.href;")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits (up to 5 s) until the URL satisfies `wanted`; returns the last URL seen.
    pub async fn wait_for_url(&self, wanted: impl Fn(&str) -> bool) -> String {
        let mut url = String::new();
        for _ in 0..100 {
            url = self.url().await;
            if wanted(&url) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        url
    }

    async fn run_script(&self, script: &str) -> Value {
        let body = json!({ "script": script, "args": [] });
        self.command(reqwest::Method::POST, "/execute/sync", body)
            .await
    }

    async fn find(&self, css: &str) -> String {
        let value = self
            .command(
                reqwest::Method::POST,
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        value[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element for {css}: {value}"))
            .to_owned()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            json!({}),
        )
        .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Clicks something that stays on the page (a script's button, a `<summary>`).
    pub async fn tap(&self, css: &str) {
        let id = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    /// Clicks something that navigates (a link or a submit button) and waits for the next
    /// page: the clicked element goes stale when its document is replaced, then the new
    /// document must finish loading.
    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        let click = format!("/element/{id}/click");
        self.command(reqwest::Method::POST, &click, json!({})).await;
        let probe = format!(
            "{}/session/{}/element/{id}/enabled",
            self.base, self.session
        );
        for _ in 0..200 {
            let value: Value = self
                .http
                .get(&probe)
                .send()
                .await
                .expect("webdriver")
                .json()
                .await
                .expect("json");
            if value["value"]["error"] == "stale element reference" {
                for _ in 0..200 {
                    if self.run_script("return document.readyState;").await == "complete" {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("clicking {css} did not load a new page within 5 s");
    }

    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.command(
            reqwest::Method::GET,
            &format!("/element/{id}/text"),
            Value::Null,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    pub async fn attribute(&self, css: &str, name: &str) -> String {
        let id = self.find(css).await;
        self.command(
            reqwest::Method::GET,
            &format!("/element/{id}/attribute/{name}"),
            Value::Null,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// A DOM property of the first element matching `css` (a field's current `value`, not
    /// the attribute it was served with).
    pub async fn property(&self, css: &str, name: &str) -> String {
        let id = self.find(css).await;
        self.command(
            reqwest::Method::GET,
            &format!("/element/{id}/property/{name}"),
            Value::Null,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Waits (up to 5 s) for the image in `css` to load with real pixels; lazy images are
    /// not covered by the page's load event.
    pub async fn image_loaded(&self, css: &str) -> bool {
        let script = json!({
            "script": "const img = document.querySelector(arguments[0]); return !!img && img.complete && img.naturalWidth > 0;",
            "args": [css],
        });
        for _ in 0..100 {
            let loaded = self
                .command(reqwest::Method::POST, "/execute/sync", script.clone())
                .await
                .as_bool()
                .unwrap_or(false);
            if loaded {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; its result.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// Sets the window (in headless Chromium, the viewport) to `width` × `height` CSS px.
    pub async fn resize(&self, width: u32, height: u32) {
        self.command(
            reqwest::Method::POST,
            "/window/rect",
            json!({ "width": width, "height": height }),
        )
        .await;
    }

    /// Presses and releases one key (a WebDriver key code such as `"\u{E014}"`, →) as a
    /// real keyboard would, on whatever has the focus.
    pub async fn press(&self, key: &str) {
        self.command(
            reqwest::Method::POST,
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": [
                { "type": "keyDown", "value": key }, { "type": "keyUp", "value": key }
            ]}]}),
        )
        .await;
    }

    /// Waits (up to 10 s) until `expression` is true in the page; whether it became true.
    pub async fn wait_until(&self, expression: &str) -> bool {
        for _ in 0..100 {
            let value = self
                .execute(
                    &format!("try {{ return !!({expression}); }} catch (_) {{ return false; }}"),
                    json!([]),
                )
                .await;
            if value == Value::Bool(true) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Saves a PNG of the viewport under `target/screenshots/`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        use base64_decode::decode;
        let data = self
            .command(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let bytes = decode(data.as_str().expect("base64 png"));
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).expect("write screenshot");
        path
    }

    pub async fn quit(mut self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = self.http.delete(url).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// Standard base64 (with padding), as WebDriver returns screenshots.
mod base64_decode {
    pub fn decode(text: &str) -> Vec<u8> {
        let value = |c: u8| -> Option<u32> {
            Some(match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            } as u32)
        };
        let digits: Vec<u32> = text.bytes().filter_map(value).collect();
        let mut out = Vec::with_capacity(digits.len() * 3 / 4);
        for chunk in digits.chunks(4) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, d)| acc | d << (18 - 6 * i));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
        }
        out
    }
}
