//! The `openai` provider against the local fake: success, `url` answers, a 429 honoured,
//! persistent 500s, timeouts and a bad key, each ending in a clear message.

use crate::support::fake_openai::{self, FakeOpenAi, KEY, MODEL};
use crate::support::helpers::{TestApp, spawn_app_with};
use crate::support::visitor::Visitor;

async fn app_with_fake(key: &str) -> (TestApp, FakeOpenAi, Visitor) {
    let fake = fake_openai::start().await;
    let base = fake.base_url.clone();
    let key = key.to_owned();
    let app = spawn_app_with(move |s| {
        s.insert("generator".into(), "openai".into());
        s.insert("openai_base_url".into(), base);
        s.insert("openai_api_key".into(), key);
        s.insert("openai_model".into(), MODEL.into());
        s.insert("openai_timeout_secs".into(), "1".into());
    })
    .await;
    let client = app.user("openuser").await;
    (app, fake, client)
}

async fn generate(client: &Visitor, prompt: &str) -> (u16, serde_json::Value) {
    client
        .generate(serde_json::json!({ "prompt": prompt }))
        .await
}

#[tokio::test]
async fn b64_and_url_answers_are_stored_with_their_provider() {
    let (app, fake, client) = app_with_fake(KEY).await;
    let (status, json) = generate(&client, "a calm sea").await;
    assert_eq!(status, 200, "{json}");
    let (status, _) = generate(&client, "url-result please").await;
    assert_eq!(status, 200);
    let images = app.api_images(&client).await;
    assert_eq!(images.len(), 2);
    assert!(
        images
            .iter()
            .all(|i| i["provider"] == "openai" && i["model"] == MODEL)
    );
    assert_eq!(images[0]["width"], 64);
    let first = fake.seen.lock().expect("lock").requests[0].clone();
    assert_eq!(first["prompt"], "a calm sea");
    assert_eq!(first["size"], "512x512");
    assert_eq!(first["model"], MODEL);
    // The pristine copy remembers the prompt as PNG text.
    let pristine = app
        .get(
            &client,
            images[1]["urls"]["pristine"].as_str().expect("url"),
        )
        .await
        .bytes()
        .await
        .expect("bytes");
    assert!(String::from_utf8_lossy(&pristine).contains("a calm sea"));
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let (_app, fake, client) = app_with_fake(KEY).await;
    let started = std::time::Instant::now();
    let (status, json) = generate(&client, "rate-limit-once fox").await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(fake.calls_for("rate-limit-once"), 2);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After honoured"
    );
}

#[tokio::test]
async fn failures_end_in_clear_messages_and_leave_nothing() {
    let (app, fake, client) = app_with_fake(KEY).await;
    for (prompt, words, calls) in [
        ("always-500 storm", "having problems", 3),
        ("slow lighthouse", "did not answer in time", 3),
        ("refused scene", "refused this prompt", 1),
    ] {
        let (status, json) = generate(&client, prompt).await;
        assert_eq!(status, 502, "{prompt}: {json}");
        assert_eq!(json["success"], false);
        let error = json["error"].as_str().expect("error");
        assert!(error.contains(words), "{prompt}: {error}");
        assert_eq!(
            fake.calls_for(prompt.split(' ').next().expect("word")),
            calls,
            "{prompt}"
        );
    }
    assert_eq!(app.count_images(), 0);
    assert!(app.stored_files().is_empty());
}

#[tokio::test]
async fn a_bad_key_is_explained_without_showing_it() {
    let (app, _fake, client) = app_with_fake("sk-wrong-key").await;
    let (status, json) = generate(&client, "anything").await;
    assert_eq!(status, 502);
    let error = json["error"].as_str().expect("error");
    assert!(error.contains("refused our API key"), "{error}");
    assert!(!error.contains("sk-wrong-key"));
    let job_page = app
        .get(&client, &format!("/jobs/{}", json["job_id"]))
        .await
        .text()
        .await
        .expect("page");
    assert!(job_page.contains("refused our API key") && !job_page.contains("sk-wrong-key"));
}

#[tokio::test]
async fn prompt_edits_go_to_the_edits_endpoint_with_the_image() {
    let (app, fake, client) = app_with_fake(KEY).await;
    let source = app
        .upload_ok(&client, crate::support::fixtures::jpeg(80, 60), &[])
        .await;
    let response = app
        .post_form(
            &client,
            &format!("/images/{source}/prompt-edit"),
            &[("prompt", "make it snowy")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let job = crate::support::helpers::location(&response).to_owned();
    crate::support::helpers::eventually("the edit finishes", || async {
        app.get(&client, &job)
            .await
            .text()
            .await
            .expect("page")
            .contains("<h1>Done</h1>")
    })
    .await;
    assert_eq!(
        fake.seen.lock().expect("lock").edits,
        vec![(true, true)],
        "prompt and a PNG were sent"
    );
    let images = app.api_images(&client).await;
    assert_eq!(images[0]["kind"], "edited");
    assert_eq!(images[0]["provider"], "openai");
}
