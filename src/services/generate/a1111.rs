//! AUTOMATIC1111's web API (and the forks that keep it: Forge, SD.Next): `POST
//! /sdapi/v1/txt2img` for new pictures, `POST /sdapi/v1/img2img` for prompt edits, and `GET
//! /sdapi/v1/progress` for the real progress while one runs. Steps, sampler, CFG scale and
//! the negative prompt are settings; `--api-auth user:password` servers get HTTP Basic.
//! Timeouts and retries with backoff as for the OpenAI provider; the A1111-style
//! `parameters` text (prompt, steps, sampler, CFG, seed, size, model) goes into the pristine
//! PNG. No `Debug`: the credentials stay out of logs.

use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

use super::{
    Attempt, GenerateError, GeneratedImage, GenerationRequest, Generator, Progress, retrying,
    transport_error,
};

/// How the server is reached and what every request asks for.
pub struct A1111Options {
    pub base_url: String,
    /// `user:password`, as given to the server's `--api-auth`.
    pub auth: Option<String>,
    pub steps: u32,
    pub sampler: String,
    pub cfg_scale: f64,
    pub negative_prompt: String,
    /// How much a prompt edit may change the source (img2img `denoising_strength`).
    pub denoising_strength: f64,
    pub timeout: Duration,
}

pub struct A1111 {
    options: A1111Options,
    authorization: Option<String>,
    agent: ureq::Agent,
    /// Progress polls must not wait behind a long generation's timeout.
    quick: ureq::Agent,
    backoff: Duration,
}

impl A1111 {
    pub fn new(options: A1111Options) -> Self {
        let agent = |timeout| {
            ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .timeout_global(Some(timeout))
                    .http_status_as_error(false)
                    .build(),
            )
        };
        let authorization = options.auth.as_ref().map(|auth| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(auth.as_bytes())
            )
        });
        A1111 {
            agent: agent(options.timeout),
            quick: agent(Duration::from_secs(2)),
            authorization,
            options: A1111Options {
                base_url: options.base_url.trim_end_matches('/').to_owned(),
                ..options
            },
            backoff: Duration::from_millis(500),
        }
    }

    fn body(&self, request: &GenerationRequest) -> serde_json::Value {
        serde_json::json!({
            "prompt": request.prompt,
            "negative_prompt": self.options.negative_prompt,
            "width": request.width,
            "height": request.height,
            "steps": self.options.steps,
            "sampler_name": self.options.sampler,
            "cfg_scale": self.options.cfg_scale,
            "seed": request.seed,
            "batch_size": 1,
            "n_iter": 1,
            "send_images": true,
            "save_images": false,
            // A grid would come first in the answer's images.
            "do_not_save_grid": true,
        })
    }

    /// One call; every image of the answer (decoded) and the checkpoint's name.
    fn once(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(Vec<Vec<u8>>, String), Attempt> {
        let mut call = self
            .agent
            .post(format!("{}/sdapi/v1/{path}", self.options.base_url));
        if let Some(authorization) = &self.authorization {
            call = call.header("Authorization", authorization);
        }
        let mut response = call.send_json(body).map_err(transport_error)?;
        let status = response.status().as_u16();
        if status == 200 {
            let answer: Answer = response.body_mut().read_json().map_err(|_| {
                Attempt::Final(GenerateError(
                    "The Stable Diffusion server sent an answer we could not read.".into(),
                ))
            })?;
            if answer.images.is_empty() {
                return Err(Attempt::Final(GenerateError(
                    "The Stable Diffusion server sent no image.".into(),
                )));
            }
            let images = answer
                .images
                .iter()
                .map(|image| base64::engine::general_purpose::STANDARD.decode(image.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| {
                    Attempt::Final(GenerateError(
                        "The Stable Diffusion server sent an unreadable image.".into(),
                    ))
                })?;
            let model = serde_json::from_str::<Info>(&answer.info)
                .ok()
                .and_then(|info| info.sd_model_name)
                .unwrap_or_else(|| "stable-diffusion".to_owned());
            return Ok((images, model));
        }
        let detail = response
            .body_mut()
            .read_to_string()
            .unwrap_or_default()
            .to_lowercase();
        Err(match status {
            401 | 403 => Attempt::Final(GenerateError(
                "The Stable Diffusion server refused our credentials. An administrator needs to check ATELIER_A1111_AUTH.".into(),
            )),
            _ if detail.contains("out of memory") => Attempt::Final(GenerateError(
                "The Stable Diffusion server ran out of GPU memory. Try a smaller size, or try again when it is less busy.".into(),
            )),
            404 => Attempt::Final(GenerateError(
                "The Stable Diffusion server has no API: start it with --api.".into(),
            )),
            400..=499 => Attempt::Final(GenerateError(
                "The Stable Diffusion server rejected the request.".into(),
            )),
            _ => Attempt::Retry(
                GenerateError(
                    "The Stable Diffusion server is having problems right now. Please try again later.".into(),
                ),
                self.backoff,
            ),
        })
    }

    /// `count` images from one call (`batch_size`), the last `count` of the answer.
    fn make(
        &self,
        path: &str,
        mut body: serde_json::Value,
        request: &GenerationRequest,
        count: u32,
    ) -> Result<Vec<GeneratedImage>, GenerateError> {
        body["batch_size"] = count.into();
        let (mut images, model) = retrying(self.backoff, || self.once(path, &body))?;
        if images.len() < count as usize {
            return Err(GenerateError(
                "The Stable Diffusion server sent fewer pictures than asked for.".into(),
            ));
        }
        let images = images.split_off(images.len() - count as usize);
        Ok(images
            .into_iter()
            .zip(0u64..)
            .map(|(bytes, index)| GeneratedImage {
                parameters: Some(self.parameters(request, request.seed + index, &model)),
                bytes,
                model: model.clone(),
            })
            .collect())
    }

    /// The settings an image was made with, as AUTOMATIC1111 writes its `parameters`.
    fn parameters(&self, request: &GenerationRequest, seed: u64, model: &str) -> String {
        format!(
            "{}\nNegative prompt: {}\nSteps: {}, Sampler: {}, CFG scale: {}, Seed: {seed}, Size: {}x{}, Model: {model}",
            request.prompt,
            self.options.negative_prompt,
            self.options.steps,
            self.options.sampler,
            self.options.cfg_scale,
            request.width,
            request.height
        )
    }

    fn one(
        &self,
        path: &str,
        body: serde_json::Value,
        request: &GenerationRequest,
    ) -> Result<GeneratedImage, GenerateError> {
        self.make(path, body, request, 1)?
            .pop()
            .ok_or_else(|| GenerateError("The Stable Diffusion server sent no image.".into()))
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    images: Vec<String>,
    #[serde(default)]
    info: String,
}

#[derive(Deserialize)]
struct Info {
    sd_model_name: Option<String>,
}

#[derive(Deserialize)]
struct ProgressAnswer {
    #[serde(default)]
    progress: f32,
    #[serde(default)]
    eta_relative: f32,
}

impl Generator for A1111 {
    fn provider(&self) -> &'static str {
        "a1111"
    }

    fn generate(&self, request: &GenerationRequest) -> Result<GeneratedImage, GenerateError> {
        self.one("txt2img", self.body(request), request)
    }

    fn generate_batch(
        &self,
        request: &GenerationRequest,
        count: u32,
    ) -> Option<Result<Vec<GeneratedImage>, GenerateError>> {
        Some(self.make("txt2img", self.body(request), request, count))
    }

    fn edit(
        &self,
        source: &[u8],
        request: &GenerationRequest,
    ) -> Result<GeneratedImage, GenerateError> {
        let mut body = self.body(request);
        body["init_images"] =
            serde_json::json!([base64::engine::general_purpose::STANDARD.encode(source)]);
        body["denoising_strength"] = self.options.denoising_strength.into();
        self.one("img2img", body, request)
    }

    fn progress(&self) -> Option<Progress> {
        let mut call = self.quick.get(format!(
            "{}/sdapi/v1/progress?skip_current_image=true",
            self.options.base_url
        ));
        if let Some(authorization) = &self.authorization {
            call = call.header("Authorization", authorization);
        }
        let mut response = call.call().ok()?;
        if response.status().as_u16() != 200 {
            return None;
        }
        let answer: ProgressAnswer = response.body_mut().read_json().ok()?;
        Some(Progress {
            done: answer.progress.clamp(0.0, 1.0),
            eta_secs: (answer.eta_relative > 0.0).then(|| answer.eta_relative.round() as u32),
        })
    }
}
