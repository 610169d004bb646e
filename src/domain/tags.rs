//! Image tags: up to 20, each 1–32 of `[a-z0-9 _-]` after trimming and lower-casing.

/// Parses a comma-separated list; duplicates collapse, order is kept.
pub fn parse_tags(raw: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for part in raw.split(',') {
        let tag = part.trim().to_lowercase();
        if tag.is_empty() {
            continue;
        }
        if tag.chars().count() > 32
            || !tag.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, ' ' | '_' | '-')
            })
        {
            return Err(format!(
                "Tag {tag:?} is not allowed: tags are up to 32 letters, digits, spaces, '_' or '-'."
            ));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > 20 {
        return Err("At most 20 tags per image.".into());
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
