//! Camera details from a JPEG's EXIF block: make, model and when the picture was taken.
//! Only those three tags are read; the GPS directory is never followed, so location never
//! leaves the pristine file. Every offset is bounds-checked: a damaged or hostile block
//! gives `None` for what it damages, never a panic.

use chrono::NaiveDateTime;

/// What the camera wrote about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Camera {
    pub make: Option<String>,
    pub model: Option<String>,
    /// The camera's local time (EXIF has no time zone).
    pub taken_at: Option<NaiveDateTime>,
}

impl Camera {
    fn is_empty(&self) -> bool {
        self.make.is_none() && self.model.is_none() && self.taken_at.is_none()
    }
}

const MAKE: u16 = 0x010F;
const MODEL: u16 = 0x0110;
const DATE_TIME: u16 = 0x0132;
const EXIF_IFD: u16 = 0x8769;
const DATE_TIME_ORIGINAL: u16 = 0x9003;
const ASCII: u16 = 2;
const LONG: u16 = 4;

/// The camera details of a JPEG file, if it carries any.
pub fn camera_of_jpeg(bytes: &[u8]) -> Option<Camera> {
    let tiff = exif_block(bytes)?;
    let reader = Tiff::new(tiff)?;
    let first = reader.u32_at(4)? as usize;
    let mut camera = Camera::default();
    let mut exif_ifd = None;
    let mut modified = None;
    reader.each_entry(first, |tag, kind, count, value_at| match (tag, kind) {
        (MAKE, ASCII) => camera.make = reader.text(count, value_at),
        (MODEL, ASCII) => camera.model = reader.text(count, value_at),
        (DATE_TIME, ASCII) => modified = reader.text(count, value_at),
        (EXIF_IFD, LONG) => exif_ifd = reader.u32_at(value_at).map(|at| at as usize),
        _ => {}
    });
    let mut original = None;
    if let Some(at) = exif_ifd {
        reader.each_entry(at, |tag, kind, count, value_at| {
            if (tag, kind) == (DATE_TIME_ORIGINAL, ASCII) {
                original = reader.text(count, value_at);
            }
        });
    }
    camera.taken_at = original.or(modified).and_then(|text| taken_at(&text));
    (!camera.is_empty()).then_some(camera)
}

/// Years a camera time may name: anything else is a damaged or made-up clock, and some
/// (year -9999) PostgreSQL cannot even store. Camera details never fail an upload.
const CAMERA_YEARS: std::ops::RangeInclusive<i32> = 1800..=2100;

/// An EXIF time (`YYYY:MM:DD HH:MM:SS`) in [`CAMERA_YEARS`].
fn taken_at(text: &str) -> Option<NaiveDateTime> {
    use chrono::Datelike;
    NaiveDateTime::parse_from_str(text, "%Y:%m:%d %H:%M:%S")
        .ok()
        .filter(|at| CAMERA_YEARS.contains(&at.year()))
}

/// The TIFF structure inside the first `APP1` segment that starts with `Exif\0\0`.
fn exif_block(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut at = 2;
    loop {
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        // Start of scan: the metadata segments are all before it.
        if marker == 0xDA || marker == 0xD9 {
            return None;
        }
        let length = usize::from(u16::from_be_bytes([
            *bytes.get(at + 2)?,
            *bytes.get(at + 3)?,
        ]));
        let body = bytes.get(at + 4..at + 2 + length)?;
        if marker == 0xE1 {
            if let Some(tiff) = body.strip_prefix(b"Exif\0\0") {
                return Some(tiff);
            }
        }
        at += 2 + length;
    }
}

/// A TIFF block and its byte order.
struct Tiff<'a> {
    bytes: &'a [u8],
    little_endian: bool,
}

impl<'a> Tiff<'a> {
    fn new(bytes: &'a [u8]) -> Option<Self> {
        let little_endian = match bytes.get(..4)? {
            [b'I', b'I', 42, 0] => true,
            [b'M', b'M', 0, 42] => false,
            _ => return None,
        };
        Some(Tiff {
            bytes,
            little_endian,
        })
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        let pair = [*self.bytes.get(at)?, *self.bytes.get(at + 1)?];
        Some(if self.little_endian {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let quad: [u8; 4] = self.bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if self.little_endian {
            u32::from_le_bytes(quad)
        } else {
            u32::from_be_bytes(quad)
        })
    }

    /// Calls `visit(tag, type, count, where the value or its offset is)` for each entry
    /// of the directory at `at` (at most 512 entries).
    fn each_entry(&self, at: usize, mut visit: impl FnMut(u16, u16, u32, usize)) {
        let Some(entries) = self.u16_at(at) else {
            return;
        };
        for index in 0..usize::from(entries.min(512)) {
            let entry = at + 2 + index * 12;
            let (Some(tag), Some(kind), Some(count)) = (
                self.u16_at(entry),
                self.u16_at(entry + 2),
                self.u32_at(entry + 4),
            ) else {
                return;
            };
            visit(tag, kind, count, entry + 8);
        }
    }

    /// An ASCII value: up to 4 bytes inline, otherwise at the offset stored at `value_at`.
    /// Trimmed, at most 64 characters, printable only; `None` if empty or damaged.
    fn text(&self, count: u32, value_at: usize) -> Option<String> {
        let count = count as usize;
        let start = if count <= 4 {
            value_at
        } else {
            self.u32_at(value_at)? as usize
        };
        let raw = self.bytes.get(start..start.checked_add(count)?)?;
        let text: String = String::from_utf8_lossy(raw)
            .trim_matches(|c: char| c == '\0' || c.is_whitespace())
            .chars()
            .take(64)
            .collect();
        (!text.is_empty() && !text.chars().any(char::is_control)).then_some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG header with an EXIF block holding make, model, a GPS pointer and, in the
    /// EXIF directory, the time the picture was taken.
    fn jpeg_with_camera(little_endian: bool) -> Vec<u8> {
        jpeg_taken_at(little_endian, b"2024:05:01 18:30:05\0")
    }

    fn jpeg_taken_at(little_endian: bool, taken: &[u8]) -> Vec<u8> {
        let u16b = |v: u16| {
            if little_endian {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let u32b = |v: u32| {
            if little_endian {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let make = b"Fujifilm\0";
        let model = b"X100V\0";
        let mut tiff = Vec::new();
        tiff.extend_from_slice(if little_endian { b"II" } else { b"MM" });
        tiff.extend_from_slice(&u16b(42));
        tiff.extend_from_slice(&u32b(8));
        // IFD0 at 8: four entries, then the next-IFD offset; data after it.
        let ifd0_end = 8 + 2 + 4 * 12 + 4;
        let make_at = ifd0_end as u32;
        let model_at = make_at + make.len() as u32;
        let exif_at = model_at + model.len() as u32;
        let taken_at = exif_at + 2 + 12 + 4;
        tiff.extend_from_slice(&u16b(4));
        for (tag, kind, count, value) in [
            (MAKE, ASCII, make.len() as u32, make_at),
            (MODEL, ASCII, model.len() as u32, model_at),
            (EXIF_IFD, LONG, 1, exif_at),
            (0x8825, LONG, 1, 9999), // GPS: never followed
        ] {
            tiff.extend_from_slice(&u16b(tag));
            tiff.extend_from_slice(&u16b(kind));
            tiff.extend_from_slice(&u32b(count));
            tiff.extend_from_slice(&u32b(value));
        }
        tiff.extend_from_slice(&u32b(0));
        tiff.extend_from_slice(make);
        tiff.extend_from_slice(model);
        tiff.extend_from_slice(&u16b(1));
        tiff.extend_from_slice(&u16b(DATE_TIME_ORIGINAL));
        tiff.extend_from_slice(&u16b(ASCII));
        tiff.extend_from_slice(&u32b(taken.len() as u32));
        tiff.extend_from_slice(&u32b(taken_at));
        tiff.extend_from_slice(&u32b(0));
        tiff.extend_from_slice(taken);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
        jpeg.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        jpeg.extend_from_slice(&app1);
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0, 2, 0xFF, 0xD9]);
        jpeg
    }

    #[test]
    fn make_model_and_time_in_both_byte_orders() {
        for little_endian in [true, false] {
            let camera = camera_of_jpeg(&jpeg_with_camera(little_endian)).expect("camera");
            assert_eq!(camera.make.as_deref(), Some("Fujifilm"));
            assert_eq!(camera.model.as_deref(), Some("X100V"));
            assert_eq!(
                camera.taken_at.map(|at| at.to_string()).as_deref(),
                Some("2024-05-01 18:30:05")
            );
        }
    }

    #[test]
    fn times_outside_camera_years_are_dropped_not_stored() {
        for (taken, kept) in [
            (&b"-9999:01:01 00:00:00\0"[..], None),
            (b"1799:12:31 23:59:59\0", None),
            (b"2101:01:01 00:00:00\0", None),
            (b"1800:01:01 00:00:00\0", Some("1800-01-01 00:00:00")),
            (b"2100:12:31 23:59:59\0", Some("2100-12-31 23:59:59")),
        ] {
            let camera = camera_of_jpeg(&jpeg_taken_at(false, taken)).expect("make and model");
            assert_eq!(camera.make.as_deref(), Some("Fujifilm"), "the rest is kept");
            assert_eq!(camera.taken_at.map(|at| at.to_string()).as_deref(), kept);
        }
    }

    #[test]
    fn damaged_blocks_give_nothing_and_never_panic() {
        let whole = jpeg_with_camera(true);
        for cut in 0..whole.len() {
            let _ = camera_of_jpeg(&whole[..cut]);
        }
        let mut flipped = whole.clone();
        for at in 0..flipped.len() {
            flipped[at] ^= 0xFF;
            let _ = camera_of_jpeg(&flipped);
            flipped[at] ^= 0xFF;
        }
        // Huge counts: a directory claiming 65,535 entries, a text claiming 4 GB.
        let tiff = 12;
        let mut huge = whole.clone();
        huge[tiff + 8..tiff + 10].copy_from_slice(&u16::MAX.to_le_bytes());
        let _ = camera_of_jpeg(&huge);
        let mut huge = whole.clone();
        huge[tiff + 14..tiff + 18].copy_from_slice(&u32::MAX.to_le_bytes());
        let camera = camera_of_jpeg(&huge).expect("the other tags still read");
        assert_eq!(camera.make, None, "a text past the end is no text");
        assert_eq!(camera_of_jpeg(b"not a jpeg"), None);
        assert_eq!(camera_of_jpeg(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 2]), None);
    }
}
