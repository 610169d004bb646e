//! Image bytes in, sanitised variants out. CPU-bound: call from the blocking pool.
//!
//! Types are recognised by their magic bytes, never by name or declared type, and only
//! JPEG, PNG, WebP and GIF are accepted. Decoding is bounded twice: the header's dimensions
//! are checked against the pixel limit before any pixel is decoded (a 60000×60000 "bomb"
//! is refused from its first bytes), and the decoder gets a memory cap. The working copy is
//! re-encoded from pixels, so no metadata (EXIF GPS included) survives; EXIF orientation is
//! applied first. An upright JPEG is the exception: its working copy is its own compressed
//! data with every metadata segment cut out (`storage::jpeg`), lossless and much faster.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use super::budget::{DecodeBudget, NoRoom, Reservation};

/// Longest side of a thumbnail.
pub const THUMB_SIZE: u32 = 320;
/// Longest side of the display copy pages show (sharp on a 1600 px wide window, a third of
/// a 12-megapixel photo's bytes or less).
pub const DISPLAY_SIZE: u32 = 1600;
/// JPEG quality of the display copy: screen-size, so lighter than the working copy's 90.
const DISPLAY_QUALITY: u8 = 82;
/// Longest side a resize may ask for.
pub const MAX_RESIZE_SIDE: u32 = 8192;

/// A raster format Atelier stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    WebP,
    Gif,
}

impl Format {
    /// Recognises a format from the first bytes.
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Format::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Format::Png)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Format::Gif)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Format::WebP)
        } else {
            None
        }
    }

    pub fn ext(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::WebP => "webp",
            Format::Gif => "gif",
        }
    }

    pub fn from_ext(ext: &str) -> Option<Format> {
        match ext {
            "jpg" => Some(Format::Jpeg),
            "png" => Some(Format::Png),
            "webp" => Some(Format::WebP),
            "gif" => Some(Format::Gif),
            _ => None,
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Format::Jpeg => ImageFormat::Jpeg,
            Format::Png => ImageFormat::Png,
            Format::WebP => ImageFormat::WebP,
            Format::Gif => ImageFormat::Gif,
        }
    }

    /// The format of the re-encoded working copy: GIF becomes PNG (first frame).
    fn working_format(self) -> Format {
        match self {
            Format::Gif => Format::Png,
            other => other,
        }
    }
}

/// Why an image was refused, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageProblem {
    UnsupportedType,
    TooManyPixels {
        width: u32,
        height: u32,
        max: u64,
    },
    Corrupt(String),
    BadEdit(String),
    /// The decode memory budget is in use by other work; retry shortly.
    ServerBusy,
}

impl ImageProblem {
    pub fn message(&self) -> String {
        match self {
            ImageProblem::UnsupportedType => {
                "This file is not a JPEG, PNG, WebP or GIF image. Only those types are accepted."
                    .into()
            }
            ImageProblem::TooManyPixels { width, height, max } => format!(
                "This image is {width}×{height} pixels; the limit is {} megapixels.",
                max / 1_000_000
            ),
            ImageProblem::Corrupt(detail) => {
                format!(
                    "This image could not be decoded (it may be damaged or truncated): {detail}"
                )
            }
            ImageProblem::BadEdit(detail) => detail.clone(),
            ImageProblem::ServerBusy => {
                "The server is busy with other images right now. Please try again in a few seconds."
                    .into()
            }
        }
    }
}

/// One encoded variant.
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub format: Format,
}

/// What is stored for an image: the sanitised working copy, its display copy and its
/// thumbnail.
pub struct Sanitised {
    pub original: Encoded,
    pub display: Encoded,
    pub thumb: Encoded,
    pub width: u32,
    pub height: u32,
}

/// Reserves `bytes` from the budget for an image of `width`×`height`.
fn reserve(
    budget: &DecodeBudget,
    bytes: u64,
    width: u32,
    height: u32,
) -> Result<Reservation, ImageProblem> {
    budget.reserve(bytes).map_err(|no_room| match no_room {
        NoRoom::Busy => ImageProblem::ServerBusy,
        NoRoom::TooLarge => ImageProblem::TooManyPixels {
            width,
            height,
            max: budget.limit() / 8,
        },
    })
}

/// Decodes `bytes` (already known to be `format`) within the limits, orientation applied.
/// Before any pixel is decoded, the decoded size plus one RGBA working copy (what encoding
/// converts to) is reserved from `budget`; the reservation is held until it is dropped.
pub fn decode(
    bytes: &[u8],
    format: Format,
    max_pixels: u64,
    budget: &DecodeBudget,
) -> Result<(DynamicImage, Reservation), ImageProblem> {
    decode_noting_orientation(bytes, format, max_pixels, budget)
        .map(|(image, _, held)| (image, held))
}

/// [`decode`], also telling whether the file was stored upright (no orientation to apply).
fn decode_noting_orientation(
    bytes: &[u8],
    format: Format,
    max_pixels: u64,
    budget: &DecodeBudget,
) -> Result<(DynamicImage, bool, Reservation), ImageProblem> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    let mut limits = Limits::default();
    limits.max_image_width = Some(65_535);
    limits.max_image_height = Some(65_535);
    // Decoded RGBA at the pixel limit, plus headroom for the decoder's own buffers.
    limits.max_alloc = Some(max_pixels.saturating_mul(4).saturating_add(64 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(corrupt_or_limit)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(ImageProblem::TooManyPixels {
            width,
            height,
            max: max_pixels,
        });
    }
    let pixels = u64::from(width) * u64::from(height);
    let held = reserve(
        budget,
        decoder.total_bytes().saturating_add(pixels * 4),
        width,
        height,
    )?;
    let orientation = decoder.orientation().map_err(corrupt_or_limit)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(corrupt_or_limit)?;
    image.apply_orientation(orientation);
    Ok((image, orientation == Orientation::NoTransforms, held))
}

fn corrupt_or_limit(err: image::ImageError) -> ImageProblem {
    match err {
        image::ImageError::Limits(limit) => {
            ImageProblem::Corrupt(format!("too large to decode ({limit})"))
        }
        other => ImageProblem::Corrupt(other.to_string()),
    }
}

/// Checks and decodes an upload, then makes the working copy and thumbnail, within the
/// memory budget. An upright JPEG keeps its compressed data, minus the metadata (see
/// [`jpeg`](super::jpeg)); everything else is re-encoded from its pixels.
pub fn sanitise_upload(
    bytes: &[u8],
    max_pixels: u64,
    budget: &DecodeBudget,
) -> Result<(Format, Sanitised), ImageProblem> {
    let format = Format::detect(bytes).ok_or(ImageProblem::UnsupportedType)?;
    let (image, upright, _held) = decode_noting_orientation(bytes, format, max_pixels, budget)?;
    let stripped = (format == Format::Jpeg && upright)
        .then(|| super::jpeg::strip_metadata(bytes))
        .flatten();
    let original = match stripped {
        Some(bytes) => Encoded {
            bytes,
            format: Format::Jpeg,
        },
        None => encode(&image, format.working_format())?,
    };
    Ok((format, with_smaller_copies(&image, original)?))
}

/// Encodes the working copy in `format`, its display copy and a thumbnail.
pub fn encode_variants(image: &DynamicImage, format: Format) -> Result<Sanitised, ImageProblem> {
    with_smaller_copies(image, encode(image, format)?)
}

/// The working copy `original` of `image`, with the display copy and thumbnail made from
/// `image` (the thumbnail from the display copy: a sixth of the pixels to read).
fn with_smaller_copies(image: &DynamicImage, original: Encoded) -> Result<Sanitised, ImageProblem> {
    let display_image = shrunk_to_fit(image, DISPLAY_SIZE);
    let display = encode_display(&display_image)?;
    let thumb_image = display_image.thumbnail(THUMB_SIZE, THUMB_SIZE);
    let thumb_format = if image.color().has_alpha() {
        Format::Png
    } else {
        Format::Jpeg
    };
    let thumb = encode(&thumb_image, thumb_format)?;
    Ok(Sanitised {
        original,
        display,
        thumb,
        width: image.width(),
        height: image.height(),
    })
}

/// The display copy of a stored working copy, for pictures stored before copies existed.
pub fn display_copy(
    bytes: &[u8],
    max_pixels: u64,
    budget: &DecodeBudget,
) -> Result<Encoded, ImageProblem> {
    let format = Format::detect(bytes).ok_or(ImageProblem::UnsupportedType)?;
    let (image, _held) = decode(bytes, format, max_pixels, budget)?;
    encode_display(&shrunk_to_fit(&image, DISPLAY_SIZE))
}

/// `image` scaled down to fit in `side`×`side`, or as it is when it already fits (never
/// scaled up: a 1024 px picture's display copy is 1024 px).
fn shrunk_to_fit(image: &DynamicImage, side: u32) -> std::borrow::Cow<'_, DynamicImage> {
    if image.width() <= side && image.height() <= side {
        std::borrow::Cow::Borrowed(image)
    } else {
        std::borrow::Cow::Owned(image.thumbnail(side, side))
    }
}

/// A display-sized picture as JPEG, or as lossless WebP when it has transparency to keep
/// (still a fraction of a PNG's bytes).
fn encode_display(image: &DynamicImage) -> Result<Encoded, ImageProblem> {
    if image.color().has_alpha() {
        encode(image, Format::WebP)
    } else {
        encode_jpeg(image, DISPLAY_QUALITY)
    }
}

fn encode_jpeg(image: &DynamicImage, quality: u8) -> Result<Encoded, ImageProblem> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(&image.to_rgb8())
        .map_err(|err| ImageProblem::Corrupt(format!("could not encode: {err}")))?;
    Ok(Encoded {
        bytes,
        format: Format::Jpeg,
    })
}

fn encode(image: &DynamicImage, format: Format) -> Result<Encoded, ImageProblem> {
    let mut bytes = Vec::new();
    let failed = |err: image::ImageError| ImageProblem::Corrupt(format!("could not encode: {err}"));
    match format {
        Format::Jpeg => return encode_jpeg(image, 90),
        Format::WebP => {
            let rgba = image.to_rgba8();
            WebPEncoder::new_lossless(&mut bytes)
                .encode(
                    rgba.as_raw(),
                    rgba.width(),
                    rgba.height(),
                    image::ExtendedColorType::Rgba8,
                )
                .map_err(failed)?;
        }
        Format::Png | Format::Gif => {
            let image = match image {
                DynamicImage::ImageLuma8(_)
                | DynamicImage::ImageLumaA8(_)
                | DynamicImage::ImageRgb8(_)
                | DynamicImage::ImageRgba8(_) => image.clone(),
                other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.to_rgba8()),
                other => DynamicImage::ImageRgb8(other.to_rgb8()),
            };
            image
                .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
                .map_err(failed)?;
            return Ok(Encoded {
                bytes,
                format: Format::Png,
            });
        }
    }
    Ok(Encoded { bytes, format })
}

/// An edit of the working copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Rotate90,
    Rotate180,
    Rotate270,
    FlipHorizontal,
    FlipVertical,
    Grayscale,
    Crop {
        x: u32,
        y: u32,
        width: u32,
        height: u32,
    },
    Resize {
        width: u32,
        height: u32,
    },
}

/// The size `edit` makes of a `width`×`height` image (crop and resize parameters are
/// checked by [`apply_edit`]).
pub fn edited_size(width: u32, height: u32, edit: Edit) -> (u32, u32) {
    match edit {
        Edit::Rotate90 | Edit::Rotate270 => (height, width),
        Edit::Crop {
            width: w,
            height: h,
            ..
        }
        | Edit::Resize {
            width: w,
            height: h,
        } => (w, h),
        Edit::Rotate180 | Edit::FlipHorizontal | Edit::FlipVertical | Edit::Grayscale => {
            (width, height)
        }
    }
}

/// Applies `edit`, refusing parameters that do not fit the image, an output over the pixel
/// limit, and an output the memory budget cannot hold (its buffer is reserved first; the
/// returned reservation holds it).
pub fn apply_edit(
    image: &DynamicImage,
    edit: Edit,
    max_pixels: u64,
    budget: &DecodeBudget,
) -> Result<(DynamicImage, Reservation), ImageProblem> {
    let (width, height) = edited_size(image.width(), image.height(), edit);
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(ImageProblem::BadEdit(format!(
            "The result would be {width}×{height} pixels; the limit is {} megapixels.",
            max_pixels / 1_000_000
        )));
    }
    let bytes_per_pixel = u64::from(image.color().bytes_per_pixel());
    let held = reserve(
        budget,
        u64::from(width) * u64::from(height) * bytes_per_pixel,
        width,
        height,
    )?;
    let edited = match edit {
        Edit::Rotate90 => image.rotate90(),
        Edit::Rotate180 => image.rotate180(),
        Edit::Rotate270 => image.rotate270(),
        Edit::FlipHorizontal => image.fliph(),
        Edit::FlipVertical => image.flipv(),
        Edit::Grayscale => match image.color().has_alpha() {
            true => DynamicImage::ImageLumaA8(image.to_luma_alpha8()),
            false => DynamicImage::ImageLuma8(image.to_luma8()),
        },
        Edit::Crop {
            x,
            y,
            width,
            height,
        } => {
            let fits = width > 0
                && height > 0
                && u64::from(x) + u64::from(width) <= u64::from(image.width())
                && u64::from(y) + u64::from(height) <= u64::from(image.height());
            if !fits {
                return Err(ImageProblem::BadEdit(format!(
                    "The crop must be a non-empty area inside the {}×{} image.",
                    image.width(),
                    image.height()
                )));
            }
            image.crop_imm(x, y, width, height)
        }
        Edit::Resize { width, height } => {
            if width == 0 || height == 0 || width > MAX_RESIZE_SIDE || height > MAX_RESIZE_SIDE {
                return Err(ImageProblem::BadEdit(format!(
                    "Width and height must be between 1 and {MAX_RESIZE_SIDE} pixels."
                )));
            }
            image.resize_exact(width, height, image::imageops::FilterType::Triangle)
        }
    };
    Ok((edited, held))
}

/// What a refused picture means for the request: its status and sentence.
impl From<ImageProblem> for crate::base::error::AppError {
    fn from(problem: ImageProblem) -> Self {
        use crate::base::error::AppError;
        let message = problem.message();
        match problem {
            ImageProblem::UnsupportedType => AppError::UnsupportedMediaType(message),
            ImageProblem::TooManyPixels { .. } => AppError::PayloadTooLarge(message),
            ImageProblem::Corrupt(_) => AppError::Unprocessable(message),
            ImageProblem::BadEdit(_) => AppError::BadRequest(message),
            ImageProblem::ServerBusy => AppError::Busy {
                message,
                retry_after_secs: 5,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([x as u8, y as u8, 128])
        }));
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .expect("png");
        bytes
    }

    #[test]
    fn detects_by_magic_bytes_only() {
        assert_eq!(Format::detect(&png(2, 2)), Some(Format::Png));
        assert_eq!(
            Format::detect(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            None
        );
        assert_eq!(Format::detect(b"<html><body>hi</body></html>"), None);
        assert_eq!(Format::detect(b"GIF89a...."), Some(Format::Gif));
        assert_eq!(Format::detect(b"RIFF\0\0\0\0WEBPVP8 "), Some(Format::WebP));
    }

    #[test]
    fn thumbnails_keep_aspect_and_fit() {
        let budget = DecodeBudget::new(1 << 30);
        let (format, out) = sanitise_upload(&png(1000, 500), 50_000_000, &budget).expect("ok");
        assert_eq!(budget.in_use(), 0, "the reservation is given back");
        assert_eq!(format, Format::Png);
        assert_eq!((out.width, out.height), (1000, 500));
        let thumb = image::load_from_memory(&out.thumb.bytes).expect("thumb");
        assert_eq!((thumb.width(), thumb.height()), (320, 160));
    }

    #[test]
    fn display_copies_fit_the_screen_and_never_grow() {
        let budget = DecodeBudget::new(1 << 30);
        let dims = |encoded: &Encoded| {
            let image = image::load_from_memory(&encoded.bytes).expect("display copy");
            (image.width(), image.height())
        };
        let (_, big) = sanitise_upload(&png(4000, 3000), 50_000_000, &budget).expect("ok");
        assert_eq!(big.display.format, Format::Jpeg, "opaque: JPEG");
        assert_eq!(dims(&big.display), (1600, 1200));
        let (_, small) = sanitise_upload(&png(1024, 768), 50_000_000, &budget).expect("ok");
        assert_eq!(dims(&small.display), (1024, 768), "not scaled up");
        let transparent = {
            let mut bytes = Vec::new();
            DynamicImage::ImageRgba8(image::RgbaImage::new(2000, 100))
                .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
                .expect("png");
            bytes
        };
        let (_, clear) = sanitise_upload(&transparent, 50_000_000, &budget).expect("ok");
        assert_eq!(clear.display.format, Format::WebP, "transparency kept");
        assert_eq!(dims(&clear.display), (1600, 80));
        let backfilled = display_copy(&big.original.bytes, 50_000_000, &budget).expect("ok");
        assert_eq!(dims(&backfilled), (1600, 1200));
    }

    #[test]
    fn edits_check_their_parameters() {
        let budget = DecodeBudget::new(1 << 30);
        let apply_edit = |image: &DynamicImage, edit| {
            super::apply_edit(image, edit, 50_000_000, &budget).map(|(image, _)| image)
        };
        let image = DynamicImage::ImageRgb8(image::RgbImage::new(40, 20));
        assert_eq!(
            apply_edit(&image, Edit::Rotate90).expect("rotate").width(),
            20
        );
        let crop = |x, y, width, height| {
            apply_edit(
                &image,
                Edit::Crop {
                    x,
                    y,
                    width,
                    height,
                },
            )
        };
        assert!(crop(0, 0, 40, 20).is_ok());
        assert!(crop(30, 0, 11, 20).is_err());
        assert!(crop(0, 0, 0, 5).is_err());
        assert!(crop(u32::MAX, 0, 2, 2).is_err());
        assert!(
            apply_edit(
                &image,
                Edit::Resize {
                    width: 0,
                    height: 5
                }
            )
            .is_err()
        );
        assert!(
            apply_edit(
                &image,
                Edit::Resize {
                    width: 100_000,
                    height: 5
                }
            )
            .is_err()
        );
        // Within the side limit but over the pixel limit: refused before any work.
        assert!(matches!(
            apply_edit(
                &image,
                Edit::Resize {
                    width: 8192,
                    height: 8192
                }
            ),
            Err(ImageProblem::BadEdit(_))
        ));
        // An output the budget cannot hold while the input is held.
        let small = DecodeBudget::new(4000);
        let _held = small.reserve(3000).expect("reserve");
        assert!(matches!(
            super::apply_edit(
                &image,
                Edit::Resize {
                    width: 40,
                    height: 20
                },
                50_000_000,
                &small
            ),
            Err(ImageProblem::ServerBusy)
        ));
    }
}

/// Timing of the upload path on a 12-megapixel JPEG, for `bench/thumbnail.sh` (run in
/// release; prints figures, asserts only correctness).
#[cfg(test)]
mod timing {
    use super::*;

    #[test]
    #[ignore = "a measurement, run by bench/thumbnail.sh"]
    fn twelve_megapixel_jpeg_to_thumbnail() {
        let (width, height) = (4000, 3000);
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x ^ y) % 255) as u8])
        }));
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&image)
            .expect("encode");
        let budget = DecodeBudget::new(1 << 30);
        let runs = 5;
        let mut decode_ms = Vec::new();
        let mut thumb_ms = Vec::new();
        let mut total_ms = Vec::new();
        for _ in 0..runs {
            let started = std::time::Instant::now();
            let (decoded, _held) =
                decode(&jpeg, Format::Jpeg, 50_000_000, &budget).expect("decode");
            let decoded_at = started.elapsed();
            let thumb = decoded.thumbnail(THUMB_SIZE, THUMB_SIZE);
            encode(&thumb, Format::Jpeg).expect("thumb");
            let thumb_at = started.elapsed();
            sanitise_upload(&jpeg, 50_000_000, &budget).expect("whole upload path");
            decode_ms.push(decoded_at.as_secs_f64() * 1000.0);
            thumb_ms.push((thumb_at - decoded_at).as_secs_f64() * 1000.0);
            total_ms.push((started.elapsed() - thumb_at).as_secs_f64() * 1000.0);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "12 MP JPEG ({} KB): decode {:.0} ms, thumbnail+encode {:.0} ms; whole upload path (decode, re-encode original, thumbnail) {:.0} ms (median of {runs})",
            jpeg.len() / 1024,
            median(&mut decode_ms),
            median(&mut thumb_ms),
            median(&mut total_ms)
        );
    }
}
