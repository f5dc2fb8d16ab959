//! The records a journal holds: one per run or task state change.
//!
//! A journal never holds a secret: only ids, states, fingerprints (hashes),
//! timestamps, exit codes, short messages that went through the [`Redactor`], and the
//! `--var` overrides of variables that are not secret. A secret variable given with
//! `--var` is recorded by name only, so a resume must get its value again (`--var`
//! or the environment).

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::redact::Redactor;
use crate::vocabulary::RunStatus;

/// Version of the record format, written in [`RunStarted`]. Version 2 added
/// `run-interrupted`, results and interruption details; version 3 added
/// [`Record::TaskProcess`], and later `allowed` on `task-failed` (a field earlier
/// readers skip, absent in earlier journals). Journals of earlier versions still read.
pub const FORMAT_VERSION: u32 = 3;

/// Longest message kept in a record, in characters; the task log has the rest.
pub const MAX_MESSAGE_CHARS: usize = 500;

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Record {
    /// The first record of every journal.
    RunStarted(RunStarted),
    /// A later planrun process continues the run (`--resume`).
    RunResumed(RunResumed),
    /// A stop signal arrived: nothing more starts (but the `always` tasks left);
    /// running tasks are stopped.
    RunInterrupted {
        at: Timestamp,
        /// What interrupted the run ("SIGINT (Ctrl-C)").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<String>,
    },
    /// A task journaled as succeeded will run again (its definition changed, it was
    /// asked for with `--rerun`, or something it needs runs again). Journaled before
    /// the resume acts, so the decision survives another interruption.
    TaskReset {
        task: String,
        at: Timestamp,
        reason: String,
    },
    TaskStarted {
        task: String,
        /// 1 for the first attempt, counting retries and every planrun process of the
        /// run.
        attempt: u32,
        /// The task's fingerprint when it started.
        fingerprint: String,
        at: Timestamp,
        /// How long it was expected to take, from the plan's earlier runs (absent:
        /// it never succeeded with this definition before).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_ms: Option<u64>,
    },
    TaskSucceeded {
        task: String,
        attempt: u32,
        /// The fingerprint the success belongs to; resume compares it with the plan's.
        fingerprint: String,
        at: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// What the task did (what was deleted, captured, applied): short, redacted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
    },
    TaskFailed {
        task: String,
        attempt: u32,
        at: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// Short and redacted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// The task's last attempt failed with `allow_failure = true`: its dependents
        /// still ran (absent: false, as in journals written before it was recorded).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        allowed: bool,
    },
    /// An attempt's process group runs: a resume refuses to start while a process
    /// of it still runs (the pid and start time tell the group from a later one
    /// with the same number).
    TaskProcess {
        task: String,
        attempt: u32,
        pgid: i32,
        /// The group leader's start time, in clock ticks after boot.
        leader_start: u64,
        at: Timestamp,
    },
    /// Stopped by planrun (a failure elsewhere, a timeout of the run).
    TaskCancelled {
        task: String,
        at: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Not run in this process (a dependency failed, `--dry-run`).
    TaskSkipped {
        task: String,
        at: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Stopped by Ctrl-C, SIGTERM or SIGHUP.
    TaskInterrupted {
        task: String,
        at: Timestamp,
        /// What the task was waiting on: short, redacted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    RunFinished {
        at: Timestamp,
        outcome: RecordedOutcome,
    },
}

/// The first record: what run this is and how it was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStarted {
    pub format: u32,
    pub run_id: String,
    pub plan_name: String,
    pub plan_path: PathBuf,
    pub at: Timestamp,
    pub planrun_version: String,
    pub pid: u32,
    #[serde(default)]
    pub vars: VarOverrides,
    #[serde(default)]
    pub process: ProcessInfo,
}

/// Who ran a planrun process, where, against which cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The kube context and API server (`oceanid at https://...`), when the plan
    /// uses Kubernetes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube: Option<String>,
}

impl ProcessInfo {
    /// The user and host of this process, with `kube` as given.
    pub fn of_this_process(kube: Option<String>) -> Self {
        let user = std::env::var("USER").ok().or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        });
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok());
        Self { user, host, kube }
    }
}

/// A resume by a later planrun process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunResumed {
    pub at: Timestamp,
    pub planrun_version: String,
    pub pid: u32,
    /// The overrides in effect from now on (the earlier ones, updated by the
    /// `--var`s given to this resume).
    #[serde(default)]
    pub vars: VarOverrides,
    #[serde(default)]
    pub process: ProcessInfo,
    /// What the resume was asked to do: `--resume`, `--rerun b`, `--resume --rerun b`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub how: Option<String>,
}

/// `--var` overrides as journaled: values of plain variables, names of secret ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VarOverrides {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// Secret variables that were overridden; their values are never journaled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_vars: Vec<String>,
}

impl VarOverrides {
    /// Splits command-line overrides: values of secret variables are left out.
    pub fn from_overrides<'a>(
        overrides: impl IntoIterator<Item = (&'a str, &'a str)>,
        is_secret: impl Fn(&str) -> bool,
    ) -> Self {
        let mut out = Self::default();
        for (name, value) in overrides {
            if is_secret(name) {
                out.secret_vars.push(name.to_owned());
            } else {
                out.vars.insert(name.to_owned(), value.to_owned());
            }
        }
        out.secret_vars.sort();
        out.secret_vars.dedup();
        out
    }
}

/// How a run (or one planrun process's part of it) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordedOutcome {
    Succeeded,
    /// Every failure was allowed (`allow_failure = true`).
    SucceededWithWarnings,
    Failed,
    Interrupted,
    /// Left unfinished for good: `--restart` began a new run instead.
    Abandoned,
}

impl RecordedOutcome {
    /// The outcome in words.
    pub fn status(self) -> RunStatus {
        match self {
            RecordedOutcome::Succeeded => RunStatus::Succeeded,
            RecordedOutcome::SucceededWithWarnings => RunStatus::SucceededWithWarnings,
            RecordedOutcome::Failed => RunStatus::Failed,
            RecordedOutcome::Interrupted => RunStatus::Interrupted,
            RecordedOutcome::Abandoned => RunStatus::Abandoned,
        }
    }
}

impl From<crate::events::RunOutcome> for RecordedOutcome {
    fn from(outcome: crate::events::RunOutcome) -> Self {
        use crate::events::RunOutcome;
        match outcome {
            RunOutcome::Succeeded => RecordedOutcome::Succeeded,
            RunOutcome::SucceededWithWarnings => RecordedOutcome::SucceededWithWarnings,
            RunOutcome::Failed => RecordedOutcome::Failed,
            RunOutcome::Interrupted => RecordedOutcome::Interrupted,
        }
    }
}

impl Record {
    /// The task a record is about, if any.
    pub fn task(&self) -> Option<&str> {
        match self {
            Record::TaskReset { task, .. }
            | Record::TaskStarted { task, .. }
            | Record::TaskProcess { task, .. }
            | Record::TaskSucceeded { task, .. }
            | Record::TaskFailed { task, .. }
            | Record::TaskCancelled { task, .. }
            | Record::TaskSkipped { task, .. }
            | Record::TaskInterrupted { task, .. } => Some(task),
            Record::RunStarted(_)
            | Record::RunResumed(_)
            | Record::RunInterrupted { .. }
            | Record::RunFinished { .. } => None,
        }
    }

    /// When the change happened.
    pub fn at(&self) -> Timestamp {
        match self {
            Record::RunStarted(r) => r.at,
            Record::RunResumed(r) => r.at,
            Record::TaskReset { at, .. }
            | Record::TaskStarted { at, .. }
            | Record::TaskProcess { at, .. }
            | Record::TaskSucceeded { at, .. }
            | Record::TaskFailed { at, .. }
            | Record::TaskCancelled { at, .. }
            | Record::TaskSkipped { at, .. }
            | Record::TaskInterrupted { at, .. }
            | Record::RunInterrupted { at, .. }
            | Record::RunFinished { at, .. } => *at,
        }
    }
}

/// A message fit for the journal: secrets masked, one line, at most
/// [`MAX_MESSAGE_CHARS`] characters.
pub fn short_message(redactor: &Redactor, text: &str) -> String {
    let redacted = redactor.redact(text);
    planrun_text::clip(
        &redacted.trim().replace(['\n', '\r'], " "),
        MAX_MESSAGE_CHARS,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at() -> Timestamp {
        "2026-11-26T06:36:12Z".parse().unwrap()
    }

    #[test]
    fn records_serialize_tagged_and_compact() {
        let r = Record::TaskStarted {
            task: "delete-ns".into(),
            attempt: 1,
            fingerprint: "abc".into(),
            at: at(),
            expected_ms: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"type":"task-started","task":"delete-ns","attempt":1,"fingerprint":"abc","at":"2026-11-26T06:36:12Z"}"#
        );
        let back: Record = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn run_started_round_trips_with_overrides() {
        let r = Record::RunStarted(RunStarted {
            format: FORMAT_VERSION,
            run_id: "20261126T063612Z-0a1b".into(),
            plan_name: "flux".into(),
            plan_path: "plans/flux.toml".into(),
            at: at(),
            planrun_version: "0.1.0".into(),
            pid: 42,
            process: ProcessInfo::default(),
            vars: VarOverrides::from_overrides([("ns", "flux-system"), ("token", "s3cret")], |n| {
                n == "token"
            }),
        });
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            text.contains(r#""vars":{"vars":{"ns":"flux-system"},"secret_vars":["token"]}"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), r);
    }

    #[test]
    fn short_message_redacts_and_truncates() {
        let redactor = Redactor::new();
        redactor.add("hunter2");
        assert_eq!(
            short_message(&redactor, "bad password hunter2\nagain"),
            "bad password ******** again"
        );
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        let short = short_message(&redactor, &long);
        assert_eq!(short.chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
