//! What a planrun process does with a plan's latest run, as pure functions of the
//! command line, the plan and the journal (the I/O around them is in `session`):
//!
//! - A new run is refused (exit 3) while the latest run is unfinished (failed,
//!   interrupted, or cut off): the user chooses `--resume` or `--restart`.
//! - `--resume` continues the latest unfinished run; with `--rerun TASK` it can also
//!   reopen a run that succeeded (not one that was abandoned). The `--var`
//!   overrides of the run are reused unless given again, and dropped when the plan
//!   no longer declares them; secret ones are not journaled and must be given again
//!   (or come from the environment).
//! - `--rerun TASK` alone reopens the latest run when it is finished (succeeded,
//!   with warnings or not) and runs exactly TASK and what depends on it
//!   ([`plan_rerun`]); on an unfinished run it is refused (exit 3), naming
//!   `--resume --rerun TASK` for finishing the run with TASK again.
//! - `--restart` marks the unfinished run abandoned and starts a new one.
//! - A resume runs what [`plan_resume`] decides, and journals a reset for every
//!   success that runs again, with why.
//! - Before anything starts, a resume, a rerun and a restart say what will run,
//!   what is taken as done and from which run, and what is skipped and why
//!   ([`Listing`]).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::history::{RecordedState, RunHistory};
use super::record::{ProcessInfo, Record, RecordedOutcome, RunResumed, VarOverrides};
use super::resume::{Decision, ResumeTask, plan_rerun, plan_resume, to_verify};
use crate::events::{ResumeInfo, TaskWhy};
use crate::validate::{TaskIdx, ValidatedPlan};

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StartMode {
    /// Start a new run; refused while the latest run is unfinished.
    #[default]
    New,
    /// Continue the latest run; `rerun` names tasks to run again with what follows.
    Resume { rerun: Vec<String> },
    /// Run exactly these tasks and what depends on them again, in the latest run
    /// (finished); take everything else from it.
    Rerun { tasks: Vec<String> },
    /// Abandon the unfinished run, if any, and start a new one.
    Restart,
}

impl StartMode {
    /// The tasks named by `--rerun`.
    pub fn rerun(&self) -> &[String] {
        match self {
            StartMode::Resume { rerun } => rerun,
            StartMode::Rerun { tasks } => tasks,
            StartMode::New | StartMode::Restart => &[],
        }
    }
}

/// What this process does, given the latest run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Start a new run, first marking the latest run abandoned when `abandon`.
    New { abandon: bool },
    /// Continue the latest run.
    Resume,
    /// Run `--rerun`'s tasks again in the latest run, which is finished.
    Rerun,
    /// Refuse: the latest run is unfinished and a new one was asked for.
    RefuseUnfinished,
    /// Refuse: `--rerun` alone and the latest run is unfinished.
    RefuseRerunUnfinished,
    /// Refuse: there is no run `--resume` could continue.
    NothingToResume,
    /// Refuse: there is no finished run `--rerun` could take results from.
    NothingToRerun,
}

/// Decides between a new run, a resume and a refusal (see the module docs).
pub fn choose(mode: &StartMode, latest: Option<&RunHistory>) -> Choice {
    let unfinished = latest.is_some_and(RunHistory::is_unfinished);
    match mode {
        StartMode::New if unfinished => Choice::RefuseUnfinished,
        StartMode::New => Choice::New { abandon: false },
        StartMode::Restart => Choice::New {
            abandon: unfinished,
        },
        StartMode::Resume { rerun } => {
            let reopens = |run: &RunHistory| {
                !rerun.is_empty() && !matches!(run.finished, Some((_, RecordedOutcome::Abandoned)))
            };
            match latest {
                Some(run) if run.is_unfinished() || reopens(run) => Choice::Resume,
                _ => Choice::NothingToResume,
            }
        }
        StartMode::Rerun { .. } => match latest {
            Some(run) if run.is_unfinished() => Choice::RefuseRerunUnfinished,
            Some(run) if !matches!(run.finished, Some((_, RecordedOutcome::Abandoned))) => {
                Choice::Rerun
            }
            _ => Choice::NothingToRerun,
        },
    }
}

/// The variables a resume validates the plan with: the run's journaled overrides,
/// updated by this command line's, minus those the plan no longer declares
/// (`declared`, when the plan could be read that far). Returns them with what to
/// tell the user: dropped variables, secret ones to give again.
pub fn resume_vars(
    journaled: &VarOverrides,
    cli_vars: &[(String, String)],
    declared: Option<&BTreeSet<String>>,
) -> (Vec<(String, String)>, Vec<String>) {
    let given = |name: &str| cli_vars.iter().any(|(c, _)| c == name);
    let mut notices = Vec::new();
    let mut vars: Vec<(String, String)> = Vec::new();
    for (k, v) in &journaled.vars {
        if given(k) {
            continue;
        }
        if declared.is_some_and(|d| !d.contains(k)) {
            notices.push(format!(
                "the plan no longer declares variable `{k}`, given with --var earlier; dropped"
            ));
            continue;
        }
        vars.push((k.clone(), v.clone()));
    }
    vars.extend(cli_vars.iter().cloned());
    for secret in journaled.secret_vars.iter().filter(|s| !given(s)) {
        notices.push(format!(
            "secret variable `{secret}` was given with --var when the run started; its value is \
             never journaled, so give it again with --var {secret}=... (or through the \
             environment), or the plan's own value is used"
        ));
    }
    (vars, notices)
}

/// The indexes of the tasks `--rerun` names; an unknown name is an error message
/// (with a "did you mean").
pub fn rerun_indexes(plan: &ValidatedPlan, rerun: &[String]) -> Result<BTreeSet<TaskIdx>, String> {
    let mut indexes = BTreeSet::new();
    for id in rerun {
        match plan.find(id) {
            Some(i) => {
                indexes.insert(i);
            }
            None => {
                let ids = plan.tasks().iter().map(|t| t.id.as_str());
                let hint = planrun_text::did_you_mean(id, ids)
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                return Err(format!(
                    "--rerun names no task of plan `{}`: `{id}`{hint}",
                    plan.header().name
                ));
            }
        }
    }
    Ok(indexes)
}

/// How a resume begins.
#[derive(Debug, Clone, PartialEq)]
pub struct Resumption {
    /// Written first: the resume record, then a reset for each success that runs again.
    pub records: Vec<Record>,
    /// Tasks journaled as succeeded that do not run again.
    pub done: Vec<TaskIdx>,
    /// Tasks `--rerun` leaves out that are not done: they do not run.
    pub not_selected: Vec<TaskIdx>,
    /// What will run, what is taken as done, what is skipped.
    pub listing: Listing,
}

/// What a resume, a rerun or a restart will do, said before anything starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// What this process does: "resuming run R of plan `p`".
    pub heading: String,
    /// Tasks that will run, with why (in plan order).
    pub will_run: Vec<(String, String)>,
    /// The run the done tasks are taken from, and the tasks with a note (a
    /// definition that changed since).
    pub taken_from: String,
    pub taken: Vec<(String, Option<String>)>,
    /// Tasks that will not run though not done, with why.
    pub skipped: Vec<(String, String)>,
    /// Tasks taken as done whose postcondition was checked now and still holds.
    pub verified: Vec<String>,
}

impl Listing {
    /// A new run: every task runs.
    pub fn new_run(plan: &ValidatedPlan, heading: String) -> Self {
        Self {
            heading,
            will_run: plan
                .topo_order()
                .iter()
                .map(|&i| (plan.task(i).id.clone(), String::new()))
                .collect(),
            ..Self::default()
        }
    }

    /// The listing as data, for the `run-resumed` event.
    pub fn info(&self) -> ResumeInfo {
        let why = |items: &[(String, String)]| {
            items
                .iter()
                .map(|(task, why)| TaskWhy {
                    task: task.clone(),
                    why: why.clone(),
                })
                .collect()
        };
        ResumeInfo {
            will_run: why(&self.will_run),
            taken_from: self.taken_from.clone(),
            taken_as_done: self
                .taken
                .iter()
                .map(|(task, note)| TaskWhy {
                    task: task.clone(),
                    why: note.clone().unwrap_or_default(),
                })
                .collect(),
            checked: self.verified.clone(),
            skipped: why(&self.skipped),
        }
    }

    /// The listing as lines, each a whole statement.
    pub fn lines(&self) -> Vec<String> {
        fn list(items: &[(String, String)]) -> String {
            items
                .iter()
                .map(|(id, why)| {
                    if why.is_empty() {
                        id.clone()
                    } else {
                        format!("{id} ({why})")
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
        let mut out = vec![format!("{}:", self.heading)];
        out.push(match self.will_run.len() {
            0 => "  will run: nothing".to_owned(),
            n => format!("  will run ({n}): {}", list(&self.will_run)),
        });
        if !self.taken.is_empty() {
            let taken: Vec<(String, String)> = self
                .taken
                .iter()
                .map(|(id, note)| (id.clone(), note.clone().unwrap_or_default()))
                .collect();
            out.push(format!(
                "  taken as done from run {} ({}): {}",
                self.taken_from,
                taken.len(),
                list(&taken)
            ));
        }
        if !self.verified.is_empty() {
            out.push(format!(
                "  checked now, still hold ({}): {}",
                self.verified.len(),
                self.verified.join(", ")
            ));
        }
        if !self.skipped.is_empty() {
            out.push(format!(
                "  skipped ({}): {}",
                self.skipped.len(),
                list(&self.skipped)
            ));
        }
        out
    }
}

/// The plan's tasks as resume sees them.
fn resume_tasks(plan: &ValidatedPlan) -> Vec<ResumeTask<'_>> {
    plan.tasks()
        .iter()
        .map(|t| ResumeTask {
            id: &t.id,
            needs: &t.needs,
            fingerprint: &t.fingerprint,
            always: t.always,
            changes: t.kind.changes(),
        })
        .collect()
}

/// The tasks a resume of `run` checks before taking them as done
/// ([`to_verify`]); none for `--rerun` alone (nothing outside its set runs).
/// `checkable`: the task's type has a postcondition.
pub fn tasks_to_verify(
    plan: &ValidatedPlan,
    run: &RunHistory,
    rerun: &BTreeSet<TaskIdx>,
    rerun_only: bool,
    checkable: impl Fn(TaskIdx) -> bool,
) -> Vec<TaskIdx> {
    if rerun_only {
        return Vec::new();
    }
    let tasks = resume_tasks(plan);
    let decided = plan_resume(&tasks, |id| run.task(id), rerun, &BTreeMap::new());
    to_verify(&tasks, &decided, |id| run.task(id), checkable)
}

/// What resuming `run` with `plan` (validated with the resume's variables) does:
/// with `rerun_only`, exactly the `rerun` tasks and their dependents run
/// ([`plan_rerun`]), else whatever is not done, the `rerun` tasks with what
/// follows them, and the tasks whose postcondition was found `lost` (checked, no
/// longer holding, with why) with what follows them ([`plan_resume`]); `verified`
/// are the tasks checked and found holding, for the listing.
#[expect(
    clippy::too_many_arguments,
    reason = "the inputs of one pure decision, each named"
)]
pub fn resumption(
    plan: &ValidatedPlan,
    run: &RunHistory,
    rerun: &BTreeSet<TaskIdx>,
    rerun_only: bool,
    lost: &BTreeMap<TaskIdx, String>,
    verified: &[TaskIdx],
    cli_vars: &[(String, String)],
    now: Timestamp,
) -> Resumption {
    let tasks = resume_tasks(plan);
    let decided = if rerun_only {
        plan_rerun(&tasks, |id| run.task(id), rerun)
    } else {
        plan_resume(&tasks, |id| run.task(id), rerun, lost)
    };
    let mut records = vec![Record::RunResumed(RunResumed {
        at: now,
        planrun_version: env!("CARGO_PKG_VERSION").to_owned(),
        pid: std::process::id(),
        vars: merged_overrides(plan, &run.vars, cli_vars),
        // Filled in when the run is written (the kube connection is known then).
        process: ProcessInfo::default(),
        how: Some(how(plan, rerun, rerun_only)),
    })];
    for (i, reason) in decided.reruns() {
        records.push(Record::TaskReset {
            task: tasks[i].id.to_owned(),
            at: now,
            reason: reason.describe(&tasks).to_string(),
        });
    }
    let mut listing = Listing {
        heading: if rerun_only {
            format!(
                "running again, in run {} of plan `{}`, {} and what depends on {}",
                run.run_id(),
                plan.header().name,
                named(plan, rerun),
                if rerun.len() == 1 { "it" } else { "them" }
            )
        } else {
            format!(
                "resuming run {} of plan `{}` ({})",
                run.run_id(),
                plan.header().name,
                run.status(false)
            )
        },
        taken_from: run.run_id().to_owned(),
        verified: plan
            .topo_order()
            .iter()
            .filter(|i| verified.contains(i))
            .map(|&i| plan.task(i).id.clone())
            .collect(),
        ..Listing::default()
    };
    for &i in plan.topo_order() {
        let id = tasks[i].id.to_owned();
        match &decided.decisions[i] {
            Decision::Run(reason) => {
                listing
                    .will_run
                    .push((id, reason.describe(&tasks).to_string()));
            }
            Decision::Done => {
                let note = match run.task(&id) {
                    Some(h) if h.state == RecordedState::FailedAllowed => Some(format!(
                        "it failed, allowed, in run {}, and what needs it ran; `--rerun {id}` runs it",
                        run.run_id()
                    )),
                    Some(h) if h.succeeded_fingerprint.as_deref() != Some(tasks[i].fingerprint) => {
                        Some(format!(
                            "its definition changed since; `--rerun {id}` runs it"
                        ))
                    }
                    _ => None,
                };
                listing.taken.push((id, note));
            }
            Decision::NotSelected(state) => {
                let why = match state {
                    RecordedState::Pending => format!(
                        "it did not run in run {}; `--rerun {id}` runs it",
                        run.run_id()
                    ),
                    other => format!(
                        "it was {} in run {}; `--rerun {id}` runs it",
                        other.status(false),
                        run.run_id()
                    ),
                };
                listing.skipped.push((id, why));
            }
        }
    }
    // What the set needs but was not done keeps part of the set from running.
    if rerun_only {
        let skipped: BTreeSet<TaskIdx> = decided.not_selected().collect();
        let mut blocked = skipped.clone();
        for &i in plan.topo_order() {
            if !matches!(decided.decisions[i], Decision::Run(_)) {
                continue;
            }
            if let Some(&by) = tasks[i].needs.iter().find(|n| blocked.contains(n)) {
                blocked.insert(i);
                let id = tasks[i].id;
                listing.will_run.retain(|(t, _)| t != id);
                listing.skipped.push((
                    id.to_owned(),
                    format!("it needs `{}`, which will not run", tasks[by].id),
                ));
            }
        }
    }
    Resumption {
        records,
        done: decided.done().collect(),
        not_selected: decided.not_selected().collect(),
        listing,
    }
}

/// The flags a resume was asked with, as the report shows them.
fn how(plan: &ValidatedPlan, rerun: &BTreeSet<TaskIdx>, rerun_only: bool) -> String {
    let mut out: Vec<String> = Vec::new();
    if !rerun_only {
        out.push("--resume".to_owned());
    }
    out.extend(
        rerun
            .iter()
            .map(|&i| format!("--rerun {}", plan.task(i).id)),
    );
    out.join(" ")
}

/// "`a`", "`a` and `b`", "`a`, `b` and `c`".
fn named(plan: &ValidatedPlan, tasks: &BTreeSet<TaskIdx>) -> String {
    let ids: Vec<String> = tasks
        .iter()
        .map(|&i| format!("`{}`", plan.task(i).id))
        .collect();
    match ids.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// The command line's overrides as journaled (secret values left out).
pub fn journaled_overrides(plan: &ValidatedPlan, cli_vars: &[(String, String)]) -> VarOverrides {
    let is_secret = |name: &str| plan.vars().iter().any(|v| v.name == name && v.secret);
    VarOverrides::from_overrides(
        cli_vars.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        is_secret,
    )
}

/// The run's overrides updated by this command line's.
fn merged_overrides(
    plan: &ValidatedPlan,
    earlier: &VarOverrides,
    cli_vars: &[(String, String)],
) -> VarOverrides {
    let now = journaled_overrides(plan, cli_vars);
    let mut out = earlier.clone();
    for (k, v) in now.vars {
        out.secret_vars.retain(|s| *s != k);
        out.vars.insert(k, v);
    }
    for s in now.secret_vars {
        out.vars.remove(&s);
        out.secret_vars.push(s);
    }
    out.secret_vars.sort();
    out.secret_vars.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::{FORMAT_VERSION, RunStarted};

    fn run(finished: Option<RecordedOutcome>) -> RunHistory {
        let at = Timestamp::UNIX_EPOCH;
        let mut run = RunHistory::new(RunStarted {
            format: FORMAT_VERSION,
            run_id: "r".into(),
            plan_name: "p".into(),
            plan_path: "p.toml".into(),
            at,
            planrun_version: "0".into(),
            pid: 1,
            vars: VarOverrides::default(),
            process: ProcessInfo::default(),
        });
        if let Some(outcome) = finished {
            run.apply(&Record::RunFinished { at, outcome });
        }
        run
    }

    #[test]
    fn a_new_run_waits_for_the_unfinished_one_to_be_resumed_or_abandoned() {
        let resume = StartMode::Resume { rerun: vec![] };
        let rerun = StartMode::Resume {
            rerun: vec!["a".into()],
        };
        let rerun_only = StartMode::Rerun {
            tasks: vec!["a".into()],
        };
        let cut_off = run(None);
        let failed = run(Some(RecordedOutcome::Failed));
        let succeeded = run(Some(RecordedOutcome::Succeeded));
        let abandoned = run(Some(RecordedOutcome::Abandoned));
        let cases = [
            (&StartMode::New, None, Choice::New { abandon: false }),
            (
                &StartMode::New,
                Some(&succeeded),
                Choice::New { abandon: false },
            ),
            (&StartMode::New, Some(&cut_off), Choice::RefuseUnfinished),
            (&StartMode::New, Some(&failed), Choice::RefuseUnfinished),
            (
                &StartMode::Restart,
                Some(&failed),
                Choice::New { abandon: true },
            ),
            (
                &StartMode::Restart,
                Some(&succeeded),
                Choice::New { abandon: false },
            ),
            (&StartMode::Restart, None, Choice::New { abandon: false }),
            (&resume, Some(&failed), Choice::Resume),
            (&resume, Some(&cut_off), Choice::Resume),
            (&resume, Some(&succeeded), Choice::NothingToResume),
            (&resume, None, Choice::NothingToResume),
            (&rerun, Some(&succeeded), Choice::Resume),
            (&rerun, Some(&abandoned), Choice::NothingToResume),
            (&rerun_only, Some(&succeeded), Choice::Rerun),
            (&rerun_only, Some(&failed), Choice::RefuseRerunUnfinished),
            (&rerun_only, Some(&cut_off), Choice::RefuseRerunUnfinished),
            (&rerun_only, Some(&abandoned), Choice::NothingToRerun),
            (&rerun_only, None, Choice::NothingToRerun),
        ];
        for (mode, latest, expected) in cases {
            assert_eq!(choose(mode, latest), expected, "{mode:?} {latest:?}");
        }
    }

    #[test]
    fn a_resume_reuses_overrides_unless_given_again_or_undeclared() {
        let journaled = VarOverrides {
            vars: [("a", "1"), ("b", "2"), ("gone", "3")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
            secret_vars: vec!["token".into(), "key".into()],
        };
        let cli = vec![("b".to_owned(), "9".to_owned()), ("key".into(), "k".into())];
        let declared: BTreeSet<String> = ["a", "b", "key", "token"].map(String::from).into();
        let (vars, notices) = resume_vars(&journaled, &cli, Some(&declared));
        assert_eq!(
            vars,
            [("a", "1"), ("b", "9"), ("key", "k")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(notices.len(), 2, "{notices:?}");
        assert!(notices[0].contains("no longer declares variable `gone`"));
        assert!(notices[1].starts_with("secret variable `token`"));
    }
}
