//! The offline provider: pictures painted by [`super::landscape`] from the prompt's words,
//! deterministic for (prompt, seed, size), so Atelier works with no network and tests can
//! compare bytes; prompt edits are deterministic filters chosen by the words.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbImage};

use super::landscape::{COLOURS, Colour, hash, mix, render};
use super::{GenerateError, GeneratedImage, GenerationRequest, Generator};

pub struct Builtin;

pub const MODEL: &str = "atelier-landscape-1";

impl Generator for Builtin {
    fn provider(&self) -> &'static str {
        "builtin"
    }

    fn generate(&self, request: &GenerationRequest) -> Result<GeneratedImage, GenerateError> {
        let image = render(&request.prompt, request.seed, request.width, request.height);
        encode_png(&DynamicImage::ImageRgb8(image))
    }

    fn edit(
        &self,
        source: &[u8],
        request: &GenerationRequest,
    ) -> Result<GeneratedImage, GenerateError> {
        let source = image::load_from_memory(source)
            .map_err(|err| GenerateError(format!("the source image could not be read: {err}")))?;
        encode_png(&DynamicImage::ImageRgb8(filter(
            &source.to_rgb8(),
            &request.prompt,
        )))
    }
}

fn encode_png(image: &DynamicImage) -> Result<GeneratedImage, GenerateError> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .map_err(|err| GenerateError(format!("could not encode the picture: {err}")))?;
    Ok(GeneratedImage {
        bytes,
        model: MODEL.to_owned(),
        parameters: None,
    })
}

/// The builtin "edit with a prompt": a deterministic filter chosen by the prompt's words.
/// Colour words tint; warm/cold shift the balance; dark/bright change exposure;
/// vintage/sepia, noir/mono, dream/soft (blur), invert and pixel each do what they say.
/// A prompt with none of these still changes the picture: its hash turns the hues.
pub fn filter(source: &RgbImage, prompt: &str) -> RgbImage {
    let lower = prompt.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let mut image = source.clone();
    let mut changed = false;
    let mut per_pixel = |f: &dyn Fn(Colour) -> Colour| {
        for pixel in image.pixels_mut() {
            let c = f(pixel.0.map(|v| f32::from(v) / 255.0));
            pixel.0 = c.map(|v| (v.clamp(0.0, 1.0) * 255.0) as u8);
        }
    };
    if let Some((_, tint)) = COLOURS.iter().find(|(name, _)| {
        lower
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == *name)
    }) {
        per_pixel(&|c| {
            mix(
                c,
                [
                    c[0] * tint[0] * 1.6,
                    c[1] * tint[1] * 1.6,
                    c[2] * tint[2] * 1.6,
                ],
                0.45,
            )
        });
        changed = true;
    }
    if has(&["warm", "sunset", "golden"]) {
        per_pixel(&|c| [c[0] * 1.12, c[1] * 1.02, c[2] * 0.85]);
        changed = true;
    }
    if has(&["cold", "winter", "icy", "frost"]) {
        per_pixel(&|c| [c[0] * 0.85, c[1] * 0.98, c[2] * 1.15]);
        changed = true;
    }
    if has(&["dark", "night", "moody"]) {
        per_pixel(&|c| c.map(|v| v.powf(1.5) * 0.8));
        changed = true;
    }
    if has(&["bright", "light", "sunny"]) {
        per_pixel(&|c| c.map(|v| v.powf(0.7)));
        changed = true;
    }
    if has(&["vintage", "sepia", "old"]) {
        per_pixel(&|c| {
            let l = 0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2];
            [l * 1.07 + 0.05, l * 0.95 + 0.03, l * 0.75]
        });
        changed = true;
    }
    if has(&["noir", "mono", "black and white", "grayscale", "greyscale"]) {
        per_pixel(&|c| [0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2]; 3]);
        changed = true;
    }
    if has(&["invert", "negative"]) {
        per_pixel(&|c| c.map(|v| 1.0 - v));
        changed = true;
    }
    if has(&["dream", "soft", "blur", "mist", "fog"]) {
        image = image::imageops::blur(&image, 3.0);
        changed = true;
    }
    if has(&["pixel", "mosaic", "8-bit", "retro game"]) {
        let (w, h) = image.dimensions();
        let small = image::imageops::resize(
            &image,
            (w / 16).max(1),
            (h / 16).max(1),
            image::imageops::FilterType::Triangle,
        );
        image = image::imageops::resize(&small, w, h, image::imageops::FilterType::Nearest);
        changed = true;
    }
    if !changed {
        let turn = (hash(prompt.trim()) % 360) as f32 / 360.0;
        for pixel in image.pixels_mut() {
            let [r, g, b] = pixel.0;
            // Rotate hue by cycling channel weights; cheap and deterministic.
            let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
            let a = turn * std::f32::consts::TAU;
            let (cos, sin) = (a.cos(), a.sin());
            let k = (1.0 - cos) / 3.0;
            let s3 = (1.0f32 / 3.0).sqrt() * sin;
            let nr = r * (cos + k) + g * (k - s3) + b * (k + s3);
            let ng = r * (k + s3) + g * (cos + k) + b * (k - s3);
            let nb = r * (k - s3) + g * (k + s3) + b * (cos + k);
            pixel.0 = [nr, ng, nb].map(|v| v.clamp(0.0, 255.0) as u8);
        }
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_are_deterministic_and_follow_the_words() {
        let source = render("a lake", 3, 64, 64);
        let sepia = filter(&source, "make it vintage");
        assert_eq!(sepia.as_raw(), filter(&source, "make it vintage").as_raw());
        assert_ne!(sepia.as_raw(), source.as_raw());
        let mono = filter(&source, "noir please");
        assert!(
            mono.pixels().all(|p| p[0] == p[1] && p[1] == p[2]),
            "noir is grey"
        );
        assert_ne!(
            filter(&source, "zzz").as_raw(),
            source.as_raw(),
            "unknown words still change it"
        );
    }
}

/// Rendering time, for `bench/thumbnail.sh` (release; prints, asserts nothing about time).
#[cfg(test)]
mod timing {
    #[test]
    #[ignore = "a measurement, run by bench/thumbnail.sh"]
    fn builtin_render_512() {
        use super::Generator;
        let request = super::GenerationRequest {
            prompt: "a red fox at dawn in a misty pine forest by a lake".into(),
            width: 512,
            height: 512,
            seed: 1,
        };
        let mut render_ms = Vec::new();
        let mut total_ms = Vec::new();
        for _ in 0..9 {
            let started = std::time::Instant::now();
            let image = super::render(&request.prompt, request.seed, 512, 512);
            render_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(image.width(), 512);
            let started = std::time::Instant::now();
            super::Builtin.generate(&request).expect("png");
            total_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        render_ms.sort_by(f64::total_cmp);
        total_ms.sort_by(f64::total_cmp);
        println!(
            "builtin 512x512: render {:.1} ms, render + PNG encode {:.1} ms (median of 9)",
            render_ms[4], total_ms[4]
        );
    }
}
