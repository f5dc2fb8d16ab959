//! The run's event stream: the only contract between the engine and its output.
//!
//! The dispatcher and the executors emit [`Event`]s through an [`EventSender`]; the
//! reporters (terminal, JSON Lines, Markdown report) consume them on their own thread,
//! so writing to a slow terminal never holds up the dispatcher. Task code never prints.
//!
//! Serialized with `--output json`, every event is one JSON object on one line:
//! `{"v":2,"ts":"2025-01-01T12:00:00.123Z","event":"task-started","task":"a","attempt":1}`.
//! `v` is [`SCHEMA_VERSION`]; it changes only when an existing field changes meaning or
//! disappears (new events and new fields may appear within a version, consumers ignore
//! what they do not know). `schemas/events.schema.json` is generated from these types.
//! Task and run states are named by the one vocabulary ([`crate::vocabulary`]).
//!
//! Within version 2: `task-succeeded` carries, in a dry run, `would` (the objects a
//! delete would delete, the commands that would run); `task-failed` `depends_on`
//! (a check whose verdict waits on a change the dry run did not make);
//! `run-resumed` `resume` (what will run and why, what is taken as done and
//! checked, what is skipped).
//!
//! Version 2: a resume is `run-resumed` (not `run-started`); attempts are numbered
//! across the run's processes; every event that ends a task carries its `state`
//! (which replaces `task-failed`'s `allowed`); `counts` are by state; new
//! `task-progress` events. Added within version 2 (nothing changed meaning):
//! `run-estimate` events and `task-started`'s `expected_ms`.

use std::collections::BTreeMap;
use std::sync::mpsc;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::vocabulary::{RunStatus, TaskStatus};

/// Version of the JSON Lines event schema, the `v` field of every event.
pub const SCHEMA_VERSION: u32 = 2;

/// One event, stamped with the schema version and the time it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "planrun event")]
pub struct Event {
    /// Schema version, see [`SCHEMA_VERSION`].
    pub v: u32,
    /// When the event happened (RFC 3339, UTC).
    #[schemars(with = "String")]
    pub ts: Timestamp,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// An event of `kind` stamped now.
    pub fn now(kind: EventKind) -> Self {
        Self {
            v: SCHEMA_VERSION,
            ts: Timestamp::now(),
            kind,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    /// A new run began; nothing has started yet.
    RunStarted(RunInfo),
    /// A later planrun process continues the run (`--resume`, `--rerun`); nothing of
    /// this process has started yet.
    RunResumed(RunInfo),
    /// An attempt of a task began.
    TaskStarted {
        task: String,
        /// 1 for the first attempt of the run, counting retries and every earlier
        /// planrun process of the run.
        attempt: u32,
        /// How long the task is expected to take: the median of its last successful
        /// attempts with the same definition; absent when it never succeeded with it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_ms: Option<u64>,
    },
    /// A line a task wrote (secrets masked, trailing newline removed).
    TaskOutput {
        task: String,
        stream: Stream,
        line: String,
    },
    /// A task's log file could not be written: what the task prints from now on
    /// reaches the events (and the failure excerpt) but not the log.
    TaskLogFailed {
        task: String,
        /// The log file.
        path: String,
        error: String,
    },
    /// What a running task waits on now, replacing its previous detail: what a wait
    /// has left and why ("1 object left: cert-manager/webhook, finalizer
    /// example.com/hold"), a retry of the API ("API unreachable, retry 3 in 4s:
    /// connection refused").
    TaskProgress {
        task: String,
        attempt: u32,
        detail: String,
    },
    /// An attempt failed and the task will be tried again after `delay_ms`.
    TaskRetrying {
        task: String,
        /// The attempt that failed.
        attempt: u32,
        delay_ms: u64,
        error: String,
    },
    /// The task succeeded.
    TaskSucceeded {
        task: String,
        attempt: u32,
        /// `succeeded`; in a dry run `would-change` or `checked-ok`.
        state: TaskStatus,
        /// Time since the first attempt of this process started, retries and
        /// backoff included.
        duration_ms: u64,
        /// What the task did or, in a dry run, would do.
        summary: Option<String>,
        /// In a dry run: each thing the task would do, against the live state (the
        /// objects a delete would delete, the commands that would run).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        would: Vec<WouldDo>,
    },
    /// The task failed (its last attempt).
    TaskFailed {
        task: String,
        attempt: u32,
        /// `failed`, `failed-allowed` (`allow_failure = true`: dependents still run,
        /// the run can still succeed), or in a dry run `would-fail` or
        /// `depends-on-a-change`.
        state: TaskStatus,
        duration_ms: u64,
        error: String,
        /// The last lines of output, oldest first.
        excerpt: Vec<String>,
        /// In a dry run, with state `depends-on-a-change`: the tasks before it that
        /// would change things (nearest first), whose change the dry run did not
        /// make; the check's verdict is unknown until they run.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        depends_on: Vec<String>,
    },
    /// The task will not run in this process.
    TaskSkipped {
        task: String,
        /// `skipped`, or `done-earlier`.
        state: TaskStatus,
        reason: SkipReason,
    },
    /// The task was stopped while running.
    TaskCancelled {
        task: String,
        attempt: u32,
        /// `interrupted` (Ctrl-C, SIGTERM, SIGHUP) or `cancelled`.
        state: TaskStatus,
        duration_ms: u64,
        reason: CancelReason,
        /// What the task was waiting on when it was stopped (its last progress).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blocked_by: Option<String>,
    },
    /// How long the run is expected to take still, from the durations of the plan's
    /// earlier runs: sent as the run starts and as tasks end (at most every second),
    /// once a task that will run succeeded in an earlier run with its definition.
    RunEstimate {
        /// Expected time until the last task ends: the tasks left, scheduled as
        /// planrun schedules them (longest expected path first, at most `jobs` at
        /// once), each taking the median of its last successful attempts (a task
        /// never timed, its type's typical duration), a running one what is left of
        /// that.
        left_ms: u64,
        /// A running task has run longer than expected: `left_ms` counts it as
        /// ending now, so the time left is at least that.
        overrun: bool,
        /// Tasks left that never succeeded with their definition: their duration is
        /// their type's typical one, a guess.
        guessed: usize,
    },
    /// A stop signal arrived: no new work starts; running tasks are stopped, then
    /// the `always` tasks left run.
    RunInterrupted {
        /// What interrupted the run ("SIGINT (Ctrl-C)").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<String>,
    },
    /// The run is over for this planrun process; no event follows.
    RunFinished {
        outcome: RunOutcome,
        duration_ms: u64,
        counts: Counts,
    },
}

/// In a dry run, one thing a task would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum WouldDo {
    /// Delete this object: the API server accepted its delete as a dry run.
    Delete {
        #[serde(flatten)]
        object: ObjectRef,
    },
    /// Patch this object (`kube-patch`): the API server accepted the patch as a dry
    /// run and it changes the object.
    Patch {
        #[serde(flatten)]
        object: ObjectRef,
        /// The finalizers it would remove (`remove_finalizers`); empty for a merge
        /// or JSON patch.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        remove_finalizers: Vec<String>,
    },
    /// Server-side apply this object (`kube-apply`) as `field_manager`: the API
    /// server accepted the apply as a dry run.
    Apply {
        #[serde(flatten)]
        object: ObjectRef,
        field_manager: String,
    },
    /// Run this command (argv; a script as its shell's argv), in `cwd`.
    Run { argv: Vec<String>, cwd: String },
}

/// One Kubernetes object, as a preview names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectRef {
    /// `group/version` (`v1` for the core group).
    pub api_version: String,
    pub kind: String,
    /// Absent for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

/// What a resume (or a dry run of one) will do, decided before anything starts:
/// the listing printed on stderr, as data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResumeInfo {
    /// The tasks that will run, with why, in plan order.
    pub will_run: Vec<TaskWhy>,
    /// The run the done tasks are taken from.
    pub taken_from: String,
    /// The tasks taken as done (not run again), with a note when there is one.
    pub taken_as_done: Vec<TaskWhy>,
    /// Tasks taken as done whose postcondition was checked now and holds.
    pub checked: Vec<String>,
    /// Tasks that will not run though not done, with why.
    pub skipped: Vec<TaskWhy>,
}

/// A task and why (empty when there is nothing to say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskWhy {
    pub task: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub why: String,
}

/// What `run-started` and `run-resumed` say about the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunInfo {
    pub run_id: String,
    /// The plan's name (`[plan] name`).
    pub plan: String,
    /// The plan file as given on the command line.
    pub plan_path: String,
    /// Where logs and the report go; absent for a dry run.
    pub run_dir: Option<String>,
    /// Number of tasks in the plan.
    pub tasks: usize,
    /// At most this many tasks at once.
    pub jobs: usize,
    pub dry_run: bool,
    /// `run-resumed`: what will run and why, what is taken as done, what is
    /// skipped (in a dry run too: what the resume would do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumeInfo>,
}

impl EventKind {
    /// The task this event is about, if any.
    pub fn task(&self) -> Option<&str> {
        match self {
            EventKind::TaskStarted { task, .. }
            | EventKind::TaskOutput { task, .. }
            | EventKind::TaskLogFailed { task, .. }
            | EventKind::TaskProgress { task, .. }
            | EventKind::TaskRetrying { task, .. }
            | EventKind::TaskSucceeded { task, .. }
            | EventKind::TaskFailed { task, .. }
            | EventKind::TaskSkipped { task, .. }
            | EventKind::TaskCancelled { task, .. } => Some(task),
            EventKind::RunStarted(_)
            | EventKind::RunResumed(_)
            | EventKind::RunEstimate { .. }
            | EventKind::RunInterrupted { .. }
            | EventKind::RunFinished { .. } => None,
        }
    }

    /// The state a task reached with this event, for events that end a task.
    pub fn end_state(&self) -> Option<TaskStatus> {
        match self {
            EventKind::TaskSucceeded { state, .. }
            | EventKind::TaskFailed { state, .. }
            | EventKind::TaskSkipped { state, .. }
            | EventKind::TaskCancelled { state, .. } => Some(*state),
            _ => None,
        }
    }
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Why a task does not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SkipReason {
    /// Something it needs failed, or was itself skipped.
    DependencyFailed { dependency: String },
    /// Another task failed; after a failure only `always` tasks start.
    RunFailed,
    /// It succeeded earlier in this run (or, with `--rerun`, in the latest run).
    DoneEarlier,
    /// `--rerun` did not ask for it, and it did not succeed in the run it reruns.
    NotSelected,
}

/// Why running work was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CancelReason {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// The task's own timeout.
    Timeout,
    /// Another task failed and the run is stopping.
    RunFailed,
}

impl std::fmt::Display for CancelReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CancelReason::Interrupted => "interrupted",
            CancelReason::Timeout => "timed out",
            CancelReason::RunFailed => "run failed",
        })
    }
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RunOutcome {
    Succeeded,
    /// Every failure was allowed (`allow_failure = true`).
    SucceededWithWarnings,
    Failed,
    Interrupted,
}

impl RunOutcome {
    /// The outcome in words.
    pub fn status(self) -> RunStatus {
        match self {
            RunOutcome::Succeeded => RunStatus::Succeeded,
            RunOutcome::SucceededWithWarnings => RunStatus::SucceededWithWarnings,
            RunOutcome::Failed => RunStatus::Failed,
            RunOutcome::Interrupted => RunStatus::Interrupted,
        }
    }
}

/// How many tasks are in each state at the end of a planrun process, by the state's
/// identifier (`{"succeeded": 4, "done-earlier": 9}`); states no task is in are left
/// out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Counts(pub BTreeMap<TaskStatus, usize>);

impl Counts {
    /// Counts one more task in `state`.
    pub fn add(&mut self, state: TaskStatus) {
        *self.0.entry(state).or_default() += 1;
    }

    /// How many tasks are in `state`.
    pub fn get(&self, state: TaskStatus) -> usize {
        self.0.get(&state).copied().unwrap_or(0)
    }

    /// "4 succeeded, 9 done earlier, 1 failed", in the vocabulary's order.
    pub fn describe(&self) -> String {
        TaskStatus::ALL
            .iter()
            .filter_map(|&s| match self.get(s) {
                0 => None,
                n => Some(format!("{n} {s}")),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Where events go: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::Sender<Event>,
    /// A second consumer of every event (the notifications), if any.
    tap: Option<mpsc::Sender<Event>>,
}

impl EventSender {
    /// A sender and the receiving end the reporters read.
    pub fn channel() -> (Self, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel();
        (Self { tx, tap: None }, rx)
    }

    /// A second receiving end that gets every event sent from now on (through this
    /// sender and its clones made after).
    pub fn tap(&mut self) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel();
        self.tap = Some(tx);
        rx
    }

    /// Sends an event stamped now. Events sent after the reporters are gone are
    /// dropped: there is nobody left to show them to.
    pub fn emit(&self, kind: EventKind) {
        let event = Event::now(kind);
        if let Some(tap) = &self.tap {
            let _ = tap.send(event.clone());
        }
        let _ = self.tx.send(event);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The JSON Schema of one event line, as written to `schemas/events.schema.json`.
    fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Event)).unwrap()
    }

    #[test]
    fn serializes_as_one_flat_object() {
        let e = Event {
            v: SCHEMA_VERSION,
            ts: "2025-01-01T12:00:00Z".parse().unwrap(),
            kind: EventKind::TaskSkipped {
                task: "b".into(),
                state: TaskStatus::Skipped,
                reason: SkipReason::DependencyFailed {
                    dependency: "a".into(),
                },
            },
        };
        let line = serde_json::to_string(&e).unwrap();
        assert_eq!(
            line,
            r#"{"v":2,"ts":"2025-01-01T12:00:00Z","event":"task-skipped","task":"b","state":"skipped","reason":{"kind":"dependency-failed","dependency":"a"}}"#
        );
        let back: Event = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn counts_are_keyed_by_state_in_the_vocabulary_order() {
        let mut c = Counts::default();
        c.add(TaskStatus::Failed);
        c.add(TaskStatus::DoneEarlier);
        c.add(TaskStatus::Succeeded);
        c.add(TaskStatus::Succeeded);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"succeeded":2,"done-earlier":1,"failed":1}"#
        );
        assert_eq!(c.describe(), "2 succeeded, 1 done earlier, 1 failed");
    }

    #[test]
    fn committed_schema_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/events.schema.json");
        let generated = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
        if std::env::var_os("PLANRUN_BLESS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "schemas/events.schema.json is stale: rerun with PLANRUN_BLESS=1"
        );
    }
}
