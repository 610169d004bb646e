//! A username: 3–32 of `[a-z0-9_-]`, case-folded. It doubles as the user's folder name
//! under `uploads/`, so this pattern is also a path-safety rule.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MIN: usize = 3;
    pub const MAX: usize = 32;

    /// Trims, lower-cases (ASCII only), then checks length and alphabet.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let folded = raw.trim().to_ascii_lowercase();
        if folded.len() < Self::MIN || folded.len() > Self::MAX {
            return Err("Username must be 3 to 32 characters.");
        }
        if !folded
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err("Username may only use letters a–z, digits, '_' and '-'.");
        }
        Ok(Username(folded))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_folds() {
        assert_eq!(
            Username::parse(" TestUser ").map(|u| u.0),
            Ok("testuser".into())
        );
        assert!(Username::parse("a_b-9").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "ab",
            "",
            &"a".repeat(33),
            "bad name",
            "../etc",
            "a/b",
            "ü-user",
            "dot.name",
            "nul\0x",
            "İstanbul",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
