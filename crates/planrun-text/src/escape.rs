//! Control characters made visible, so that text from outside planrun (task output,
//! cluster messages, plan names, variables) cannot drive the terminal it is shown on:
//! no window titles, no clipboard writes (OSC 52), no cursor games, no hidden text.
//!
//! Every control character except newline and tab is written as a Rust escape,
//! `\u{1b}`; so is a backslash that starts such an escape, so that the escaped text
//! cannot be mistaken for something it is not.

use std::borrow::Cow;

/// Whether `c` is shown as an escape: C0 and C1 controls and DEL, except newline and tab.
fn is_escaped(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// `text` with every control character but newline and tab written as `\u{..}`.
/// Borrowed when there is nothing to escape (the common case).
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// Like [`escape_controls`], but SGR sequences (`ESC [ digits ; m`, colours and
/// bold, nothing else) pass through: for text that planrun's own renderers
/// coloured, such as diagnostics. A colour is all such a sequence can do.
pub fn escape_controls_keep_colours(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn escape(text: &str, keep_sgr: bool) -> Cow<'_, str> {
    if !text.chars().any(is_escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if keep_sgr && c == '\x1b' {
            let len = sgr_len(rest);
            if len > 0 {
                out.push_str(&rest[..len]);
                rest = &rest[len..];
                continue;
            }
        }
        if is_escaped(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// The length of an SGR sequence at the start of `text`, 0 if there is none.
fn sgr_len(text: &str) -> usize {
    let Some(params) = text.strip_prefix("\x1b[") else {
        return 0;
    };
    let digits = params
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';')
        .count();
    if params.as_bytes().get(digits) == Some(&b'm') {
        2 + digits + 1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_terminal_sequences_but_not_newlines_and_tabs() {
        assert_eq!(escape_controls("plain\ttext\n"), "plain\ttext\n");
        assert!(matches!(escape_controls("plain"), Cow::Borrowed(_)));
        // A window title and an OSC 52 clipboard write.
        assert_eq!(escape_controls("\x1b]0;pwned\x07"), r"\u{1b}]0;pwned\u{7}");
        assert_eq!(
            escape_controls("\x1b]52;c;cm0gLXJmIC8K\x1b\\"),
            r"\u{1b}]52;c;cm0gLXJmIC8K\u{1b}\"
        );
        assert_eq!(escape_controls("a\rb\x7f\u{9b}c"), r"a\u{d}b\u{7f}\u{9b}c");
    }

    #[test]
    fn colours_pass_only_when_asked_and_only_colours() {
        let red = "\x1b[31merror\x1b[0m";
        assert_eq!(escape_controls_keep_colours(red), red);
        assert_eq!(escape_controls(red), r"\u{1b}[31merror\u{1b}[0m");
        // A cursor move or a title is not a colour.
        assert_eq!(escape_controls_keep_colours("\x1b[2J"), r"\u{1b}[2J");
        assert_eq!(
            escape_controls_keep_colours("\x1b]0;t\x07"),
            r"\u{1b}]0;t\u{7}"
        );
    }

    proptest! {
        /// Whatever goes in, nothing but newline and tab comes out as a control.
        #[test]
        fn no_control_character_survives(text in any::<String>()) {
            let out = escape_controls(&text);
            prop_assert!(!out.chars().any(is_escaped), "{out:?}");
        }
    }
}
