//! `pulumi-up`: check the stack's required config and the cluster its provider
//! would act on (before anything in the plan is deleted: see [`preflight_plan`]),
//! optionally refresh, optionally preview with a diff, then `pulumi up`, or, with
//! `plan_from`, `pulumi up --plan` with the plan a `pulumi-preview` task saved and a
//! person reviewed; under `--dry-run`, only the preview.
//!
//! The CLI is stopped the way it expects: SIGINT to its process group (it then
//! cancels the update cleanly), a long grace period, SIGKILL only after it. A killed
//! update can leave the stack locked or with pending operations: the task says so,
//! with the commands that clean up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::argv;
use super::capture::{Stopped, capture};
use super::checkpoint;
use super::config::{self, Missing, Presence};
use super::error::{Lookups, PulumiError, classify, strip_error};
use super::lock::{self, Whereabouts};
use super::operation::{self, Operation, ReviewedPlan};
use super::pending;
use super::summary::ChangeSummary;
use super::target::{self, RunCluster};
use crate::cancel::Cancel;
use crate::events::{CancelReason, WouldDo};
use crate::exec::process::describe_status;
use crate::exec::process::resolve_binary;
use crate::exec::{Attempt, TaskError, TaskOutcome};
use crate::layout::PreviewFiles;
use crate::redact::Redactor;
use crate::validate::{OnPending, PulumiProject, PulumiUp, TaskKind, ValidatedPlan};

/// Least time between SIGINT and SIGKILL for a cancelled Pulumi operation (a longer
/// `--grace` wins) unless [`GRACE_ENV`] says otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);
/// Seconds between SIGINT and SIGKILL (e.g. `120` or `0.5`).
pub const GRACE_ENV: &str = "PLANRUN_PULUMI_GRACE_SECS";
/// Environment variables whose values are secrets (masked wherever they appear).
pub const SECRET_ENV: [&str; 2] = ["PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN"];

/// How the executor treats the CLI.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// SIGINT-to-SIGKILL delay; `None`: the longer of [`DEFAULT_GRACE`] and the run's
    /// `--grace`.
    pub grace: Option<Duration>,
    /// Limit for each config listing.
    pub config_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            grace: None,
            config_timeout: Duration::from_secs(120),
        }
    }
}

impl Settings {
    /// The defaults, with the grace period from [`GRACE_ENV`] when set.
    pub fn from_env() -> Self {
        let mut settings = Self::default();
        if let Some(secs) = std::env::var(GRACE_ENV)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
        {
            settings.grace = Some(Duration::from_secs_f64(secs));
        }
        settings
    }
}

/// Adds the values of [`SECRET_ENV`] (and of the file `PULUMI_CONFIG_PASSPHRASE_FILE`
/// names), from planrun's environment and from `extra` (what children get on top of
/// it), to `redactor`.
pub fn mask_environment(redactor: &Redactor, extra: &[(String, String)]) {
    let lookup = |name: &str| {
        extra
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    };
    for name in SECRET_ENV {
        if let Some(value) = lookup(name) {
            redactor.add_secret(&value);
        }
    }
    if let Some(path) = lookup("PULUMI_CONFIG_PASSPHRASE_FILE")
        && let Ok(text) = std::fs::read_to_string(path)
    {
        redactor.add_secret(&text);
    }
}

/// What the config check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigCheck {
    /// Required keys, all present.
    pub required: usize,
    /// Secret keys of the stack, whose values are now masked.
    pub secrets: usize,
}

enum CheckError {
    Pulumi(PulumiError),
    Cancelled(CancelReason),
}

impl From<PulumiError> for CheckError {
    fn from(e: PulumiError) -> Self {
        CheckError::Pulumi(e)
    }
}

/// The Pulumi CLI of `task`, or why it cannot run.
pub(super) fn binary(task: &PulumiProject) -> Result<PathBuf, PulumiError> {
    resolve_binary(&task.binary).ok_or_else(|| PulumiError::NotInstalled {
        binary: task.binary.clone(),
    })
}

/// Checks, before anything in the plan runs, that every Pulumi task (`pulumi-up`,
/// `pulumi-preview`) can run: the CLI is installed, logged in, the stack exists,
/// every required config key is set, the stack's secrets can be decrypted, and its
/// Kubernetes provider would act on the run's cluster (`cluster`, when the run has
/// one). Reads only; never shows a value. Secret config values (and
/// `PULUMI_CONFIG_PASSPHRASE`, `PULUMI_ACCESS_TOKEN`) are added to the plan's
/// redactor. The engine calls this before starting any task.
pub async fn preflight_plan(
    plan: &ValidatedPlan,
    cluster: Option<&RunCluster>,
) -> Result<(), PreflightError> {
    for task in plan.tasks() {
        let project = match &task.kind {
            TaskKind::PulumiUp(spec) => &spec.project,
            TaskKind::PulumiPreview(spec) => &spec.project,
            _ => continue,
        };
        preflight_with(project, plan.redactor(), &[], cluster)
            .await
            .map_err(|error| PreflightError {
                task: task.id.clone(),
                error,
            })?;
    }
    Ok(())
}

/// A `pulumi-up` task that cannot run: the Pulumi error, told about the task.
#[derive(Debug, Clone, thiserror::Error)]
#[error("task `{task}` cannot run: {error}")]
pub struct PreflightError {
    pub task: String,
    pub error: PulumiError,
}

impl miette::Diagnostic for PreflightError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.error.code()
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.error.help()
    }
}

/// [`preflight_plan`] for one task, without a cluster to check.
pub async fn preflight(
    task: &PulumiProject,
    redactor: &Redactor,
) -> Result<ConfigCheck, PulumiError> {
    preflight_with(task, redactor, &[], None).await
}

/// [`preflight`] with variables added to the CLI's environment, and the run's
/// cluster the stack's provider must act on.
pub async fn preflight_with(
    task: &PulumiProject,
    redactor: &Redactor,
    env: &[(String, String)],
    cluster: Option<&RunCluster>,
) -> Result<ConfigCheck, PulumiError> {
    mask_environment(redactor, env);
    let binary = binary(task)?;
    let timeout = Settings::default().config_timeout;
    match check_config(task, &binary, redactor, env, timeout, None, cluster).await {
        Ok(check) => Ok(check),
        Err(CheckError::Pulumi(e)) => Err(e),
        // No cancellation token was given.
        Err(CheckError::Cancelled(_)) => Err(PulumiError::Timeout {
            command: "config".into(),
            seconds: timeout.as_secs(),
        }),
    }
}

/// `pulumi config --json` (values blinded): are the required keys there? If the
/// stack has secrets (or a key could be inside a secret object), then `pulumi config
/// --json --show-secrets`, read in memory only, every secret masked before anything
/// is derived from it; its failure (a missing passphrase) would also fail the
/// update. Then the cluster the stack's provider would act on, against `cluster`.
async fn check_config(
    task: &PulumiProject,
    binary: &Path,
    redactor: &Redactor,
    env: &[(String, String)],
    timeout: Duration,
    cancel: Option<&Cancel>,
    cluster: Option<&RunCluster>,
) -> Result<ConfigCheck, CheckError> {
    if !task.cwd.is_dir() {
        return Err(PulumiError::ProjectDirMissing(task.cwd.clone()).into());
    }
    let blind = list_config(task, binary, false, redactor, env, timeout, cancel).await?;
    let project = config::project_name(&task.cwd);
    let presences = |listing: &config::Listing| -> Vec<(&str, Presence)> {
        task.require_config
            .iter()
            .map(|k| (k.as_str(), config::presence(k, listing, project.as_deref())))
            .collect()
    };
    let first = presences(&blind);
    let hidden = first.iter().any(|(_, p)| *p == Presence::Hidden);
    if !hidden {
        missing_config(task, &first)?;
    }
    let mut secrets = 0;
    let mut listing = blind;
    if listing.values().any(|k| k.secret) {
        let revealed = list_config(task, binary, true, redactor, env, timeout, cancel).await?;
        // Masked before anything else reads them.
        secrets = config::mask_secrets(&revealed, redactor);
        listing = revealed;
    }
    if hidden {
        missing_config(task, &presences(&listing))?;
    }
    if let Some(cluster) = cluster {
        target::check(&listing, &task.stack, &task.cwd, cluster).map_err(|e| {
            PulumiError::OtherCluster {
                stack: task.stack.clone(),
                cwd: task.cwd.clone(),
                key: e.key.to_owned(),
                detail: e.message,
            }
        })?;
    }
    Ok(ConfigCheck {
        required: task.require_config.len(),
        secrets,
    })
}

/// The missing keys' error, each with the command that sets it as it is missing.
fn missing_config(task: &PulumiProject, presences: &[(&str, Presence)]) -> Result<(), PulumiError> {
    let missing: Vec<(&str, &Missing)> = presences
        .iter()
        .filter_map(|(k, p)| match p {
            Presence::Missing(m) => Some((*k, m)),
            _ => None,
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let sources = if missing.iter().any(|(_, m)| **m == Missing::Nothing) {
        config::program_sources(&task.cwd)
    } else {
        Vec::new()
    };
    let commands: Vec<String> = missing
        .iter()
        .map(|(key, how)| {
            let reads = config::program_reads(key, &sources, &task.cwd);
            format!(
                "  {}",
                config::suggestion(key, how, &reads, &task.stack, &task.cwd)
            )
        })
        .collect();
    Err(PulumiError::MissingConfig {
        stack: task.stack.clone(),
        keys: missing.iter().map(|(k, _)| (*k).to_owned()).collect(),
        fix: format!(
            "set each missing key (the command asks for the value):\n{}",
            commands.join("\n")
        ),
    })
}

async fn list_config(
    task: &PulumiProject,
    binary: &Path,
    show_secrets: bool,
    redactor: &Redactor,
    env: &[(String, String)],
    timeout: Duration,
    cancel: Option<&Cancel>,
) -> Result<config::Listing, CheckError> {
    let args = argv::config_list(task, show_secrets);
    let out = capture(binary, &args, &task.cwd, env, timeout, cancel)
        .await
        .map_err(|stopped| match stopped {
            Stopped::Spawn(e) if e.kind() == std::io::ErrorKind::NotFound => {
                CheckError::Pulumi(PulumiError::NotInstalled {
                    binary: task.binary.clone(),
                })
            }
            Stopped::Spawn(e) => CheckError::Pulumi(PulumiError::Spawn {
                binary: task.binary.clone(),
                detail: e.to_string(),
            }),
            Stopped::Timeout => CheckError::Pulumi(PulumiError::Timeout {
                command: "config".into(),
                seconds: timeout.as_secs(),
            }),
            Stopped::Cancelled(reason) => CheckError::Cancelled(reason),
        })?;
    let stderr: Vec<String> = out
        .stderr
        .iter()
        .map(|l| redactor.redact(l).into_owned())
        .collect();
    if !out.status.success() {
        let found = Lookups {
            damaged: checkpoint::damage(task, binary, env, cancel, &stderr).await,
            ..Lookups::default()
        };
        return Err(classify(&stderr, &task.stack, &task.cwd, &found)
            .unwrap_or_else(|| PulumiError::Failed {
                command: "config".into(),
                stack: task.stack.clone(),
                status: describe_status(&out.status),
                detail: stderr
                    .iter()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| strip_error(l))
                    .collect(),
            })
            .into());
    }
    config::parse_listing(&out.stdout).map_err(|detail| {
        CheckError::Pulumi(PulumiError::BadOutput {
            command: "config".into(),
            detail,
        })
    })
}

/// Runs one attempt with the [`Settings`] from the environment.
pub async fn execute(task: &PulumiUp, ctx: &Attempt) -> Result<TaskOutcome, TaskError> {
    execute_with(task, ctx, &Settings::from_env()).await
}

/// The CLI of `task` with the config checked (and secrets masked) for this
/// attempt; what a Pulumi task does first.
pub(super) async fn prepare(
    task: &PulumiProject,
    ctx: &Attempt,
    settings: &Settings,
) -> Result<PathBuf, TaskError> {
    mask_environment(&ctx.run.redactor, ctx.child_env());
    let fail = |e: PulumiError| TaskError::from_diagnostic(&e).map_text(|t| redact(ctx, t));
    let binary = binary(task).map_err(fail)?;
    let check = match check_config(
        task,
        &binary,
        &ctx.run.redactor,
        ctx.child_env(),
        settings.config_timeout,
        Some(&ctx.cancel),
        None,
    )
    .await
    {
        Ok(check) => check,
        Err(CheckError::Pulumi(e)) => return Err(fail(e)),
        Err(CheckError::Cancelled(reason)) => {
            return Err(TaskError::cancelled(reason));
        }
    };
    ctx.say(&format!(
        "--- config of stack {}: {} required key(s) present, {} secret value(s) masked",
        task.stack, check.required, check.secrets
    ));
    Ok(binary)
}

/// Runs one attempt.
pub async fn execute_with(
    task: &PulumiUp,
    ctx: &Attempt,
    settings: &Settings,
) -> Result<TaskOutcome, TaskError> {
    let project = &task.project;
    if let Some(reference) = &task.plan_from {
        return apply_reviewed(task, &reference.id, ctx, settings).await;
    }
    let binary = prepare(project, ctx, settings).await?;
    if task.refresh && !ctx.run.dry_run {
        operation::run(Operation::Refresh, project, &binary, ctx, settings).await?;
    }
    let mut preview = None;
    if task.preview || ctx.run.dry_run {
        let refresh = task.refresh && ctx.run.dry_run;
        preview = operation::run(
            Operation::Preview { refresh },
            project,
            &binary,
            ctx,
            settings,
        )
        .await?
        .summary;
    }
    if ctx.run.dry_run {
        // Without a summary it cannot say there is nothing to change.
        let changes = preview.as_ref().is_none_or(|s| s.has_changes());
        let summary = format!(
            "previewed stack {} (dry run, nothing changed): {}",
            project.stack,
            said(preview)
        );
        return Ok(if changes {
            TaskOutcome::would_change(summary).doing(vec![would_run(
                &binary,
                project,
                argv::up(project, task.preview, None),
            )])
        } else {
            TaskOutcome::new(summary)
        });
    }
    resolve_leftovers(task, &binary, ctx, settings).await?;
    let up = operation::run(
        Operation::Up {
            skip_preview: task.preview,
            plan: None,
        },
        project,
        &binary,
        ctx,
        settings,
    )
    .await?;
    let what = said(up.summary);
    Ok(TaskOutcome::new(format!(
        "pulumi up for stack {}: {what}",
        project.stack
    )))
}

/// `pulumi up --plan` with the plan the preview `preview` saved, once it is sure to
/// be the plan that was reviewed: there, and unchanged since the preview wrote its
/// digest. Under `--dry-run`, nothing (the preview task previewed).
async fn apply_reviewed(
    task: &PulumiUp,
    preview: &str,
    ctx: &Attempt,
    settings: &Settings,
) -> Result<TaskOutcome, TaskError> {
    let project = &task.project;
    let files = PreviewFiles::of(preview).under(&ctx.run.run_dir);
    if ctx.run.dry_run {
        let binary =
            resolve_binary(&project.binary).unwrap_or_else(|| project.binary.clone().into());
        return Ok(TaskOutcome::would_change(format!(
            "would run pulumi up --plan for stack {} with the plan `{preview}` saved (dry run: only the preview ran)",
            project.stack
        ))
        .doing(vec![would_run(
            &binary,
            project,
            argv::up(project, true, Some(&files.plan)),
        )]));
    }
    let rerun = rerun_command(ctx, preview);
    let fail = |e: PulumiError| TaskError::from_diagnostic(&e).map_text(|t| redact(ctx, t));
    let recorded = std::fs::read_to_string(&files.digest).ok();
    let actual = std::fs::read(&files.plan).ok().map(|bytes| digest(&bytes));
    match (recorded, actual) {
        (_, None) | (None, _) => {
            return Err(fail(PulumiError::PlanMissing {
                preview: preview.to_owned(),
                path: files.plan.clone(),
                rerun,
            }));
        }
        (Some(recorded), Some(actual)) if recorded.trim() != actual => {
            return Err(fail(PulumiError::PlanChanged {
                preview: preview.to_owned(),
                path: files.plan.clone(),
                rerun,
            }));
        }
        _ => {}
    }
    let binary = prepare(project, ctx, settings).await?;
    resolve_leftovers(task, &binary, ctx, settings).await?;
    ctx.say(&format!(
        "--- applying exactly the plan `{preview}` saved ({})",
        files.plan.display()
    ));
    let up = operation::run(
        Operation::Up {
            skip_preview: true,
            plan: Some(ReviewedPlan {
                path: files.plan.clone(),
                preview: preview.to_owned(),
                rerun,
            }),
        },
        project,
        &binary,
        ctx,
        settings,
    )
    .await?;
    let what = said(up.summary);
    Ok(TaskOutcome::new(format!(
        "pulumi up --plan for stack {} (the plan `{preview}` saved): {what}",
        project.stack
    )))
}

/// A change summary as the task's summary line says it.
pub(super) fn said(summary: Option<ChangeSummary>) -> String {
    summary.map_or_else(
        || "no change summary reported".to_owned(),
        |s| s.to_string(),
    )
}

/// The SHA-256 of a saved plan, in hex.
pub(super) fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The command that finishes the run with the preview `preview` run again, and
/// everything after it (the run stopped here is unfinished: `--resume --rerun`).
pub(super) fn rerun_command(ctx: &Attempt, preview: &str) -> String {
    let plan = ctx
        .child_env()
        .iter()
        .find(|(k, _)| k == "PLANRUN_PLAN_FILE")
        .map_or("PLAN", |(_, v)| v.as_str());
    format!(
        "planrun {} --resume --rerun {preview}",
        planrun_text::shell_quote(plan)
    )
}

/// Before an update: what an interrupted update left in the stack (pending
/// operations, a held lock), stopped at with the commands that resolve it, or
/// resolved first (`on_pending = "refresh"`: `pulumi cancel` for a lock, then
/// `pulumi refresh --clear-pending-creates`).
async fn resolve_leftovers(
    task: &PulumiUp,
    binary: &Path,
    ctx: &Attempt,
    settings: &Settings,
) -> Result<(), TaskError> {
    let project = &task.project;
    let found = pending::inspect(project, binary, ctx).await?;
    if found.is_empty() {
        return Ok(());
    }
    // An update in progress keeps a lock and pending operations in the checkpoint
    // as it goes (measured with the real pulumi): they are leftovers only once the
    // update that holds the lock is gone. One still running here, or on another
    // machine, is never cancelled under it.
    for held in &found.locks {
        if let Some(holder) = &held.holder {
            let whereabouts = lock::whereabouts(holder);
            if whereabouts != Whereabouts::Gone {
                let e =
                    PulumiError::locked(&project.stack, &project.cwd, holder.clone(), whereabouts);
                return Err(TaskError::from_diagnostic(&e).map_text(|t| redact(ctx, t)));
            }
        }
    }
    let what = found.describe(&project.stack);
    for line in what.lines() {
        ctx.say(line);
    }
    match task.on_pending {
        OnPending::Stop => {
            let plan = ctx
                .child_env()
                .iter()
                .find(|(k, _)| k == "PLANRUN_PLAN_FILE")
                .map_or("PLAN", |(_, v)| v.as_str());
            let resume = format!("planrun {} --resume", planrun_text::shell_quote(plan));
            Err(TaskError::failed(format!(
                "{what}
the update was not started (on_pending = \"stop\")"
            ))
            .with_help(found.help(project, &resume))
            .map_text(|t| redact(ctx, t)))
        }
        OnPending::Refresh => {
            ctx.say(&format!(
                "--- on_pending = \"refresh\": {}",
                found.commands(project).join("; then ")
            ));
            if !found.locks.is_empty() {
                let args = argv::cancel(project);
                let out = capture(
                    binary,
                    &args,
                    &project.cwd,
                    ctx.child_env(),
                    settings.config_timeout,
                    Some(&ctx.cancel),
                )
                .await
                .map_err(|e| match e {
                    Stopped::Cancelled(reason) => TaskError::cancelled(reason),
                    Stopped::Timeout => TaskError::failed("`pulumi cancel` did not answer in time"),
                    Stopped::Spawn(e) => {
                        TaskError::failed(format!("cannot run `pulumi cancel`: {e}"))
                    }
                })?;
                if !out.status.success() {
                    return Err(TaskError::failed(format!(
                        "`pulumi cancel` failed ({}): {}",
                        describe_status(&out.status),
                        redact(ctx, &out.stderr.join(" "))
                    )));
                }
                for line in out.stdout.lines() {
                    ctx.say(&redact(ctx, line));
                }
            }
            if !found.pending.is_empty() {
                operation::run(
                    Operation::RefreshClearingPendingCreates,
                    project,
                    binary,
                    ctx,
                    settings,
                )
                .await?;
            }
            Ok(())
        }
    }
}

/// `text` with the run's secrets masked.
fn redact(ctx: &Attempt, text: &str) -> String {
    ctx.run.redactor.redact(text).into_owned()
}

/// In a dry run: the Pulumi command that would run.
fn would_run(binary: &Path, project: &PulumiProject, args: Vec<String>) -> WouldDo {
    WouldDo::Run {
        argv: std::iter::once(binary.display().to_string())
            .chain(args)
            .collect(),
        cwd: project.cwd.display().to_string(),
    }
}
