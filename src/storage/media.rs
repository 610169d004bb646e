//! The files of a new library item (pristine, working copy, display copy for pictures,
//! thumbnail), as the library stores them, with what they tell about themselves.

use super::Variant;
use super::exif::{Camera, camera_of_jpeg};
use super::imaging::{Format, Sanitised};
use super::video::PreparedVideo;

/// The files of a new library item.
pub enum MediaFiles {
    /// A still picture: the bytes received or generated, and the sanitised copies.
    Picture {
        pristine: Vec<u8>,
        pristine_format: Format,
        sanitised: Sanitised,
    },
    /// A clip: the provider's bytes, the copy served without metadata, a poster frame.
    Video {
        pristine: Vec<u8>,
        prepared: PreparedVideo,
    },
}

impl MediaFiles {
    /// (variant, extension, bytes) of each file.
    pub fn variants(&self) -> Vec<(Variant, &'static str, &[u8])> {
        match self {
            MediaFiles::Picture {
                pristine,
                pristine_format,
                sanitised,
            } => vec![
                (Variant::Pristine, pristine_format.ext(), pristine),
                (
                    Variant::Original,
                    sanitised.original.format.ext(),
                    &sanitised.original.bytes,
                ),
                (
                    Variant::Display,
                    sanitised.display.format.ext(),
                    &sanitised.display.bytes,
                ),
                (
                    Variant::Thumb,
                    sanitised.thumb.format.ext(),
                    &sanitised.thumb.bytes,
                ),
            ],
            MediaFiles::Video { pristine, prepared } => vec![
                (Variant::Pristine, prepared.container.ext(), pristine),
                (
                    Variant::Original,
                    prepared.container.ext(),
                    &prepared.served,
                ),
                (Variant::Thumb, Format::Jpeg.ext(), &prepared.poster),
            ],
        }
    }

    /// The extension of one stored file, if this item has that variant.
    pub fn ext_of(&self, wanted: Variant) -> Option<&'static str> {
        self.variants()
            .into_iter()
            .find(|(variant, _, _)| *variant == wanted)
            .map(|(_, ext, _)| ext)
    }

    pub fn dimensions(&self) -> (u32, u32) {
        match self {
            MediaFiles::Picture { sanitised, .. } => (sanitised.width, sanitised.height),
            MediaFiles::Video { prepared, .. } => (prepared.width, prepared.height),
        }
    }

    /// What the camera wrote in a JPEG's EXIF (make, model, time; never location).
    pub fn camera(&self) -> Option<Camera> {
        match self {
            MediaFiles::Picture {
                pristine,
                pristine_format: Format::Jpeg,
                ..
            } => camera_of_jpeg(pristine),
            _ => None,
        }
    }

    pub fn duration_ms(&self) -> Option<i32> {
        match self {
            MediaFiles::Picture { .. } => None,
            MediaFiles::Video { prepared, .. } => Some(prepared.duration_ms),
        }
    }
}
