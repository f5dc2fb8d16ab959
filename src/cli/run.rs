//! `planrun run PLAN` (or just `planrun PLAN`): validate, refuse what cannot run,
//! then run the plan with live reporting, and exit with the run's code.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use miette::Report;

use super::PlanArgs;
use super::resume::ResumeArgs;
use crate::cancel::Cancel;
use crate::error::Error;
use crate::events::{EventSender, RunOutcome};
use crate::exec::kube::{ChildKubeconfig, ConnectOptions, Connection};
use crate::exec::process::{self, GroupRegistry, ProcessGuard};
use crate::exec::{KubeSlot, RunResources};
use crate::exit_code;
use crate::journal::{self, JournalSink, Listing, ProcessInfo, Session};
use crate::layout::{self, PlanDir};
use crate::report::{self, OutputFormat, ReporterConfig};
use crate::schedule::{Dispatcher, NoSink, RunConfig, RunError, StateSink};
use crate::validate::ValidatedPlan;

/// How long a resume waits for processes of the earlier run to end before it
/// refuses: right after planrun died, its guard is still stopping them.
const STOPPING_WAIT: Duration = Duration::from_secs(10);

/// The default of `--jobs`: plan tasks mostly wait on I/O (API calls, waits for
/// Kubernetes objects, remote commands), so more run at once than there are CPUs.
pub const DEFAULT_JOBS: usize = 8;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Run at most N tasks at once (0: no limit).
    #[arg(long, short = 'j', value_name = "N", default_value_t = DEFAULT_JOBS)]
    pub jobs: usize,
    /// Change nothing: say what each task would change, judge every check and wait
    /// against the live state (only `read_only` scripts run); exit 1 if a check
    /// would fail as things are (a check after a change the dry run did not make
    /// depends on that change and fails nothing).
    #[arg(long)]
    pub dry_run: bool,
    /// How to report progress.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Where runs keep logs and reports [default: .planrun beside the plan].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Answer yes to confirmation gates (for non-interactive runs).
    #[arg(long)]
    pub yes: bool,
    /// Time a stopped task gets between SIGTERM and SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_grace)]
    pub grace: Duration,
    /// When journal records reach the disk. `durable`: a task's end is synced before
    /// a task that needs it starts, before it is reported and before the run ends, one
    /// sync for every change written meanwhile (a power loss may make a task that had
    /// just started run again, as a task cut off does); `always`: every change, starts
    /// included, is synced before planrun goes on; `grouped`: synced at most every
    /// 100 ms (a power loss may make the last finished tasks run again on resume,
    /// after tasks that needed them).
    #[arg(long, value_enum, value_name = "MODE", default_value_t = journal::SyncMode::Durable)]
    pub journal_sync: journal::SyncMode,
    /// The kubeconfig for Kubernetes tasks [default: KUBECONFIG, then ~/.kube/config].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kube context to use instead of the kubeconfig's current context.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    #[command(flatten)]
    pub resume: ResumeArgs,
}

fn parse_grace(text: &str) -> Result<Duration, String> {
    planrun_text::parse_duration(text)
}

/// A validated plan on its way to running.
enum Start {
    /// `--dry-run`: nothing is written, no lock, no journal.
    DryRun(Box<ValidatedPlan>),
    /// `--dry-run --resume` (or `--rerun`): the latest run is read, to preview what
    /// resuming it would do; nothing is written.
    DryResume(Box<journal::Prepared>),
    /// The lock is held and the run decided (new or resumed), not written yet.
    Journaled(Box<journal::Prepared>),
}

impl Start {
    fn plan(&self) -> &ValidatedPlan {
        match self {
            Start::DryRun(plan) => plan,
            Start::DryResume(prepared) | Start::Journaled(prepared) => &prepared.plan,
        }
    }
}

pub fn run(args: &RunArgs) -> Result<(), Error> {
    let load = crate::validate::load_and_validate;
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| layout::default_state_dir(&args.plan.plan));
    let mode = args.resume.mode();
    // A run (or a dry run of a resume) waits a little for the processes of an
    // interrupted run that are still ending.
    let prepare = || -> Result<Box<journal::Prepared>, Error> {
        let deadline = std::time::Instant::now() + STOPPING_WAIT;
        let mut waiting = false;
        loop {
            match journal::prepare(&args.plan.plan, &state_dir, &args.plan.vars, &mode, &load) {
                Err(e) if journal::is_still_running(&e) && std::time::Instant::now() < deadline => {
                    if !waiting {
                        let e = Error::from(e);
                        if let Some(report) = e.report() {
                            crate::console::say(&format!(
                                "planrun: {report}; waiting up to {} for them to end",
                                planrun_text::format_duration(STOPPING_WAIT)
                            ));
                        }
                        waiting = true;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                result => break Ok(Box::new(result?)),
            }
        }
    };
    let start = match (&mode, args.dry_run) {
        (journal::StartMode::New | journal::StartMode::Restart, true) => Start::DryRun(Box::new(
            load(&args.plan.plan, &args.plan.vars).map_err(Error::Invalid)?,
        )),
        (_, true) => Start::DryResume(prepare()?),
        (_, false) => Start::Journaled(prepare()?),
    };
    // One thread: per task the engine does little next to spawning a process, and a
    // single thread saves the cross-thread wake-ups that dominate runs of short
    // tasks (benches/dag.sh).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(Report::msg(format!("cannot start the runtime: {e}"))))?;
    let outcome = runtime.block_on(run_plan(start, args));
    // Tasks still draining output after cancellation, or a question no one will
    // answer, must not hold up the exit.
    runtime.shutdown_background();
    ended(outcome?)
}

/// How a run's outcome ends the command.
fn ended(outcome: RunOutcome) -> Result<(), Error> {
    match outcome {
        RunOutcome::Succeeded | RunOutcome::SucceededWithWarnings => Ok(()),
        RunOutcome::Failed => Err(Error::TaskFailed),
        RunOutcome::Interrupted => Err(Error::Interrupted),
    }
}

/// How long the API server has to answer `/version` and discovery before a run that
/// uses Kubernetes is refused: a reachable server answers in milliseconds, and an
/// operator should not wait on a dead VPN.
pub const REACHABLE_WITHIN: Duration = Duration::from_secs(5);

/// Opens the run's Kubernetes connection when a task uses Kubernetes, the plan names
/// a context, or `--context`/`--kubeconfig` is given, and refuses, before anything
/// runs, a context other than the plan's or an API server that does not answer.
async fn connect(plan: &ValidatedPlan, args: &RunArgs) -> Result<KubeSlot, Error> {
    let guard = plan.header().context.as_deref();
    let asked = args.context.is_some() || args.kubeconfig.is_some();
    if guard.is_none() && !asked && !plan.tasks().iter().any(|t| t.kind.uses_kube()) {
        return Ok(KubeSlot::default());
    }
    let conn = Connection::open(&ConnectOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
    })
    .await
    .map_err(|e| Error::Refused(Report::new(e)))?;
    conn.check_guard(guard)
        .map_err(|e| Error::Refused(Report::new(e)))?;
    if plan.tasks().iter().any(|t| t.kind.uses_kube()) {
        conn.check_reachable(REACHABLE_WITHIN)
            .await
            .map_err(|e| Error::Refused(Report::new(e)))?;
    }
    Ok(Arc::new(tokio::sync::OnceCell::new_with(Some(conn))))
}

async fn run_plan(start: Start, args: &RunArgs) -> Result<RunOutcome, Error> {
    let internal =
        |what: &str, e: std::io::Error| Error::Internal(Report::msg(format!("{what}: {e}")));
    if let Some(warnings) = start.plan().warnings() {
        for message in warnings.messages() {
            crate::console::say(&format!("planrun: warning: {message}"));
        }
    }
    let kube = connect(start.plan(), args).await?;
    // Before anything runs (the plan deletes before it deploys): every Pulumi task
    // must be able to run, its required config present, its provider pointed at the
    // run's cluster; its secrets get masked.
    let cluster = kube.get().map(|conn| crate::exec::pulumi::RunCluster {
        context: conn.context().to_owned(),
        server: conn.server().to_owned(),
    });
    crate::exec::pulumi::preflight_plan(start.plan(), cluster.as_ref())
        .await
        .map_err(|e| Error::Refused(Report::new(e)))?;
    let kube_name = kube
        .get()
        .map(|conn| format!("`{}` at {}", conn.context(), conn.server()));
    let context = kube
        .get()
        .map(|conn| conn.context().to_owned())
        .or_else(|| start.plan().header().context.clone());
    // A resume checks that what the tasks it takes as done achieved still holds
    // (and so does the dry run of one).
    let verify = |prepared: &journal::Prepared| prepared.resumed && !args.resume.no_verify;
    let start = match start {
        Start::Journaled(prepared) if verify(&prepared) => Start::Journaled(Box::new(
            super::verify::check_postconditions(*prepared, &kube).await,
        )),
        Start::DryResume(prepared) if verify(&prepared) => Start::DryResume(Box::new(
            super::verify::check_postconditions(*prepared, &kube).await,
        )),
        start => start,
    };
    // Only now is the run written (journal, `latest`): a refusal above leaves none.
    // `_lock` is held until the run is over.
    let (plan, mut journal_sink, config, run_id, timings) = match start {
        Start::DryRun(plan) => (
            Arc::new(*plan),
            None,
            RunConfig::default(),
            layout::new_run_id(jiff::Timestamp::now()),
            None,
        ),
        Start::DryResume(prepared) => {
            for notice in &prepared.notices {
                crate::console::say(&format!("planrun: {notice}"));
            }
            let listing = prepared.listing.clone().unwrap_or_default();
            for line in listing.lines() {
                crate::console::say(&format!("planrun: dry run: {line}"));
            }
            let run_id = listing.taken_from.clone();
            let resumed = prepared.without_writing();
            let config = RunConfig {
                done_earlier: resumed.done,
                not_selected: resumed.not_selected,
                attempts_before: resumed.attempts_before,
                resumed: true,
                resume: Some(listing.info()),
                ..RunConfig::default()
            };
            (Arc::new(resumed.plan), None, config, run_id, None)
        }
        Start::Journaled(prepared) => {
            for notice in &prepared.notices {
                crate::console::say(&format!("planrun: {notice}"));
            }
            if let Some(listing) = &prepared.listing {
                for line in listing.lines() {
                    crate::console::say(&format!("planrun: {line}"));
                }
                if prepared.resumed {
                    ask_before_changes(&prepared.plan, listing, args.yes)?;
                }
            }
            let prepared_listing = prepared.listing.clone().filter(|_| prepared.resumed);
            let session = prepared.start(ProcessInfo::of_this_process(kube_name))?;
            let Session {
                plan,
                plan_state,
                lock,
                mut journal,
                done,
                not_selected,
                attempts_before,
                resumed,
                ..
            } = session;
            remask_captures(&plan, &done, journal.run_dir());
            let plan = Arc::new(plan);
            // How long each task took in the plan's last runs: it orders ready tasks
            // (longest expected path first) and estimates the time left.
            let timings = journal::Timings::load(&plan_state);
            let known_durations = timings.expected_for(&plan);
            let run_id = journal.run_id().to_owned();
            journal
                .set_sync_mode(args.journal_sync)
                .map_err(|e| Error::Internal(Report::new(e)))?;
            let config = RunConfig {
                done_earlier: done,
                not_selected,
                attempts_before,
                resumed,
                known_durations: known_durations.clone(),
                resume: prepared_listing.map(|l| l.info()),
                ..RunConfig::default()
            };
            let sink = JournalSink::new(journal, plan.clone(), lock, known_durations);
            (
                plan,
                Some(sink),
                config,
                run_id,
                Some((timings, plan_state)),
            )
        }
    };
    let name = plan.header().name.clone();
    // A dry run leaves nothing behind: read-only tasks get a scratch run directory,
    // fresh and private (removed when dropped).
    let scratch = if args.dry_run {
        Some(
            tempfile::Builder::new()
                .prefix("planrun-dry-run-")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir()
                .map_err(|e| internal("cannot create a scratch directory for the dry run", e))?,
        )
    } else {
        None
    };
    let state_dir = match (&scratch, &args.state_dir) {
        (Some(dir), _) => dir.path().to_path_buf(),
        (None, Some(dir)) => dir.clone(),
        (None, None) => layout::default_state_dir(plan.source().path()),
    };
    // Absolute: children get it as PLANRUN_RUN_DIR and run in other directories.
    let state_dir = std::path::absolute(&state_dir).unwrap_or(state_dir);
    let run_dir = PlanDir::new(&state_dir, &name).run(&run_id);
    layout::create_private_dir(&run_dir.logs_dir()).map_err(|e| {
        internal(
            &format!(
                "cannot create the run directory {}",
                run_dir.path().display()
            ),
            e,
        )
    })?;

    let tasks: Vec<String> = plan
        .topo_order()
        .iter()
        .map(|&i| plan.task(i).id.clone())
        .collect();
    let (mut events, rx) = EventSender::channel();
    // The plan's [notify] table: the run announced on its webhook (not in a dry run).
    let announcer = match plan.notify().filter(|_| !args.dry_run) {
        Some(notify) => {
            let facts = crate::notify::RunFacts {
                plan: name.clone(),
                context: context.clone(),
                report: run_dir.report_path().display().to_string(),
            };
            let tap = events.tap();
            Some(
                crate::notify::Announcer::spawn(
                    notify.clone(),
                    facts,
                    plan.redactor().clone(),
                    tap,
                )
                .map_err(|e| internal("cannot start the notifications", e))?,
            )
        }
        None => None,
    };
    let reporter = report::spawn(
        rx,
        ReporterConfig {
            format: args.output,
            live: None,
            events_file: (!args.dry_run).then(|| run_dir.events_path()),
            tasks,
        },
    );

    // Every child acts on the run's context (see exec/kube/child_config.rs); the
    // private file goes when `child_kubeconfig` is dropped, at the end of the run.
    let child_kubeconfig = match kube.get() {
        Some(conn) if !conn.kubeconfig_files().is_empty() => Some(
            ChildKubeconfig::write(&run_dir.child_kube_dir(), conn)
                .map_err(|e| internal("cannot write the children's kubeconfig", e))?,
        ),
        _ => None,
    };
    // Before the first task: its processes, and their orphans, must not outlive
    // planrun however it ends (the guard), nor linger after a normal end (adopted).
    process::adopt_orphans();
    let guard = std::env::current_exe()
        .and_then(|exe| ProcessGuard::start(&exe, args.grace))
        .map_err(|e| internal("cannot start the process guard", e))?;
    let marker = guard.env();
    let groups = GroupRegistry::guarded(guard);
    let resources = RunResources {
        run_dir: run_dir.path().to_path_buf(),
        redactor: plan.redactor().clone(),
        cancel: Cancel::new(),
        events,
        dry_run: args.dry_run,
        assume_yes: args.yes,
        kube,
        child_env: std::iter::once(marker)
            .chain(child_kubeconfig.iter().map(ChildKubeconfig::env))
            .collect(),
        grace: args.grace,
        groups: groups.clone(),
    };
    let signals = crate::signals::watch_run(resources.cancel.clone(), resources.groups.clone())
        .map_err(|e| internal("cannot install signal handlers", e))?;

    let jobs = if args.jobs == 0 {
        plan.tasks().len().max(1)
    } else {
        args.jobs
    };
    let mut no_sink = NoSink;
    let sink: &mut dyn StateSink = match &mut journal_sink {
        Some(s) => s,
        None => &mut no_sink,
    };
    let result = Dispatcher {
        plan: plan.clone(),
        run_dir: run_dir.clone(),
        config: RunConfig { jobs, ..config },
        sink,
        resources,
    }
    .run()
    .await;
    // The run's control is over: from here a stop signal ends planrun at once.
    let (code, outcome) = match &result {
        Ok(summary) => (
            ended(summary.outcome).map_or_else(|e| exit_code::of(&e), |()| exit_code::SUCCESS),
            summary.outcome.status().to_string(),
        ),
        Err(_) => (
            exit_code::PLANRUN_FAILED,
            "stopped: the journal failed".to_string(),
        ),
    };
    crate::signals::exit_on_stop(code, &outcome)
        .map_err(|e| internal("cannot install signal handlers", e))?;
    signals.abort();
    // No task runs now; what they left behind outside their groups goes too.
    let keep: Vec<u32> = groups.guard_pid().into_iter().collect();
    let grace = args.grace;
    let _ = tokio::task::spawn_blocking(move || process::stop_adopted(&keep, grace)).await;
    // The report covers the whole run, every process: it is written from the journal.
    // What cannot be written is said (after a journal failure, which stops the run).
    let mut problems = Vec::new();
    let mut report_written = false;
    if let Some(sink) = &journal_sink {
        let text = journal::report::render(
            sink.run(),
            &journal::report::ReportPlan {
                name: &name,
                path: &plan.source().path().display().to_string(),
                description: plan.header().description.as_deref(),
                tasks: plan
                    .topo_order()
                    .iter()
                    .map(|&i| plan.task(i).id.as_str())
                    .collect(),
            },
            run_dir.path(),
            false,
        );
        match journal::report::write(&run_dir, &text) {
            Ok(()) => report_written = true,
            Err(e) => problems.push(format!(
                "cannot write {}: {e}",
                run_dir.report_path().display()
            )),
        }
        // What this process's attempts took, for the next runs' order and estimates:
        // a cache, whose loss costs only a less informed next run.
        if let Some((mut timings, plan_state)) = timings {
            timings.learn(sink.run(), &plan);
            if let Err(e) = timings.save(&plan_state) {
                crate::console::say(&format!(
                    "planrun: cannot keep the tasks' durations in {}: {e} (the next runs' order and estimates will not know them)",
                    plan_state.dir().timings_path().display()
                ));
            }
        }
    }
    drop(journal_sink);
    let unwritten = report::finish(reporter)
        .map_err(|_| Error::Internal(Report::msg("the reporter thread panicked")))?;
    problems.extend(unwritten);
    // After the summary the reporter printed, once the report is there to be read.
    if report_written && args.output == OutputFormat::Human {
        let _ = crate::console::out(&format!("report: {}\n", run_dir.report_path().display()));
    }
    // The end is announced before planrun exits (its own retries are bounded).
    if let Some(announcer) = announcer {
        announcer.join();
    }
    drop(scratch);
    let plan_arg = args.plan.plan.display().to_string();
    let summary = match result {
        Ok(summary) => summary,
        Err(RunError::Record(e)) => {
            // The journal failing is what stopped the run; what else failed (the
            // report on the same full disk) comes after it.
            let cause: Box<dyn std::error::Error + Send + Sync> = match e.into_inner() {
                Some(inner) => inner,
                None => "the journal failed".into(),
            };
            return Err(Error::Internal(Report::new(RunStopped {
                cause,
                plan: plan_arg,
                also: also_failed(&problems),
            })));
        }
    };
    if !problems.is_empty() {
        return Err(Error::Internal(Report::new(OutputFailed {
            problems: problems.join("; "),
            outcome: summary.outcome.status().to_string(),
            plan: plan_arg,
        })));
    }
    Ok(summary.outcome)
}

fn also_failed(problems: &[String]) -> String {
    if problems.is_empty() {
        String::new()
    } else {
        format!("\nalso: {}", problems.join("; "))
    }
}

/// The journal could not be written: the run stopped at once.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("the run stopped: planrun cannot record its progress{also}")]
#[diagnostic(
    code(planrun::run::journal_failed),
    help(
        "nothing more was started and the running tasks were stopped; what the journal recorded \
         is kept: once the cause is fixed (disk space, permissions), continue the run with \
         `planrun {plan} --resume`"
    )
)]
struct RunStopped {
    #[source]
    cause: Box<dyn std::error::Error + Send + Sync>,
    plan: String,
    also: String,
}

/// The run ended, but what it writes besides the journal (events, report) could
/// not all be written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("the run {outcome}, but planrun could not write everything about it: {problems}")]
#[diagnostic(
    code(planrun::run::output_failed),
    help(
        "the journal has the run: `planrun status {plan}` shows how each task ended; the task \
         logs hold their output"
    )
)]
struct OutputFailed {
    problems: String,
    outcome: String,
    plan: String,
}

/// A resume does not capture again what an earlier process of the run captured, yet
/// a later task may print it: the values of captured Secrets are masked from the
/// capture files, the only place they are kept.
fn remask_captures(
    plan: &ValidatedPlan,
    done: &[crate::validate::TaskIdx],
    run_dir: &std::path::Path,
) {
    for &idx in done {
        let task = plan.task(idx);
        let crate::validate::TaskKind::Capture(capture) = &task.kind else {
            continue;
        };
        let path = run_dir.join(&capture.file);
        if let Err(e) = crate::exec::kube::register_captured(&path, plan.redactor()) {
            crate::console::say(&format!(
                "planrun: warning: cannot read {} ({e}): the Secrets task `{}` captured are not masked if a later task prints them",
                path.display(),
                task.id
            ));
        }
    }
}

/// Before a resume or a rerun starts tasks that change things, a person at a
/// terminal confirms the listing they just read; `--yes`, or no terminal on stdin,
/// goes on (the plan's own `confirm` gates still stand).
fn ask_before_changes(plan: &ValidatedPlan, listing: &Listing, yes: bool) -> Result<(), Error> {
    use std::io::{BufRead, IsTerminal, Write};
    let changing: Vec<&str> = listing
        .will_run
        .iter()
        .filter(|(id, _)| plan.find(id).is_some_and(|i| plan.task(i).kind.changes()))
        .map(|(id, _)| id.as_str())
        .collect();
    if yes || changing.is_empty() || !std::io::stdin().is_terminal() {
        return Ok(());
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "planrun: {} of these change things ({}). Go on? [y/N] ",
        changing.len(),
        changing.join(", ")
    );
    let _ = err.flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Error::Refused(Report::msg(format!(
            "not confirmed (answered {:?}); nothing ran",
            answer.trim()
        ))))
    }
}
