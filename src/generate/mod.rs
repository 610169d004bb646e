//! Image generation: the [`Generator`] trait, its providers, and the PostgreSQL-backed job
//! queue the server's own workers drain.
//!
//! Providers are blocking (the builtin renderer is CPU work); workers call them on the
//! blocking pool. Every generation goes through the [`crate::quota`] charge seam: reserve
//! before the job is queued, commit when it succeeds, refund exactly once when it fails.

pub mod builtin;
pub mod queue;
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

/// One generated picture, encoded.
#[derive(Debug, Clone)]
pub struct GeneratedImage {
    pub png: Vec<u8>,
    pub model: String,
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
}

/// The provider chosen by `ATELIER_GENERATOR`.
pub fn from_settings(settings: &crate::config::Settings) -> anyhow::Result<Arc<dyn Generator>> {
    match settings.generator.as_str() {
        "builtin" => Ok(Arc::new(builtin::Builtin)),
        other => {
            anyhow::bail!("ATELIER_GENERATOR: unknown provider {other:?} (available: builtin)")
        }
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
