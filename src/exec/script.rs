//! `exec-script`: a command run as argv (no shell) or a script run by a shell.
//!
//! Scripts run with `bash -euo pipefail -c SCRIPT` when `bash` is on `PATH`, else with
//! `sh -eu -c SCRIPT`: a failing command or an unset variable stops the script.

use std::ffi::OsString;
use std::sync::OnceLock;

use super::attempt::Attempt;
use super::outcome::{TaskError, TaskOutcome};
use super::process::{self, ProcessSpec, describe_status};
use crate::events::WouldDo;
use crate::validate::{ExecScript, Program};

/// Runs one attempt; under `--dry-run` only read-only tasks run.
pub async fn execute(spec: &ExecScript, ctx: &Attempt) -> Result<TaskOutcome, TaskError> {
    let what = describe(spec);
    if ctx.run.dry_run && !spec.read_only {
        let (program, args) = argv(&spec.program);
        let argv = std::iter::once(program)
            .chain(args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        return Ok(TaskOutcome::would_change(format!(
            "would run {what} (in {})",
            spec.cwd.display()
        ))
        .doing(vec![WouldDo::Run {
            argv,
            cwd: spec.cwd.display().to_string(),
        }]));
    }
    let process = process_spec(spec, argv(&spec.program));
    let header = format!("--- attempt {}: {what}", ctx.number);
    let exit = process::run(&process, ctx, &header)
        .await
        .map_err(|e| TaskError::failed(e.to_string()))?;
    if let Some(reason) = exit.cancelled {
        return Err(TaskError::cancelled(reason).with_excerpt(exit.tail));
    }
    let exit_code = exit.status.code();
    match exit_code {
        Some(code) if spec.ok_codes.contains(&code) => Ok(TaskOutcome {
            summary: Some(format!("ran {what}")),
            exit_code,
            ..TaskOutcome::default()
        }),
        _ => Err(TaskError::failed(describe_status(&exit.status))
            .with_exit_code(exit_code)
            .with_excerpt(exit.tail)),
    }
}

/// `program` and its arguments as the task's children run: in its directory, with
/// its environment.
pub fn process_spec(spec: &ExecScript, (program, args): (OsString, Vec<OsString>)) -> ProcessSpec {
    ProcessSpec {
        program,
        args,
        cwd: spec.cwd.clone(),
        env: spec
            .vars_env
            .iter()
            .cloned()
            .chain(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect(),
    }
}

/// What the task runs, for dry runs and logs.
pub fn describe(spec: &ExecScript) -> String {
    spec.program.describe()
}

fn argv(program: &Program) -> (OsString, Vec<OsString>) {
    match program {
        Program::Command(argv) => {
            let mut it = argv.iter().map(OsString::from);
            let program = it.next().unwrap_or_default();
            (program, it.collect())
        }
        Program::Script(src) => shell_argv(src),
    }
}

/// The shell and its arguments that run `src` as every script runs.
pub fn shell_argv(src: &str) -> (OsString, Vec<OsString>) {
    let (shell, flags) = shell();
    let mut args: Vec<OsString> = flags.iter().map(OsString::from).collect();
    args.push("-c".into());
    args.push(src.into());
    (shell.into(), args)
}

/// The shell for scripts, found once: bash with `-euo pipefail`, else sh with `-eu`.
fn shell() -> (&'static str, &'static [&'static str]) {
    static BASH: OnceLock<bool> = OnceLock::new();
    let bash = *BASH.get_or_init(|| crate::exec::process::resolve_binary("bash").is_some());
    if bash {
        ("bash", &["-euo", "pipefail"])
    } else {
        ("sh", &["-eu"])
    }
}
