//! A new password as chosen at registration or password change.
//!
//! bcrypt only reads the first 72 bytes, so longer passwords are refused rather than
//! silently truncated; lengths are counted in bytes for that reason.

use std::collections::HashSet;
use std::sync::OnceLock;

/// A password that passed the rules. Never logged, never echoed back into a form.
pub struct NewPassword(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort,
    TooLong,
    Common,
    Mismatch,
}

impl PasswordProblem {
    pub fn message(self) -> &'static str {
        match self {
            PasswordProblem::TooShort => "Password must be at least 8 bytes.",
            PasswordProblem::TooLong => {
                "Password must be at most 72 bytes (bcrypt ignores anything longer)."
            }
            PasswordProblem::Common => {
                "This password is on a list of commonly used passwords. Please choose another."
            }
            PasswordProblem::Mismatch => "The two passwords do not match.",
        }
    }
}

impl NewPassword {
    pub const MIN_BYTES: usize = 8;
    pub const MAX_BYTES: usize = 72;

    /// Checks `password` and that `confirmation` repeats it.
    pub fn parse(password: &str, confirmation: &str) -> Result<Self, PasswordProblem> {
        if password.len() < Self::MIN_BYTES {
            return Err(PasswordProblem::TooShort);
        }
        if password.len() > Self::MAX_BYTES {
            return Err(PasswordProblem::TooLong);
        }
        if is_common(password) {
            return Err(PasswordProblem::Common);
        }
        if password != confirmation {
            return Err(PasswordProblem::Mismatch);
        }
        Ok(NewPassword(password.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn is_common(password: &str) -> bool {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let list = LIST.get_or_init(|| {
        include_str!("common_passwords.txt")
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .collect()
    });
    list.contains(password.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_bytes() {
        // Seven characters but 14 bytes: long enough.
        assert!(NewPassword::parse("ééééééé", "ééééééé").is_ok());
        // 40 characters but 80 bytes: too long for bcrypt.
        let long = "é".repeat(40);
        assert_eq!(
            NewPassword::parse(&long, &long).err(),
            Some(PasswordProblem::TooLong)
        );
        let max = "x1".repeat(36);
        assert!(NewPassword::parse(&max, &max).is_ok());
        assert_eq!(
            NewPassword::parse("short1", "short1").err(),
            Some(PasswordProblem::TooShort)
        );
    }

    #[test]
    fn common_and_mismatch() {
        assert_eq!(
            NewPassword::parse("Password1", "Password1").err(),
            Some(PasswordProblem::Common)
        );
        assert_eq!(
            NewPassword::parse("12345678", "12345678").err(),
            Some(PasswordProblem::Common)
        );
        assert_eq!(
            NewPassword::parse("testpass123", "testpass124").err(),
            Some(PasswordProblem::Mismatch)
        );
        assert!(NewPassword::parse("testpass123", "testpass123").is_ok());
    }
}
