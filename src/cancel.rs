//! Cancellation with a typed reason: a run-wide token (interrupted) and a child per
//! attempt (its timeout), so an executor can tell why it was stopped. Shared by the
//! command line (signals), the scheduler and the executors, so it belongs to none.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use crate::events::CancelReason;

/// A cancellation token that remembers why it was cancelled. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    token: CancellationToken,
    reason: Arc<OnceLock<CancelReason>>,
    /// What cancelled it, in words ("SIGINT (Ctrl-C)"), when known.
    note: Arc<OnceLock<String>>,
    parent: Option<Arc<Cancel>>,
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    /// A token cancelled with this one (and its reason), or on its own.
    pub fn child(&self) -> Self {
        Self {
            token: self.token.child_token(),
            reason: Arc::default(),
            note: Arc::default(),
            parent: Some(Arc::new(self.clone())),
        }
    }

    /// Cancels with `reason`, saying what caused it (`note`); the first sticks.
    pub fn cancel_because(&self, reason: CancelReason, note: impl Into<String>) {
        let _ = self.note.set(note.into());
        self.cancel(reason);
    }

    /// What cancelled this token (or its parent), in words, when it was said.
    pub fn note(&self) -> Option<String> {
        self.note
            .get()
            .cloned()
            .or_else(|| self.parent.as_ref().and_then(|p| p.note()))
    }

    /// Cancels with `reason`; the first reason given sticks.
    pub fn cancel(&self, reason: CancelReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Why this token was cancelled, `None` while it is not.
    pub fn reason(&self) -> Option<CancelReason> {
        if !self.token.is_cancelled() {
            return None;
        }
        self.reason
            .get()
            .copied()
            .or_else(|| self.parent.as_ref().and_then(|p| p.reason()))
    }

    /// Resolves once cancelled, with the reason.
    pub async fn cancelled(&self) -> CancelReason {
        self.token.cancelled().await;
        self.reason().unwrap_or(CancelReason::Interrupted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn child_knows_its_own_reason_or_its_parents() {
        let run = Cancel::new();
        let a = run.child();
        let b = run.child();
        a.cancel(CancelReason::Timeout);
        assert_eq!(a.cancelled().await, CancelReason::Timeout);
        assert!(!run.is_cancelled() && b.reason().is_none());
        run.cancel(CancelReason::Interrupted);
        assert_eq!(b.cancelled().await, CancelReason::Interrupted);
        assert_eq!(a.reason(), Some(CancelReason::Timeout));
    }
}
