//! One line per task saying what it will do, for `list`, `--dry-run` and reports.
//! Secret values are still in the text: callers pass it through the redactor.

use std::fmt::Write as _;

use super::model::*;
use planrun_text::{format_duration, shell_quote};

impl Selection {
    /// e.g. `Namespace flux-system`, `CustomResourceDefinition matching /\.toolkit\.fluxcd\.io$/`.
    pub fn describe(&self) -> String {
        let mut out = self.kind.clone();
        if let Some(api) = &self.api_version {
            let _ = write!(out, " ({api})");
        }
        match &self.target {
            Target::Name(name) => {
                let _ = write!(out, " {name}");
            }
            Target::Pattern(re) => {
                let _ = write!(out, " matching /{}/", re.as_str());
            }
            Target::Selector(sel) => {
                let _ = write!(out, " with labels {sel}");
            }
        }
        if let Some(ns) = &self.namespace {
            let _ = write!(out, " in namespace {ns}");
        }
        out
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

impl TaskKind {
    /// What the task will do, in one line.
    pub fn describe(&self) -> String {
        match self {
            TaskKind::ExecScript(e) => {
                format!("run {} (in {})", e.program.describe(), e.cwd.display())
            }
            TaskKind::KubeDelete(d) => format!(
                "delete {} (propagation {:?}; absent is fine)",
                d.selection.describe(),
                d.propagation
            ),
            TaskKind::WaitAbsent(w) => format!("wait until no {} exists", w.selection.describe()),
            TaskKind::WaitCondition(w) => format!(
                "wait until {} has condition {}={}",
                w.selection.describe(),
                w.condition,
                w.status
            ),
            TaskKind::AssertDeployments(a) => {
                let list: Vec<String> = a
                    .deployments
                    .iter()
                    .map(|(name, tag)| format!("{name}@{tag}"))
                    .collect();
                format!(
                    "assert deployments ready in {}: {}",
                    a.namespace,
                    list.join(", ")
                )
            }
            TaskKind::AssertFieldManagers(a) => {
                let mut out = format!("assert field managers of {}", a.selection.describe());
                if !a.forbidden.is_empty() {
                    let list: Vec<&str> = a.forbidden.iter().map(|r| r.as_str()).collect();
                    let _ = write!(out, ": none matching {}", list.join(", "));
                }
                if let Some(req) = &a.required_apply {
                    let _ = write!(out, "; each applied by {}", req.as_str());
                }
                out
            }
            TaskKind::Capture(c) => format!(
                "save {} to {} in the run directory (mode 0600)",
                c.selection.describe(),
                c.file
            ),
            TaskKind::AssertFile(a) => {
                let list: Vec<&str> = a.patterns.iter().map(|r| r.as_str()).collect();
                format!("assert {} contains {}", a.path.display(), list.join(", "))
            }
            TaskKind::Confirm(c) => format!("ask: {}", c.message),
            TaskKind::PulumiUp(p) => {
                let mut steps = Vec::new();
                if !p.require_config.is_empty() {
                    steps.push(format!("check config {}", p.require_config.join(", ")));
                }
                if p.refresh {
                    steps.push("refresh".into());
                }
                if p.preview {
                    steps.push("preview --diff".into());
                }
                steps.push("up".into());
                format!(
                    "pulumi {} for stack {} (in {})",
                    steps.join(", then "),
                    p.stack,
                    p.cwd.display()
                )
            }
        }
    }
}

impl Task {
    /// The task's limits in words, e.g. `timeout 10m, 3 retries`.
    pub fn describe_limits(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(t) = self.timeout {
            parts.push(format!("timeout {}", format_duration(t)));
        }
        match self.retry.retries {
            0 => {}
            1 => parts.push("1 retry".into()),
            n => parts.push(format!("{n} retries")),
        }
        if self.allow_failure {
            parts.push("failure allowed".into());
        }
        if self.always {
            parts.push("always runs".into());
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}
