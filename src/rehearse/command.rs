//! `planrun rehearse PLAN`: run the plan end to end on the embedded sandbox cluster.

use std::path::PathBuf;

use clap::Args;

use planrun::cli::OutputFormat;
use planrun::cli::PlanArgs;
use planrun::error::Error;

use super::rehearsal::{RehearseOptions, rehearse};

#[derive(Debug, Args)]
pub struct RehearseArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// The rehearsal file [default: <plan>.rehearsal.yaml beside the plan].
    #[arg(long, value_name = "FILE")]
    pub rehearsal: Option<PathBuf>,
    /// Rehearse a failure the rehearsal file names (an unknown name lists them).
    #[arg(long, value_name = "NAME")]
    pub fault: Option<String>,
    /// Continue the interrupted or failed rehearsal, against the cluster it left.
    #[arg(long)]
    pub resume: bool,
    /// Rehearse `planrun run PLAN --dry-run`: nothing changes in the sandbox (with
    /// --resume, the preview of resuming the last rehearsal).
    #[arg(long)]
    pub dry_run: bool,
    /// Run at most N tasks at once (0: no limit) [default: as for `run`].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// How to report progress.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Where rehearsals keep runs and the sandbox [default: .planrun/rehearsal beside
    /// the plan].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Time a stopped task gets between SIGTERM and SIGKILL [default: as for `run`].
    #[arg(long, value_name = "DURATION", value_parser = checked_duration)]
    pub grace: Option<String>,
}

/// A duration as given, once checked (the run it is passed to reads it again).
fn checked_duration(text: &str) -> Result<String, String> {
    planrun_text::parse_duration(text).map(|_| text.to_owned())
}

pub fn run(args: &RehearseArgs) -> Result<(), Error> {
    let code = rehearse(&RehearseOptions {
        plan: args.plan.plan.clone(),
        vars: args.plan.vars.clone(),
        rehearsal: args.rehearsal.clone(),
        fault: args.fault.clone(),
        resume: args.resume,
        dry_run: args.dry_run,
        jobs: args.jobs,
        output: args.output,
        state_dir: args.state_dir.clone(),
        grace: args.grace.clone(),
    })?;
    match code {
        0 => Ok(()),
        code => Err(Error::Child(code)),
    }
}
