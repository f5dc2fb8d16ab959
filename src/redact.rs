//! Masking of secret values. Every text that leaves planrun (terminal, logs, events,
//! journal, report) passes through a [`Redactor`] holding the values of secret
//! variables and any other secret that turned up during the run.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

/// What a secret is replaced with.
pub const MASK: &str = "********";

/// Values shorter than this are not masked: masking "1" or "a" everywhere would
/// garble every line without protecting anything.
const MIN_SECRET_LEN: usize = 3;

/// A shared, growable set of secret values to mask. Cloning shares the set.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a value to mask from now on (no-op for very short or known values).
    pub fn add(&self, secret: impl Into<String>) {
        let secret = secret.into();
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        if !secrets.contains(&secret) {
            secrets.push(secret);
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

    #[test]
    fn masks_every_occurrence_longest_first() {
        let r = Redactor::new();
        r.add("hunter2");
        r.add("hunter2-extended");
        assert_eq!(
            r.redact("a hunter2-extended b hunter2 c"),
            format!("a {MASK} b {MASK} c")
        );
    }

    #[test]
    fn ignores_tiny_values() {
        let r = Redactor::new();
        r.add("x");
        assert!(r.is_empty());
        assert_eq!(r.redact("x marks"), "x marks");
    }
}
