//! Stories: a text split into 2–8 scenes (its sentences), one picture per scene.

/// Fewest and most scenes a story may have.
pub const MIN_SCENES: usize = 2;
pub const MAX_SCENES: usize = 8;

/// Splits `text` into sentences (ending in `.`, `!`, `?` or `…`, or at a line break).
pub fn split_scenes(text: &str) -> Result<Vec<String>, String> {
    let mut scenes = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c == '\n' || c == '\r' {
            push_scene(&mut scenes, &mut current);
            continue;
        }
        current.push(c);
        if matches!(c, '.' | '!' | '?' | '…') {
            push_scene(&mut scenes, &mut current);
        }
    }
    push_scene(&mut scenes, &mut current);
    if scenes.len() < MIN_SCENES || scenes.len() > MAX_SCENES {
        return Err(format!(
            "A story needs {MIN_SCENES} to {MAX_SCENES} sentences (one picture each); this one has {}.",
            scenes.len()
        ));
    }
    if let Some(long) = scenes.iter().find(|scene| scene.chars().count() > 500) {
        return Err(format!(
            "Each sentence can be at most 500 characters; one starts “{}…”.",
            long.chars().take(40).collect::<String>()
        ));
    }
    Ok(scenes)
}

fn push_scene(scenes: &mut Vec<String>, current: &mut String) {
    let scene = current
        .trim()
        .trim_start_matches(['.', '!', '?', '…'])
        .trim();
    // A sentence needs a letter or digit: "..." alone is not a scene.
    if scene.chars().any(char::is_alphanumeric) {
        scenes.push(scene.to_owned());
    }
    current.clear();
}

/// A folder name for the story: its first words, at most 40 characters.
pub fn folder_name(scenes: &[String]) -> String {
    let mut name = String::new();
    for word in scenes
        .first()
        .map(String::as_str)
        .unwrap_or("Story")
        .split_whitespace()
    {
        let word: String = word
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '-')
            .collect();
        if word.is_empty() {
            continue;
        }
        if name.chars().count() + word.chars().count() + 1 > 40 {
            break;
        }
        if !name.is_empty() {
            name.push(' ');
        }
        name.push_str(&word);
    }
    if name.is_empty() {
        "Story".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes() {
        let scenes =
            split_scenes("A fox wakes at dawn. It runs to the lake! Does it swim?").expect("ok");
        assert_eq!(
            scenes,
            [
                "A fox wakes at dawn.",
                "It runs to the lake!",
                "Does it swim?"
            ]
        );
        assert_eq!(split_scenes("One line\nAnother line").expect("ok").len(), 2);
        assert!(split_scenes("Only one sentence.").is_err());
        assert!(split_scenes("...").is_err());
        assert!(split_scenes(&"Again. ".repeat(9)).is_err());
        assert_eq!(
            split_scenes("Wait... then go. Now.").expect("ok"),
            ["Wait.", "then go.", "Now."]
        );
    }

    #[test]
    fn folder_names() {
        let scenes =
            vec!["The little red fox, at dawn, wakes up beside the quiet lake.".to_owned()];
        assert_eq!(folder_name(&scenes), "The little red fox at dawn wakes up");
        assert_eq!(folder_name(&["!!!".to_owned()]), "Story");
    }
}
