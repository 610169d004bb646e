//! Metadata stripping for JPEG files without re-encoding: the working copy of an upright
//! JPEG upload is its own compressed data with only what decoding needs, which is both
//! lossless and several times faster than decoding and encoding 12 megapixels again.
//!
//! A whitelist, since the working copy is what share links and Explore serve: kept are the
//! frame header (`SOFn`), the tables (`DHT`, `DQT`, `DAC`), the restart interval (`DRI`),
//! each scan (`SOS` and its entropy-coded data), a plain JFIF `APP0` (pixel density, its
//! thumbnail dropped) and a bare Adobe `APP14` (the colour transform flag alone). Everything
//! else goes: EXIF with GPS, XMP, IPTC, ICC profiles, maker notes, JFXX thumbnails (which
//! can show the picture before a crop), CIFF with the owner's name, `JPGn` extensions,
//! comments, and anything after the end-of-image marker. A file whose structure is not
//! understood gives `None`, and the caller re-encodes from pixels as before.

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const DHT: u8 = 0xC4;
const DAC: u8 = 0xCC;
const DQT: u8 = 0xDB;
const DRI: u8 = 0xDD;
const APP0: u8 = 0xE0;
const APP14: u8 = 0xEE;

/// What to do with one marker segment.
enum Keep {
    /// The segment as it is.
    Whole,
    /// A new payload in its place.
    Rewritten(Vec<u8>),
    Drop,
}

/// A frame header: `SOF0`–`SOF15` except the codes reused for `DHT`, `JPG` and `DAC`.
fn is_frame_header(marker: u8) -> bool {
    (0xC0..=0xCF).contains(&marker) && !matches!(marker, DHT | 0xC8 | DAC)
}

fn keep(marker: u8, payload: &[u8]) -> Option<Keep> {
    Some(match marker {
        DHT | DAC | DQT | DRI | SOS => Keep::Whole,
        marker if is_frame_header(marker) => Keep::Whole,
        APP0 => plain_jfif(payload).map_or(Keep::Drop, Keep::Rewritten),
        APP14 => bare_adobe(payload).map_or(Keep::Drop, Keep::Rewritten),
        // Other applications' data, JPG0–JPG13 extensions and comments.
        0xE1..=0xED | 0xEF | 0xF0..=0xFD | 0xFE => Keep::Drop,
        // Hierarchical or otherwise unusual structure: leave it to the encoder.
        _ => return None,
    })
}

/// A JFIF header with its version, units and densities, and no thumbnail.
fn plain_jfif(payload: &[u8]) -> Option<Vec<u8>> {
    // "JFIF\0", version, units, horizontal and vertical density, thumbnail size.
    let header = payload.get(..14)?;
    if !header.starts_with(b"JFIF\0") {
        return None;
    }
    let mut plain = header.to_vec();
    plain[12..].copy_from_slice(&[0, 0]);
    Some(plain)
}

/// Adobe's header with only the colour transform (how to read the channels) kept.
fn bare_adobe(payload: &[u8]) -> Option<Vec<u8>> {
    // "Adobe", version, two flag words, transform.
    let header = payload.get(..12)?;
    if !header.starts_with(b"Adobe") {
        return None;
    }
    let mut bare = b"Adobe".to_vec();
    bare.extend_from_slice(&[0, 100, 0, 0, 0, 0, header[11]]);
    Some(bare)
}

/// `bytes` with only what decoding needs, or `None` when the file is not a JPEG this
/// walker understands to its end.
pub fn strip_metadata(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.get(..2)? != [0xFF, SOI] {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&[0xFF, SOI]);
    let mut at = 2;
    loop {
        // Markers may be padded with fill bytes (0xFF).
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        while *bytes.get(at + 1)? == 0xFF {
            at += 1;
        }
        let marker = *bytes.get(at + 1)?;
        match marker {
            EOI => {
                out.extend_from_slice(&[0xFF, EOI]);
                return Some(out);
            }
            // Standalone markers without a length or data (TEM, RSTn outside a scan).
            0x01 | 0xD0..=0xD7 => {
                at += 2;
                continue;
            }
            0x00 | SOI => return None,
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([
            *bytes.get(at + 2)?,
            *bytes.get(at + 3)?,
        ]));
        if length < 2 {
            return None;
        }
        let end = at.checked_add(2 + length)?;
        let segment = bytes.get(at..end)?;
        match keep(marker, &segment[4..])? {
            Keep::Whole => out.extend_from_slice(segment),
            Keep::Rewritten(payload) => {
                out.extend_from_slice(&[0xFF, marker]);
                out.extend_from_slice(&u16::try_from(payload.len() + 2).ok()?.to_be_bytes());
                out.extend_from_slice(&payload);
            }
            Keep::Drop => {}
        }
        at = end;
        if marker == SOS {
            // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or
            // a restart marker.
            let data_start = at;
            loop {
                let byte = *bytes.get(at)?;
                if byte == 0xFF {
                    let next = *bytes.get(at + 1)?;
                    if next != 0x00 && !(0xD0..=0xD7).contains(&next) {
                        break;
                    }
                    at += 2;
                } else {
                    at += 1;
                }
            }
            out.extend_from_slice(&bytes[data_start..at]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;
    use image::{ImageReader, RgbImage};
    use std::io::Cursor;

    /// A JPEG with EXIF (a GPS-looking payload), XMP and a comment inserted after SOI,
    /// and junk after the end.
    fn jpeg_with_metadata() -> (Vec<u8>, Vec<u8>) {
        let image = RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
        let mut plain = Vec::new();
        JpegEncoder::new_with_quality(&mut plain, 85)
            .encode_image(&image)
            .expect("encode");
        let segment = |marker: u8, payload: &[u8]| {
            let mut segment = vec![0xFF, marker];
            segment
                .extend_from_slice(&u16::try_from(payload.len() + 2).expect("len").to_be_bytes());
            segment.extend_from_slice(payload);
            segment
        };
        let mut tagged = plain[..2].to_vec();
        tagged.extend(segment(0xE1, b"Exif\0\0GPSLatitude 48.8584 N"));
        tagged.extend(segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>"));
        tagged.extend(segment(0xFE, b"shot by someone"));
        // A JFXX thumbnail (a picture of its own), CIFF with an owner, a JPG3 extension,
        // and an Adobe header with a payload after its 12 bytes.
        tagged.extend(segment(APP0, b"JFXX\0\x13thumbnail-before-the-crop"));
        tagged.extend(segment(0xE2, b"CIFF owner Jane Roe"));
        tagged.extend(segment(0xF3, b"jpg3 secret extension"));
        tagged.extend(segment(APP14, b"Adobe\0\x64\0\0\0\0\x01adobe secret tail"));
        tagged.extend_from_slice(&plain[2..]);
        tagged.extend_from_slice(b"trailing secret");
        (plain, tagged)
    }

    fn pixels(bytes: &[u8]) -> Vec<u8> {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .expect("format")
            .decode()
            .expect("decode")
            .to_rgb8()
            .into_raw()
    }

    #[test]
    fn metadata_goes_and_the_pixels_stay() {
        let (plain, tagged) = jpeg_with_metadata();
        let stripped = strip_metadata(&tagged).expect("stripped");
        let text = String::from_utf8_lossy(&stripped);
        for gone in [
            "Exif",
            "GPSLatitude",
            "xmpmeta",
            "shot by",
            "trailing secret",
            "thumbnail-before",
            "Jane Roe",
            "jpg3 secret",
            "adobe secret",
        ] {
            assert!(!text.contains(gone), "{gone} survived");
        }
        assert_eq!(pixels(&stripped), pixels(&tagged));
        // A file without metadata comes back byte for byte (JFIF APP0 kept).
        assert_eq!(strip_metadata(&plain).as_deref(), Some(plain.as_slice()));
    }

    #[test]
    fn files_it_does_not_understand_are_left_to_the_encoder() {
        let (_, tagged) = jpeg_with_metadata();
        assert_eq!(strip_metadata(b"not a jpeg"), None);
        assert_eq!(strip_metadata(&tagged[..tagged.len() / 2]), None);
        assert_eq!(strip_metadata(&[0xFF, SOI, 0xFF, 0xE1, 0x00, 0x01]), None);
    }

    /// Truncations, every byte flipped, and segment lengths made huge: never a panic, and
    /// whatever comes back still holds none of the hidden segments' words.
    #[test]
    fn damaged_files_never_panic_or_leak() {
        let (_, tagged) = jpeg_with_metadata();
        let leaks = |out: &[u8]| {
            let text = String::from_utf8_lossy(out);
            [
                "GPSLatitude",
                "Jane Roe",
                "jpg3 secret",
                "adobe secret",
                "thumbnail-before",
            ]
            .iter()
            .any(|word| text.contains(word))
        };
        for cut in 0..tagged.len() {
            assert!(!strip_metadata(&tagged[..cut]).is_some_and(|out| leaks(&out)));
        }
        let mut damaged = tagged.clone();
        for at in 0..damaged.len() {
            for flip in [0xFF, 0x01, 0x80] {
                damaged[at] ^= flip;
                let _ = strip_metadata(&damaged);
                damaged[at] ^= flip;
            }
        }
        for at in (2..tagged.len().min(400)).step_by(7) {
            let mut huge = tagged.clone();
            if at + 1 < huge.len() {
                huge[at] = 0xFF;
                huge[at + 1] = 0xFF;
            }
            let _ = strip_metadata(&huge);
        }
    }

    #[test]
    fn a_jfif_thumbnail_is_dropped_and_adobe_keeps_its_transform_only() {
        let mut jfif = b"JFIF\0\x01\x02\x01\0\x48\0\x48\x02\x01".to_vec();
        assert_eq!(jfif.len(), 14);
        jfif.extend_from_slice(&[7; 6]);
        let plain = plain_jfif(&jfif).expect("jfif");
        assert_eq!(plain, b"JFIF\0\x01\x02\x01\0\x48\0\x48\0\0");
        let adobe = bare_adobe(b"Adobe\0\x65\x80\0\0\0\x02tail").expect("adobe");
        assert_eq!(adobe, b"Adobe\0\x64\0\0\0\0\x02");
        assert!(plain_jfif(b"JFXX\0\x10abcdefgh").is_none());
    }
}
