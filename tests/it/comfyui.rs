//! The `comfyui` provider against a local server speaking ComfyUI's API, with the example
//! workflow shipped in `deploy/comfyui/`: the inputs filled in per image (four images, four
//! seeds), the checkpoint recorded as the model, and failures (a failed run, out of GPU
//! memory, a server too slow for the timeout) that fail the job clearly and refund it.

use crate::support::fake_comfyui::{self, FakeComfyUi};
use crate::support::helpers::{TestApp, spawn_app_with};
use crate::support::visitor::Visitor;

const WORKFLOW: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/comfyui/sd15-txt2img.json"
);

async fn app_with_fake(timeout_secs: u32) -> (TestApp, FakeComfyUi, Visitor) {
    let fake = fake_comfyui::start().await;
    let base = fake.base_url.clone();
    let app = spawn_app_with(move |s| {
        s.insert("generator".into(), "comfyui".into());
        s.insert("comfyui_url".into(), base);
        s.insert("comfyui_workflow".into(), WORKFLOW.into());
        s.insert("comfyui_negative_prompt".into(), "lowres".into());
        s.insert("comfyui_timeout_secs".into(), timeout_secs.to_string());
    })
    .await;
    let client = app.user("comfy").await;
    (app, fake, client)
}

#[tokio::test]
async fn the_workflow_is_filled_in_for_every_image() {
    let (app, fake, client) = app_with_fake(30).await;
    let (status, reply) = client.generate(serde_json::json!({ "prompt": "a quiet harbour", "count": 4, "seed": 7, "size": "512x768" }),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let prompts = fake.prompts();
    assert_eq!(prompts.len(), 4);
    for (index, workflow) in prompts.iter().enumerate() {
        assert_eq!(workflow["6"]["inputs"]["text"], "a quiet harbour");
        assert_eq!(workflow["7"]["inputs"]["text"], "lowres");
        assert_eq!(workflow["3"]["inputs"]["seed"], 7 + index as u64);
        assert_eq!(workflow["5"]["inputs"]["width"], 512);
        assert_eq!(workflow["5"]["inputs"]["height"], 768);
        assert_eq!(workflow["5"]["inputs"]["batch_size"], 1);
        assert_eq!(
            workflow["4"]["class_type"], "CheckpointLoaderSimple",
            "the rest is kept"
        );
    }
    let images = app.api_images(&client).await;
    assert_eq!(images.len(), 4);
    assert!(images.iter().all(|i| i["provider"] == "comfyui"
        && i["model"] == "v1-5-pruned-emaonly.safetensors"
        && i["width"] == 512
        && i["height"] == 768));
}

#[tokio::test]
async fn failures_fail_the_job_with_a_clear_message_and_refund_it() {
    let (app, _fake, client) = app_with_fake(1).await;
    let before = app.credits_of("comfy");
    for (prompt, words) in [
        ("this will crash", "failed to make the picture"),
        ("an out-of-memory scene", "GPU memory"),
        ("painted slowly", "did not finish the picture in time"),
    ] {
        let (status, reply) = client
            .generate(serde_json::json!({ "prompt": prompt }))
            .await;
        assert_eq!(status, 502, "{prompt}: {reply}");
        assert!(
            reply["error"].as_str().expect("error").contains(words),
            "{reply}"
        );
    }
    assert_eq!(
        app.credits_of("comfy"),
        before,
        "every failure was refunded"
    );
    assert_eq!(app.count_images(), 0);
}

#[tokio::test]
async fn a_prompt_id_that_is_a_path_is_never_requested() {
    let (app, fake, client) = app_with_fake(5).await;
    let before = app.credits_of("comfy");
    let (status, reply) = client
        .generate(serde_json::json!({ "prompt": "a hostile-id server" }))
        .await;
    assert_eq!(status, 502, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .expect("error")
            .contains("unusable prompt id"),
        "{reply}"
    );
    assert!(
        fake.history_asked().is_empty(),
        "{:?}",
        fake.history_asked()
    );
    assert_eq!(app.credits_of("comfy"), before, "refunded");
}

#[tokio::test]
async fn an_unreachable_server_fails_clearly() {
    let app = spawn_app_with(|s| {
        s.insert("generator".into(), "comfyui".into());
        s.insert("comfyui_url".into(), "http://127.0.0.1:9".into());
        s.insert("comfyui_workflow".into(), WORKFLOW.into());
    })
    .await;
    let client = app.user("comfy").await;
    let (status, reply) = client
        .generate(serde_json::json!({ "prompt": "anything" }))
        .await;
    assert_eq!(status, 502);
    assert!(
        reply["error"]
            .as_str()
            .expect("error")
            .contains("cannot be reached")
    );
}
