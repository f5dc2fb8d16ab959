//! What an attempt of a task returns.

use crate::events::CancelReason;

/// A successful attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskOutcome {
    /// One line on what was done (or, in a dry run, what would be done).
    pub summary: Option<String>,
}

/// A failed or stopped attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The task did its work and it failed (non-zero exit, assertion false, ...).
    #[error("{message}")]
    Failed {
        message: String,
        /// The last lines of output, oldest first.
        excerpt: Vec<String>,
    },
    /// Stopped from outside: interruption or timeout.
    #[error("{reason}")]
    Cancelled {
        reason: CancelReason,
        excerpt: Vec<String>,
    },
}

impl TaskError {
    pub fn failed(message: impl Into<String>) -> Self {
        TaskError::Failed {
            message: message.into(),
            excerpt: Vec::new(),
        }
    }

    /// The last lines of output, if any.
    pub fn excerpt(&self) -> &[String] {
        match self {
            TaskError::Failed { excerpt, .. } | TaskError::Cancelled { excerpt, .. } => excerpt,
        }
    }
}
