//! Folding journal records into where a run stands: per task and for the run.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use super::record::{ProcessInfo, Record, RecordedOutcome, RunStarted, VarOverrides};
use crate::vocabulary::{RunStatus, TaskStatus};

/// A task's state as the journal has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordedState {
    /// Never started in this run, or reset to run again.
    Pending,
    /// Started, not ended: running now, or cut off by a crash.
    Running,
    Succeeded,
    Failed,
    /// Failed with `allow_failure = true` (its dependents still ran).
    FailedAllowed,
    Cancelled,
    Skipped,
    Interrupted,
}

impl RecordedState {
    /// Where the task stands, in words; `live`: a planrun process works on the run
    /// now (else a task left running was cut off).
    pub fn status(self, live: bool) -> TaskStatus {
        match self {
            RecordedState::Pending => TaskStatus::Pending,
            RecordedState::Running if live => TaskStatus::Running,
            RecordedState::Running => TaskStatus::CutOff,
            RecordedState::Succeeded => TaskStatus::Succeeded,
            RecordedState::Failed => TaskStatus::Failed,
            RecordedState::FailedAllowed => TaskStatus::FailedAllowed,
            RecordedState::Cancelled => TaskStatus::Cancelled,
            RecordedState::Skipped => TaskStatus::Skipped,
            RecordedState::Interrupted => TaskStatus::Interrupted,
        }
    }
}

/// One attempt of a task, as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptHistory {
    /// 1 for the first attempt of the run.
    pub number: u32,
    /// The planrun process that ran it: an index into [`RunHistory::sessions`].
    pub process: usize,
    pub started_at: Timestamp,
    /// `Running` while it has not ended (or was cut off).
    pub state: RecordedState,
    pub ended_at: Option<Timestamp>,
    pub exit_code: Option<i32>,
    /// The error, the interruption's detail, or the result line.
    pub message: Option<String>,
}

/// One task's journaled history, folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskHistory {
    pub state: RecordedState,
    /// Attempts started over the whole run (every process, retries included).
    pub attempts: u32,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<AttemptHistory>,
    /// The result line of the latest success (what was deleted, captured, applied).
    pub summary: Option<String>,
    /// The fingerprint at the last start.
    pub fingerprint: Option<String>,
    /// The fingerprint of the success, while `state` is `Succeeded`.
    pub succeeded_fingerprint: Option<String>,
    /// How long the last attempt was expected to take (from earlier runs).
    pub expected: Option<Duration>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub exit_code: Option<i32>,
    /// The failure, cancellation, skip or reset message.
    pub message: Option<String>,
}

impl TaskHistory {
    /// Ends the attempt that is running, if any (a skip ends none).
    fn end_attempt(
        &mut self,
        state: RecordedState,
        at: Timestamp,
        exit_code: Option<i32>,
        message: Option<String>,
    ) {
        if let Some(a) = self
            .attempt_log
            .last_mut()
            .filter(|a| a.state == RecordedState::Running)
        {
            a.state = state;
            a.ended_at = Some(at);
            a.exit_code = exit_code;
            a.message = message;
        }
    }
}

impl Default for TaskHistory {
    fn default() -> Self {
        Self {
            state: RecordedState::Pending,
            attempts: 0,
            attempt_log: Vec::new(),
            summary: None,
            fingerprint: None,
            succeeded_fingerprint: None,
            expected: None,
            started_at: None,
            ended_at: None,
            exit_code: None,
            message: None,
        }
    }
}

/// One planrun process that worked on the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunProcess {
    pub at: Timestamp,
    pub pid: u32,
    pub planrun_version: String,
    pub info: ProcessInfo,
    /// For a resume: what it was asked to do (`--resume`, `--rerun b`).
    pub how: Option<String>,
    /// When and how its part of the run ended; `None`: running, or cut off.
    pub ended: Option<(Timestamp, RecordedOutcome)>,
    /// When a stop signal reached it, and which.
    pub interrupted: Option<(Timestamp, Option<String>)>,
    /// Its last journaled change.
    pub last_change: Timestamp,
}

impl RunProcess {
    fn new(at: Timestamp, pid: u32, planrun_version: &str, info: &ProcessInfo) -> Self {
        Self {
            at,
            pid,
            planrun_version: planrun_version.to_owned(),
            info: info.clone(),
            how: None,
            ended: None,
            interrupted: None,
            last_change: at,
        }
    }
}

/// A process group an attempt started, as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedProcess {
    pub task: String,
    pub attempt: u32,
    pub pgid: i32,
    pub leader_start: u64,
}

/// A run as its journal tells it.
#[derive(Debug, Clone)]
pub struct RunHistory {
    pub start: RunStarted,
    /// The first process, then one per resume.
    pub sessions: Vec<RunProcess>,
    /// The `--var` overrides in effect (the latest session's).
    pub vars: VarOverrides,
    /// The last run-finished record, unless a resume came after it.
    pub finished: Option<(Timestamp, RecordedOutcome)>,
    /// Tasks in the order the journal first mentions them.
    pub tasks: Vec<(String, TaskHistory)>,
    /// Every attempt's process group, in the order they started.
    pub processes: Vec<RecordedProcess>,
    index: BTreeMap<String, usize>,
    pub last_change: Timestamp,
}

impl RunHistory {
    /// Folds a run-started record and everything after it.
    pub fn new(start: RunStarted) -> Self {
        Self {
            sessions: vec![RunProcess::new(
                start.at,
                start.pid,
                &start.planrun_version,
                &start.process,
            )],
            vars: start.vars.clone(),
            finished: None,
            tasks: Vec::new(),
            processes: Vec::new(),
            index: BTreeMap::new(),
            last_change: start.at,
            start,
        }
    }

    /// Folds a whole journal; `None` when it does not start with a run-started record.
    pub fn from_records(records: &[Record]) -> Option<Self> {
        let (first, rest) = records.split_first()?;
        let Record::RunStarted(start) = first else {
            return None;
        };
        let mut state = Self::new(start.clone());
        for r in rest {
            state.apply(r);
        }
        Some(state)
    }

    pub fn task(&self, id: &str) -> Option<&TaskHistory> {
        self.index.get(id).map(|&i| &self.tasks[i].1)
    }

    fn task_mut(&mut self, id: &str) -> &mut TaskHistory {
        let i = match self.index.get(id) {
            Some(&i) => i,
            None => {
                self.tasks.push((id.to_owned(), TaskHistory::default()));
                self.index.insert(id.to_owned(), self.tasks.len() - 1);
                self.tasks.len() - 1
            }
        };
        &mut self.tasks[i].1
    }

    /// Applies one record.
    pub fn apply(&mut self, record: &Record) {
        self.last_change = self.last_change.max(record.at());
        if let Some(p) = self.sessions.last_mut() {
            p.last_change = p.last_change.max(record.at());
        }
        let process = self.sessions.len() - 1;
        match record {
            Record::RunStarted(_) => {}
            Record::RunResumed(r) => {
                let mut p = RunProcess::new(r.at, r.pid, &r.planrun_version, &r.process);
                p.how = Some(r.how.clone().unwrap_or_else(|| "--resume".to_owned()));
                self.sessions.push(p);
                self.vars = r.vars.clone();
                self.finished = None;
            }
            Record::RunInterrupted { at, cause } => {
                if let Some(p) = self.sessions.last_mut() {
                    p.interrupted.get_or_insert((*at, cause.clone()));
                }
            }
            Record::RunFinished { at, outcome } => {
                self.finished = Some((*at, *outcome));
                if let Some(p) = self.sessions.last_mut() {
                    p.ended = Some((*at, *outcome));
                }
            }
            Record::TaskReset { task, reason, .. } => {
                let t = self.task_mut(task);
                t.state = RecordedState::Pending;
                t.succeeded_fingerprint = None;
                t.message = Some(reason.clone());
            }
            Record::TaskStarted {
                task,
                attempt,
                fingerprint,
                at,
                expected_ms,
            } => {
                let t = self.task_mut(task);
                t.state = RecordedState::Running;
                t.attempts += 1;
                t.attempt_log.push(AttemptHistory {
                    number: (*attempt).max(t.attempts),
                    process,
                    started_at: *at,
                    state: RecordedState::Running,
                    ended_at: None,
                    exit_code: None,
                    message: None,
                });
                t.fingerprint = Some(fingerprint.clone());
                t.succeeded_fingerprint = None;
                t.expected = expected_ms.map(Duration::from_millis);
                t.started_at = Some(*at);
                t.ended_at = None;
                t.exit_code = None;
                t.message = None;
            }
            Record::TaskProcess {
                task,
                attempt,
                pgid,
                leader_start,
                ..
            } => self.processes.push(RecordedProcess {
                task: task.clone(),
                attempt: *attempt,
                pgid: *pgid,
                leader_start: *leader_start,
            }),
            Record::TaskSucceeded {
                task,
                fingerprint,
                at,
                exit_code,
                summary,
                ..
            } => {
                let t = self.task_mut(task);
                t.state = RecordedState::Succeeded;
                t.succeeded_fingerprint = Some(fingerprint.clone());
                t.ended_at = Some(*at);
                t.exit_code = *exit_code;
                t.summary = summary.clone();
                t.end_attempt(RecordedState::Succeeded, *at, *exit_code, summary.clone());
            }
            Record::TaskFailed {
                task,
                at,
                exit_code,
                message,
                allowed,
                ..
            } => self.end(
                task,
                if *allowed {
                    RecordedState::FailedAllowed
                } else {
                    RecordedState::Failed
                },
                *at,
                *exit_code,
                message.clone(),
            ),
            Record::TaskCancelled { task, at, message } => {
                self.end(task, RecordedState::Cancelled, *at, None, message.clone());
            }
            Record::TaskSkipped { task, at, reason } => {
                self.end(task, RecordedState::Skipped, *at, None, reason.clone());
            }
            Record::TaskInterrupted { task, at, message } => {
                self.end(task, RecordedState::Interrupted, *at, None, message.clone());
            }
        }
    }

    fn end(
        &mut self,
        task: &str,
        state: RecordedState,
        at: Timestamp,
        exit_code: Option<i32>,
        message: Option<String>,
    ) {
        let t = self.task_mut(task);
        t.state = state;
        t.succeeded_fingerprint = None;
        t.ended_at = Some(at);
        t.exit_code = exit_code;
        t.message = message.clone();
        t.end_attempt(state, at, exit_code, message);
    }

    /// Whether the run still has work to do: it did not end succeeded and was not
    /// abandoned. A failed or interrupted run is unfinished: `--resume` continues it.
    pub fn is_unfinished(&self) -> bool {
        !matches!(
            self.finished,
            Some((
                _,
                RecordedOutcome::Succeeded
                    | RecordedOutcome::SucceededWithWarnings
                    | RecordedOutcome::Abandoned
            ))
        )
    }

    /// How the run stands: its outcome, running, or cut off (its process ended
    /// without recording an end: kill -9, a crash, a power loss). `live`: a planrun
    /// process works on the run now.
    pub fn status(&self, live: bool) -> RunStatus {
        match self.finished {
            Some((_, outcome)) => outcome.status(),
            None if live => RunStatus::Running,
            None => RunStatus::CutOff,
        }
    }

    /// How many tasks are journaled as succeeded.
    pub fn succeeded_count(&self) -> usize {
        self.tasks
            .iter()
            .filter(|(_, t)| t.state == RecordedState::Succeeded)
            .count()
    }

    pub fn run_id(&self) -> &str {
        &self.start.run_id
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::journal::record::FORMAT_VERSION;

    fn ts(s: u32) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + i64::from(s)).unwrap()
    }

    fn start() -> Record {
        Record::RunStarted(RunStarted {
            format: FORMAT_VERSION,
            run_id: "r".into(),
            plan_name: "p".into(),
            plan_path: "p.toml".into(),
            at: ts(0),
            planrun_version: "0".into(),
            pid: 1,
            vars: VarOverrides::default(),
            process: ProcessInfo::default(),
        })
    }

    fn started(task: &str, fp: &str, s: u32) -> Record {
        Record::TaskStarted {
            task: task.into(),
            attempt: 1,
            fingerprint: fp.into(),
            at: ts(s),
            expected_ms: None,
        }
    }

    fn succeeded(task: &str, fp: &str, s: u32) -> Record {
        Record::TaskSucceeded {
            task: task.into(),
            attempt: 1,
            fingerprint: fp.into(),
            at: ts(s),
            exit_code: Some(0),
            summary: None,
        }
    }

    #[test]
    fn folds_task_lifecycles() {
        let records = vec![
            start(),
            started("a", "fa", 1),
            succeeded("a", "fa", 2),
            started("b", "fb", 2),
            Record::TaskFailed {
                task: "b".into(),
                attempt: 1,
                at: ts(3),
                exit_code: Some(2),
                message: Some("boom".into()),
                allowed: false,
            },
            started("d", "fd", 2),
            Record::TaskFailed {
                task: "d".into(),
                attempt: 1,
                at: ts(3),
                exit_code: Some(7),
                message: None,
                allowed: true,
            },
            started("c", "fc", 3),
            Record::RunFinished {
                at: ts(4),
                outcome: RecordedOutcome::Failed,
            },
        ];
        let s = RunHistory::from_records(&records).unwrap();
        assert_eq!(s.task("a").unwrap().state, RecordedState::Succeeded);
        assert_eq!(
            s.task("a").unwrap().succeeded_fingerprint.as_deref(),
            Some("fa")
        );
        let b = s.task("b").unwrap();
        assert_eq!((b.state, b.exit_code), (RecordedState::Failed, Some(2)));
        // An allowed failure reads back as one, in the words the live run used.
        let d = s.task("d").unwrap();
        assert_eq!(d.state, RecordedState::FailedAllowed);
        assert_eq!(d.state.status(false).display(), "failed (allowed)");
        assert_eq!(s.task("c").unwrap().state, RecordedState::Running);
        assert!(s.is_unfinished());
        assert_eq!(s.succeeded_count(), 1);
        let ids: Vec<_> = s.tasks.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "d", "c"]);
        assert_eq!(s.last_change, ts(4));
    }

    #[test]
    fn reset_and_resume_reopen_a_run() {
        let mut s = RunHistory::from_records(&[
            start(),
            started("a", "fa", 1),
            succeeded("a", "fa", 2),
            Record::RunFinished {
                at: ts(3),
                outcome: RecordedOutcome::Succeeded,
            },
        ])
        .unwrap();
        assert!(!s.is_unfinished());
        s.apply(&Record::TaskReset {
            task: "a".into(),
            at: ts(4),
            reason: "rerun requested".into(),
        });
        assert_eq!(s.task("a").unwrap().state, RecordedState::Pending);
        assert_eq!(s.task("a").unwrap().succeeded_fingerprint, None);
        s.apply(&Record::RunFinished {
            at: ts(5),
            outcome: RecordedOutcome::Abandoned,
        });
        assert!(!s.is_unfinished());
    }
}
