//! The engine's [`StateSink`] backed by the journal: every state change the
//! dispatcher reports becomes a record, durable before the dispatcher acts on it.

use std::io;
use std::sync::Arc;

use jiff::Timestamp;

use super::record::{Record, short_message};
use super::session::RunJournal;
use crate::events::CancelReason;
use crate::schedule::{SkipCause, StateChange, StateSink};
use crate::validate::ValidatedPlan;

/// Journals the dispatcher's state changes; one batch, one sync.
#[derive(Debug)]
pub struct JournalSink {
    journal: RunJournal,
    plan: Arc<ValidatedPlan>,
    /// The last attempt started, per task.
    attempts: Vec<u32>,
    buf: Vec<Record>,
}

impl JournalSink {
    pub fn new(journal: RunJournal, plan: Arc<ValidatedPlan>) -> Self {
        Self {
            attempts: vec![0; plan.tasks().len()],
            journal,
            plan,
            buf: Vec::new(),
        }
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
            },
            StateChange::Succeeded { task, exit_code } => Record::TaskSucceeded {
                task: id(*task),
                attempt: self.attempts[*task],
                fingerprint: self.plan.task(*task).fingerprint.clone(),
                at,
                exit_code: *exit_code,
            },
            StateChange::Failed { task, error, .. } => Record::TaskFailed {
                task: id(*task),
                attempt: self.attempts[*task],
                at,
                exit_code: error.exit_code,
                message: message(&error.message),
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
                    SkipCause::DoneEarlier => unreachable!("matched above"),
                }),
            },
            StateChange::Cancelled {
                task,
                reason: CancelReason::Interrupted,
            } => Record::TaskInterrupted {
                task: id(*task),
                at,
            },
            StateChange::Cancelled { task, reason } => Record::TaskCancelled {
                task: id(*task),
                at,
                message: message(&reason.to_string()),
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
            // Each task's interruption is journaled on its own.
            StateChange::Interrupted => return None,
            StateChange::Finished { outcome } => Record::RunFinished {
                at,
                outcome: (*outcome).into(),
            },
        })
    }
}

impl JournalSink {
    fn write(&mut self, changes: &[StateChange], sync: bool) -> io::Result<()> {
        let at = Timestamp::now();
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.extend(changes.iter().filter_map(|c| self.record_of(c, at)));
        let result = if sync {
            self.journal.record(&buf)
        } else {
            self.journal.record_unsynced(&buf)
        };
        self.buf = buf;
        result.map_err(io::Error::other)
    }
}

impl StateSink for JournalSink {
    fn record(&mut self, changes: &[StateChange]) -> io::Result<()> {
        self.write(changes, true)
    }

    fn record_unsynced(&mut self, changes: &[StateChange]) -> io::Result<()> {
        self.write(changes, false)
    }
}
