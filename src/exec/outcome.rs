//! What an attempt of a task returns.

use std::fmt;

use crate::events::{CancelReason, WouldDo};

/// A successful attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskOutcome {
    /// One line on what was done (or, in a dry run, what would be done).
    pub summary: Option<String>,
    /// The exit code of the task's process, when it ran one.
    pub exit_code: Option<i32>,
    /// In a dry run: the task would change something (else it only checked, or
    /// would find nothing to change).
    pub would_change: bool,
    /// In a dry run: each thing it would do.
    pub would: Vec<WouldDo>,
}

impl TaskOutcome {
    /// A success that did what `summary` says.
    pub fn new(summary: impl Into<String>) -> Self {
        Self {
            summary: Some(summary.into()),
            exit_code: None,
            would_change: false,
            would: Vec::new(),
        }
    }

    /// In a dry run, a task that would do what `summary` says, a change.
    pub fn would_change(summary: impl Into<String>) -> Self {
        Self {
            would_change: true,
            ..Self::new(summary)
        }
    }

    /// In a dry run: what it would do, one thing at a time.
    #[must_use]
    pub fn doing(mut self, would: Vec<WouldDo>) -> Self {
        self.would = would;
        self
    }
}

/// How an attempt went wrong, which decides what the engine does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The task did its work, or tried to, and it failed: a non-zero exit, an
    /// assertion that does not hold, a tool that is not installed. Retried when the
    /// task has retries left.
    Failed,
    /// Stopped from outside: interruption or timeout.
    Cancelled(CancelReason),
}

/// A failed or stopped attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    pub class: FailureClass,
    /// What went wrong, complete on its own (details on further lines).
    pub message: String,
    /// What the person can do about it, when that is known.
    pub help: Option<String>,
    /// The exit code of the task's process, when it ended with one.
    pub exit_code: Option<i32>,
    /// The last lines of output, oldest first.
    pub excerpt: Vec<String>,
}

impl TaskError {
    /// The task's work failed, for `message`.
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            class: FailureClass::Failed,
            message: message.into(),
            help: None,
            exit_code: None,
            excerpt: Vec::new(),
        }
    }

    /// The attempt was stopped, for `reason`.
    pub fn cancelled(reason: CancelReason) -> Self {
        Self {
            class: FailureClass::Cancelled(reason),
            message: reason.to_string(),
            ..Self::failed("")
        }
    }

    /// A failure from a diagnostic: its message, and its help as the help.
    pub fn from_diagnostic(error: &dyn miette::Diagnostic) -> Self {
        Self {
            help: error.help().map(|h| h.to_string()),
            ..Self::failed(error.to_string())
        }
    }

    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub fn with_exit_code(mut self, exit_code: Option<i32>) -> Self {
        self.exit_code = exit_code;
        self
    }

    #[must_use]
    pub fn with_excerpt(mut self, excerpt: Vec<String>) -> Self {
        self.excerpt = excerpt;
        self
    }

    /// Every text of the error passed through `f` (masking secrets).
    #[must_use]
    pub fn map_text(mut self, f: impl Fn(&str) -> String) -> Self {
        self.message = f(&self.message);
        self.help = self.help.as_deref().map(&f);
        self
    }
}

/// The message, then `help: ...` on its own line when there is help.
impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\nhelp: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TaskError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_follows_the_message_on_its_own_line() {
        let e = TaskError {
            help: Some("create it".into()),
            ..TaskError::failed("stack `s` not found")
        };
        assert_eq!(e.to_string(), "stack `s` not found\nhelp: create it");
        let c = TaskError::cancelled(CancelReason::Timeout);
        assert_eq!(c.to_string(), "timed out");
        assert_eq!(c.class, FailureClass::Cancelled(CancelReason::Timeout));
    }
}
