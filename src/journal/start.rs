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
//! - `--restart` marks the unfinished run abandoned and starts a new one.
//! - A resume runs what [`plan_resume`] decides, and journals a reset for every
//!   success that runs again, with why.

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::history::RunHistory;
use super::record::{Record, RecordedOutcome, RunResumed, VarOverrides};
use super::resume::{ResumeTask, plan_resume};
use crate::validate::{TaskIdx, ValidatedPlan};

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StartMode {
    /// Start a new run; refused while the latest run is unfinished.
    #[default]
    New,
    /// Continue the latest run; `rerun` names tasks to run again with what follows.
    Resume { rerun: Vec<String> },
    /// Abandon the unfinished run, if any, and start a new one.
    Restart,
}

/// What this process does, given the latest run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Start a new run, first marking the latest run abandoned when `abandon`.
    New { abandon: bool },
    /// Continue the latest run.
    Resume,
    /// Refuse: the latest run is unfinished and a new one was asked for.
    RefuseUnfinished,
    /// Refuse: there is no run `--resume` could continue.
    NothingToResume,
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
    /// Which successes run again, and why.
    pub notices: Vec<String>,
}

/// What resuming `run` with `plan` (validated with the resume's variables) does.
pub fn resumption(
    plan: &ValidatedPlan,
    run: &RunHistory,
    rerun: &BTreeSet<TaskIdx>,
    cli_vars: &[(String, String)],
    now: Timestamp,
) -> Resumption {
    let tasks: Vec<ResumeTask<'_>> = plan
        .tasks()
        .iter()
        .map(|t| ResumeTask {
            id: &t.id,
            needs: &t.needs,
            fingerprint: &t.fingerprint,
            always: t.always,
        })
        .collect();
    let decided = plan_resume(&tasks, |id| run.task(id), rerun);
    let mut records = vec![Record::RunResumed(RunResumed {
        at: now,
        planrun_version: env!("CARGO_PKG_VERSION").to_owned(),
        pid: std::process::id(),
        vars: merged_overrides(plan, &run.vars, cli_vars),
    })];
    let mut notices = Vec::new();
    for (i, reason) in decided.reruns() {
        let why = reason.describe(&tasks).to_string();
        notices.push(format!("task `{}` runs again: {why}", tasks[i].id));
        records.push(Record::TaskReset {
            task: tasks[i].id.to_owned(),
            at: now,
            reason: why,
        });
    }
    Resumption {
        records,
        done: decided.done().collect(),
        notices,
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
