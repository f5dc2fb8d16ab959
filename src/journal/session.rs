//! Opening a run for one planrun process: take the plan's lock, find the latest run,
//! and start a new run, resume the unfinished one, or refuse.
//!
//! - A new run is refused (exit 3) while the latest run is unfinished (failed,
//!   interrupted, or cut off): the user chooses `--resume` or `--restart`.
//! - `--resume` continues the latest unfinished run; with `--rerun TASK` it can also
//!   reopen a run that succeeded. The `--var` overrides of the run are reused unless
//!   given again; secret ones are not journaled and must be given again (or come
//!   from the environment).
//! - `--restart` marks the unfinished run abandoned and starts a new one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use miette::{Diagnostic, Report};
use thiserror::Error;

use super::error::JournalError;
use super::history::RunHistory;
use super::lock::PlanLock;
use super::plan_state::PlanState;
use super::reader::Journal;
use super::record::{
    FORMAT_VERSION, Record, RecordedOutcome, RunResumed, RunStarted, VarOverrides,
};
use super::resume::{ResumeTask, plan_resume};
use super::status::{fmt_time, progress};
use super::writer::JournalWriter;
use crate::error::Error;
use crate::layout::RunDir;
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

/// The journal of the run this process works on.
#[derive(Debug)]
pub struct RunJournal {
    writer: JournalWriter,
    state: RunHistory,
    run_dir: RunDir,
}

impl RunJournal {
    /// Appends records durably (one sync) and folds them into [`state`](Self::state).
    pub fn record(&mut self, records: &[Record]) -> Result<(), JournalError> {
        self.writer.append(records)?;
        for r in records {
            self.state.apply(r);
        }
        Ok(())
    }

    pub fn state(&self) -> &RunHistory {
        &self.state
    }

    /// Chooses when records are synced (see [`SyncMode`]).
    pub fn set_sync_mode(&mut self, mode: super::writer::SyncMode) {
        self.writer.set_sync_mode(mode);
    }

    pub fn run_id(&self) -> &str {
        self.state.run_id()
    }

    /// `<state dir>/<plan>/runs/<run id>/`.
    pub fn run_dir(&self) -> &Path {
        self.run_dir.path()
    }

    pub fn path(&self) -> &Path {
        self.writer.path()
    }
}

/// A run opened for this process: the plan (validated with the run's variables),
/// the lock, the journal, and what a resume found done.
#[derive(Debug)]
pub struct Session {
    pub plan: ValidatedPlan,
    pub plan_state: PlanState,
    /// Held until the process ends (or this is dropped).
    pub lock: PlanLock,
    pub journal: RunJournal,
    /// Tasks journaled as succeeded that do not run again.
    pub done: Vec<TaskIdx>,
    /// Whether this continues an earlier run.
    pub resumed: bool,
    /// What to tell the user before the run starts: a dropped torn tail, tasks that
    /// run again and why, secret variables to give again.
    pub notices: Vec<String>,
}

/// Why a run could not be opened (besides an invalid plan or an I/O error).
#[derive(Debug, Error, Diagnostic)]
pub enum Refusal {
    #[error(
        "plan `{plan}` has an unfinished run {run_id} ({outcome}, {progress}; last change {last_change})"
    )]
    #[diagnostic(
        code(planrun::run::unfinished),
        help(
            "continue it with `planrun {plan_arg} --resume` (tasks that succeeded are not run again), \
             or abandon it and start over with `planrun {plan_arg} --restart`"
        )
    )]
    Unfinished {
        plan: String,
        plan_arg: String,
        run_id: String,
        outcome: &'static str,
        progress: String,
        last_change: String,
    },

    #[error("plan `{plan}` has no unfinished run to resume{latest}")]
    #[diagnostic(
        code(planrun::run::nothing_to_resume),
        help("start a new run without --resume, or name tasks to run again with --rerun TASK")
    )]
    NothingToResume {
        plan: String,
        /// ` (the latest, ID, succeeded)`, or empty.
        latest: String,
    },
}

/// Validates a plan file with `--var` overrides (normally
/// `validate::load_and_validate`, plus whatever else must hold before a run starts).
/// Called before anything is written.
pub type PlanLoader<'a> = dyn Fn(&Path, &[(String, String)]) -> Result<ValidatedPlan, Error> + 'a;

/// The plan's `[plan] name`, read without validating (the run's variables are
/// needed first); `None` if the file does not parse that far.
pub fn peek_plan_name(plan_path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(plan_path).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    table.get("plan")?.get("name")?.as_str().map(str::to_owned)
}

/// The names in the plan's `[vars]`, read without validating.
fn peek_declared_vars(plan_path: &Path) -> Option<BTreeSet<String>> {
    let text = std::fs::read_to_string(plan_path).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    Some(match table.get("vars").and_then(|v| v.as_table()) {
        Some(vars) => vars.keys().cloned().collect(),
        None => BTreeSet::new(),
    })
}

/// Opens the run this process works on ([`prepare`], then [`Prepared::start`]).
pub fn open(
    plan_path: &Path,
    state_dir: &Path,
    cli_vars: &[(String, String)],
    mode: &StartMode,
    load: &PlanLoader<'_>,
) -> Result<Session, Error> {
    prepare(plan_path, state_dir, cli_vars, mode, load)?.start()
}

/// Takes the lock and decides what this process runs (see the module docs for the
/// rules), writing nothing yet.
///
/// `load` validates the plan with the given overrides; it runs before anything is
/// written, so a plan it rejects leaves no run behind.
pub fn prepare(
    plan_path: &Path,
    state_dir: &Path,
    cli_vars: &[(String, String)],
    mode: &StartMode,
    load: &PlanLoader,
) -> Result<Prepared, Error> {
    let Some(name) = peek_plan_name(plan_path) else {
        // Let validation say what is wrong with the plan.
        load(plan_path, cli_vars)?;
        return Err(Error::Invalid(miette::miette!(
            "plan {} has no [plan] name",
            plan_path.display()
        )));
    };
    let plan_state = PlanState::new(state_dir, &name);
    // Check the plan before writing anything (the lock file included): a plan that
    // cannot run leaves no trace. A resume needs the run's variables first; without
    // any state there is nothing to resume.
    let mut preloaded = match mode {
        StartMode::New | StartMode::Restart => Some(load(plan_path, cli_vars)?),
        StartMode::Resume { .. } if !plan_state.dir().path().exists() => {
            return Err(Error::Refused(Report::new(Refusal::NothingToResume {
                plan: name,
                latest: String::new(),
            })));
        }
        StartMode::Resume { .. } => None,
    };
    let lock = plan_state
        .lock()
        .map_err(|e| Error::Refused(Report::new(e)))?;

    let mut latest = match plan_state.latest().map_err(internal)? {
        Some(id) => {
            let journal = Journal::read(&plan_state.journal_path(&id)).map_err(internal)?;
            let state = RunHistory::from_records(&journal.records)
                .expect("Journal::parse checks the first record");
            Some((journal, state))
        }
        None => None,
    };
    let mut notices = Vec::new();

    let resume_from = match mode {
        StartMode::New => {
            if let Some((_, state)) = latest.as_ref().filter(|(_, s)| s.is_unfinished()) {
                let plan = preloaded.take().expect("loaded for a new run");
                let ids: Vec<&str> = plan.tasks().iter().map(|t| t.id.as_str()).collect();
                return Err(Error::Refused(Report::new(Refusal::Unfinished {
                    plan: name,
                    plan_arg: plan_path.display().to_string(),
                    run_id: state.run_id().to_owned(),
                    outcome: state.status(false).display(),
                    progress: progress(state, &ids, false),
                    last_change: fmt_time(state.last_change),
                })));
            }
            None
        }
        StartMode::Restart => None,
        StartMode::Resume { rerun } => match latest.take() {
            Some((journal, state))
                if state.is_unfinished()
                    || (!rerun.is_empty()
                        && !matches!(state.finished, Some((_, RecordedOutcome::Abandoned)))) =>
            {
                Some((journal, state, rerun))
            }
            latest => {
                return Err(Error::Refused(Report::new(Refusal::NothingToResume {
                    plan: name,
                    latest: latest
                        .map(|(_, s)| format!(" (the latest, {}, {})", s.run_id(), s.status(false)))
                        .unwrap_or_default(),
                })));
            }
        },
    };

    let Some((journal, state, rerun)) = resume_from else {
        let plan = preloaded.take().expect("loaded for a new run");
        // --restart: the unfinished run is abandoned when the new run starts.
        let abandon = match latest.as_ref().filter(|(_, s)| s.is_unfinished()) {
            Some((journal, state)) if *mode == StartMode::Restart => {
                notices.push(format!(
                    "run {} abandoned; starting a new run",
                    state.run_id()
                ));
                Some((journal.path.clone(), journal.valid_len))
            }
            _ => None,
        };
        let vars = journaled_overrides(&plan, cli_vars);
        return Ok(Prepared {
            plan,
            plan_state,
            lock,
            done: Vec::new(),
            resumed: false,
            notices,
            action: Action::New {
                plan_name: name,
                plan_path: plan_path.to_owned(),
                vars,
                abandon,
            },
        });
    };

    // Resume: the run's overrides, updated by this command line's.
    if let Some(w) = journal.torn_tail_warning() {
        notices.push(w.to_string());
    }
    let declared = peek_declared_vars(plan_path);
    let mut vars: Vec<(String, String)> = Vec::new();
    for (k, v) in &state.vars.vars {
        if cli_vars.iter().any(|(c, _)| c == k) {
            continue;
        }
        if declared.as_ref().is_some_and(|d| !d.contains(k)) {
            notices.push(format!(
                "the plan no longer declares variable `{k}`, given with --var earlier; dropped"
            ));
            continue;
        }
        vars.push((k.clone(), v.clone()));
    }
    vars.extend(cli_vars.iter().cloned());
    for secret in &state.vars.secret_vars {
        if !cli_vars.iter().any(|(c, _)| c == secret) {
            notices.push(format!(
                "secret variable `{secret}` was given with --var when the run started; its value is \
                 never journaled, so give it again with --var {secret}=... (or through the \
                 environment), or the plan's own value is used"
            ));
        }
    }
    let plan = load(plan_path, &vars)?;
    let mut rerun_idx = BTreeSet::new();
    for id in rerun {
        match plan.find(id) {
            Some(i) => {
                rerun_idx.insert(i);
            }
            None => {
                let ids: Vec<&str> = plan.tasks().iter().map(|t| t.id.as_str()).collect();
                let hint = planrun_text::did_you_mean(id, ids.iter().copied())
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                return Err(Error::Invalid(miette::miette!(
                    "--rerun names no task of plan `{}`: `{id}`{hint}",
                    plan.header().name
                )));
            }
        }
    }
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
    let decided = plan_resume(&tasks, |id| state.task(id), &rerun_idx);
    let now = Timestamp::now();
    let mut records = vec![Record::RunResumed(RunResumed {
        at: now,
        planrun_version: env!("CARGO_PKG_VERSION").to_owned(),
        pid: std::process::id(),
        vars: merged_overrides(&plan, &state.vars, cli_vars),
    })];
    for (i, reason) in decided.reruns() {
        let why = reason.describe(&tasks).to_string();
        notices.push(format!("task `{}` runs again: {why}", tasks[i].id));
        records.push(Record::TaskReset {
            task: tasks[i].id.to_owned(),
            at: now,
            reason: why,
        });
    }
    let done: Vec<TaskIdx> = decided.done().collect();
    drop(tasks);

    Ok(Prepared {
        plan,
        plan_state,
        lock,
        done,
        resumed: true,
        notices,
        action: Action::Resume {
            journal_path: journal.path.clone(),
            valid_len: journal.valid_len,
            state: Box::new(state),
            records,
        },
    })
}

/// A run decided but not written yet: the plan is loaded and the lock held, and
/// nothing is on disk, so checks that need the plan (a kube context guard, tool
/// preflights) can still refuse without leaving a run behind. [`Prepared::start`]
/// writes it.
#[derive(Debug)]
pub struct Prepared {
    pub plan: ValidatedPlan,
    pub plan_state: PlanState,
    /// What to tell the user before the run starts (see [`Session::notices`]).
    pub notices: Vec<String>,
    pub resumed: bool,
    lock: PlanLock,
    done: Vec<TaskIdx>,
    action: Action,
}

#[derive(Debug)]
enum Action {
    New {
        plan_name: String,
        plan_path: PathBuf,
        vars: VarOverrides,
        /// The unfinished run `--restart` abandons: its journal and valid length.
        abandon: Option<(PathBuf, u64)>,
    },
    Resume {
        journal_path: PathBuf,
        valid_len: u64,
        state: Box<RunHistory>,
        /// The resume record and the resets, written first.
        records: Vec<Record>,
    },
}

impl Prepared {
    /// Writes the run: a new journal (and `latest`), or the resume records.
    pub fn start(self) -> Result<Session, Error> {
        let Prepared {
            plan,
            plan_state,
            notices,
            resumed,
            mut lock,
            done,
            action,
        } = self;
        let (writer, state) = match action {
            Action::New {
                plan_name,
                plan_path,
                vars,
                abandon,
            } => {
                if let Some((path, valid_len)) = abandon {
                    let mut w = JournalWriter::open_append(&path, valid_len).map_err(internal)?;
                    w.append(&[Record::RunFinished {
                        at: Timestamp::now(),
                        outcome: RecordedOutcome::Abandoned,
                    }])
                    .map_err(internal)?;
                }
                let now = Timestamp::now();
                let run_id = plan_state.create_run_dir(now).map_err(internal)?;
                let start = RunStarted {
                    format: FORMAT_VERSION,
                    run_id: run_id.clone(),
                    plan_name,
                    plan_path,
                    at: now,
                    planrun_version: env!("CARGO_PKG_VERSION").to_owned(),
                    pid: std::process::id(),
                    vars,
                };
                let path = plan_state.journal_path(&run_id);
                let writer = JournalWriter::create(&path, &Record::RunStarted(start.clone()))
                    .map_err(internal)?;
                (writer, RunHistory::new(start))
            }
            Action::Resume {
                journal_path,
                valid_len,
                mut state,
                records,
            } => {
                let mut writer =
                    JournalWriter::open_append(&journal_path, valid_len).map_err(internal)?;
                writer.append(&records).map_err(internal)?;
                for r in &records {
                    state.apply(r);
                }
                (writer, *state)
            }
        };
        let run_id = state.run_id().to_owned();
        plan_state.set_latest(&run_id).map_err(internal)?;
        lock.set_run(&run_id)
            .map_err(|e| Error::Internal(Report::new(e)))?;
        Ok(Session {
            plan,
            journal: RunJournal {
                writer,
                state,
                run_dir: plan_state.run_dir(&run_id),
            },
            plan_state,
            lock,
            done,
            resumed,
            notices,
        })
    }
}

fn internal(e: JournalError) -> Error {
    Error::Internal(Report::new(e))
}

/// The command line's overrides as journaled (secret values left out).
fn journaled_overrides(plan: &ValidatedPlan, cli_vars: &[(String, String)]) -> VarOverrides {
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
