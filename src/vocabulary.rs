//! The words for where tasks and runs stand: one definition for every output (the
//! terminal's lines and live progress, the summary table, the Markdown report,
//! `planrun status`, `planrun runs`, refusals and resume notices) and for the
//! machine-readable ones (the `--output json` events carry a task's state by its
//! [`TaskStatus::id`], the run's outcome by its [`RunStatus::id`]). Changing a word is
//! a change here, and only here.
//!
//! Each state has one name ([`TaskStatus::display`], [`RunStatus::display`]) and one
//! identifier (the same words in kebab-case, the serde name).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a task stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum TaskStatus {
    /// Not started (yet) in this run, or reset to run again.
    Pending,
    /// Running now.
    Running,
    /// Left running by a planrun process that is gone (kill -9, a crash).
    CutOff,
    Succeeded,
    /// Succeeded in an earlier planrun process of this run (or, with `--rerun`, taken
    /// from the latest run); not run again.
    DoneEarlier,
    Failed,
    /// Failed with `allow_failure = true`: the run can still succeed.
    FailedAllowed,
    /// Not run: something it needs did not succeed, or the run failed first.
    Skipped,
    /// Stopped by planrun (the run failed and stopped what ran).
    Cancelled,
    /// Stopped by Ctrl-C, SIGTERM or SIGHUP.
    Interrupted,
    /// Dry run: the task would change something (delete objects, `pulumi up`, run a
    /// script that is not read-only).
    WouldChange,
    /// Dry run: a read-only check fails against the live state.
    WouldFail,
    /// Dry run: a read-only check does not hold now, after a task that would change
    /// things first (the dry run did not make that change): unknown until it is made.
    DependsOnAChange,
    /// Dry run: a read-only check holds against the live state, or a change would
    /// find nothing to change.
    CheckedOk,
}

impl TaskStatus {
    /// Every task state, in the order outputs list them.
    pub const ALL: [TaskStatus; 14] = [
        TaskStatus::Succeeded,
        TaskStatus::DoneEarlier,
        TaskStatus::WouldChange,
        TaskStatus::CheckedOk,
        TaskStatus::DependsOnAChange,
        TaskStatus::FailedAllowed,
        TaskStatus::Failed,
        TaskStatus::WouldFail,
        TaskStatus::Skipped,
        TaskStatus::Cancelled,
        TaskStatus::Interrupted,
        TaskStatus::CutOff,
        TaskStatus::Running,
        TaskStatus::Pending,
    ];

    /// The state's name, in every output for people.
    pub fn display(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Running => "running",
            TaskStatus::CutOff => "cut off",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::DoneEarlier => "done earlier",
            TaskStatus::Failed => "failed",
            TaskStatus::FailedAllowed => "failed (allowed)",
            TaskStatus::Skipped => "skipped",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Interrupted => "interrupted",
            TaskStatus::WouldChange => "would change",
            TaskStatus::WouldFail => "would fail",
            TaskStatus::CheckedOk => "checked ok",
            TaskStatus::DependsOnAChange => "depends on a change",
        }
    }

    /// The state's identifier in machine-readable outputs (its serde name).
    pub fn id(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Running => "running",
            TaskStatus::CutOff => "cut-off",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::DoneEarlier => "done-earlier",
            TaskStatus::Failed => "failed",
            TaskStatus::FailedAllowed => "failed-allowed",
            TaskStatus::Skipped => "skipped",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Interrupted => "interrupted",
            TaskStatus::WouldChange => "would-change",
            TaskStatus::WouldFail => "would-fail",
            TaskStatus::CheckedOk => "checked-ok",
            TaskStatus::DependsOnAChange => "depends-on-a-change",
        }
    }

    /// What the state means, for the README's table and `--help`.
    pub fn meaning(self) -> &'static str {
        match self {
            TaskStatus::Pending => "not started (yet) in this run",
            TaskStatus::Running => "running now",
            TaskStatus::CutOff => {
                "was running when its planrun process died (kill -9, a crash); runs again on resume"
            }
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::DoneEarlier => {
                "succeeded earlier in this run (or, with --rerun, in the latest run); not run again"
            }
            TaskStatus::Failed => "failed; the run fails",
            TaskStatus::FailedAllowed => "failed with allow_failure = true; dependents still run",
            TaskStatus::Skipped => {
                "not run: something it needs did not succeed, or the run failed first"
            }
            TaskStatus::Cancelled => {
                "stopped by planrun while running (the run could not go on: its journal failed)"
            }
            TaskStatus::Interrupted => "stopped by Ctrl-C, SIGTERM or SIGHUP",
            TaskStatus::WouldChange => "dry run: would change something",
            TaskStatus::WouldFail => "dry run: a read-only check fails against the live state",
            TaskStatus::CheckedOk => {
                "dry run: a read-only check holds, or a change would find nothing to change"
            }
            TaskStatus::DependsOnAChange => {
                "dry run: a read-only check does not hold now, after a task that would change things first: unknown until that change is made; not a failure of the dry run"
            }
        }
    }

    /// How the state reads at a glance: the colour every output gives it.
    pub fn tone(self) -> Tone {
        match self {
            TaskStatus::Succeeded | TaskStatus::CheckedOk => Tone::Good,
            TaskStatus::Failed
            | TaskStatus::WouldFail
            | TaskStatus::Cancelled
            | TaskStatus::Interrupted
            | TaskStatus::CutOff => Tone::Bad,
            TaskStatus::FailedAllowed
            | TaskStatus::Skipped
            | TaskStatus::WouldChange
            | TaskStatus::DependsOnAChange => Tone::Warn,
            TaskStatus::DoneEarlier | TaskStatus::Pending | TaskStatus::Running => Tone::Quiet,
        }
    }

    /// Whether the task has ended for this planrun process.
    pub fn is_final(self) -> bool {
        !matches!(self, TaskStatus::Pending | TaskStatus::Running)
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.display())
    }
}

/// How a state reads at a glance, whatever the output: green on a terminal and in a
/// graph for [`Tone::Good`], red for [`Tone::Bad`], yellow for [`Tone::Warn`], dim
/// for [`Tone::Quiet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// It went as it should.
    Good,
    /// It went wrong, or was stopped.
    Bad,
    /// Worth a look: allowed failures, skips, changes a dry run would make.
    Warn,
    /// Nothing happened in this process: done earlier, pending, running.
    Quiet,
}

/// Where a run stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// A planrun process works on it now.
    Running,
    /// Its process ended without recording an end (kill -9, a crash, a power loss).
    CutOff,
    Succeeded,
    /// Every failure was allowed.
    SucceededWithWarnings,
    Failed,
    Interrupted,
    /// Left unfinished for good: `--restart` began a new run instead.
    Abandoned,
}

impl RunStatus {
    /// Every run state.
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Running,
        RunStatus::CutOff,
        RunStatus::Succeeded,
        RunStatus::SucceededWithWarnings,
        RunStatus::Failed,
        RunStatus::Interrupted,
        RunStatus::Abandoned,
    ];

    /// The state's name.
    pub fn display(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::CutOff => "cut off",
            RunStatus::Succeeded => "succeeded",
            RunStatus::SucceededWithWarnings => "succeeded with warnings",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Abandoned => "abandoned",
        }
    }

    /// The state's identifier in machine-readable outputs (its serde name).
    pub fn id(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::CutOff => "cut-off",
            RunStatus::Succeeded => "succeeded",
            RunStatus::SucceededWithWarnings => "succeeded-with-warnings",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Abandoned => "abandoned",
        }
    }

    /// What the state means, for the README's table.
    pub fn meaning(self) -> &'static str {
        match self {
            RunStatus::Running => "a planrun process works on it now",
            RunStatus::CutOff => {
                "its planrun process ended without recording an end (kill -9, a crash, a power loss)"
            }
            RunStatus::Succeeded => "every task succeeded",
            RunStatus::SucceededWithWarnings => "every failure was allowed",
            RunStatus::Failed => "a task failed (or, in a dry run, a check would fail)",
            RunStatus::Interrupted => "stopped by Ctrl-C, SIGTERM or SIGHUP",
            RunStatus::Abandoned => "left unfinished for good: --restart began a new run",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_the_serde_names_and_the_words_in_kebab_case() {
        for s in TaskStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.id()));
            assert_eq!(
                s.id(),
                s.display().replace([' '], "-").replace(['(', ')'], "")
            );
        }
        for s in RunStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.id()));
            assert_eq!(s.id(), s.display().replace(' ', "-"));
        }
        let mut all = TaskStatus::ALL.to_vec();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), TaskStatus::ALL.len(), "each state listed once");
    }
}
