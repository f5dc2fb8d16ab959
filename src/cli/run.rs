//! `planrun run PLAN` (or just `planrun PLAN`): validate, refuse what cannot run,
//! then run the plan with live reporting, and exit with the run's code.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use miette::{Diagnostic, Report};

use super::PlanArgs;
use crate::error::Error;
use crate::events::{EventSender, RunOutcome};
use crate::exec::process::GroupRegistry;
use crate::report::{self, OutputFormat, ReporterConfig, RunMeta};
use crate::schedule::{
    Cancel, CancelReason, Dispatcher, NoSink, RunConfig, RunDir, default_state_dir,
};
use crate::validate::ValidatedPlan;

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
    /// Print what each task would do and change nothing (only `read_only` scripts run).
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
}

fn parse_grace(text: &str) -> Result<Duration, String> {
    crate::validate::parse_duration(text)
}

/// A task whose type this planrun cannot run yet.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("task `{task}` has type `{type_name}`, which planrun cannot run yet")]
#[diagnostic(
    code(planrun::run::no_executor),
    help("only `exec-script` tasks run in this version; nothing was started")
)]
struct NoExecutor {
    task: String,
    type_name: &'static str,
}

pub fn run(args: &RunArgs) -> Result<(), Error> {
    let plan = Arc::new(super::load(&args.plan)?);
    if let Some((task, type_name)) = crate::exec::first_unsupported(&plan) {
        return Err(Error::Refused(Report::new(NoExecutor {
            task: task.id.clone(),
            type_name,
        })));
    }
    // One thread: per task the engine does little next to spawning a process, and a
    // single thread saves the cross-thread wake-ups that dominate with short tasks.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(Report::msg(format!("cannot start the runtime: {e}"))))?;
    let outcome = runtime.block_on(run_plan(plan, args))?;
    // Tasks still draining output after cancellation must not hold up the exit.
    runtime.shutdown_background();
    match outcome {
        RunOutcome::Succeeded | RunOutcome::SucceededWithWarnings => Ok(()),
        RunOutcome::Failed => Err(Error::TaskFailed),
        RunOutcome::Interrupted => Err(Error::Interrupted),
    }
}

async fn run_plan(plan: Arc<ValidatedPlan>, args: &RunArgs) -> Result<RunOutcome, Error> {
    let internal =
        |what: &str, e: std::io::Error| Error::Internal(Report::msg(format!("{what}: {e}")));
    let run_id = RunDir::new_run_id();
    let name = plan.header().name.clone();
    // A dry run leaves nothing behind: read-only tasks get a scratch run directory.
    let scratch = args
        .dry_run
        .then(|| std::env::temp_dir().join(format!("planrun-dry-run-{}", std::process::id())));
    let state_dir = match (&scratch, &args.state_dir) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) => dir.clone(),
        (None, None) => default_state_dir(plan.plan_dir()),
    };
    let run_dir = RunDir::create(&state_dir, &name, &run_id).map_err(|e| {
        internal(
            &format!("cannot create the run directory in {}", state_dir.display()),
            e,
        )
    })?;

    let mut meta = RunMeta::of_this_process();
    meta.plan_name = name;
    meta.plan_path = plan.source().path().display().to_string();
    meta.plan_description = plan.header().description.clone();
    meta.tasks = plan
        .topo_order()
        .iter()
        .map(|&i| {
            let t = plan.task(i);
            (
                t.id.clone(),
                plan.redactor()
                    .redact(&crate::exec::describe(t))
                    .into_owned(),
            )
        })
        .collect();
    let (events, rx) = EventSender::channel();
    let reporter = report::spawn(
        rx,
        ReporterConfig {
            format: args.output,
            live: None,
            events_file: (!args.dry_run).then(|| run_dir.events_path()),
            report_file: (!args.dry_run).then(|| run_dir.report_path()),
            meta,
        },
    );

    let cancel = Cancel::new();
    let groups = GroupRegistry::new();
    let signals = watch_signals(cancel.clone(), groups.clone())
        .map_err(|e| internal("cannot install signal handlers", e))?;

    let jobs = if args.jobs == 0 {
        plan.tasks().len().max(1)
    } else {
        args.jobs
    };
    let mut sink = NoSink;
    let result = Dispatcher {
        plan: plan.clone(),
        run_dir: Arc::new(run_dir),
        config: RunConfig {
            jobs,
            dry_run: args.dry_run,
            assume_yes: args.yes,
            grace: args.grace,
            done_earlier: Vec::new(),
            keep_logs: true,
        },
        events,
        sink: &mut sink,
        cancel,
        groups,
        kube: Default::default(),
    }
    .run()
    .await;
    signals.abort();
    let record = reporter
        .join()
        .map_err(|_| Error::Internal(Report::msg("the reporter thread panicked")))?
        .map_err(|e| internal("cannot write the run report", e))?;
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    let summary =
        result.map_err(|e| Error::Internal(Report::msg(format!("{e}: {}", source_of(&e)))))?;
    debug_assert_eq!(record.outcome, Some(summary.outcome));
    Ok(summary.outcome)
}

fn source_of(e: &dyn std::error::Error) -> String {
    e.source().map(|s| s.to_string()).unwrap_or_default()
}

/// First SIGINT or SIGTERM: interrupt (stop starting work, cancel running tasks).
/// Second: kill every running process group and exit at once.
fn watch_signals(
    cancel: Cancel,
    groups: GroupRegistry,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(tokio::spawn(async move {
        let mut seen = 0;
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            seen += 1;
            if seen == 1 {
                eprintln!("planrun: interrupted; stopping running tasks (again to exit at once)");
                cancel.cancel(CancelReason::Interrupted);
            } else {
                groups.kill_all();
                eprintln!("planrun: interrupted twice; exiting now");
                std::process::exit(crate::exit_code::INTERRUPTED);
            }
        }
    }))
}
