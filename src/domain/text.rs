//! The one rule for free text from outside (form fields, JSON strings, query values,
//! multipart text): no NUL or other control characters. PostgreSQL cannot store NUL in
//! text at all, and the other C0/C1 controls have no business in a prompt, a title or a
//! username. Newline, carriage return (browsers send CRLF from a textarea) and tab are
//! allowed, since multi-line text needs them; single-line fields trim or refuse them by
//! their own rules.

/// The first character the rule refuses, if any.
pub fn forbidden_control(text: &str) -> Option<char> {
    text.chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// The sentence for a refused field.
pub fn control_message(field: &str, found: char) -> String {
    format!(
        "“{field}” contains a control character (U+{:04X}), which Atelier does not accept. \
         Remove it and try again.",
        u32::from(found)
    )
}

#[cfg(test)]
mod tests {
    use super::forbidden_control;

    #[test]
    fn only_line_breaks_and_tabs_pass() {
        assert_eq!(forbidden_control("a fox\r\nat dawn\tx"), None);
        assert_eq!(forbidden_control("émoji 🦊 ok"), None);
        for bad in ["a\0b", "\u{1b}[31m", "\u{7f}", "\u{85}", "\u{8}"] {
            assert!(forbidden_control(bad).is_some(), "{bad:?}");
        }
    }
}
