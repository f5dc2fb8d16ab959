//! `exec-script`: a command (argv, no shell) or a script (shell).

use std::collections::BTreeMap;
use std::path::PathBuf;

use planrun_text::shell_quote;

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::RawExecScript;
use crate::validate::error::{ErrorKind, PlanError};
use crate::validate::task_table::{Builder, conflict};

/// `exec-script`.
#[derive(Debug, Clone)]
pub struct ExecScript {
    pub program: Program,
    /// Working directory, already resolved against the plan's directory.
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    /// Exit codes that count as success (default `[0]`).
    pub ok_codes: Vec<i32>,
    /// Only reads: it also runs under `--dry-run`.
    pub read_only: bool,
    /// Shell source checking, on resume, that what the task achieved still holds.
    pub verify: Option<String>,
    /// Every plan variable as `PLANRUN_VAR_<NAME>`, shared by the plan's tasks; the
    /// task's own `env` comes after it.
    pub vars_env: std::sync::Arc<Vec<(String, String)>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// argv, run without a shell; never empty.
    Command(Vec<String>),
    /// Shell source, run with `bash -euo pipefail -c` (or `sh -eu -c` without bash).
    Script(String),
}

impl ExecScript {
    /// Exactly one of `command` and `script`; exit codes from 0 to 255.
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawExecScript = b.own()?;
        let id = b.id;
        let program = match (raw.command, raw.script) {
            (Some(_), Some(_)) => {
                b.errors.push(conflict(
                    id,
                    b.table,
                    &["command", "script"],
                    "use `command` for a program with arguments (no shell) or `script` for shell source, not both",
                ));
                return None;
            }
            (Some(argv), None) if argv.is_empty() || argv[0].is_empty() => {
                b.error(
                    ErrorKind::BadValue,
                    format!("task `{id}`: `command` is empty"),
                    "command",
                    "empty command",
                    "give the program and its arguments: [\"program\", \"arg\"]",
                );
                return None;
            }
            (Some(argv), None) => Program::Command(argv),
            (None, Some(script)) => Program::Script(script),
            (None, None) => {
                b.errors.push(
                    PlanError::new(
                        ErrorKind::MissingField,
                        format!("task `{id}` has neither `command` nor `script`"),
                    )
                    .at(b.id_span.clone(), "nothing to run")
                    .help("add command = [\"program\", \"arg\"] or script = \"...\"")
                    .about_missing(["command", "script"]),
                );
                return None;
            }
        };
        let ok_codes = raw.ok_codes.unwrap_or_else(|| vec![0]);
        if ok_codes.is_empty() || ok_codes.iter().any(|c| !(0..=255).contains(c)) {
            b.error(
                ErrorKind::BadValue,
                format!("task `{id}`: `ok_codes` must list exit codes from 0 to 255"),
                "ok_codes",
                "bad exit codes",
                "e.g. ok_codes = [0, 3]",
            );
            return None;
        }
        Some(Self {
            program,
            cwd: b.path(raw.cwd.as_deref()),
            env: raw.env,
            ok_codes,
            read_only: raw.read_only,
            verify: raw.verify,
            vars_env: b.cx.exported.clone(),
        })
    }
}

impl TaskSpec for ExecScript {
    fn task_type(&self) -> TaskType {
        TaskType::ExecScript
    }

    /// A script changes things unless it is marked `read_only`.
    fn changes(&self) -> bool {
        !self.read_only
    }

    fn describe(&self) -> String {
        format!(
            "run {} (in {})",
            self.program.describe(),
            self.cwd.display()
        )
    }
}

impl Program {
    /// The command line as a person would type it.
    pub fn describe(&self) -> String {
        match self {
            Program::Command(argv) => argv
                .iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" "),
            Program::Script(src) => {
                let lines: Vec<&str> = src.lines().filter(|l| !l.trim().is_empty()).collect();
                match lines.as_slice() {
                    [] => "empty script".into(),
                    [one] => format!("script: {}", one.trim()),
                    [first, rest @ ..] => {
                        format!("script: {} (+{} lines)", first.trim(), rest.len())
                    }
                }
            }
        }
    }
}
