//! Escaping of input text for HTML and SVG.

/// Escapes `text` for use in HTML or SVG text and in double- or single-quoted attributes.
///
/// Replaces `&`, `<`, `>`, `"` and `'`; every other character passes through unchanged.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newline are not allowed in HTML text.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Cuts `text` to `chars_max` characters, ending with an ellipsis when something was cut.
pub(crate) fn truncate(text: &str, chars_max: usize) -> String {
    assert!(chars_max >= 1, "chars_max must be positive");
    if text.chars().count() <= chars_max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(chars_max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_markup_characters() {
        // Goal: every character with meaning in HTML is replaced; method: compare to the literal.
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain é"), "plain é");
    }

    #[test]
    fn truncate_keeps_short_text_and_cuts_long_text() {
        // Goal: labels stay within their limit; method: cut at and past the limit.
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("ééééé", 2).chars().count(), 2);
    }
}
