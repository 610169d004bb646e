//! Image tags: up to 20, each 1–32 of `[a-z0-9 _-]` after trimming and lower-casing.

/// How many tags an image may carry.
pub const MAX_TAGS: usize = 20;

/// One tag as stored: trimmed and lower-cased, or `None` when it breaks the rules.
pub fn normalize_tag(raw: &str) -> Option<String> {
    let tag = raw.trim().to_lowercase();
    let allowed = !tag.is_empty()
        && tag.chars().count() <= 32
        && tag
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, ' ' | '_' | '-'));
    allowed.then_some(tag)
}

/// Parses a comma-separated list; duplicates collapse, order is kept.
pub fn parse_tags(raw: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for part in raw.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        let Some(tag) = normalize_tag(part) else {
            return Err(format!(
                "Tag {:?} is not allowed: tags are up to 32 letters, digits, spaces, '_' or '-'.",
                part.trim().to_lowercase()
            ));
        };
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(format!("At most {MAX_TAGS} tags per image."));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::parse_tags;

    #[test]
    fn tags() {
        assert_eq!(
            parse_tags(" Cats, dogs ,,cats, sea side").expect("ok"),
            ["cats", "dogs", "sea side"]
        );
        assert!(parse_tags("").expect("ok").is_empty());
        assert!(parse_tags("<script>").is_err());
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(parse_tags(&many.join(",")).is_err());
    }
}
