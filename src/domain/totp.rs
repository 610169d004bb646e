//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP with HMAC-SHA1, 6 digits,
//! 30-second steps: what every authenticator app speaks), the base32 form secrets travel
//! in, and the `otpauth://` URI a QR code carries.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps either side of now that are accepted (clocks drift; codes are typed slowly).
const SKEW: i64 = 1;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buffer = [0u8; 5];
        buffer[..chunk.len()].copy_from_slice(chunk);
        let bits = buffer
            .iter()
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            let index = (bits >> (35 - i * 5)) & 31;
            out.push(ALPHABET[index as usize] as char);
        }
    }
    out
}

/// Decodes base32 (case, spaces and padding ignored); `None` on another character.
pub fn unbase32(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let value = ALPHABET
            .iter()
            .position(|a| *a as char == c.to_ascii_uppercase())?;
        bits = (bits << 5) | value as u64;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// The code for `secret` at time step `step`.
pub fn code_at(secret: &[u8], step: u64) -> u32 {
    // HMAC takes keys of any length; were it ever refused, no six-digit code would match.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return u32::MAX;
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let truncated = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    truncated % 10u32.pow(DIGITS)
}

/// The time step of `unix_secs`.
pub fn step_of(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// The step `typed` is the code for, near `now_step` and after `last_used` (a code is
/// never accepted twice); `None` otherwise.
pub fn verify(secret: &[u8], typed: &str, now_step: u64, last_used: Option<u64>) -> Option<u64> {
    let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != DIGITS as usize || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let code: u32 = digits.parse().ok()?;
    (-SKEW..=SKEW)
        .filter_map(|delta| now_step.checked_add_signed(delta))
        .filter(|step| last_used.is_none_or(|used| *step > used))
        .find(|step| code_at(secret, *step) == code)
}

/// The `otpauth://` URI authenticator apps read from a QR code.
pub fn uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    let encode = |text: &str| {
        percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret_base32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        encode(issuer),
        encode(account),
        encode(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA1, the last six of its eight digits.
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
        ] {
            assert_eq!(
                code_at(secret, step_of(time)),
                expected % 1_000_000,
                "{time}"
            );
        }
    }

    #[test]
    fn base32_round_trips() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(unbase32("mzxw 6ytb oi").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(unbase32("MZ1"), None);
        let secret = [7u8; 20];
        assert_eq!(unbase32(&base32(&secret)).as_deref(), Some(&secret[..]));
    }

    #[test]
    fn a_code_is_accepted_near_its_step_and_only_once() {
        let secret = b"12345678901234567890";
        let now = 1000;
        let code = format!("{:06}", code_at(secret, now));
        assert_eq!(verify(secret, &code, now, None), Some(now));
        assert_eq!(
            verify(secret, &code, now + 1, None),
            Some(now),
            "a step late"
        );
        assert_eq!(verify(secret, &code, now + 2, None), None, "too late");
        assert_eq!(verify(secret, &code, now, Some(now)), None, "no replay");
        assert_eq!(verify(secret, "12345", now, None), None);
        assert_eq!(verify(secret, "abcdef", now, None), None);
    }
}
