//! ComfyUI: an operator-supplied workflow in ComfyUI's API format (`Save (API Format)`),
//! with the prompt, negative prompt, seed, size and batch filled in, queued with `POST
//! /prompt` (and a client id), followed on `GET /history/{prompt_id}` until it is done, and
//! its images fetched from `GET /view`. The inputs filled in are found from the sampler:
//! every `KSampler` / `KSamplerAdvanced` node gets the seed (`seed` or `noise_seed`), the
//! `CLIPTextEncode` node on its `positive` input gets the prompt and the one on `negative`
//! the negative prompt, and the `EmptyLatentImage` on `latent_image` the width, height and a
//! batch of 1. The checkpoint (`ckpt_name`) is recorded as the model.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;

use super::{
    Attempt, GenerateError, GeneratedImage, GenerationRequest, Generator, retrying, transport_error,
};

/// How often the history of a queued prompt is asked for.
const POLL: Duration = Duration::from_millis(250);
/// Largest image fetched from `/view`.
const MAX_IMAGE: u64 = 50 * 1024 * 1024;

pub struct ComfyUi {
    base_url: String,
    workflow: serde_json::Value,
    negative_prompt: String,
    timeout: Duration,
    agent: ureq::Agent,
    backoff: Duration,
}

impl ComfyUi {
    /// Reads and checks the workflow file: it must have a sampler wired to a prompt node.
    pub fn new(
        base_url: &str,
        workflow: &Path,
        negative_prompt: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(workflow).with_context(|| {
            format!(
                "ATELIER_COMFYUI_WORKFLOW: cannot read {}",
                workflow.display()
            )
        })?;
        let workflow: serde_json::Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "ATELIER_COMFYUI_WORKFLOW: {} is not JSON",
                workflow.display()
            )
        })?;
        fill(
            &workflow,
            &GenerationRequest {
                prompt: "check".into(),
                width: 512,
                height: 512,
                seed: 0,
            },
            "",
        )
        .map_err(|problem| anyhow::anyhow!("ATELIER_COMFYUI_WORKFLOW: {problem}"))?;
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(30)))
                .http_status_as_error(false)
                .build(),
        );
        Ok(ComfyUi {
            base_url: base_url.trim_end_matches('/').to_owned(),
            workflow,
            negative_prompt: negative_prompt.to_owned(),
            timeout,
            agent,
            backoff: Duration::from_millis(500),
        })
    }

    fn once(&self, request: &GenerationRequest) -> Result<(Vec<u8>, String), Attempt> {
        let (workflow, model) = fill(&self.workflow, request, &self.negative_prompt)
            .map_err(|problem| Attempt::Final(GenerateError(problem)))?;
        let client_id = crate::domain::tokens::random_hex(16)
            .map_err(|_| Attempt::Final(GenerateError("No randomness available.".into())))?;
        let mut response = self
            .agent
            .post(format!("{}/prompt", self.base_url))
            .send_json(serde_json::json!({ "prompt": workflow, "client_id": client_id }))
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        if status != 200 {
            let detail = response.body_mut().read_to_string().unwrap_or_default();
            return Err(if status >= 500 {
                Attempt::Retry(
                    GenerateError(
                        "The ComfyUI server is having problems right now. Please try again later."
                            .into(),
                    ),
                    self.backoff,
                )
            } else {
                tracing::warn!(status, detail = %detail.chars().take(300).collect::<String>(), "ComfyUI refused the workflow");
                Attempt::Final(GenerateError(
                    "The ComfyUI server refused the workflow; an administrator needs to check ATELIER_COMFYUI_WORKFLOW against the server's nodes and models.".into(),
                ))
            });
        }
        let queued: Queued = response.body_mut().read_json().map_err(|_| {
            Attempt::Final(GenerateError(
                "The ComfyUI server sent an answer we could not read.".into(),
            ))
        })?;
        if !super::is_path_safe_id(&queued.prompt_id) {
            return Err(Attempt::Final(GenerateError(
                "The ComfyUI server sent an unusable prompt id.".into(),
            )));
        }
        let image = self.wait_for(&queued.prompt_id)?;
        Ok((self.view(&image)?, model))
    }

    /// Polls the history until the prompt has finished; its first output image.
    fn wait_for(&self, prompt_id: &str) -> Result<OutputImage, Attempt> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let mut response = self
                .agent
                .get(format!("{}/history/{prompt_id}", self.base_url))
                .call()
                .map_err(transport_error)?;
            if response.status().as_u16() == 200 {
                let history: serde_json::Value =
                    response.body_mut().read_json().unwrap_or_default();
                if let Some(entry) = history.get(prompt_id) {
                    let entry: HistoryEntry =
                        serde_json::from_value(entry.clone()).map_err(|_| {
                            Attempt::Final(GenerateError(
                                "The ComfyUI server sent a history we could not read.".into(),
                            ))
                        })?;
                    return finished(entry);
                }
            }
            if Instant::now() >= deadline {
                return Err(Attempt::Final(GenerateError(
                    "The ComfyUI server did not finish the picture in time.".into(),
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    fn view(&self, image: &OutputImage) -> Result<Vec<u8>, Attempt> {
        let mut response = self
            .agent
            .get(format!("{}/view", self.base_url))
            .query("filename", &image.filename)
            .query("subfolder", &image.subfolder)
            .query("type", &image.kind)
            .call()
            .map_err(transport_error)?;
        if response.status().as_u16() != 200 {
            return Err(Attempt::Retry(
                GenerateError("The ComfyUI server's image could not be fetched.".into()),
                self.backoff,
            ));
        }
        response
            .body_mut()
            .with_config()
            .limit(MAX_IMAGE)
            .read_to_vec()
            .map_err(|_| {
                Attempt::Final(GenerateError(
                    "The ComfyUI server's image was too large or cut off.".into(),
                ))
            })
    }
}

/// A finished history entry: its first image, or the failure in words.
fn finished(entry: HistoryEntry) -> Result<OutputImage, Attempt> {
    if entry.status.status_str == "error" {
        let out_of_memory = entry
            .status
            .messages
            .to_string()
            .to_lowercase()
            .contains("out of memory");
        return Err(Attempt::Final(GenerateError(if out_of_memory {
            "The ComfyUI server ran out of GPU memory. Try a smaller size, or try again when it is less busy.".into()
        } else {
            "The ComfyUI server failed to make the picture.".into()
        })));
    }
    entry
        .outputs
        .into_values()
        .flat_map(|output| output.images)
        .find(|image| image.kind == "output")
        .ok_or_else(|| {
            Attempt::Final(GenerateError(
                "The ComfyUI workflow saved no image (it needs a SaveImage node).".into(),
            ))
        })
}

/// The workflow with this request's inputs, and the checkpoint it uses.
fn fill(
    workflow: &serde_json::Value,
    request: &GenerationRequest,
    negative_prompt: &str,
) -> Result<(serde_json::Value, String), String> {
    let mut workflow = workflow.clone();
    let nodes = workflow
        .as_object()
        .ok_or("the workflow must be an object of nodes (ComfyUI's API format)")?
        .clone();
    let samplers: Vec<&String> = nodes
        .iter()
        .filter(|(_, node)| {
            matches!(
                node["class_type"].as_str(),
                Some("KSampler" | "KSamplerAdvanced")
            )
        })
        .map(|(id, _)| id)
        .collect();
    if samplers.is_empty() {
        return Err("the workflow has no KSampler node".into());
    }
    let link = |node: &serde_json::Value, input: &str| -> Option<String> {
        node["inputs"][input][0].as_str().map(str::to_owned)
    };
    for id in samplers {
        let sampler = &nodes[id];
        let seed_input = if sampler["inputs"].get("noise_seed").is_some() {
            "noise_seed"
        } else {
            "seed"
        };
        workflow[id]["inputs"][seed_input] = request.seed.into();
        let positive = link(sampler, "positive").ok_or("the sampler has no positive input")?;
        workflow[&positive]["inputs"]["text"] = request.prompt.clone().into();
        if let Some(negative) = link(sampler, "negative") {
            workflow[&negative]["inputs"]["text"] = negative_prompt.into();
        }
        if let Some(latent) = link(sampler, "latent_image") {
            if nodes
                .get(&latent)
                .is_some_and(|node| node["class_type"] == "EmptyLatentImage")
            {
                workflow[&latent]["inputs"]["width"] = request.width.into();
                workflow[&latent]["inputs"]["height"] = request.height.into();
                workflow[&latent]["inputs"]["batch_size"] = 1.into();
            }
        }
    }
    let model = nodes
        .values()
        .find_map(|node| node["inputs"]["ckpt_name"].as_str())
        .unwrap_or("comfyui workflow")
        .to_owned();
    Ok((workflow, model))
}

#[derive(Deserialize)]
struct Queued {
    prompt_id: String,
}

#[derive(Deserialize)]
struct HistoryEntry {
    #[serde(default)]
    outputs: std::collections::BTreeMap<String, Output>,
    #[serde(default)]
    status: Status,
}

#[derive(Deserialize, Default)]
struct Status {
    #[serde(default)]
    status_str: String,
    #[serde(default)]
    messages: serde_json::Value,
}

#[derive(Deserialize)]
struct Output {
    #[serde(default)]
    images: Vec<OutputImage>,
}

#[derive(Deserialize)]
struct OutputImage {
    filename: String,
    #[serde(default)]
    subfolder: String,
    #[serde(rename = "type", default)]
    kind: String,
}

impl Generator for ComfyUi {
    fn provider(&self) -> &'static str {
        "comfyui"
    }

    fn generate(&self, request: &GenerationRequest) -> Result<GeneratedImage, GenerateError> {
        let (bytes, model) = retrying(self.backoff, || self.once(request))?;
        Ok(GeneratedImage {
            parameters: Some(format!(
                "{}\nNegative prompt: {}\nSeed: {}, Size: {}x{}, Model: {model}",
                request.prompt, self.negative_prompt, request.seed, request.width, request.height
            )),
            bytes,
            model,
        })
    }

    /// The workflow makes pictures from text: a prompt edit makes a new one from the prompt.
    fn edit(
        &self,
        _source: &[u8],
        request: &GenerationRequest,
    ) -> Result<GeneratedImage, GenerateError> {
        self.generate(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_workflow_gets_its_inputs_filled() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/comfyui/sd15-txt2img.json"
        ))
        .expect("example workflow");
        let workflow: serde_json::Value = serde_json::from_str(&text).expect("json");
        let request = GenerationRequest {
            prompt: "a lighthouse".into(),
            width: 768,
            height: 512,
            seed: 42,
        };
        let (filled, model) = fill(&workflow, &request, "blurry").expect("fills");
        assert_eq!(model, "v1-5-pruned-emaonly.safetensors");
        assert_eq!(filled["3"]["inputs"]["seed"], 42);
        assert_eq!(filled["6"]["inputs"]["text"], "a lighthouse");
        assert_eq!(filled["7"]["inputs"]["text"], "blurry");
        assert_eq!(filled["5"]["inputs"]["width"], 768);
        assert_eq!(filled["5"]["inputs"]["batch_size"], 1);
        assert!(
            fill(
                &serde_json::json!({"1": {"class_type": "VAEDecode"}}),
                &request,
                ""
            )
            .is_err()
        );
    }
}
