//! `planrun runs PLAN`: the plan's runs, oldest first, with outcome and times.

use std::path::PathBuf;

use clap::Args;

use super::status::{internal, is_live, plan_state};
use crate::error::Error;
use crate::journal::{self, Journal, status::RunLine};

#[derive(Debug, Clone, Args)]
pub struct RunsArgs {
    /// The plan file (TOML).
    pub plan: PathBuf,
    /// Where runs are kept [default: .planrun beside the plan].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

pub fn run(args: &RunsArgs) -> Result<(), Error> {
    let (plan_state, plan_tasks) = plan_state(&args.plan, args.state_dir.as_deref())?;
    let mut runs = Vec::new();
    for id in plan_state.run_ids().map_err(internal)? {
        let journal = Journal::read(&plan_state.journal_path(&id)).map_err(internal)?;
        let state = journal.history();
        let live = is_live(&plan_state, &id);
        runs.push((state, live));
    }
    if runs.is_empty() {
        return super::print(&format!(
            "plan `{}` has no runs yet\n",
            plan_state.plan_name()
        ));
    }
    runs.sort_by(|a, b| (a.0.start.at, a.0.run_id()).cmp(&(b.0.start.at, b.0.run_id())));
    let lines: Vec<RunLine<'_>> = runs
        .iter()
        .map(|(run, live)| RunLine {
            run,
            live: *live,
            plan_tasks: plan_tasks.as_ref().map(Vec::len),
        })
        .collect();
    super::print(&journal::status::render_runs(&lines))
}
