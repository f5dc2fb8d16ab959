//! Opening a run for one planrun process, the I/O around the decisions of
//! [`start`](super::start): read the plan's name, check the plan, take the plan's
//! lock, read the latest run, then start a new run, resume the unfinished one, or
//! refuse. Failures are [`StartError`]s; the command line turns them into exit
//! codes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use miette::{Diagnostic, Report};
use thiserror::Error;

use super::error::JournalError;
use super::history::RunHistory;
use super::lock::{LockError, PlanLock};
use super::plan_state::PlanState;
use super::reader::Journal;
use super::record::{
    FORMAT_VERSION, ProcessInfo, Record, RecordedOutcome, RunStarted, VarOverrides,
};
use super::start::{
    Choice, Listing, StartMode, choose, journaled_overrides, rerun_indexes, resume_vars, resumption,
};
use super::status::{fmt_time, progress};
use super::writer::{JournalWriter, SyncMode};
use crate::layout::RunDir;
use crate::schedule::Commit;
use crate::validate::{TaskIdx, ValidatedPlan};

/// The journal of the run this process works on.
#[derive(Debug)]
pub struct RunJournal {
    writer: JournalWriter,
    state: RunHistory,
    run_dir: RunDir,
}

impl RunJournal {
    /// Appends records and waits until they are durable, whatever the sync mode;
    /// folds them into [`state`](Self::state).
    pub fn record(&mut self, records: &[Record]) -> Result<(), JournalError> {
        self.write(records)?;
        self.writer.sync()
    }

    /// Writes records (one `write`) and folds them into [`state`](Self::state);
    /// returns the journal's length after them: they are committed once
    /// [`committed`](Self::committed) reaches it.
    pub fn write(&mut self, records: &[Record]) -> Result<u64, JournalError> {
        let len = self.writer.write(records)?;
        for r in records {
            self.state.apply(r);
        }
        Ok(len)
    }

    /// How far the journal may be relied on (see [`SyncMode`]).
    pub fn committed(&self) -> Result<u64, JournalError> {
        self.writer.committed()
    }

    /// Commits what was written (see [`JournalWriter::commit`]).
    pub fn commit(&mut self, how: Commit) -> Result<(), JournalError> {
        self.writer.commit(how)
    }

    /// Changes whenever [`committed`](Self::committed) may have moved; `None` when
    /// it never lags behind [`write`](Self::write).
    pub fn commits(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.writer.commits()
    }

    /// Writes records without syncing them, whatever the mode (see
    /// [`JournalWriter::append_unsynced`]) and folds them into [`state`](Self::state);
    /// returns the journal's length after them.
    pub fn record_unsynced(&mut self, records: &[Record]) -> Result<u64, JournalError> {
        let len = self.writer.append_unsynced(records)?;
        for r in records {
            self.state.apply(r);
        }
        Ok(len)
    }

    /// The run as journaled so far.
    pub fn state(&self) -> &RunHistory {
        &self.state
    }

    /// Chooses when records are synced (see [`SyncMode`]).
    pub fn set_sync_mode(&mut self, mode: SyncMode) -> Result<(), JournalError> {
        self.writer.set_sync_mode(mode)
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
    /// Tasks `--rerun` leaves out that are not done: they do not run.
    pub not_selected: Vec<TaskIdx>,
    /// Attempts of each task (by index) journaled before this process.
    pub attempts_before: Vec<u32>,
    /// Whether this continues an earlier run.
    pub resumed: bool,
    /// What to tell the user before the run starts: a dropped torn tail, secret
    /// variables to give again.
    pub notices: Vec<String>,
    /// For a resume, a rerun or a restart: what will run, what is taken as done,
    /// what is skipped.
    pub listing: Option<Listing>,
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

    #[error(
        "plan `{plan}` has processes of run {run_id} still running, which the run's next attempts would run beside: {processes}"
    )]
    #[diagnostic(
        code(planrun::run::still_running),
        help(
            "planrun's process guard stops them when the planrun that started them dies; if they \
             outlived it (the guard was killed too), stop them: `kill -TERM -- -PGID` for each \
             process group, then run again"
        )
    )]
    StillRunning {
        plan: String,
        run_id: String,
        /// `task `b` (attempt 1): pid 4242 (sleep) in process group 4240; ...`
        processes: String,
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

    #[error(
        "--rerun runs tasks again in a finished run, and the latest run of plan `{plan}`, {run_id}, is unfinished ({outcome}, {progress})"
    )]
    #[diagnostic(
        code(planrun::run::rerun_unfinished),
        help(
            "to finish that run, running {tasks} again too, use `planrun {plan_arg} --resume {rerun_args}` (every task not done runs, as for --resume); to finish it as it is, `planrun {plan_arg} --resume`"
        )
    )]
    RerunUnfinished {
        plan: String,
        plan_arg: String,
        run_id: String,
        outcome: &'static str,
        progress: String,
        tasks: String,
        rerun_args: String,
    },

    #[error("plan `{plan}` has no finished run to take results from{latest}")]
    #[diagnostic(
        code(planrun::run::nothing_to_rerun),
        help(
            "--rerun runs tasks again in the latest run once it has finished; start a new run without --rerun"
        )
    )]
    NothingToRerun {
        plan: String,
        /// ` (the latest, ID, abandoned)`, or empty.
        latest: String,
    },
}

/// Why a run could not be opened.
#[derive(Debug)]
pub enum StartError {
    /// The plan is invalid, or `--rerun` names no task of it.
    Invalid(Report),
    /// An unfinished run, or nothing to resume.
    Refused(Box<Refusal>),
    /// Another planrun process holds the plan's lock (or it cannot be taken).
    Locked(Box<LockError>),
    /// The state directory cannot be read or written.
    Journal(JournalError),
}

impl From<JournalError> for StartError {
    fn from(e: JournalError) -> Self {
        StartError::Journal(e)
    }
}

/// Validates a plan file with `--var` overrides (normally
/// `validate::load_and_validate`, plus whatever else must hold before a run starts).
/// Called before anything is written; its error says why the plan is invalid.
pub type PlanLoader<'a> = dyn Fn(&Path, &[(String, String)]) -> miette::Result<ValidatedPlan> + 'a;

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
) -> Result<Session, StartError> {
    prepare(plan_path, state_dir, cli_vars, mode, load)?.start(ProcessInfo::default())
}

/// Takes the lock and decides what this process runs (see [`start`](super::start)
/// for the rules), writing nothing yet.
///
/// `load` validates the plan with the given overrides; it runs before anything is
/// written, so a plan it rejects leaves no run behind.
pub fn prepare(
    plan_path: &Path,
    state_dir: &Path,
    cli_vars: &[(String, String)],
    mode: &StartMode,
    load: &PlanLoader,
) -> Result<Prepared, StartError> {
    let invalid = StartError::Invalid;
    let Some(name) = peek_plan_name(plan_path) else {
        // Let validation say what is wrong with the plan.
        load(plan_path, cli_vars).map_err(invalid)?;
        return Err(invalid(miette::miette!(
            "plan {} has no [plan] name",
            plan_path.display()
        )));
    };
    let plan_state = PlanState::new(state_dir, &name);
    // Check the plan before writing anything (the lock file included): a plan that
    // cannot run leaves no trace. A resume needs the run's variables first; without
    // any state there is nothing to resume.
    let preloaded = match mode {
        StartMode::New | StartMode::Restart => Some(load(plan_path, cli_vars).map_err(invalid)?),
        StartMode::Resume { .. } if !plan_state.dir().path().exists() => {
            return Err(nothing_to_resume(&name, None));
        }
        StartMode::Rerun { .. } if !plan_state.dir().path().exists() => {
            return Err(nothing_to_rerun(&name, None));
        }
        StartMode::Resume { .. } | StartMode::Rerun { .. } => None,
    };
    let lock = plan_state
        .lock()
        .map_err(|e| StartError::Locked(Box::new(e)))?;
    let latest = match plan_state.latest()? {
        Some(id) => {
            let journal = Journal::read(&plan_state.journal_path(&id))?;
            let run = journal.history();
            Some((journal, run))
        }
        None => None,
    };
    let choice = choose(mode, latest.as_ref().map(|(_, run)| run));
    let base = Base {
        plan_path,
        plan_state,
        lock,
        cli_vars,
    };
    // A run continued, or abandoned for a new one, must have nothing of its earlier
    // attempts still running: a second copy of a task would run beside the first.
    let continues = matches!(choice, Choice::Resume | Choice::New { abandon: true });
    if continues && let Some((_, run)) = &latest {
        let running = still_running(run);
        if !running.is_empty() {
            return Err(StartError::Refused(Box::new(Refusal::StillRunning {
                plan: name,
                run_id: run.run_id().to_owned(),
                processes: running.join("; "),
            })));
        }
    }
    match (choice, preloaded, latest) {
        (Choice::New { abandon }, Some(plan), latest) => {
            let abandon = latest.filter(|_| abandon).map(|(journal, _)| journal);
            Ok(base.new_run(plan, abandon))
        }
        (choice @ (Choice::Resume | Choice::Rerun), _, Some((journal, run))) => {
            base.resume(journal, run, mode.rerun(), choice == Choice::Rerun, load)
        }
        (Choice::RefuseRerunUnfinished, _, Some((_, run))) => {
            let rerun = mode.rerun();
            let ids: Vec<&str> = run.tasks.iter().map(|(id, _)| id.as_str()).collect();
            Err(StartError::Refused(Box::new(Refusal::RerunUnfinished {
                plan: name,
                plan_arg: plan_path.display().to_string(),
                run_id: run.run_id().to_owned(),
                outcome: run.status(false).display(),
                progress: progress(&run, &ids, false),
                tasks: rerun
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                rerun_args: rerun
                    .iter()
                    .map(|t| format!("--rerun {t}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            })))
        }
        (Choice::NothingToRerun, _, latest) => {
            Err(nothing_to_rerun(&name, latest.map(|(_, run)| run).as_ref()))
        }
        (Choice::RefuseUnfinished, Some(plan), Some((_, run))) => {
            let ids: Vec<&str> = plan.tasks().iter().map(|t| t.id.as_str()).collect();
            Err(StartError::Refused(Box::new(Refusal::Unfinished {
                plan: name,
                plan_arg: plan_path.display().to_string(),
                run_id: run.run_id().to_owned(),
                outcome: run.status(false).display(),
                progress: progress(&run, &ids, false),
                last_change: fmt_time(run.last_change),
            })))
        }
        // Choice::NothingToResume; a new run's plan was loaded above, a refusal or a
        // resume has a latest run.
        (_, _, latest) => Err(nothing_to_resume(
            &name,
            latest.map(|(_, run)| run).as_ref(),
        )),
    }
}

/// The processes of `run`'s attempts that still run, one description each, read
/// from the process table (a group whose number now names a later group is not
/// the run's).
fn still_running(run: &RunHistory) -> Vec<String> {
    if run.processes.is_empty() {
        return Vec::new();
    }
    let table = crate::procs::all_processes();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for p in run.processes.iter().rev() {
        if !seen.insert(p.pgid) {
            continue;
        }
        for member in crate::procs::survivors_in(&table, p.pgid, p.leader_start) {
            out.push(format!(
                "task `{}` (attempt {}): pid {} ({}) in process group {}",
                p.task, p.attempt, member.pid, member.comm, p.pgid
            ));
        }
    }
    out
}

/// Whether a start was refused only because processes of the earlier run still
/// run (they may be stopping at this moment: the guard of a planrun that just died).
pub fn is_still_running(error: &StartError) -> bool {
    matches!(error, StartError::Refused(r) if matches!(**r, Refusal::StillRunning { .. }))
}

fn nothing_to_rerun(plan: &str, latest: Option<&RunHistory>) -> StartError {
    StartError::Refused(Box::new(Refusal::NothingToRerun {
        plan: plan.to_owned(),
        latest: latest
            .map(|run| format!(" (the latest, {}, {})", run.run_id(), run.status(false)))
            .unwrap_or_default(),
    }))
}

fn nothing_to_resume(plan: &str, latest: Option<&RunHistory>) -> StartError {
    StartError::Refused(Box::new(Refusal::NothingToResume {
        plan: plan.to_owned(),
        latest: latest
            .map(|run| format!(" (the latest, {}, {})", run.run_id(), run.status(false)))
            .unwrap_or_default(),
    }))
}

/// What a new run and a resume both start from.
struct Base<'a> {
    plan_path: &'a Path,
    plan_state: PlanState,
    lock: PlanLock,
    cli_vars: &'a [(String, String)],
}

impl Base<'_> {
    /// A new run of `plan`, abandoning the unfinished run of `abandon` first.
    fn new_run(self, plan: ValidatedPlan, abandon: Option<Journal>) -> Prepared {
        let notices = Vec::new();
        let listing = abandon.as_ref().map(|journal| {
            let run = journal.history();
            Listing::new_run(
                &plan,
                format!(
                    "abandoning run {} of plan `{}` ({}); starting a new run",
                    run.run_id(),
                    plan.header().name,
                    run.status(false)
                ),
            )
        });
        let abandon = abandon.map(|journal| (journal.path, journal.valid_len));
        let vars = journaled_overrides(&plan, self.cli_vars);
        Prepared {
            action: Action::New {
                plan_name: plan.header().name.clone(),
                plan_path: self.plan_path.to_owned(),
                vars,
                abandon,
            },
            plan,
            plan_state: self.plan_state,
            lock: self.lock,
            done: Vec::new(),
            not_selected: Vec::new(),
            attempts_before: Vec::new(),
            resumed: false,
            notices,
            listing,
        }
    }

    /// Resumes `run`, read from `journal`, with the run's variables and `rerun`
    /// (`rerun_only`: `--rerun` alone, on a finished run).
    fn resume(
        self,
        journal: Journal,
        run: RunHistory,
        rerun: &[String],
        rerun_only: bool,
        load: &PlanLoader,
    ) -> Result<Prepared, StartError> {
        let mut notices: Vec<String> = journal
            .torn_tail_warning()
            .map(|w| w.to_string())
            .into_iter()
            .collect();
        let declared = peek_declared_vars(self.plan_path);
        let (vars, var_notices) = resume_vars(&run.vars, self.cli_vars, declared.as_ref());
        notices.extend(var_notices);
        let plan = load(self.plan_path, &vars).map_err(StartError::Invalid)?;
        let rerun = rerun_indexes(&plan, rerun)
            .map_err(|message| StartError::Invalid(Report::msg(message)))?;
        let resumption = resumption(
            &plan,
            &run,
            &rerun,
            rerun_only,
            &BTreeMap::new(),
            &[],
            self.cli_vars,
            Timestamp::now(),
        );
        let attempts_before = plan
            .tasks()
            .iter()
            .map(|t| run.task(&t.id).map_or(0, |h| h.attempts))
            .collect();
        Ok(Prepared {
            plan,
            plan_state: self.plan_state,
            lock: self.lock,
            done: resumption.done,
            not_selected: resumption.not_selected,
            attempts_before,
            resumed: true,
            notices,
            listing: Some(resumption.listing),
            action: Action::Resume {
                journal_path: journal.path,
                valid_len: journal.valid_len,
                state: Box::new(run),
                records: resumption.records,
                rerun,
                rerun_only,
                cli_vars: self.cli_vars.to_vec(),
            },
        })
    }
}

/// A run decided but not written yet: the plan is loaded and the lock held, and
/// nothing is on disk, so checks that need the plan (a kube context guard, tool
/// preflights) can still refuse without leaving a run behind. [`Prepared::start`]
/// writes it.
#[derive(Debug)]
pub struct Prepared {
    pub plan: ValidatedPlan,
    pub plan_state: PlanState,
    /// What to tell the user before the run starts: a dropped torn tail, secret
    /// variables to give again.
    pub notices: Vec<String>,
    /// For a resume, a rerun or a restart: what will run, what is taken as done,
    /// what is skipped.
    pub listing: Option<Listing>,
    pub resumed: bool,
    lock: PlanLock,
    done: Vec<TaskIdx>,
    not_selected: Vec<TaskIdx>,
    attempts_before: Vec<u32>,
    action: Action,
}

/// What a dry run of a resume runs (see [`Prepared::without_writing`]).
#[derive(Debug)]
pub struct DryResume {
    pub plan: ValidatedPlan,
    pub done: Vec<TaskIdx>,
    pub not_selected: Vec<TaskIdx>,
    pub attempts_before: Vec<u32>,
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
        /// What the resume was asked, to decide again with postcondition checks.
        rerun: BTreeSet<TaskIdx>,
        rerun_only: bool,
        cli_vars: Vec<(String, String)>,
    },
}

impl Prepared {
    /// For a dry run of a resume: what it would run, writing nothing (the lock is
    /// released): the plan, the tasks taken as done, those not selected, and the
    /// attempts each task had.
    pub fn without_writing(self) -> DryResume {
        DryResume {
            plan: self.plan,
            done: self.done,
            not_selected: self.not_selected,
            attempts_before: self.attempts_before,
        }
    }

    /// The directory of the run this resumes, if it resumes one.
    pub fn resumed_run_dir(&self) -> Option<RunDir> {
        match &self.action {
            Action::Resume { state, .. } => Some(self.plan_state.run_dir(state.run_id())),
            Action::New { .. } => None,
        }
    }

    /// For a resume: the tasks it takes as done whose postcondition to check before
    /// it starts (`checkable`: the task's type has one); see `journal::resume`.
    pub fn to_verify(&self, checkable: impl Fn(TaskIdx) -> bool) -> Vec<TaskIdx> {
        match &self.action {
            Action::Resume {
                state,
                rerun,
                rerun_only,
                ..
            } => super::start::tasks_to_verify(&self.plan, state, rerun, *rerun_only, checkable),
            Action::New { .. } => Vec::new(),
        }
    }

    /// Decides the resume again with what the checks found: `lost` (no longer
    /// holding, with why) run again with what follows them; `holds` are listed as
    /// checked.
    #[must_use]
    pub fn with_checks(mut self, lost: &BTreeMap<TaskIdx, String>, holds: &[TaskIdx]) -> Self {
        if let Action::Resume {
            state,
            records,
            rerun,
            rerun_only,
            cli_vars,
            ..
        } = &mut self.action
        {
            let decided = resumption(
                &self.plan,
                state,
                rerun,
                *rerun_only,
                lost,
                holds,
                cli_vars,
                Timestamp::now(),
            );
            *records = decided.records;
            self.done = decided.done;
            self.not_selected = decided.not_selected;
            self.listing = Some(decided.listing);
        }
        self
    }

    /// Writes the run: a new journal (and `latest`), or the resume records; the
    /// process is recorded as `process`.
    pub fn start(self, process: ProcessInfo) -> Result<Session, StartError> {
        let Prepared {
            plan,
            plan_state,
            resumed,
            mut lock,
            done,
            not_selected,
            attempts_before,
            action,
            notices,
            listing,
        } = self;
        let (writer, state) = match action {
            Action::New {
                plan_name,
                plan_path,
                vars,
                abandon,
            } => {
                if let Some((path, valid_len)) = abandon {
                    let mut w = JournalWriter::open_append(&path, valid_len)?;
                    w.append(&[Record::RunFinished {
                        at: Timestamp::now(),
                        outcome: RecordedOutcome::Abandoned,
                    }])?;
                }
                let now = Timestamp::now();
                let run_id = plan_state.create_run_dir(now)?;
                let start = RunStarted {
                    format: FORMAT_VERSION,
                    run_id: run_id.clone(),
                    plan_name,
                    plan_path,
                    at: now,
                    planrun_version: env!("CARGO_PKG_VERSION").to_owned(),
                    pid: std::process::id(),
                    vars,
                    process,
                };
                let path = plan_state.journal_path(&run_id);
                let writer = JournalWriter::create(&path, &Record::RunStarted(start.clone()))?;
                (writer, RunHistory::new(start))
            }
            Action::Resume {
                journal_path,
                valid_len,
                mut state,
                mut records,
                ..
            } => {
                if let Some(Record::RunResumed(r)) = records.first_mut() {
                    r.process = process;
                }
                let mut writer = JournalWriter::open_append(&journal_path, valid_len)?;
                writer.append(&records)?;
                for r in &records {
                    state.apply(r);
                }
                (writer, *state)
            }
        };
        let run_id = state.run_id().to_owned();
        plan_state.set_latest(&run_id)?;
        lock.set_run(&run_id).map_err(holder_not_written)?;
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
            not_selected,
            attempts_before,
            resumed,
            notices,
            listing,
        })
    }
}

/// The lock's holder could not be written: the state directory failed.
fn holder_not_written(error: LockError) -> StartError {
    match error {
        LockError::Io { path, source, .. } => JournalError::io("write", path, source).into(),
        held => StartError::Locked(Box::new(held)),
    }
}
