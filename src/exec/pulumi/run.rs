//! `pulumi-up`: check the stack's required config (before anything in the plan is
//! deleted: see [`preflight_plan`]), optionally refresh, optionally preview with a
//! diff, then `pulumi up`; under `--dry-run`, only the preview.
//!
//! The CLI is stopped the way it expects: SIGINT to its process group (it then
//! cancels the update cleanly), a long grace period, SIGKILL only after it. A killed
//! update can leave the stack locked or with pending operations: the task says so,
//! with the commands that clean up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::argv;
use super::capture::{Stopped, capture, resolve_binary};
use super::config;
use super::error::{PulumiError, classify, strip_error};
use super::operation::{self, Operation};
use crate::cancel::Cancel;
use crate::events::CancelReason;
use crate::exec::process::describe_status;
use crate::exec::{Attempt, TaskError, TaskOutcome};
use crate::redact::Redactor;
use crate::validate::{PulumiUp, TaskKind, ValidatedPlan};

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
fn binary(task: &PulumiUp) -> Result<PathBuf, PulumiError> {
    resolve_binary(&task.binary).ok_or_else(|| PulumiError::NotInstalled {
        binary: task.binary.clone(),
    })
}

/// Checks, before anything in the plan runs, that every `pulumi-up` task can run:
/// the CLI is installed, logged in, the stack exists, every required config key is
/// set, and the stack's secrets can be decrypted. Reads only; never shows a value.
/// Secret config values (and `PULUMI_CONFIG_PASSPHRASE`, `PULUMI_ACCESS_TOKEN`) are
/// added to the plan's redactor. The engine calls this before starting any task.
pub async fn preflight_plan(plan: &ValidatedPlan) -> Result<(), PreflightError> {
    for task in plan.tasks() {
        if let TaskKind::PulumiUp(spec) = &task.kind {
            preflight(spec, plan.redactor())
                .await
                .map_err(|error| PreflightError {
                    task: task.id.clone(),
                    error,
                })?;
        }
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

/// [`preflight_plan`] for one task.
pub async fn preflight(task: &PulumiUp, redactor: &Redactor) -> Result<ConfigCheck, PulumiError> {
    preflight_with(task, redactor, &[]).await
}

/// [`preflight`] with variables added to the CLI's environment.
pub async fn preflight_with(
    task: &PulumiUp,
    redactor: &Redactor,
    env: &[(String, String)],
) -> Result<ConfigCheck, PulumiError> {
    mask_environment(redactor, env);
    let binary = binary(task)?;
    let timeout = Settings::default().config_timeout;
    match check_config(task, &binary, redactor, env, timeout, None).await {
        Ok(check) => Ok(check),
        Err(CheckError::Pulumi(e)) => Err(e),
        // No cancellation token was given.
        Err(CheckError::Cancelled(_)) => Err(PulumiError::Timeout {
            command: "config".into(),
            seconds: timeout.as_secs(),
        }),
    }
}

/// `pulumi config --json` (values blinded): are the required keys there? Then, if the
/// stack has secrets, `pulumi config --json --show-secrets`, read in memory only, to
/// mask them; its failure (a missing passphrase) would also fail the update.
async fn check_config(
    task: &PulumiUp,
    binary: &Path,
    redactor: &Redactor,
    env: &[(String, String)],
    timeout: Duration,
    cancel: Option<&Cancel>,
) -> Result<ConfigCheck, CheckError> {
    if !task.cwd.is_dir() {
        return Err(PulumiError::ProjectDirMissing(task.cwd.clone()).into());
    }
    let listing = list_config(task, binary, false, redactor, env, timeout, cancel).await?;
    let project = config::project_name(&task.cwd);
    let missing = config::missing(&task.require_config, &listing, project.as_deref());
    if !missing.is_empty() {
        let commands: Vec<String> = missing
            .iter()
            .map(|k| format!("  {}", argv::config_set_hint(task, k)))
            .collect();
        return Err(PulumiError::MissingConfig {
            stack: task.stack.clone(),
            keys: missing.iter().map(|k| (*k).to_owned()).collect(),
            fix: format!(
                "set each missing key (the command asks for the value):\n{}",
                commands.join("\n")
            ),
        }
        .into());
    }
    let mut secrets = 0;
    if listing.values().any(|k| k.secret) {
        let revealed = list_config(task, binary, true, redactor, env, timeout, cancel).await?;
        secrets = config::mask_secrets(&revealed, redactor);
    }
    Ok(ConfigCheck {
        required: task.require_config.len(),
        secrets,
    })
}

async fn list_config(
    task: &PulumiUp,
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
        return Err(classify(&stderr, &task.stack, &task.cwd)
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

/// Runs one attempt.
pub async fn execute_with(
    task: &PulumiUp,
    ctx: &Attempt,
    settings: &Settings,
) -> Result<TaskOutcome, TaskError> {
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

    if task.refresh && !ctx.run.dry_run {
        operation::run(Operation::Refresh, task, &binary, ctx, settings).await?;
    }
    let mut preview = None;
    if task.preview || ctx.run.dry_run {
        let refresh = task.refresh && ctx.run.dry_run;
        preview = operation::run(Operation::Preview { refresh }, task, &binary, ctx, settings)
            .await?
            .summary;
    }
    if ctx.run.dry_run {
        let what = preview.map_or_else(
            || "no change summary reported".to_owned(),
            |s| s.to_string(),
        );
        return Ok(TaskOutcome::new(format!(
            "previewed stack {} (dry run, nothing changed): {what}",
            task.stack
        )));
    }
    let up = operation::run(
        Operation::Up {
            skip_preview: task.preview,
        },
        task,
        &binary,
        ctx,
        settings,
    )
    .await?;
    let what = up.summary.map_or_else(
        || "no change summary reported".to_owned(),
        |s| s.to_string(),
    );
    Ok(TaskOutcome::new(format!(
        "pulumi up for stack {}: {what}",
        task.stack
    )))
}

/// `text` with the run's secrets masked.
fn redact(ctx: &Attempt, text: &str) -> String {
    ctx.run.redactor.redact(text).into_owned()
}
