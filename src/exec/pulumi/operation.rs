//! One Pulumi operation (`refresh`, `preview`, `up`): the child run with SIGINT and a
//! long grace, its output rendered into the task log as it comes, then a verdict
//! made from what it printed and how it ended ([`verdict`], a pure function).

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::argv;
use super::checkpoint;
use super::error::{Lookups, PulumiError, classify, strip_error};
use super::lock;
use super::output::OperationLog;
use super::run::{DEFAULT_GRACE, Settings};
use crate::events::{CancelReason, Stream};
use crate::exec::process::{self, ProcessExit, ProcessSpec, RunOptions, describe_status};
use crate::exec::{Attempt, TaskError};
use crate::validate::PulumiProject;

/// A Pulumi operation.
#[derive(Debug, Clone)]
pub(super) enum Operation {
    Refresh,
    /// A refresh that first drops an interrupted update's pending creates.
    RefreshClearingPendingCreates,
    Preview {
        refresh: bool,
    },
    /// A preview for a person: the diff display, the plan saved to `plan`.
    Review {
        refresh: bool,
        plan: PathBuf,
    },
    Up {
        skip_preview: bool,
        /// Only what this saved plan planned (`up --plan`).
        plan: Option<ReviewedPlan>,
    },
}

/// A plan a `pulumi-preview` task saved and a person reviewed.
#[derive(Debug, Clone)]
pub(super) struct ReviewedPlan {
    pub path: PathBuf,
    /// The preview task's id.
    pub preview: String,
    /// The command that runs the preview again, and what follows it.
    pub rerun: String,
}

/// How an operation prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Printing {
    /// One JSON event per line (`up`, `refresh`).
    Events,
    /// One JSON digest over many lines, read at the end (`preview --json`).
    Digest,
    /// The human display (a reviewed preview).
    Human,
}

impl Operation {
    fn name(&self) -> &'static str {
        match self {
            Operation::Refresh | Operation::RefreshClearingPendingCreates => "refresh",
            Operation::Preview { .. } | Operation::Review { .. } => "preview",
            Operation::Up { .. } => "up",
        }
    }

    fn args(&self, task: &PulumiProject) -> Vec<String> {
        match self {
            Operation::Refresh => argv::refresh(task),
            Operation::RefreshClearingPendingCreates => {
                argv::refresh_clearing_pending_creates(task)
            }
            Operation::Preview { refresh } => argv::preview(task, *refresh),
            Operation::Review { refresh, plan } => argv::review(task, *refresh, plan),
            Operation::Up { skip_preview, plan } => {
                argv::up(task, *skip_preview, plan.as_ref().map(|p| p.path.as_path()))
            }
        }
    }

    fn printing(&self) -> Printing {
        match self {
            Operation::Preview { .. } => Printing::Digest,
            Operation::Review { .. } => Printing::Human,
            Operation::Refresh
            | Operation::RefreshClearingPendingCreates
            | Operation::Up { .. } => Printing::Events,
        }
    }
}

/// Runs one Pulumi operation, its output rendered into the log as it comes.
pub(super) async fn run(
    op: Operation,
    task: &PulumiProject,
    binary: &Path,
    ctx: &Attempt,
    settings: &Settings,
) -> Result<OperationLog, TaskError> {
    let grace = settings.grace.unwrap_or(DEFAULT_GRACE.max(ctx.run.grace));
    let (exit, mut log, digest) = spawn(&op, task, binary, ctx, grace).await?;
    let mut excerpt = exit.tail.clone();
    if !digest.trim().is_empty() {
        excerpt.extend(read_digest(&mut log, &digest, ctx));
    }
    let excerpt = last_lines(excerpt)
        .map(|l| ctx.run.redactor.redact(&l).into_owned())
        .collect();
    // Whether the holder of a lock the CLI named still runs, which metadata files
    // of a checkpoint it could not read are damaged: looked up here, so that the
    // verdict stays a function of what it is given.
    let found = Lookups {
        lock: lock::holder(&log.stderr).map(|h| {
            let w = lock::whereabouts(&h);
            (h, w)
        }),
        damaged: checkpoint::damage(
            task,
            binary,
            ctx.child_env(),
            Some(&ctx.cancel),
            &log.stderr,
        )
        .await,
    };
    match verdict(&op, task, grace, &exit, &log, excerpt, &found) {
        Verdict::Done => {
            if let Some(summary) = &log.summary {
                ctx.say(&format!("--- pulumi {}: {summary}", op.name()));
            }
            Ok(log)
        }
        Verdict::Stopped { advice, error } => {
            ctx.say(&advice);
            Err(error)
        }
        Verdict::Failed(error) => Err(error.map_text(|t| ctx.run.redactor.redact(t).into_owned())),
    }
}

/// Runs the CLI to the end: how it ended, what its output said, and the preview's
/// digest (its stdout, unread).
async fn spawn(
    op: &Operation,
    task: &PulumiProject,
    binary: &Path,
    ctx: &Attempt,
    grace: Duration,
) -> Result<(ProcessExit, OperationLog, String), TaskError> {
    let args = op.args(task);
    let header = format!(
        "--- attempt {}: {} {}",
        ctx.number,
        task.binary,
        args.join(" ")
    );
    let spec = ProcessSpec {
        program: binary.as_os_str().to_owned(),
        args: args.iter().map(Into::into).collect(),
        cwd: task.cwd.clone(),
        env: Vec::new(),
    };
    let printing = op.printing();
    let mut log = OperationLog::default();
    let mut stdout = String::new();
    let exit = {
        let (log, stdout) = (&mut log, &mut stdout);
        let filter = Box::new(move |stream: Stream, line: &str| match stream {
            Stream::Stderr => {
                log.stderr.push(line.to_owned());
                Some(line.to_owned())
            }
            Stream::Stdout => match printing {
                Printing::Digest => {
                    stdout.push_str(line);
                    stdout.push('\n');
                    None
                }
                Printing::Human => log.human_line(line),
                Printing::Events => log.event_line(line),
            },
        });
        let options = RunOptions {
            stop_signal: Some(Signal::SIGINT),
            grace: Some(grace),
            filter: Some(filter),
        };
        process::run_with(&spec, ctx, &header, options).await
    };
    let exit = exit.map_err(|e| {
        let e = if e.kind() == std::io::ErrorKind::NotFound {
            PulumiError::NotInstalled {
                binary: task.binary.clone(),
            }
        } else {
            PulumiError::Spawn {
                binary: task.binary.clone(),
                detail: e.to_string(),
            }
        };
        TaskError::from_diagnostic(&e).map_text(|t| ctx.run.redactor.redact(t).into_owned())
    })?;
    Ok((exit, log, stdout))
}

/// Reads the preview's digest into `log`, saying its lines (or, unreadable, the
/// output as printed); returns the lines for the excerpt.
fn read_digest(log: &mut OperationLog, digest: &str, ctx: &Attempt) -> Vec<String> {
    match log.digest(digest) {
        Ok(lines) => {
            for line in &lines {
                ctx.say(line);
            }
            lines
        }
        Err(detail) => {
            ctx.say(&format!(
                "--- cannot read the preview digest ({detail}); as printed:"
            ));
            for line in digest.lines() {
                ctx.say(line);
            }
            Vec::new()
        }
    }
}

/// The last [`process::EXCERPT_LINES`] of `lines`, oldest first.
fn last_lines(lines: Vec<String>) -> impl Iterator<Item = String> {
    let skip = lines.len().saturating_sub(process::EXCERPT_LINES);
    lines.into_iter().skip(skip)
}

/// How an operation went.
#[derive(Debug)]
enum Verdict {
    Done,
    /// Stopped by planrun; `advice` on cleaning the stack up is also said.
    Stopped {
        advice: String,
        error: TaskError,
    },
    /// The CLI failed (texts not masked yet).
    Failed(TaskError),
}

/// Judges an operation by how it ended and what it printed; `excerpt` is its last
/// lines, masked.
fn verdict(
    op: &Operation,
    task: &PulumiProject,
    grace: Duration,
    exit: &ProcessExit,
    log: &OperationLog,
    mut excerpt: Vec<String>,
    found: &Lookups,
) -> Verdict {
    if let Some(reason) = exit.cancelled {
        let advice = stopped_advice(op, task, reason, grace);
        excerpt.push(advice.clone());
        return Verdict::Stopped {
            advice,
            error: TaskError::cancelled(reason).with_excerpt(excerpt),
        };
    }
    if exit.status.success() {
        return Verdict::Done;
    }
    Verdict::Failed(
        failure(op, task, log, &exit.status, found)
            .with_exit_code(exit.status.code())
            .with_excerpt(excerpt),
    )
}

/// What to do about a stack whose operation was stopped.
fn stopped_advice(
    op: &Operation,
    task: &PulumiProject,
    reason: CancelReason,
    grace: Duration,
) -> String {
    format!(
        "--- pulumi {} was stopped ({reason}): SIGINT first, SIGKILL after {} if still \
         running. The stack may be locked or hold pending operations: if the next update \
         reports a conflict, run `pulumi cancel --stack {} --yes --cwd {}`; then `pulumi \
         refresh --stack {} --cwd {}` to clear pending operations.",
        op.name(),
        planrun_text::format_duration(grace),
        task.stack,
        task.cwd.display(),
        task.stack,
        task.cwd.display(),
    )
}

/// A failed operation: a failure with a known fix, else what failed and the errors
/// Pulumi printed, most telling first.
fn failure(
    op: &Operation,
    task: &PulumiProject,
    log: &OperationLog,
    status: &ExitStatus,
    found: &Lookups,
) -> TaskError {
    if let Some(known) = classify(&log.stderr, &task.stack, &task.cwd, found) {
        return TaskError::from_diagnostic(&known);
    }
    if let Operation::Up {
        plan: Some(plan), ..
    } = op
        && let Some(refusal) = plan_refusal(log)
    {
        return TaskError::from_diagnostic(&PulumiError::PlanRefused {
            stack: task.stack.clone(),
            preview: plan.preview.clone(),
            detail: refusal,
            rerun: plan.rerun.clone(),
        });
    }
    let mut detail = Vec::new();
    if !log.failed.is_empty() {
        detail.push(format!("failed resources: {}", log.failed.join(", ")));
    }
    detail.extend(log.errors.iter().cloned());
    detail.extend(
        log.stderr
            .iter()
            .filter(|l| l.trim_start().starts_with("error:"))
            .map(|l| strip_error(l)),
    );
    let mut message = PulumiError::Failed {
        command: op.name().into(),
        stack: task.stack.clone(),
        status: describe_status(status),
        detail: detail.clone(),
    }
    .to_string();
    for more in detail.iter().skip(1) {
        message.push('\n');
        message.push_str(more);
    }
    TaskError::failed(message)
}

/// The engine's message when an update breaks the plan it is bound to
/// (pulumi/pulumi `pkg/resource/deploy/step_generator.go`, `plan.go`,
/// `deployment_executor.go`), if it printed one.
fn plan_refusal(log: &OperationLog) -> Option<String> {
    const SIGNS: [&str; 4] = [
        "is not allowed by the plan",
        "violates plan",
        "but none were seen",
        "no more steps were expected",
    ];
    log.errors
        .iter()
        .chain(log.stderr.iter())
        .find(|l| SIGNS.iter().any(|s| l.contains(s)))
        .map(|l| strip_error(l))
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;
    use crate::exec::FailureClass;

    fn task() -> PulumiProject {
        PulumiProject {
            stack: "s".into(),
            cwd: "/p".into(),
            require_config: Vec::new(),
            args: Vec::new(),
            binary: "pulumi".into(),
        }
    }

    fn exit(code: i32, cancelled: Option<CancelReason>) -> ProcessExit {
        ProcessExit {
            status: ExitStatus::from_raw(code << 8),
            cancelled,
            tail: Vec::new(),
        }
    }

    fn judge(exit: &ProcessExit, log: &OperationLog) -> Verdict {
        let up = Operation::Up {
            skip_preview: true,
            plan: None,
        };
        verdict(
            &up,
            &task(),
            Duration::from_secs(60),
            exit,
            log,
            vec!["out".into()],
            &Lookups::default(),
        )
    }

    #[test]
    fn a_stopped_operation_says_how_to_clean_the_stack_up() {
        let Verdict::Stopped { advice, error } = judge(
            &exit(255, Some(CancelReason::Timeout)),
            &OperationLog::default(),
        ) else {
            panic!("not stopped");
        };
        assert!(
            advice.starts_with(
                "--- pulumi up was stopped (timed out): SIGINT first, SIGKILL after 1m"
            )
        );
        assert!(
            advice.contains("`pulumi cancel --stack s --yes --cwd /p`"),
            "{advice}"
        );
        assert_eq!(error.class, FailureClass::Cancelled(CancelReason::Timeout));
        assert_eq!(error.excerpt, ["out".to_owned(), advice]);
    }

    #[test]
    fn a_failure_names_what_failed_and_keeps_the_exit_code() {
        let log = OperationLog {
            failed: vec!["kubernetes:apps/v1:Deployment flux/sc".into()],
            stderr: vec!["error: update failed".into()],
            ..OperationLog::default()
        };
        let Verdict::Failed(error) = judge(&exit(255, None), &log) else {
            panic!("not failed");
        };
        assert!(
            error
                .message
                .starts_with("`pulumi up` failed for stack `s` (exit code 255)"),
            "{}",
            error.message
        );
        assert!(
            error.message.ends_with("\nupdate failed"),
            "{}",
            error.message
        );
        assert_eq!(error.exit_code, Some(255));
        assert!(matches!(judge(&exit(0, None), &log), Verdict::Done));
    }

    #[test]
    fn a_known_failure_carries_its_fix_as_help() {
        let log = OperationLog {
            stderr: vec!["error: no stack named 's' found".into()],
            ..OperationLog::default()
        };
        let Verdict::Failed(error) = judge(&exit(255, None), &log) else {
            panic!("not failed");
        };
        assert_eq!(error.message, "stack `s` not found");
        assert!(
            error
                .help
                .is_some_and(|h| h.contains("pulumi stack init s"))
        );
    }

    #[test]
    fn an_update_refused_by_its_plan_says_to_rerun_from_the_preview() {
        let log = OperationLog {
            errors: vec![
                "kubernetes:apps/v1:Deployment flux-system/x: create is not allowed by the plan: this resource is constrained to same".into(),
            ],
            ..OperationLog::default()
        };
        let up = Operation::Up {
            skip_preview: true,
            plan: Some(ReviewedPlan {
                path: "/run/p.plan.json".into(),
                preview: "flux-preview".into(),
                rerun: "planrun plans/flux-rebuild.toml --resume --rerun flux-preview".into(),
            }),
        };
        let Verdict::Failed(error) = verdict(
            &up,
            &task(),
            Duration::from_secs(60),
            &exit(255, None),
            &log,
            Vec::new(),
            &Lookups::default(),
        ) else {
            panic!("not failed");
        };
        assert!(
            error.message.starts_with(
                "`pulumi up --plan` refused to update stack `s`: it no longer matches the plan `flux-preview` saved"
            ),
            "{}",
            error.message
        );
        assert!(
            error.message.contains("constrained to same"),
            "{}",
            error.message
        );
        let help = error.help.unwrap();
        assert!(
            help.contains("`planrun plans/flux-rebuild.toml --resume --rerun flux-preview`"),
            "{help}"
        );
    }
}
