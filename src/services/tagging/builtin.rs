//! The builtin tagger: offline, deterministic, and honest about what it knows. For a
//! picture Atelier's own painter made it names what was painted (the painter says so);
//! for anything else it says only what the pixels say: the main colours by name, light or
//! dark, the orientation, monochrome, and "photo" when the file carried camera details.

use image::GenericImageView;

use super::{Suggestion, TagRequest};
use crate::services::generate::landscape::scene_words;

/// How sure the painter is of what it painted.
const PAINTED: f32 = 0.95;
/// A colour must cover this share of the picture to be named.
const COLOUR_SHARE: f32 = 0.15;

pub(super) fn suggest(request: &TagRequest) -> Vec<Suggestion> {
    let mut found = Vec::new();
    if let Some((prompt, seed)) = &request.painted {
        for word in scene_words(prompt, *seed) {
            found.push(suggestion(word, PAINTED));
        }
    }
    found.push(orientation(request.width, request.height));
    if request.from_camera {
        found.push(suggestion("photo", 0.9));
    }
    if request.painted.is_none() {
        // A picture the tagger cannot decode still has its orientation: nothing to add.
        if let Some(pixels) = Pixels::of(&request.picture) {
            found.extend(pixels.describe());
        }
    }
    found
}

fn suggestion(tag: &str, confidence: f32) -> Suggestion {
    Suggestion {
        tag: tag.to_owned(),
        confidence,
    }
}

fn orientation(width: u32, height: u32) -> Suggestion {
    let (w, h) = (width as f32, height.max(1) as f32);
    let tag = if w > h * 1.1 {
        "landscape"
    } else if h > w * 1.1 {
        "portrait"
    } else {
        "square"
    };
    suggestion(tag, 1.0)
}

/// A small sample of the picture's pixels as (hue 0–360, saturation, value, lightness).
struct Pixels(Vec<(f32, f32, f32, f32)>);

impl Pixels {
    /// Decodes the stored copy (Atelier made it, so it is small) and samples it at 64×64.
    fn of(bytes: &[u8]) -> Option<Self> {
        let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .ok()?;
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(64 * 1024 * 1024);
        reader.limits(limits);
        let small = reader.decode().ok()?.thumbnail(64, 64);
        let sample = small
            .pixels()
            .map(|(_, _, pixel)| hsv(pixel.0[0], pixel.0[1], pixel.0[2]))
            .collect::<Vec<_>>();
        (!sample.is_empty()).then_some(Self(sample))
    }

    fn describe(&self) -> Vec<Suggestion> {
        let total = self.0.len() as f32;
        let mut found = Vec::new();
        let brightness = self.0.iter().map(|(_, _, _, l)| l).sum::<f32>() / total;
        if brightness >= 0.6 {
            found.push(suggestion("light", (brightness - 0.3).min(1.0)));
        } else if brightness <= 0.35 {
            found.push(suggestion("dark", (1.0 - brightness - 0.2).min(1.0)));
        }
        let grey = self.0.iter().filter(|(_, s, _, _)| *s < 0.12).count() as f32 / total;
        if grey >= 0.95 {
            found.push(suggestion("monochrome", grey.min(0.95)));
        }
        let mut shares: Vec<(&'static str, f32)> = Vec::new();
        for &(h, s, v, _) in &self.0 {
            let name = colour_name(h, s, v);
            match shares.iter_mut().find(|(seen, _)| *seen == name) {
                Some((_, count)) => *count += 1.0,
                None => shares.push((name, 1.0)),
            }
        }
        shares.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        for (name, count) in shares.into_iter().take(3) {
            let share = count / total;
            if share >= COLOUR_SHARE {
                found.push(suggestion(name, (0.4 + share).min(0.9)));
            }
        }
        found
    }
}

/// The everyday name of a colour.
fn colour_name(h: f32, s: f32, v: f32) -> &'static str {
    if v < 0.18 {
        return "black";
    }
    if s < 0.15 {
        return if v > 0.85 { "white" } else { "grey" };
    }
    match h {
        h if !(15.0..345.0).contains(&h) => {
            if v < 0.55 {
                "brown"
            } else {
                "red"
            }
        }
        h if h < 40.0 => {
            if v < 0.6 {
                "brown"
            } else {
                "orange"
            }
        }
        h if h < 70.0 => "yellow",
        h if h < 165.0 => "green",
        h if h < 255.0 => "blue",
        h if h < 290.0 => "purple",
        _ => "pink",
    }
}

/// Hue, saturation and value (HSV) and lightness (HSL's: a saturated red is neither light
/// nor dark).
fn hsv(r: u8, g: u8, b: u8) -> (f32, f32, f32, f32) {
    let (r, g, b) = (
        f32::from(r) / 255.0,
        f32::from(g) / 255.0,
        f32::from(b) / 255.0,
    );
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let delta = max - min;
    let hue = if delta == 0.0 {
        0.0
    } else if max == r {
        60.0 * ((g - b) / delta).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((b - r) / delta + 2.0)
    } else {
        60.0 * ((r - g) / delta + 4.0)
    };
    let saturation = if max == 0.0 { 0.0 } else { delta / max };
    (hue, saturation, max, (max + min) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, colour: [u8; 3]) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(width, height, image::Rgb(colour));
        let mut bytes = Vec::new();
        image
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .expect("png");
        bytes
    }

    fn request(picture: Vec<u8>, width: u32, height: u32) -> TagRequest {
        TagRequest {
            picture,
            mime: "image/png".into(),
            painted: None,
            width,
            height,
            from_camera: false,
            language: "English".into(),
            owner_tags: Vec::new(),
        }
    }

    fn tags(found: &[Suggestion]) -> Vec<&str> {
        found.iter().map(|s| s.tag.as_str()).collect()
    }

    #[test]
    fn pixels_say_colour_light_orientation_and_monochrome() {
        let red = suggest(&request(png(60, 30, [220, 30, 30]), 600, 300));
        assert_eq!(tags(&red), ["landscape", "red"]);
        let white = suggest(&request(png(30, 60, [250, 250, 250]), 300, 600));
        assert_eq!(tags(&white), ["portrait", "light", "monochrome", "white"]);
        let night = suggest(&request(png(40, 40, [10, 12, 40]), 40, 40));
        assert_eq!(tags(&night), ["square", "dark", "black"]);
        let garbage = suggest(&request(b"not a picture".to_vec(), 10, 10));
        assert_eq!(
            tags(&garbage),
            ["square"],
            "what it cannot see it does not name"
        );
    }

    #[test]
    fn camera_details_make_it_a_photo() {
        let mut photo = request(png(8, 8, [30, 90, 200]), 800, 600);
        photo.from_camera = true;
        assert_eq!(tags(&suggest(&photo)), ["landscape", "photo", "blue"]);
    }

    #[test]
    fn the_painters_scene_words_come_back_for_a_dozen_prompts() {
        let cases: [(&str, &[&str]); 12] = [
            ("a red sunset over the sea", &["sunset", "water", "red"]),
            ("mountains at dawn", &["dawn", "mountains"]),
            (
                "a starry night in the desert",
                &["night", "stars", "desert"],
            ),
            ("a misty forest", &["fog", "forest"]),
            ("a snowy peak", &["snow", "mountains"]),
            ("a city skyline at night", &["city", "night"]),
            ("a quiet lake", &["water"]),
            ("pine woods in winter", &["forest", "snow"]),
            ("golden dunes", &["desert", "golden"]),
            ("blue ocean waves", &["water", "blue"]),
            ("a volcano ridge", &["mountains"]),
            (
                "an emerald harbour at dusk",
                &["water", "sunset", "emerald"],
            ),
        ];
        for (seed, (prompt, expected)) in cases.iter().enumerate() {
            let mut painted = request(Vec::new(), 512, 512);
            painted.painted = Some(((*prompt).to_owned(), seed as u64 * 7919));
            let found = suggest(&painted);
            let words = tags(&found);
            for word in *expected {
                assert!(words.contains(word), "{prompt}: {word} in {words:?}");
            }
        }
    }

    #[test]
    fn painted_pictures_get_the_painters_words_the_same_every_time() {
        let mut painted = request(Vec::new(), 512, 512);
        painted.painted = Some(("a red sunset over the sea".into(), 42));
        let first = suggest(&painted);
        assert_eq!(first, suggest(&painted), "deterministic");
        let words = tags(&first);
        for word in ["sunset", "water", "red", "square"] {
            assert!(words.contains(&word), "{word} in {words:?}");
        }
        assert!(!words.contains(&"night"));
    }
}
