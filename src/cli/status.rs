//! `planrun status PLAN [--run ID]`: where the latest (or a named) run stands, task
//! by task.

use std::path::{Path, PathBuf};

use clap::Args;
use miette::Report;

use crate::error::Error;
use crate::journal::{self, Journal, PlanState, RunHistory};
use crate::layout;

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// The plan file (TOML).
    pub plan: PathBuf,
    /// The run to show (an id from `planrun runs`); the latest when not given.
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Where runs are kept [default: .planrun beside the plan].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

pub fn run(args: &StatusArgs) -> Result<(), Error> {
    let (plan_state, plan_tasks) = plan_state(&args.plan, args.state_dir.as_deref())?;
    let (run_id, state, live) = read_run(&plan_state, args.run.as_deref())?;
    let ids: Vec<&str> = match &plan_tasks {
        Some(ids) => ids.iter().map(String::as_str).collect(),
        None => state.tasks.iter().map(|(id, _)| id.as_str()).collect(),
    };
    let text = format!(
        "{}\nrun directory: {}\n",
        journal::status::render_status(&state, &ids, live),
        plan_state.run_dir(&run_id).path().display()
    );
    super::print(&text)
}

/// The plan's state directory and its task ids in execution order (`None` when the
/// plan does not validate now: the journal's order is used instead).
pub(super) fn plan_state(
    plan: &Path,
    state_dir: Option<&Path>,
) -> Result<(PlanState, Option<Vec<String>>), Error> {
    let Some(name) = journal::peek_plan_name(plan) else {
        // Let validation say what is wrong.
        crate::validate::load_and_validate(plan, &[]).map_err(Error::Invalid)?;
        return Err(Error::Invalid(miette::miette!(
            "plan {} has no name",
            plan.display()
        )));
    };
    let state_dir = state_dir.map_or_else(|| layout::default_state_dir(plan), Path::to_path_buf);
    let plan_state = PlanState::new(&state_dir, &name);
    // The latest run's overrides make the task list match what ran.
    let vars: Vec<(String, String)> = plan_state
        .latest()
        .ok()
        .flatten()
        .and_then(|id| Journal::read(&plan_state.journal_path(&id)).ok())
        .and_then(|j| RunHistory::from_records(&j.records))
        .map(|s| s.vars.vars.into_iter().collect())
        .unwrap_or_default();
    let ids = crate::validate::load_and_validate(plan, &vars)
        .ok()
        .map(|p| {
            p.topo_order()
                .iter()
                .map(|&i| p.task(i).id.clone())
                .collect()
        });
    Ok((plan_state, ids))
}

/// The run `run` names (an id; `None` or `latest`: the latest run), read from its
/// journal: its id, its history, and whether a planrun process works on it now.
pub(super) fn read_run(
    plan_state: &PlanState,
    run: Option<&str>,
) -> Result<(String, RunHistory, bool), Error> {
    let run_id = match run {
        Some(id) if id != "latest" => id.to_owned(),
        _ => plan_state
            .latest()
            .map_err(internal)?
            .ok_or_else(|| no_runs(plan_state))?,
    };
    let path = plan_state.journal_path(&run_id);
    if !path.is_file() {
        return Err(Error::Invalid(miette::miette!(
            help = "`planrun runs PLAN` lists the runs",
            "plan `{}` has no run {run_id}",
            plan_state.plan_name()
        )));
    }
    let live = is_live(plan_state, &run_id);
    let journal = Journal::read(&path).map_err(internal)?;
    if !live && let Some(w) = journal.torn_tail_warning() {
        crate::console::say(&format!("warning: {w}"));
    }
    let state = journal.history();
    Ok((run_id, state, live))
}

/// Whether a live planrun process works on `run_id` now.
pub(super) fn is_live(plan_state: &PlanState, run_id: &str) -> bool {
    journal::live_holder(&plan_state.dir().lock_path())
        .is_some_and(|h| h.run_id.as_deref() == Some(run_id))
}

fn no_runs(plan_state: &PlanState) -> Error {
    let mut help = format!(
        "runs are kept in {}; pass --state-dir if they are elsewhere",
        plan_state.dir().path().display()
    );
    // Rehearsals keep theirs apart, beside the real runs.
    if let Some(state_dir) = plan_state.dir().path().parent() {
        let rehearsals = layout::rehearsal_state_dir(state_dir);
        if PlanState::new(&rehearsals, plan_state.plan_name())
            .latest()
            .is_ok_and(|latest| latest.is_some())
        {
            help.push_str(&format!(
                " (rehearsals keep theirs in {}: --state-dir {})",
                rehearsals.join(plan_state.plan_name()).display(),
                planrun_text::shell_quote(&rehearsals.display().to_string())
            ));
        }
    }
    Error::Invalid(miette::miette!(
        help = help,
        "plan `{}` has no runs yet",
        plan_state.plan_name()
    ))
}

pub(super) fn internal(e: journal::JournalError) -> Error {
    Error::Internal(Report::new(e))
}
