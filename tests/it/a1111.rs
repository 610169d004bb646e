//! The `a1111` provider against a local server speaking AUTOMATIC1111's API: four images
//! with their seeds and settings, the provider's progress on the job page and in the API,
//! prompt edits through img2img, HTTP Basic, and failures (500, out of GPU memory, a slow
//! server past the timeout) that fail the job with a clear message and refund it.

use std::time::Duration;

use crate::support::fake_a1111::{self, FakeA1111, MODEL};
use crate::support::helpers::{TestApp, poll, spawn_app_with};
use crate::support::visitor::Visitor;

async fn app_with_fake(
    auth: Option<&str>,
    sent: Option<&str>,
    timeout_secs: u32,
) -> (TestApp, FakeA1111, Visitor) {
    let fake = fake_a1111::start(auth).await;
    let base = fake.base_url.clone();
    let sent = sent.map(str::to_owned);
    let app = spawn_app_with(move |s| {
        s.insert("generator".into(), "a1111".into());
        s.insert("a1111_url".into(), base);
        s.insert("a1111_timeout_secs".into(), timeout_secs.to_string());
        s.insert("a1111_negative_prompt".into(), "blurry".into());
        if let Some(auth) = sent {
            s.insert("a1111_auth".into(), auth);
        }
    })
    .await;
    let client = app.user("sdfan").await;
    (app, fake, client)
}

#[tokio::test]
async fn four_images_carry_their_seeds_settings_and_parameters() {
    let (app, fake, client) = app_with_fake(Some("me:secret"), Some("me:secret"), 10).await;
    let (status, reply) = client
        .generate(
            serde_json::json!({ "prompt": "a castle", "count": 4, "seed": 100, "size": "768x512" }),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    // One call for the four: batch_size = count, seeds 100…103 as A1111 numbers them.
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let (kind, body) = &requests[0];
    assert_eq!(kind, "txt2img");
    assert_eq!(body["prompt"], "a castle");
    assert_eq!(body["negative_prompt"], "blurry");
    assert_eq!(
        (body["width"].as_u64(), body["height"].as_u64()),
        (Some(768), Some(512))
    );
    assert_eq!(body["steps"], 20);
    assert_eq!(body["sampler_name"], "Euler a");
    assert_eq!(body["cfg_scale"], 7.0);
    assert_eq!(body["seed"], 100);
    assert_eq!(body["batch_size"], 4);
    assert_eq!(body["do_not_save_grid"], true);
    let images = app.api_images(&client).await;
    assert_eq!(images.len(), 4);
    assert!(
        images
            .iter()
            .all(|i| i["provider"] == "a1111" && i["model"] == MODEL)
    );
    let mut seeds: Vec<i64> = images
        .iter()
        .map(|i| i["seed"].as_i64().expect("seed"))
        .collect();
    seeds.sort_unstable();
    assert_eq!(seeds, [100, 101, 102, 103]);
    let pristine = client
        .get(app.url(images[0]["urls"]["pristine"].as_str().expect("pristine")))
        .send()
        .await
        .expect("GET")
        .bytes()
        .await
        .expect("bytes");
    let text = String::from_utf8_lossy(&pristine);
    assert!(
        text.contains("parameters"),
        "an A1111-style parameters chunk"
    );
    assert!(
        text.contains("Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 10"),
        "{}",
        text.len()
    );
    assert!(text.contains("Negative prompt: blurry"));
}

#[tokio::test]
async fn the_providers_progress_shows_on_the_job_page_and_in_the_api() {
    let (app, _fake, client) = app_with_fake(None, None, 10).await;
    let (status, reply) = client
        .generate(serde_json::json!({ "prompt": "midway there", "wait": false }))
        .await;
    assert_eq!(status, 202, "{reply}");
    let job = reply["job_id"].as_i64().expect("job");
    let halfway = |json: &serde_json::Value| {
        json["job"]["progress"]
            .as_f64()
            .is_some_and(|p| (p - 0.5).abs() < 0.01)
    };
    let seen = poll(
        Duration::from_secs(6),
        || async { app.json(&client, &format!("/api/jobs/{job}")).await },
        halfway,
    )
    .await;
    assert!(
        halfway(&seen),
        "50 % reported while the server works: {seen}"
    );
    let seen = &seen["job"];
    assert_eq!(seen["eta_secs"], 3);
    assert_eq!(seen["status"], "running");
    let page = app
        .get(&client, &format!("/jobs/{job}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("50% · about 3 s left"),
        "the job page shows it"
    );
    let finished = app.finished_job(&client, job).await;
    assert_eq!(finished["status"], "succeeded");
    assert_eq!(finished["progress"], 1.0);
}

#[tokio::test]
async fn prompt_edits_go_through_img2img_with_the_source() {
    let (app, fake, client) = app_with_fake(None, None, 10).await;
    let id = app
        .upload_ok(&client, crate::support::fixtures::png(80, 60), &[])
        .await;
    let response = app
        .post_form(
            &client,
            &format!("/images/{id}/prompt-edit"),
            &[("prompt", "as a watercolour")],
        )
        .await;
    assert_eq!(response.status(), 303);
    crate::support::helpers::eventually("the edit is stored", || async { app.count_images() == 2 })
        .await;
    let requests = fake.requests();
    let (kind, body) = requests.last().expect("a request");
    assert_eq!(kind, "img2img");
    assert!(
        body["init_images"][0]
            .as_str()
            .is_some_and(|b64| b64.len() > 100)
    );
    assert_eq!(body["denoising_strength"], 0.6);
}

#[tokio::test]
async fn failures_fail_the_job_with_a_clear_message_and_refund_it() {
    let (app, _fake, client) = app_with_fake(Some("me:secret"), Some("me:secret"), 1).await;
    let before = app.credits_of("sdfan");
    for (prompt, words) in [
        ("a failing always-500 scene", "having problems"),
        ("a huge out-of-memory scene", "GPU memory"),
        ("a slow scene", "did not answer in time"),
    ] {
        let (status, reply) = client
            .generate(serde_json::json!({ "prompt": prompt }))
            .await;
        assert_eq!(status, 502, "{prompt}: {reply}");
        let error = reply["error"].as_str().expect("error");
        assert!(error.contains(words), "{prompt}: {error}");
    }
    assert_eq!(
        app.credits_of("sdfan"),
        before,
        "every failure was refunded"
    );
    assert_eq!(app.count_images(), 0);

    // A server behind --api-auth refuses wrong credentials: said so, refunded.
    let (app, _fake, client) = app_with_fake(Some("me:secret"), Some("me:wrong"), 10).await;
    let before = app.credits_of("sdfan");
    let (status, reply) = client
        .generate(serde_json::json!({ "prompt": "fine" }))
        .await;
    assert_eq!(status, 502);
    assert!(
        reply["error"]
            .as_str()
            .expect("error")
            .contains("credentials")
    );
    assert_eq!(app.credits_of("sdfan"), before);
}

#[tokio::test]
async fn several_providers_are_offered_by_name_and_orders_keep_theirs() {
    let fake = fake_a1111::start(None).await;
    let base = fake.base_url.clone();
    let app = spawn_app_with(move |s| {
        s.insert("generator".into(), "builtin, a1111".into());
        s.insert("a1111_url".into(), base);
    })
    .await;
    let client = app.user("sdfan").await;
    let form = app
        .get(&client, "/generate")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        form.contains(r#"name="provider""#),
        "a choice when there are several"
    );
    assert!(
        form.contains("builtin · 1 credit an image") && form.contains("a1111 · 1 credit an image")
    );

    let (status, default) = client
        .generate(serde_json::json!({ "prompt": "by default" }))
        .await;
    assert_eq!(status, 200, "{default}");
    assert_eq!(default["provider"], "builtin", "the first is the default");
    let (status, chosen) = client
        .generate(serde_json::json!({ "prompt": "on the gpu", "provider": "a1111" }))
        .await;
    assert_eq!(status, 200, "{chosen}");
    assert_eq!(chosen["provider"], "a1111");
    assert_eq!(fake.requests().len(), 1);
    let response = app
        .post_form(
            &client,
            "/generate",
            &[("prompt", "by form"), ("provider", "a1111")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let jobs = app.count_jobs();
    let (status, reply) = client
        .generate(serde_json::json!({ "prompt": "x", "provider": "openai" }))
        .await;
    assert_eq!(status, 400);
    assert!(
        reply["error"]
            .as_str()
            .expect("error")
            .contains("builtin, a1111")
    );
    assert_eq!(app.count_jobs(), jobs, "nothing queued");
    // "Run again" keeps the provider.
    let id = chosen["db_id"].as_i64().expect("id");
    let page = app
        .get(&client, &format!("/images/{id}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains(r#"name="provider" value="a1111""#));
}
