//! Masking of secret values. Every text that leaves planrun (terminal, logs, events,
//! journal, report) passes through a [`Redactor`] holding the values of secret
//! variables and any other secret that turned up during the run (Pulumi config
//! secrets, captured Secret data).
//!
//! A secret is registered once with [`Redactor::add_secret`], which knows the forms
//! it shows up in: as written, without the trailing newline a file or a command
//! left on it, line by line (a PEM key is printed one line at a time), as a JSON
//! string (escaped: `\n`, `\"`), and base64-encoded (a Secret's data, a kubeconfig).

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// What a secret is replaced with.
pub const MASK: &str = "********";

/// Values shorter than this are not masked: masking "1" or "a" everywhere would
/// garble every line without protecting anything.
const MIN_SECRET_LEN: usize = 3;

/// Lines of a multi-line secret shorter than this are not masked on their own: a
/// `}` or an empty line is no secret, and masking it would garble every output.
const MIN_LINE_LEN: usize = 8;

/// A shared, growable set of secret values to mask. Cloning shares the set.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret and every form it is printed in (see the module docs).
    pub fn add_secret(&self, secret: &str) {
        let trimmed = secret.trim_end_matches(['\n', '\r']);
        let mut forms: Vec<String> = vec![trimmed.to_owned()];
        if trimmed.contains(['\n', '\r']) {
            forms.extend(
                trimmed
                    .lines()
                    .map(str::trim)
                    // PEM armor (`-----BEGIN ...`) says what a key is, not the key.
                    .filter(|l| l.len() >= MIN_LINE_LEN && !l.starts_with("-----"))
                    .map(str::to_owned),
            );
        }
        if let Ok(json) = serde_json::to_string(trimmed) {
            forms.push(json.trim_matches('"').to_owned());
        }
        // As one shell word, the way a script gets it from `{{ name }}`.
        forms.push(planrun_text::shell_quote(trimmed));
        for text in [secret, trimmed] {
            if text.len() >= MIN_SECRET_LEN {
                forms.push(BASE64.encode(text));
            }
        }
        self.add_all(forms);
    }

    /// Adds one exact text to mask (no other forms), e.g. a value as stored in
    /// base64 by the API server.
    pub fn add(&self, text: impl Into<String>) {
        self.add_all([text.into()]);
    }

    fn add_all(&self, texts: impl IntoIterator<Item = String>) {
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        let before = secrets.len();
        for text in texts {
            if text.len() >= MIN_SECRET_LEN && !secrets.contains(&text) {
                secrets.push(text);
            }
        }
        if secrets.len() != before {
            // Longest first, so a secret containing another is masked whole.
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.secrets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// The length of the longest secret, in bytes (0 without secrets).
    pub fn max_len(&self) -> usize {
        self.secrets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .first()
            .map_or(0, String::len)
    }

    /// The largest position at or before `at` (a char boundary of `text`) that no
    /// secret occurrence straddles: text cut there is masked the same in two parts
    /// as whole (for lines too long to hold, masked as they stream).
    pub fn safe_split(&self, text: &str, at: usize) -> usize {
        let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
        let mut split = at.min(text.len());
        while !text.is_char_boundary(split) {
            split -= 1;
        }
        // Moving the split back may make it cut another secret: again until none.
        loop {
            let before = split;
            for secret in secrets.iter() {
                let mut from = split.saturating_sub(secret.len());
                while !text.is_char_boundary(from) {
                    from -= 1;
                }
                let straddling = text[from..]
                    .match_indices(secret.as_str())
                    .map(|(i, _)| from + i)
                    .find(|&start| start < split && start + secret.len() > split);
                if let Some(start) = straddling {
                    split = start;
                }
            }
            if split == before {
                return split;
            }
        }
    }

    /// `text` with every secret value replaced by [`MASK`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Cow::Borrowed(text);
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDZ2wVqL0dR7ow8e1yS5uM8Q2nFzJpX1aQmT9s0vB3cGAAAAJD3qf6A96n+
-----END OPENSSH PRIVATE KEY-----
";

    #[test]
    fn masks_every_occurrence_longest_first() {
        let r = Redactor::new();
        r.add_secret("hunter2");
        r.add_secret("hunter2-extended");
        assert_eq!(
            r.redact("a hunter2-extended b hunter2 c"),
            format!("a {MASK} b {MASK} c")
        );
    }

    #[test]
    fn ignores_tiny_values() {
        let r = Redactor::new();
        r.add_secret("x");
        r.add("ab");
        assert!(r.is_empty());
        assert_eq!(r.redact("x marks"), "x marks");
    }

    #[test]
    fn a_pem_key_is_masked_whole_line_by_line_and_in_its_other_forms() {
        let r = Redactor::new();
        r.add_secret(PEM);
        // Printed whole (one text with newlines, as a report excerpt might hold it).
        assert!(
            !r.redact(&format!("key: {PEM}"))
                .contains("b3BlbnNzaC1rZXkt")
        );
        // Printed line by line, as a task's output arrives.
        for line in PEM.lines().filter(|l| !l.starts_with("-----")) {
            assert_eq!(r.redact(line), MASK, "{line}");
        }
        // The armor is not secret and stays readable.
        assert_eq!(
            r.redact("-----END OPENSSH PRIVATE KEY-----"),
            "-----END OPENSSH PRIVATE KEY-----"
        );
        // As a JSON string and in base64.
        let json = serde_json::to_string(PEM.trim_end()).unwrap();
        assert_eq!(r.redact(&json), format!("\"{MASK}\""));
        assert_eq!(r.redact(&BASE64.encode(PEM)), MASK);
        assert_eq!(r.redact(&BASE64.encode(PEM.trim_end())), MASK);
    }

    #[test]
    fn a_token_read_with_its_trailing_newline_is_masked_without_it() {
        let r = Redactor::new();
        r.add_secret("ghp_0123456789abcdef\n");
        assert_eq!(
            r.redact("token=ghp_0123456789abcdef used"),
            format!("token={MASK} used")
        );
        assert_eq!(r.redact(&BASE64.encode("ghp_0123456789abcdef\n")), MASK);
        assert_eq!(r.redact(&BASE64.encode("ghp_0123456789abcdef")), MASK);
    }

    #[test]
    fn a_split_never_cuts_a_secret() {
        let r = Redactor::new();
        r.add_secret("hunter2-secret");
        let text = "aaaa hunter2-secret bbbb";
        // Anywhere inside the secret moves the split to its start.
        for at in 6..19 {
            assert_eq!(r.safe_split(text, at), 5, "{at}");
        }
        assert_eq!(r.safe_split(text, 3), 3);
        assert_eq!(r.safe_split(text, 22), 22);
        assert_eq!(r.max_len(), BASE64.encode("hunter2-secret").len());
    }

    #[test]
    fn json_escaped_forms_are_masked() {
        let r = Redactor::new();
        r.add_secret(r#"pa"ss\word"#);
        assert_eq!(
            r.redact(r#"{"password":"pa\"ss\\word"}"#),
            format!(r#"{{"password":"{MASK}"}}"#)
        );
    }
}
