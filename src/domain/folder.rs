//! Folder names and their slugs. The slug is the folder's directory name under
//! `uploads/{username}/`, so its pattern is a path-safety rule.

use std::fmt;

/// `[a-z0-9][a-z0-9_-]{0,63}`: safe as a directory name and in a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FolderSlug(String);

impl FolderSlug {
    pub const DEFAULT: &'static str = "default";

    /// Accepts only an already-canonical slug (as found in a URL or a form's select).
    pub fn parse(raw: &str) -> Option<Self> {
        let bytes = raw.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= 64
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-');
        valid.then(|| FolderSlug(raw.to_owned()))
    }

    /// Derives a slug from a display name: lower case, runs of other characters become `-`.
    pub fn from_name(name: &str) -> Option<Self> {
        let mut slug = String::new();
        for c in name.trim().chars().flat_map(char::to_lowercase) {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                slug.push(c);
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug: String = slug.trim_end_matches('-').chars().take(64).collect();
        Self::parse(slug.trim_end_matches('-'))
    }

    pub fn default_folder() -> Self {
        FolderSlug(Self::DEFAULT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FolderSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A folder's display name: 1–64 characters after trimming, no control characters.
pub fn parse_folder_name(raw: &str) -> Result<(String, FolderSlug), &'static str> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err("Folder names are 1 to 64 characters.");
    }
    if name.chars().any(char::is_control) {
        return Err("Folder names cannot contain control characters.");
    }
    let slug = FolderSlug::from_name(name)
        .ok_or("Folder names need at least one letter or digit (a–z, 0–9).")?;
    Ok((name.to_owned(), slug))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(
            FolderSlug::from_name("  Summer Trip 2026! ").map(|s| s.0),
            Some("summer-trip-2026".into())
        );
        assert_eq!(
            FolderSlug::from_name("Ünïcode/../x").map(|s| s.0),
            Some("n-code-x".into())
        );
        assert!(FolderSlug::from_name("!!!").is_none());
        for bad in [
            "",
            "..",
            ".hidden",
            "a/b",
            "UPPER",
            "-lead",
            "a\0b",
            &"a".repeat(65),
        ] {
            assert!(FolderSlug::parse(bad).is_none(), "{bad:?}");
        }
        assert!(FolderSlug::parse("summer-trip_2").is_some());
    }
}
