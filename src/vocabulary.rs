//! The words people are told where tasks and runs stand: one definition for every
//! output (the terminal, the summary table, the Markdown report, `planrun status`,
//! `planrun runs`, refusals and resume notices). Changing a word is a change here.
//!
//! Each state has one name ([`TaskStatus::display`], [`RunStatus::display`]). Two
//! outputs use another word for some states, defined here too: the tables that end a
//! run ([`TaskStatus::label`]: a failure in capitals, a task that never started is
//! "not run") and the line the terminal prints when a task ends
//! ([`TaskStatus::line_word`]: "ok", "skip").
//!
//! Machine-readable names (the `--output json` events, journal records) are file
//! formats, spelled by their serde types, and are not words from here.

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskStatus {
    /// Not started in this run (or reset to run again).
    Pending,
    /// Running now.
    Running,
    /// Left running by a planrun process that is gone (kill -9, a crash).
    CutOff,
    Succeeded,
    /// Succeeded in an earlier run that this one resumes; not run again.
    DoneEarlier,
    Failed,
    /// Failed with `allow_failure = true`: the run can still succeed.
    FailedAllowed,
    Skipped,
    Cancelled,
    /// Stopped by Ctrl-C, SIGTERM or SIGHUP.
    Interrupted,
}

impl TaskStatus {
    /// The state's name, in sentences and in `planrun status`.
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
        }
    }

    /// The word in the summary table and the run report, where a failure stands out.
    pub fn label(self) -> &'static str {
        match self {
            TaskStatus::Pending => "not run",
            TaskStatus::Failed => "FAILED",
            other => other.display(),
        }
    }

    /// The word that starts the terminal's line about a task that ended.
    pub fn line_word(self) -> &'static str {
        match self {
            TaskStatus::Succeeded => "ok",
            TaskStatus::DoneEarlier => "done",
            TaskStatus::Skipped => "skip",
            TaskStatus::Interrupted => TaskStatus::Cancelled.label(),
            other => other.label(),
        }
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.display())
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RunStatus {
    /// A planrun process works on it now.
    Running,
    /// Its process ended without recording an end (kill -9, a crash, a power loss).
    CutOff,
    /// The report's run ended before its last event (it cannot say how).
    NotFinished,
    Succeeded,
    /// Every failure was allowed.
    SucceededWithWarnings,
    Failed,
    Interrupted,
    /// Left unfinished for good: `--restart` began a new run instead.
    Abandoned,
}

impl RunStatus {
    /// The state's name.
    pub fn display(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::CutOff => "cut off",
            RunStatus::NotFinished => "did not finish",
            RunStatus::Succeeded => "succeeded",
            RunStatus::SucceededWithWarnings => "succeeded with warnings",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Abandoned => "abandoned",
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
    fn outputs_use_their_own_word_for_a_few_states() {
        use TaskStatus::*;
        let words: Vec<_> = [Pending, Succeeded, Failed, Skipped, Interrupted]
            .iter()
            .map(|s| (s.display(), s.label(), s.line_word()))
            .collect();
        assert_eq!(
            words,
            [
                ("pending", "not run", "not run"),
                ("succeeded", "succeeded", "ok"),
                ("failed", "FAILED", "FAILED"),
                ("skipped", "skipped", "skip"),
                ("interrupted", "interrupted", "cancelled"),
            ]
        );
        assert_eq!(RunStatus::NotFinished.to_string(), "did not finish");
    }
}
