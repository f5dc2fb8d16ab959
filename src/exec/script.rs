//! `exec-script`: a command run as argv (no shell) or a script run by a shell.
//!
//! Scripts run with `bash -euo pipefail -c SCRIPT` when `bash` is on `PATH`, else with
//! `sh -eu -c SCRIPT`: a failing command or an unset variable stops the script.

use std::ffi::OsString;
use std::path::Path;
use std::sync::OnceLock;

use super::attempt::Attempt;
use super::outcome::{TaskError, TaskOutcome};
use super::process::{self, ProcessSpec, describe_status};
use crate::validate::{ExecScript, Program};

/// Runs one attempt; under `--dry-run` only read-only tasks run.
pub async fn execute(spec: &ExecScript, ctx: &Attempt) -> Result<TaskOutcome, TaskError> {
    let what = describe(spec);
    if ctx.run.dry_run && !spec.read_only {
        return Ok(TaskOutcome::would_change(format!(
            "would run {what} (in {})",
            spec.cwd.display()
        )));
    }
    let (program, args) = argv(&spec.program);
    let process = ProcessSpec {
        program,
        args,
        cwd: spec.cwd.clone(),
        env: spec
            .vars_env
            .iter()
            .cloned()
            .chain(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect(),
    };
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
            would_change: false,
        }),
        _ => Err(TaskError::failed(describe_status(&exit.status))
            .with_exit_code(exit_code)
            .with_excerpt(exit.tail)),
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
        Program::Script(src) => {
            let (shell, flags) = shell();
            let mut args: Vec<OsString> = flags.iter().map(OsString::from).collect();
            args.push("-c".into());
            args.push(src.into());
            (shell.into(), args)
        }
    }
}

/// The shell for scripts, found once: bash with `-euo pipefail`, else sh with `-eu`.
fn shell() -> (&'static str, &'static [&'static str]) {
    static BASH: OnceLock<bool> = OnceLock::new();
    let bash = *BASH.get_or_init(|| on_path("bash"));
    if bash {
        ("bash", &["-euo", "pipefail"])
    } else {
        ("sh", &["-eu"])
    }
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(name))))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
