//! Image files made in the test: every allowed type, a JPEG carrying EXIF GPS and an
//! orientation, a decompression bomb, and raw HTTP for paths a URL library would normalise.

use std::io::{Cursor, Read, Write};

use image::{DynamicImage, ImageFormat, RgbImage};

pub fn picture(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            160,
        ])
    }))
}

pub fn encoded(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    let image = picture(width, height);
    let image = if format == ImageFormat::WebP {
        DynamicImage::ImageRgba8(image.to_rgba8())
    } else {
        image
    };
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .expect("encode");
    bytes
}

/// A JPEG that compresses like a photograph rather than a flat gradient: smooth colour with
/// a little sensor-like grain (a fixed pseudo-random sequence, the same every run).
pub fn photo_like_jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    let image = DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let grain = (state % 17) as i32 - 8;
        let channel = |base: u32| (base as i32 + grain).clamp(0, 255) as u8;
        image::Rgb([
            channel(x * 255 / width.max(1)),
            channel(y * 255 / height.max(1)),
            channel(((x + y) / 8) % 200),
        ])
    }));
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
        .expect("encode");
    bytes
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    encoded(width, height, ImageFormat::Png)
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encoded(width, height, ImageFormat::Jpeg)
}

/// A JPEG whose APP1 segment holds EXIF: an orientation and a GPS position.
pub fn jpeg_with_exif(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let plain = jpeg(width, height);
    // TIFF, little endian: IFD0 with Orientation and a GPS IFD pointer; the GPS IFD with
    // GPSLatitudeRef "N" and GPSLatitude 48/1, 51/1, 2400/100.
    let mut tiff: Vec<u8> = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes());
    let ifd0_entries = 2u16;
    let gps_ifd_offset = 8 + 2 + 12 * u32::from(ifd0_entries) + 4;
    tiff.extend(ifd0_entries.to_le_bytes());
    tiff.extend(0x0112u16.to_le_bytes()); // Orientation
    tiff.extend(3u16.to_le_bytes()); // SHORT
    tiff.extend(1u32.to_le_bytes());
    tiff.extend(u32::from(orientation).to_le_bytes());
    tiff.extend(0x8825u16.to_le_bytes()); // GPS IFD pointer
    tiff.extend(4u16.to_le_bytes()); // LONG
    tiff.extend(1u32.to_le_bytes());
    tiff.extend(gps_ifd_offset.to_le_bytes());
    tiff.extend(0u32.to_le_bytes()); // no next IFD
    let gps_entries = 2u16;
    let rationals_offset = gps_ifd_offset + 2 + 12 * u32::from(gps_entries) + 4;
    tiff.extend(gps_entries.to_le_bytes());
    tiff.extend(1u16.to_le_bytes()); // GPSLatitudeRef
    tiff.extend(2u16.to_le_bytes()); // ASCII
    tiff.extend(2u32.to_le_bytes());
    tiff.extend(b"N\0\0\0");
    tiff.extend(2u16.to_le_bytes()); // GPSLatitude
    tiff.extend(5u16.to_le_bytes()); // RATIONAL
    tiff.extend(3u32.to_le_bytes());
    tiff.extend(rationals_offset.to_le_bytes());
    tiff.extend(0u32.to_le_bytes());
    for (num, den) in [(48u32, 1u32), (51, 1), (2400, 100)] {
        tiff.extend(num.to_le_bytes());
        tiff.extend(den.to_le_bytes());
    }
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&plain[2..]);
    out
}

/// A JPEG as a phone writes it: EXIF with Make "Google", Model "Pixel 8", the time it was
/// taken (2024:05:01 18:30:05, in the EXIF directory) and a GPS position (48° 51′ 24″ N).
pub fn jpeg_from_a_phone(width: u32, height: u32) -> Vec<u8> {
    jpeg_from_a_phone_taken_at(width, height, b"2024:05:01 18:30:05\0")
}

/// As [`jpeg_from_a_phone`], with the camera's clock saying `taken` (NUL-terminated).
pub fn jpeg_from_a_phone_taken_at(width: u32, height: u32, taken: &[u8]) -> Vec<u8> {
    let plain = jpeg(width, height);
    let make = b"Google\0";
    let model = b"Pixel 8\0";
    let entry = |tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32| {
        tiff.extend(tag.to_le_bytes());
        tiff.extend(kind.to_le_bytes());
        tiff.extend(count.to_le_bytes());
        tiff.extend(value.to_le_bytes());
    };
    let mut tiff: Vec<u8> = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes());
    let ifd0_end = 8 + 2 + 12 * 4 + 4;
    let make_at = ifd0_end;
    let model_at = make_at + make.len() as u32;
    let exif_at = model_at + model.len() as u32;
    let taken_at = exif_at + 2 + 12 + 4;
    let gps_at = taken_at + taken.len() as u32;
    let rationals_at = gps_at + 2 + 12 * 2 + 4;
    tiff.extend(4u16.to_le_bytes());
    entry(&mut tiff, 0x010F, 2, make.len() as u32, make_at);
    entry(&mut tiff, 0x0110, 2, model.len() as u32, model_at);
    entry(&mut tiff, 0x8769, 4, 1, exif_at);
    entry(&mut tiff, 0x8825, 4, 1, gps_at);
    tiff.extend(0u32.to_le_bytes());
    tiff.extend(make);
    tiff.extend(model);
    tiff.extend(1u16.to_le_bytes());
    entry(&mut tiff, 0x9003, 2, taken.len() as u32, taken_at);
    tiff.extend(0u32.to_le_bytes());
    tiff.extend(taken);
    tiff.extend(2u16.to_le_bytes());
    entry(&mut tiff, 1, 2, 2, u32::from_le_bytes(*b"N\0\0\0"));
    entry(&mut tiff, 2, 5, 3, rationals_at);
    tiff.extend(0u32.to_le_bytes());
    for (num, den) in [(48u32, 1u32), (51, 1), (2400, 100)] {
        tiff.extend(num.to_le_bytes());
        tiff.extend(den.to_le_bytes());
    }
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = plain[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&plain[2..]);
    out
}

/// A JPEG carrying what decoding does not need and a share link must not give away: a
/// JFXX thumbnail, CIFF with the owner's name, a JPG3 extension and a payload after
/// Adobe's header. Each hides a word from [`HIDDEN_WORDS`].
pub fn jpeg_with_hidden_segments(width: u32, height: u32) -> Vec<u8> {
    let plain = jpeg(width, height);
    let segment = |marker: u8, payload: &[u8]| {
        let mut segment = vec![0xFF, marker];
        segment.extend(((payload.len() + 2) as u16).to_be_bytes());
        segment.extend(payload);
        segment
    };
    let mut out = plain[..2].to_vec();
    out.extend(segment(0xE0, b"JFXX\0\x13uncropped-thumbnail"));
    out.extend(segment(0xE2, b"CIFF owner Jane Roe"));
    out.extend(segment(0xF3, b"jpg3 hidden extension"));
    out.extend(segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01adobe hidden tail"));
    out.extend(&plain[2..]);
    out
}

pub const HIDDEN_WORDS: [&str; 4] = [
    "uncropped-thumbnail",
    "Jane Roe",
    "jpg3 hidden",
    "adobe hidden",
];

/// True when the JPEG has an EXIF (APP1 "Exif") segment.
pub fn has_exif(jpeg: &[u8]) -> bool {
    let mut i = 2;
    while i + 4 <= jpeg.len() && jpeg[i] == 0xFF {
        let marker = jpeg[i + 1];
        if marker == 0xDA {
            break; // start of scan: no more metadata segments
        }
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if marker == 0xE1 && jpeg[i + 4..].starts_with(b"Exif") {
            return true;
        }
        i += 2 + len;
    }
    false
}

/// A tiny PNG whose header claims 60000×60000 pixels.
pub fn png_bomb() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc32(&crc_input).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(60_000u32.to_be_bytes());
    ihdr.extend(60_000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    // A stored (uncompressed) zlib block with a few zero bytes.
    chunk(
        &mut out,
        b"IDAT",
        &[
            0x78, 0x01, 0x01, 0x04, 0x00, 0xFB, 0xFF, 0, 0, 0, 0, 0, 0x04, 0x00, 0x01,
        ],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A GET with the path sent byte for byte (no URL normalisation); returns (status, body).
pub fn raw_get(port: u16, path: &str, cookie: Option<&str>) -> (u16, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{cookie}Connection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body_start = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    (status, response[body_start..].to_vec())
}
