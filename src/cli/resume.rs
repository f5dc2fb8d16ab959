//! `--resume`, `--restart`, `--rerun TASK` of `planrun run`, and `planrun resume PLAN`
//! (the same as `planrun run PLAN --resume`).

use clap::Args;

use crate::journal::StartMode;

/// How a run relates to the plan's earlier runs.
#[derive(Debug, Clone, Default, Args)]
pub struct ResumeArgs {
    /// Continue the latest unfinished run: tasks journaled as succeeded are not run
    /// again, the rest run (a task cut off mid-run runs again from the start).
    #[arg(long, conflicts_with = "restart")]
    pub resume: bool,
    /// Mark the unfinished run abandoned and start a new run.
    #[arg(long)]
    pub restart: bool,
    /// Run exactly TASK and everything that needs it again (repeatable), in the latest
    /// run once it has finished, taking every other task's result from it; with
    /// --resume, in the unfinished latest run, after everything not done.
    #[arg(long, value_name = "TASK", conflicts_with = "restart")]
    pub rerun: Vec<String>,
    /// Take tasks that succeeded earlier as done without checking that what they
    /// achieved still holds (by default a resume checks each one that has a
    /// postcondition, and runs it again with what follows when it no longer holds).
    #[arg(long)]
    pub no_verify: bool,
}

impl ResumeArgs {
    pub fn mode(&self) -> StartMode {
        if self.restart {
            StartMode::Restart
        } else if self.resume {
            StartMode::Resume {
                rerun: self.rerun.clone(),
            }
        } else if !self.rerun.is_empty() {
            StartMode::Rerun {
                tasks: self.rerun.clone(),
            }
        } else {
            StartMode::New
        }
    }
}
