//! The engine's [`StateSink`] backed by the journal: every state change the
//! dispatcher reports becomes a record, written at once and committed as the
//! journal's sync mode says (see [`super::writer`]).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

use super::history::RunHistory;
use super::lock::PlanLock;
use super::record::{Record, short_message};
use super::session::RunJournal;
use crate::events::CancelReason;
use crate::schedule::{Commit, SkipCause, StateChange, StateSink};
use crate::validate::ValidatedPlan;

/// Journals the dispatcher's state changes, one batch with one `write`. Holds the
/// plan's lock until it is dropped (after the journal's last sync).
#[derive(Debug)]
pub struct JournalSink {
    journal: RunJournal,
    _lock: PlanLock,
    plan: Arc<ValidatedPlan>,
    /// The last attempt started, per task.
    attempts: Vec<u32>,
    /// Each task's expected duration from the plan's earlier runs, journaled with
    /// its start so that the report can compare.
    expected: Vec<Option<Duration>>,
    buf: Vec<Record>,
}

impl JournalSink {
    /// A sink for `journal`; `expected` holds each task's expected duration from
    /// the plan's earlier runs (`None`: never timed).
    pub fn new(
        journal: RunJournal,
        plan: Arc<ValidatedPlan>,
        lock: PlanLock,
        expected: Vec<Option<Duration>>,
    ) -> Self {
        Self {
            attempts: vec![0; plan.tasks().len()],
            journal,
            _lock: lock,
            plan,
            expected,
            buf: Vec::new(),
        }
    }

    /// The run as journaled so far.
    pub fn run(&self) -> &RunHistory {
        self.journal.state()
    }

    fn record_of(&mut self, change: &StateChange, at: Timestamp) -> Option<Record> {
        let id = |task: usize| self.plan.task(task).id.clone();
        let message = |text: &str| Some(short_message(self.plan.redactor(), text));
        Some(match change {
            StateChange::Started { task, attempt } => {
                self.attempts[*task] = *attempt;
                Record::TaskStarted {
                    task: id(*task),
                    attempt: *attempt,
                    fingerprint: self.plan.task(*task).fingerprint.clone(),
                    at,
                    expected_ms: self
                        .expected
                        .get(*task)
                        .copied()
                        .flatten()
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                }
            }
            StateChange::Retrying {
                task,
                attempt,
                error,
                ..
            } => Record::TaskFailed {
                task: id(*task),
                attempt: *attempt,
                at,
                exit_code: error.exit_code,
                message: message(&error.message),
                allowed: false,
            },
            StateChange::Succeeded {
                task,
                exit_code,
                summary,
            } => Record::TaskSucceeded {
                task: id(*task),
                attempt: self.attempts[*task],
                fingerprint: self.plan.task(*task).fingerprint.clone(),
                at,
                exit_code: *exit_code,
                summary: summary.as_deref().and_then(&message),
            },
            StateChange::Failed {
                task,
                allowed,
                error,
            } => Record::TaskFailed {
                task: id(*task),
                attempt: self.attempts[*task],
                at,
                exit_code: error.exit_code,
                message: message(&error.message),
                allowed: *allowed,
            },
            // The journal already holds the earlier success.
            StateChange::Skipped {
                cause: SkipCause::DoneEarlier,
                ..
            } => return None,
            StateChange::Skipped { task, cause } => Record::TaskSkipped {
                task: id(*task),
                at,
                reason: Some(match cause {
                    SkipCause::DependencyFailed(by) => format!("`{}` did not succeed", id(*by)),
                    SkipCause::RunFailed => "the run failed".to_owned(),
                    SkipCause::NotSelected => "not selected by --rerun".to_owned(),
                    SkipCause::DoneEarlier => unreachable!("matched above"),
                }),
            },
            StateChange::Cancelled {
                task,
                reason: CancelReason::Interrupted,
                blocked_by,
            } => Record::TaskInterrupted {
                task: id(*task),
                at,
                message: blocked_by
                    .as_deref()
                    .and_then(|b| message(&format!("waiting for: {b}"))),
            },
            StateChange::Cancelled {
                task,
                reason,
                blocked_by,
            } => Record::TaskCancelled {
                task: id(*task),
                at,
                message: message(&match blocked_by {
                    Some(b) => format!("{reason}; waiting for: {b}"),
                    None => reason.to_string(),
                }),
            },
            StateChange::Interrupted { cause } => Record::RunInterrupted {
                at,
                cause: cause.clone(),
            },
            StateChange::ProcessStarted {
                task,
                attempt,
                pgid,
                leader_start,
            } => Record::TaskProcess {
                task: id(*task),
                attempt: *attempt,
                pgid: *pgid,
                leader_start: *leader_start,
                at,
            },
            StateChange::Finished { outcome } => Record::RunFinished {
                at,
                outcome: (*outcome).into(),
            },
        })
    }
}

impl JournalSink {
    /// Writes `changes` as records; `unsynced`: never synced on their own (see
    /// [`StateSink::record_unsynced`]).
    fn write(&mut self, changes: &[StateChange], unsynced: bool) -> io::Result<u64> {
        let at = Timestamp::now();
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.extend(changes.iter().filter_map(|c| self.record_of(c, at)));
        let result = if unsynced {
            self.journal.record_unsynced(&buf)
        } else {
            self.journal.write(&buf)
        };
        self.buf = buf;
        result.map_err(io::Error::other)
    }
}

impl StateSink for JournalSink {
    fn record(&mut self, changes: &[StateChange]) -> io::Result<u64> {
        self.write(changes, false)
    }

    fn record_unsynced(&mut self, changes: &[StateChange]) -> io::Result<u64> {
        self.write(changes, true)
    }

    fn committed(&self) -> io::Result<u64> {
        self.journal.committed().map_err(io::Error::other)
    }

    fn commits(&self) -> Option<watch::Receiver<u64>> {
        self.journal.commits()
    }

    fn commit(&mut self, how: Commit) -> io::Result<()> {
        self.journal.commit(how).map_err(io::Error::other)
    }
}
