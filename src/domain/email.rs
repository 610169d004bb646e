//! An email address, lower-cased so uniqueness and login are case-insensitive.

use std::fmt;

use validator::ValidateEmail;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// RFC 5321 caps an address at 254 bytes.
    pub const MAX: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("Email is required.");
        }
        if email.len() > Self::MAX || !email.validate_email() {
            return Err("Enter a valid email address, like name@example.com.");
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_validates() {
        let email = Email::parse(" Test@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "test@example.com");
        assert_eq!(email.domain(), "example.com");
        for bad in [
            "",
            "no-at-sign",
            "a@",
            "@b.com",
            "a b@c.com",
            &format!("{}@x.com", "a".repeat(250)),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
