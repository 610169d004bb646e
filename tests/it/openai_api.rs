//! The OpenAI-compatible API driven by its real client: the official `openai` Python
//! package (installed into a venv by `.ci/run`), through its own HTTP client with a hook
//! that counts what it sends. Models, two base64 pictures, an edit of a sent picture, URLs the same token downloads and another
//! token cannot, the `api` folder, the caller's address, no credits as the SDK's
//! `RateLimitError` with `insufficient_quota` after exactly one request (no retries), and a
//! bad key as `AuthenticationError`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::helpers::{TestApp, new_client, spawn_app_with};

/// The SDK driver: `mode` picks what it does; it prints one JSON object.
const DRIVER: &str = r#"
import base64, json, os, sys
import openai

sent = []
http = openai.DefaultHttpxClient(
    event_hooks={"request": [lambda request: sent.append(str(request.url))]}
)
base = os.environ["ATELIER_BASE"] + "/v1"
client = openai.OpenAI(base_url=base, api_key=os.environ["ATELIER_TOKEN"], http_client=http)
out = {}
mode = sys.argv[1]
if mode == "happy":
    out["models"] = [model.id for model in client.models.list()]
    made = client.images.generate(
        model="atelier-builtin", prompt="a lighthouse at dusk", n=2, size="512x512",
        response_format="b64_json",
    )
    out["b64_heads"] = [base64.b64decode(item.b64_json)[:8].hex() for item in made.data]
    made = client.images.generate(prompt="a fox in the snow", response_format="url")
    out["urls"] = [item.url for item in made.data]
    out["revised"] = made.data[0].revised_prompt
elif mode == "broke":
    try:
        client.images.generate(prompt="one more than I can pay for")
        out["raised"] = None
    except openai.RateLimitError as error:
        out["raised"] = "RateLimitError"
        out["code"] = error.code
elif mode == "bad_key":
    stranger = openai.OpenAI(base_url=base, api_key="atl_not_a_real_token", http_client=http)
    try:
        stranger.models.list()
        out["raised"] = None
    except openai.AuthenticationError:
        out["raised"] = "AuthenticationError"
elif mode == "bad_size":
    try:
        client.images.generate(prompt="an odd one", size="300x300")
        out["raised"] = None
    except openai.BadRequestError as error:
        out["raised"] = "BadRequestError"
        out["message"] = error.message
elif mode == "edit":
    with open(os.environ["ATELIER_IMAGE"], "rb") as picture:
        made = client.images.edit(
            image=picture, prompt="the same harbour at night", response_format="b64_json"
        )
    out["b64_heads"] = [base64.b64decode(item.b64_json)[:8].hex() for item in made.data]
elif mode == "race":
    from concurrent.futures import ThreadPoolExecutor
    def one(index):
        try:
            client.images.generate(prompt=f"a racing boat {index}", response_format="url")
            return "made"
        except openai.RateLimitError as error:
            return error.code
    with ThreadPoolExecutor(max_workers=20) as pool:
        out["outcomes"] = list(pool.map(one, range(20)))
out["requests"] = len(sent)
print(json.dumps(out))
"#;

/// The venv's Python with the `openai` package, or `None` (test skipped) without it.
fn sdk_python(test: &str) -> Option<PathBuf> {
    let python = std::env::var_os("ATELIER_OPENAI_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".cache/atelier-sdk/bin/python"))
        })
        .filter(|python| {
            Command::new(python)
                .args(["-c", "import openai"])
                .status()
                .is_ok_and(|status| status.success())
        });
    if python.is_none() {
        let reason = "the openai Python package is not installed (see .ci/run)";
        if std::env::var_os("ATELIER_REQUIRE_OPENAI_SDK").is_some() {
            panic!("{test}: {reason}");
        }
        eprintln!("SKIPPED {test}: {reason}");
    }
    python
}

/// Runs the driver in `mode` against `app` with `token` (off the executor: the SDK blocks).
async fn sdk(python: &Path, app: &TestApp, token: &str, mode: &str) -> serde_json::Value {
    let (python, base, token, mode) = (
        python.to_owned(),
        app.address.clone(),
        token.to_owned(),
        mode.to_owned(),
    );
    tokio::task::spawn_blocking(move || drive(&python, &base, &token, &mode))
        .await
        .expect("driver")
}

fn drive(python: &Path, base: &str, token: &str, mode: &str) -> serde_json::Value {
    let picture = tempfile::NamedTempFile::new().expect("picture file");
    std::fs::write(picture.path(), crate::support::fixtures::png(64, 48)).expect("write");
    let output = Command::new(python)
        .args(["-c", DRIVER, mode])
        .env("ATELIER_BASE", base)
        .env("ATELIER_TOKEN", token)
        .env("ATELIER_IMAGE", picture.path())
        .output()
        .expect("run the SDK");
    assert!(
        output.status.success(),
        "{mode}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the driver's JSON")
}

/// A signed-in user's new API token (of the whole API).
async fn token_of(app: &TestApp, client: &reqwest::Client) -> String {
    scoped_token_of(app, client, "api").await
}

async fn scoped_token_of(app: &TestApp, client: &reqwest::Client, scope: &str) -> String {
    let reply: serde_json::Value = client
        .post(app.url("/account/tokens"))
        .header("accept", "application/json")
        .form(&[("name", "openai sdk"), ("scope", scope)])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    reply["token"].as_str().expect("a token").to_owned()
}

#[tokio::test]
async fn the_official_sdk_generates_downloads_and_is_refused_as_openai_refuses() {
    let Some(python) = sdk_python("the_official_sdk_generates") else {
        return;
    };
    // Three credits, no free images: two pictures and one more, then nothing.
    let app = spawn_app_with(|s| {
        s.insert("signup_credits".into(), "3".into());
        s.insert("free_images_standard".into(), "0".into());
        // The URLs in answers are absolute: the test client is the trusted proxy naming the
        // site (a real deployment sets ATELIER_PUBLIC_URL).
        s.insert("trusted_proxies".into(), "127.0.0.1".into());
    })
    .await;
    let owner = app.user("sdkuser").await;
    let token = token_of(&app, &owner).await;

    let happy = sdk(&python, &app, &token, "happy").await;
    let models: Vec<&str> = happy["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert!(models.contains(&"atelier-builtin"), "{models:?}");
    let heads = happy["b64_heads"].as_array().expect("two pictures");
    assert_eq!(heads.len(), 2);
    for head in heads {
        assert_eq!(head, "89504e470d0a1a0a", "a PNG");
    }
    assert_eq!(happy["revised"], "a fox in the snow");
    let url = happy["urls"][0].as_str().expect("a url").to_owned();
    assert!(url.starts_with(&app.address), "absolute: {url}");

    // The same token downloads the picture; another user's token cannot see it.
    let response = new_client()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("download");
    assert_eq!(response.status(), 200);
    image::load_from_memory(&response.bytes().await.expect("bytes")).expect("a picture");
    let stranger = app.user("stranger").await;
    let other_token = token_of(&app, &stranger).await;
    let response = new_client()
        .get(&url)
        .bearer_auth(&other_token)
        .send()
        .await
        .expect("download");
    assert_eq!(response.status(), 404);

    // In the owner's `api` folder, charged, with the caller's address.
    let listing: serde_json::Value = app
        .get(&owner, "/api/images?folder=api")
        .await
        .json()
        .await
        .expect("listing");
    assert_eq!(listing["total"], 3, "{listing}");
    assert_eq!(app.credits_of("sdkuser"), 0);
    let addresses: Vec<Option<ipnetwork::IpNetwork>> = {
        use atelier::db::schema::{image_origins, images};
        use diesel::{NullableExpressionMethods, QueryDsl, RunQueryDsl};
        images::table
            .left_join(image_origins::table)
            .select(image_origins::client_ip.nullable())
            .load(&mut app.conn())
            .expect("addresses")
    };
    assert_eq!(addresses.len(), 3);
    assert!(
        addresses
            .iter()
            .all(|ip| ip.is_some_and(|ip| ip.ip().is_loopback()))
    );

    // Out of credits: the SDK's RateLimitError, after exactly one request (no retries).
    let broke = sdk(&python, &app, &token, "broke").await;
    assert_eq!(broke["raised"], "RateLimitError", "{broke}");
    assert_eq!(broke["code"], "insufficient_quota");
    assert_eq!(broke["requests"], 1, "x-should-retry: false stops the SDK");

    let bad_key = sdk(&python, &app, &token, "bad_key").await;
    assert_eq!(bad_key["raised"], "AuthenticationError", "{bad_key}");
    // OpenAI's own sizes are made in their shape; others are refused with the list.
    let bad_size = sdk(&python, &app, &token, "bad_size").await;
    assert_eq!(bad_size["raised"], "BadRequestError", "{bad_size}");
    assert!(
        bad_size["message"]
            .as_str()
            .is_some_and(|m| m.contains("512x512")),
        "the sizes on offer: {bad_size}"
    );
    assert_eq!(bad_size["requests"], 1);
}

#[tokio::test]
async fn the_sdk_edits_a_picture_it_sends() {
    let Some(python) = sdk_python("the_sdk_edits_a_picture") else {
        return;
    };
    let app = spawn_app_with(|s| {
        s.insert("signup_credits".into(), "2".into());
    })
    .await;
    let owner = app.user("editor").await;
    let token = token_of(&app, &owner).await;
    let edited = sdk(&python, &app, &token, "edit").await;
    assert_eq!(edited["b64_heads"][0], "89504e470d0a1a0a", "{edited}");
    // The picture sent and its edit, both in the `api` folder; one credit for the edit.
    let listing: serde_json::Value = app
        .get(&owner, "/api/images?folder=api")
        .await
        .json()
        .await
        .expect("listing");
    assert_eq!(listing["total"], 2, "{listing}");
    let kinds: Vec<&str> = listing["images"]
        .as_array()
        .expect("images")
        .iter()
        .filter_map(|image| image["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"upload") && kinds.contains(&"edited"),
        "{kinds:?}"
    );
    assert_eq!(app.credits_of("editor"), 1);
}

#[tokio::test]
async fn twenty_racing_sdk_calls_against_five_credits_make_exactly_five() {
    let Some(python) = sdk_python("twenty_racing_sdk_calls") else {
        return;
    };
    let app = spawn_app_with(|s| {
        s.insert("signup_credits".into(), "5".into());
        s.insert("free_images_standard".into(), "0".into());
    })
    .await;
    let owner = app.user("racer").await;
    let token = token_of(&app, &owner).await;
    let raced = sdk(&python, &app, &token, "race").await;
    let outcomes: Vec<&str> = raced["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .filter_map(|o| o.as_str())
        .collect();
    let made = outcomes.iter().filter(|o| **o == "made").count();
    let refused = outcomes
        .iter()
        .filter(|o| **o == "insufficient_quota")
        .count();
    assert_eq!((made, refused), (5, 15), "{outcomes:?}");
    assert_eq!(raced["requests"], 20, "no call was retried");
    assert_eq!(app.credits_of("racer"), 0);
    assert_eq!(app.count_images(), 5, "credits charged equal images made");
}

/// What Open WebUI's `images.py` sends for the OpenAI engine: the body with
/// `response_format: b64_json` (its model is not a `gpt-image` one) and, for a `url`
/// answer, the same Authorization header on the download.
#[tokio::test]
async fn an_open_webui_shaped_request_works_end_to_end() {
    let app = spawn_app_with(|s| {
        s.insert("trusted_proxies".into(), "127.0.0.1".into());
    })
    .await;
    let owner = app.user("webui").await;
    let token = token_of(&app, &owner).await;
    let tool = new_client();
    let call = |body: serde_json::Value| {
        tool.post(app.url("/v1/images/generations"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .json(&body)
            .send()
    };
    let answer: serde_json::Value = call(serde_json::json!({
        "model": "atelier-builtin", "prompt": "a harbour at night", "n": 1,
        "size": "512x512", "response_format": "b64_json",
    }))
    .await
    .expect("generate")
    .json()
    .await
    .expect("json");
    let b64 = answer["data"][0]["b64_json"].as_str().expect("b64_json");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    image::load_from_memory(&bytes).expect("a picture");
    // A gpt-image model name gets a url, fetched with the same header.
    let response = call(serde_json::json!({
        "model": "gpt-image-1", "prompt": "a harbour at dawn", "n": 1, "size": "1024x1024",
    }))
    .await
    .expect("generate");
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.expect("json");
    let url = answer["data"][0]["url"].as_str().expect("url");
    let picture = tool
        .get(url)
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("download");
    assert_eq!(picture.status(), 200);
    let picture = image::load_from_memory(&picture.bytes().await.expect("bytes")).expect("image");
    assert_eq!(
        (picture.width(), picture.height()),
        (512, 512),
        "1024x1024 in its shape"
    );
}

/// An "images only" token makes and fetches pictures and nothing else; the picture is in
/// the admin's IP gallery under the caller's address; `/account` shows each token's scope
/// and where it was last used.
#[tokio::test]
async fn an_images_only_token_makes_pictures_and_nothing_else() {
    const ADDRESS: &str = "198.51.100.44";
    let (app, admin) = crate::admin::app_with_admin().await;
    let owner = app.user("scoped").await;
    let token = scoped_token_of(&app, &owner, "images").await;
    let tool = app.visitor_from(ADDRESS).with_token(&token);
    let made: serde_json::Value = tool
        .request_to(reqwest::Method::POST, "/v1/images/generations")
        .json(&serde_json::json!({ "prompt": "a kite" }))
        .send()
        .await
        .expect("generate")
        .json()
        .await
        .expect("json");
    let url = made["data"][0]["url"].as_str().expect("url");
    let picture = tool.fetch(url.trim_start_matches(&app.address)).await;
    assert_eq!(picture.status(), 200);
    for path in ["/api/images", "/api/usage"] {
        let response = tool.fetch(path).await;
        assert_eq!(response.status(), 403, "{path}");
        let body = response.text().await.expect("body");
        assert!(body.contains("images only"), "{body}");
    }
    // The picture is in the admin's IP gallery under the caller's address.
    let gallery = app.page(&admin, "/admin/ips").await;
    assert!(gallery.contains(ADDRESS), "{gallery}");
    let page = app.page(&owner, "/account").await;
    assert!(page.contains("Images only"), "the scope is shown");
    assert!(
        page.contains(&format!("from {ADDRESS}")),
        "where it was last used"
    );
    let response = owner
        .post(app.url("/account/tokens"))
        .header("accept", "application/json")
        .form(&[("name", "x"), ("scope", "everything")])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 400, "an unknown scope is refused");
}
