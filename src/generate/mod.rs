//! Image generation: the [`Generator`] trait, its providers, and the PostgreSQL-backed job
//! queue the server's own workers drain.
//!
//! Providers are blocking (the builtin renderer is CPU work); workers call them on the
//! blocking pool. Every generation goes through the [`crate::quota`] charge seam: reserve
//! before the job is queued, commit when it succeeds, refund exactly once when it fails.

pub mod builtin;
pub mod openai;
pub mod story;
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
}

/// The provider chosen by `ATELIER_GENERATOR`.
pub fn from_settings(settings: &crate::config::Settings) -> anyhow::Result<Arc<dyn Generator>> {
    match settings.generator.as_str() {
        "builtin" => Ok(Arc::new(builtin::Builtin)),
        "openai" => {
            let key = settings.openai_api_key.as_deref().ok_or_else(|| {
                anyhow::anyhow!("ATELIER_GENERATOR=openai needs ATELIER_OPENAI_API_KEY")
            })?;
            Ok(Arc::new(openai::OpenAi::new(
                &settings.openai_base_url,
                key,
                &settings.openai_model,
                std::time::Duration::from_secs(settings.openai_timeout_secs),
            )))
        }
        other => {
            anyhow::bail!("ATELIER_GENERATOR: unknown provider {other:?} (builtin or openai)")
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
