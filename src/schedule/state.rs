//! Task states, the changes between them, and the sink that records each change
//! (the journal's hook) and says when the dispatcher may act on it.

use std::io;
use std::time::Duration;

use tokio::sync::watch;

use crate::events::{CancelReason, RunOutcome};
use crate::validate::TaskIdx;
use crate::vocabulary::TaskStatus;

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Not started yet (waiting for what it needs, or never started).
    Pending,
    /// Everything it needs has ended; waiting for a free job slot.
    Ready,
    /// Running (or waiting out a retry backoff).
    Running,
    Succeeded,
    Failed {
        allowed: bool,
    },
    Skipped(SkipCause),
    Cancelled(CancelReason),
}

impl TaskState {
    /// Whether the task has ended for this run.
    #[cfg(test)]
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            TaskState::Pending | TaskState::Ready | TaskState::Running
        )
    }

    /// The state in the vocabulary: `dry_run` names successes and failures by what
    /// they would do, `would_change` tells a change from a check.
    pub fn status(self, dry_run: bool, would_change: bool) -> TaskStatus {
        match self {
            TaskState::Pending | TaskState::Ready => TaskStatus::Pending,
            TaskState::Running => TaskStatus::Running,
            TaskState::Succeeded if dry_run && would_change => TaskStatus::WouldChange,
            TaskState::Succeeded if dry_run => TaskStatus::CheckedOk,
            TaskState::Succeeded => TaskStatus::Succeeded,
            TaskState::Failed { .. } if dry_run => TaskStatus::WouldFail,
            TaskState::Failed { allowed: false } => TaskStatus::Failed,
            TaskState::Failed { allowed: true } => TaskStatus::FailedAllowed,
            TaskState::Skipped(SkipCause::DoneEarlier) => TaskStatus::DoneEarlier,
            TaskState::Skipped(_) => TaskStatus::Skipped,
            TaskState::Cancelled(CancelReason::Interrupted) => TaskStatus::Interrupted,
            TaskState::Cancelled(_) => TaskStatus::Cancelled,
        }
    }

    /// Whether a task that needs this one may go ahead.
    pub fn lets_dependents_run(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded
                | TaskState::Failed { allowed: true }
                | TaskState::Skipped(SkipCause::DoneEarlier)
        )
    }
}

/// Why a task was skipped, with task indexes (events carry ids instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipCause {
    /// This need failed, was skipped or was cancelled.
    DependencyFailed(TaskIdx),
    /// Another task failed; only `always` tasks start after that.
    RunFailed,
    /// It succeeded earlier in this run (or, with `--rerun`, in the latest run).
    DoneEarlier,
    /// Outside the tasks `--rerun` runs, and not taken as done.
    NotSelected,
}

/// One state change, recorded by a [`StateSink`] before the dispatcher acts on it.
#[derive(Debug, Clone, PartialEq)]
pub enum StateChange {
    /// An attempt is about to start (recorded before the child is spawned).
    Started {
        task: TaskIdx,
        attempt: u32,
    },
    /// An attempt failed; another follows after `delay`.
    Retrying {
        task: TaskIdx,
        attempt: u32,
        delay: Duration,
        error: Failure,
    },
    Succeeded {
        task: TaskIdx,
        /// The exit code of the task's process, when it ran one.
        exit_code: Option<i32>,
        /// What the task did or, in a dry run, would do (one line, not redacted yet).
        summary: Option<String>,
    },
    Failed {
        task: TaskIdx,
        allowed: bool,
        error: Failure,
    },
    Skipped {
        task: TaskIdx,
        cause: SkipCause,
    },
    Cancelled {
        task: TaskIdx,
        reason: CancelReason,
        /// What the task was waiting on when it was stopped.
        blocked_by: Option<String>,
    },
    /// The first Ctrl-C, SIGTERM or SIGHUP arrived: nothing else starts (but the
    /// `always` tasks left, once nothing runs).
    Interrupted {
        /// What interrupted the run ("SIGINT (Ctrl-C)"), when known.
        cause: Option<String>,
    },
    /// An attempt's process group started (recorded once the child runs, so that a
    /// resume can tell whether a process of it still runs).
    ProcessStarted {
        task: TaskIdx,
        attempt: u32,
        pgid: i32,
        /// The group leader's start time (clock ticks after boot).
        leader_start: u64,
    },
    /// The run is over.
    Finished {
        outcome: RunOutcome,
    },
}

impl StateChange {
    /// The task whose end this change records, if it ends one.
    pub fn ended_task(&self) -> Option<TaskIdx> {
        match self {
            StateChange::Succeeded { task, .. }
            | StateChange::Failed { task, .. }
            | StateChange::Skipped { task, .. }
            | StateChange::Cancelled { task, .. } => Some(*task),
            StateChange::Started { .. }
            | StateChange::Retrying { .. }
            | StateChange::Interrupted { .. }
            | StateChange::ProcessStarted { .. }
            | StateChange::Finished { .. } => None,
        }
    }
}

/// What a failed attempt left to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error, as shown (help included).
    pub message: String,
    /// The exit code of the task's process, when it ended with one.
    pub exit_code: Option<i32>,
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self {
            message: message.to_owned(),
            exit_code: None,
        }
    }
}

/// How soon a [`StateSink`] commits what was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// On the caller's thread, before returning: it has nothing else to do meanwhile
    /// (no hand-off between threads on a chain's critical path).
    Here,
    /// In the background, at once: a task's start waits for it.
    Now,
    /// In the background, within a moment: only reports (events, the terminal) wait
    /// for it, and more changes may come to share its sync.
    Soon,
}

/// Records state changes (the journal) or not at all ([`NoSink`]).
///
/// The dispatcher calls [`StateSink::record`] synchronously, with the changes that
/// happen together (a failure and the skips it causes) in one batch. Once it
/// returns, the changes survive a kill of planrun; they are *committed*, safe to act
/// on even across a power loss, once [`StateSink::committed`] reaches the position
/// `record` returned. The dispatcher acts on a change only once what the action
/// relies on is committed (see the dispatcher's rules). An error stops the run:
/// planrun does not go on with work it cannot record.
pub trait StateSink: Send {
    /// Records `changes`; returns the sink's position after them (positions only
    /// grow).
    fn record(&mut self, changes: &[StateChange]) -> io::Result<u64>;

    /// The position up to which recorded changes are committed.
    fn committed(&self) -> io::Result<u64>;

    /// Changes whenever [`committed`](Self::committed) may have moved; `None` when
    /// every change is committed as `record` returns.
    fn commits(&self) -> Option<watch::Receiver<u64>> {
        None
    }

    /// Commits what was recorded, as soon as `how` says. A sink that commits as it
    /// records has nothing to do.
    fn commit(&mut self, how: Commit) -> io::Result<()> {
        let _ = how;
        Ok(())
    }

    /// Records changes without ever waiting for the disk for them, in any mode (they
    /// survive a kill of planrun, and are synced with whatever is committed next):
    /// for facts a power loss makes moot, such as [`StateChange::ProcessStarted`]
    /// (no process outlives a reboot). Returns the position after them.
    fn record_unsynced(&mut self, changes: &[StateChange]) -> io::Result<u64> {
        self.record(changes)
    }
}

/// A sink that records nothing (dry runs, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSink;

impl StateSink for NoSink {
    fn record(&mut self, _changes: &[StateChange]) -> io::Result<u64> {
        Ok(0)
    }

    fn committed(&self) -> io::Result<u64> {
        Ok(0)
    }
}

/// A sink that keeps every change in memory, for tests.
#[cfg(test)]
#[derive(Debug, Default, Clone)]
pub struct MemorySink {
    pub changes: Vec<StateChange>,
}

#[cfg(test)]
impl StateSink for MemorySink {
    fn record(&mut self, changes: &[StateChange]) -> io::Result<u64> {
        self.changes.extend_from_slice(changes);
        Ok(self.changes.len() as u64)
    }

    fn committed(&self) -> io::Result<u64> {
        Ok(self.changes.len() as u64)
    }
}
