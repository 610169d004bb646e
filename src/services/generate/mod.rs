//! Image generation: the [`Generator`] trait, its providers, and the PostgreSQL-backed job
//! queue the server's own workers drain.
//!
//! Providers are blocking (the builtin renderer is CPU work); workers call them on the
//! blocking pool. Every generation goes through the [`crate::services::quota`] charge seam: reserve
//! before the job is queued, commit when it succeeds, refund exactly once when it fails.

pub mod a1111;
pub mod builtin;
pub mod comfyui;
pub mod heartbeat;
pub mod landscape;
pub mod openai;
pub mod story;
mod tag_job;
pub mod video;
pub mod worker;

use std::sync::Arc;

/// What to make.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    pub prompt: String,
    pub width: u32,
    pub height: u32,
    pub seed: u64,
}

/// One generated picture, encoded (PNG from the builtin; whatever raster a provider sends).
#[derive(Debug, Clone)]
pub struct GeneratedImage {
    pub bytes: Vec<u8>,
    pub model: String,
    /// The settings it was made with, as AUTOMATIC1111 writes them (`parameters` text in
    /// the pristine PNG), when the provider has more to say than prompt and model.
    pub parameters: Option<String>,
}

/// Attempts per image, the first included, for providers that call a server.
pub(crate) const ATTEMPTS: u32 = 3;

/// One attempt's outcome when it did not produce an image.
pub(crate) enum Attempt {
    /// Worth trying again after at least this long (429, 5xx, transport errors).
    Retry(GenerateError, std::time::Duration),
    Final(GenerateError),
}

/// A transport failure (unreachable, timed out) as a retryable attempt.
pub(crate) fn transport_error(err: ureq::Error) -> Attempt {
    let message = match err {
        ureq::Error::Timeout(_) => "The image provider did not answer in time.",
        _ => "The image provider cannot be reached right now.",
    };
    Attempt::Retry(
        GenerateError(message.into()),
        std::time::Duration::from_millis(500),
    )
}

/// Runs `once` up to [`ATTEMPTS`] times, waiting between retryable failures (the longer of
/// what the attempt asked for and a doubling backoff).
pub(crate) fn retrying<T>(
    backoff: std::time::Duration,
    mut once: impl FnMut() -> Result<T, Attempt>,
) -> Result<T, GenerateError> {
    let mut delay = backoff;
    for attempt in 1..=ATTEMPTS {
        match once() {
            Ok(value) => return Ok(value),
            Err(Attempt::Final(error)) => return Err(error),
            Err(Attempt::Retry(error, wait)) => {
                if attempt == ATTEMPTS {
                    return Err(error);
                }
                tracing::warn!(attempt, error = %error, "image provider failed; retrying");
                std::thread::sleep(wait.max(delay));
                delay *= 2;
            }
        }
    }
    Err(GenerateError("The image provider failed.".into()))
}

/// A failure in words for the user (never a provider's secret or a stack trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateError(pub String);

impl std::fmt::Display for GenerateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An image provider. Blocking: call from the blocking pool.
pub trait Generator: Send + Sync {
    /// The provider's name, stored with each image (`builtin`, `openai`).
    fn provider(&self) -> &'static str;
    fn generate(&self, request: &GenerationRequest) -> Result<GeneratedImage, GenerateError>;
    /// A new picture from `source` (PNG/JPEG/WebP bytes) changed as the prompt says.
    fn edit(
        &self,
        source: &[u8],
        request: &GenerationRequest,
    ) -> Result<GeneratedImage, GenerateError>;
    /// How far the picture being made is, as the provider reports it while `generate` or
    /// `edit` runs (polled from another thread). `None`: the provider does not say.
    fn progress(&self) -> Option<Progress> {
        None
    }
    /// `count` pictures of one prompt in one call, with seeds `seed`, `seed + 1`, …, for
    /// providers that batch (AUTOMATIC1111's `batch_size`). `None`: make them one by one.
    fn generate_batch(
        &self,
        _request: &GenerationRequest,
        _count: u32,
    ) -> Option<Result<Vec<GeneratedImage>, GenerateError>> {
        None
    }
}

/// A provider's report on the picture it is making.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// 0 to 1.
    pub done: f32,
    /// Seconds left, by the provider's estimate.
    pub eta_secs: Option<u32>,
}

/// The providers this instance offers: `ATELIER_GENERATOR` may name several,
/// comma-separated; the first is the default. Jobs name theirs, so an order keeps the
/// provider it was placed with.
#[derive(Clone)]
pub struct Providers {
    list: Vec<Arc<dyn Generator>>,
    /// The video provider (the first configured provider that makes clips) and ffmpeg,
    /// or why this instance makes no video.
    video: Result<VideoProvider, String>,
}

/// What makes and stores clips.
#[derive(Clone)]
pub struct VideoProvider {
    pub generator: Arc<dyn video::VideoGenerator>,
    pub ffmpeg: crate::storage::video::Ffmpeg,
}

impl Providers {
    pub fn from_settings(settings: &crate::base::config::Settings) -> anyhow::Result<Self> {
        let mut list: Vec<Arc<dyn Generator>> = Vec::new();
        for name in settings
            .generator
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let provider = provider_named(settings, name)?;
            if list
                .iter()
                .any(|known| known.provider() == provider.provider())
            {
                anyhow::bail!("ATELIER_GENERATOR names {name} twice");
            }
            list.push(provider);
        }
        if list.is_empty() {
            anyhow::bail!("ATELIER_GENERATOR names no provider");
        }
        let video = video_provider(settings);
        Ok(Providers { list, video })
    }

    /// What makes clips, or why this instance makes none (shown to users as it is).
    pub fn video(&self) -> Result<&VideoProvider, &str> {
        self.video.as_ref().map_err(String::as_str)
    }

    /// The default provider's name and the others', in the configured order.
    pub fn names(&self) -> Vec<&'static str> {
        self.list
            .iter()
            .map(|provider| provider.provider())
            .collect()
    }

    /// The provider called `name`, or the default.
    pub fn get(&self, name: Option<&str>) -> Arc<dyn Generator> {
        name.and_then(|name| self.list.iter().find(|p| p.provider() == name))
            .unwrap_or(&self.list[0])
            .clone()
    }
}

/// Is `id` (a job or prompt id a provider sent) fit to go into a URL path? Only the
/// characters real ids use, `[A-Za-z0-9_-]{1,128}`: never `../view?filename=…`.
pub fn is_path_safe_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The first configured provider that makes clips (`builtin` or `openai`), with ffmpeg to
/// check and store them; or, when ffmpeg is missing or no provider makes clips, why not.
fn video_provider(settings: &crate::base::config::Settings) -> Result<VideoProvider, String> {
    let work_root = settings.data_dir.join("video-work");
    let ffmpeg = crate::storage::video::Ffmpeg::find(&settings.ffmpeg, &work_root).map_err(|err| {
        tracing::warn!(
            "video is turned off: ffmpeg is needed ({err}); install Debian's ffmpeg package or set ATELIER_FFMPEG"
        );
        "Video is turned off on this server: ffmpeg is not installed.".to_owned()
    })?;
    let names = settings.generator.split(',').map(str::trim);
    let generator: Arc<dyn video::VideoGenerator> = match names
        .into_iter()
        .find(|name| matches!(*name, "builtin" | "openai"))
    {
        Some("builtin") => Arc::new(video::BuiltinVideo::new(ffmpeg.clone())),
        Some(_) => Arc::new(openai_provider(settings)?),
        None => {
            tracing::warn!(
                "video is turned off: none of ATELIER_GENERATOR's providers makes videos (builtin and openai do)"
            );
            return Err(
                "Video is turned off on this server: its image providers do not make videos."
                    .into(),
            );
        }
    };
    tracing::info!(provider = generator.provider(), "video is on");
    Ok(VideoProvider { generator, ffmpeg })
}

fn openai_provider(settings: &crate::base::config::Settings) -> Result<openai::OpenAi, String> {
    let key = settings
        .openai_api_key
        .as_deref()
        .ok_or("ATELIER_GENERATOR=openai needs ATELIER_OPENAI_API_KEY")?;
    Ok(openai::OpenAi::new(
        &settings.openai_base_url,
        key,
        &settings.openai_model,
        std::time::Duration::from_secs(settings.openai_timeout_secs),
        openai::VideoOptions {
            model: settings.openai_video_model.clone(),
            deadline: std::time::Duration::from_secs(settings.openai_video_timeout_secs),
        },
    ))
}

/// One provider by its `ATELIER_GENERATOR` name.
fn provider_named(
    settings: &crate::base::config::Settings,
    name: &str,
) -> anyhow::Result<Arc<dyn Generator>> {
    match name {
        "builtin" => Ok(Arc::new(builtin::Builtin)),
        "openai" => Ok(Arc::new(
            openai_provider(settings).map_err(anyhow::Error::msg)?,
        )),
        "a1111" => Ok(Arc::new(a1111::A1111::new(a1111::A1111Options {
            base_url: settings.a1111_url.clone(),
            auth: settings.a1111_auth.clone(),
            steps: settings.a1111_steps,
            sampler: settings.a1111_sampler.clone(),
            cfg_scale: settings.a1111_cfg_scale,
            negative_prompt: settings.a1111_negative_prompt.clone(),
            denoising_strength: settings.a1111_denoising_strength,
            timeout: std::time::Duration::from_secs(settings.a1111_timeout_secs),
        }))),
        "comfyui" => {
            let workflow = settings.comfyui_workflow.as_deref().ok_or_else(|| {
                anyhow::anyhow!(
                    "ATELIER_GENERATOR=comfyui needs ATELIER_COMFYUI_WORKFLOW (an API-format workflow file; see deploy/comfyui/)"
                )
            })?;
            Ok(Arc::new(comfyui::ComfyUi::new(
                &settings.comfyui_url,
                std::path::Path::new(workflow),
                &settings.comfyui_negative_prompt,
                std::time::Duration::from_secs(settings.comfyui_timeout_secs),
            )?))
        }
        other => anyhow::bail!(
            "ATELIER_GENERATOR: unknown provider {other:?} (builtin, openai, a1111 or comfyui)"
        ),
    }
}

/// Sizes a request may ask for.
pub const SIZES: [(u32, u32); 3] = [(512, 512), (768, 512), (512, 768)];

/// Parses `512x512`-style sizes from [`SIZES`].
pub fn parse_size(raw: &str) -> Option<(u32, u32)> {
    let (w, h) = raw.trim().split_once('x')?;
    let size = (w.parse().ok()?, h.parse().ok()?);
    SIZES.contains(&size).then_some(size)
}

/// Adds UTF-8 text entries (iTXt chunks) right after a PNG's header chunk: how the pristine
/// copy of a generated image remembers its prompt and model. Non-PNG bytes come back as
/// they are.
pub fn with_png_text(png: &[u8], entries: &[(&str, &str)]) -> Vec<u8> {
    // Signature (8) + IHDR: length (4), type (4), 13 bytes of data, CRC (4).
    const AFTER_IHDR: usize = 8 + 4 + 4 + 13 + 4;
    if png.len() < AFTER_IHDR || !png.starts_with(b"\x89PNG\r\n\x1a\n") || &png[12..16] != b"IHDR" {
        return png.to_vec();
    }
    let mut out = png[..AFTER_IHDR].to_vec();
    for (keyword, text) in entries {
        let mut chunk = b"iTXt".to_vec();
        chunk.extend(keyword.bytes().filter(|b| (32..=126).contains(b)).take(79));
        // NUL, not compressed, method 0, no language tag, no translated keyword.
        chunk.extend([0, 0, 0, 0, 0]);
        chunk.extend(text.as_bytes());
        let length = u32::try_from(chunk.len() - 4).unwrap_or(u32::MAX);
        out.extend(length.to_be_bytes());
        out.extend(&chunk);
        out.extend(crc32fast::hash(&chunk).to_be_bytes());
    }
    out.extend(&png[AFTER_IHDR..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_text_is_added_and_the_image_still_decodes() {
        let png = builtin::Builtin
            .generate(&GenerationRequest {
                prompt: "a lake".into(),
                width: 64,
                height: 64,
                seed: 1,
            })
            .expect("png")
            .bytes;
        let tagged = with_png_text(&png, &[("prompt", "a lake — at dawn"), ("model", "m")]);
        assert!(tagged.windows(8).any(|w| w == b"iTXtprom"));
        assert!(String::from_utf8_lossy(&tagged).contains("a lake — at dawn"));
        let decoded = image::load_from_memory(&tagged).expect("still a valid PNG");
        assert_eq!(decoded.width(), 64);
        assert_eq!(with_png_text(b"not a png", &[("a", "b")]), b"not a png");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("768x512"), Some((768, 512)));
        assert_eq!(parse_size("100x100"), None);
        assert_eq!(parse_size("x"), None);
    }
}
