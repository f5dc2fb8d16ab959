//! `pulumi-up`: `pulumi up` for a stack, non-interactive.

use std::path::PathBuf;

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::RawPulumiUp;
use crate::validate::error::ErrorKind;
use crate::validate::task_table::Builder;

/// `pulumi-up`.
#[derive(Debug, Clone)]
pub struct PulumiUp {
    pub stack: String,
    /// The Pulumi project directory, resolved against the plan's directory.
    pub cwd: PathBuf,
    /// Run `pulumi preview --diff` first.
    pub preview: bool,
    pub refresh: bool,
    /// Config keys that must exist for the stack before anything runs.
    pub require_config: Vec<String>,
    pub args: Vec<String>,
    /// The Pulumi CLI to run (`pulumi` on PATH unless set).
    pub binary: String,
}

impl PulumiUp {
    /// A stack name.
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawPulumiUp = b.own()?;
        if raw.stack.trim().is_empty() {
            b.error(
                ErrorKind::BadValue,
                format!("task `{}`: `stack` is empty", b.id),
                "stack",
                "empty",
                "name the Pulumi stack, e.g. stack = \"oceanid-cluster\"",
            );
            return None;
        }
        Some(Self {
            stack: raw.stack,
            cwd: b.path(raw.cwd.as_deref()),
            preview: raw.preview,
            refresh: raw.refresh,
            require_config: raw.require_config,
            args: raw.args,
            binary: raw.binary.unwrap_or_else(|| "pulumi".into()),
        })
    }
}

impl TaskSpec for PulumiUp {
    fn task_type(&self) -> TaskType {
        TaskType::PulumiUp
    }

    fn changes(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        let mut steps = Vec::new();
        if !self.require_config.is_empty() {
            steps.push(format!("check config {}", self.require_config.join(", ")));
        }
        if self.refresh {
            steps.push("refresh".into());
        }
        if self.preview {
            steps.push("preview --diff".into());
        }
        steps.push("up".into());
        format!(
            "pulumi {} for stack {} (in {})",
            steps.join(", then "),
            self.stack,
            self.cwd.display()
        )
    }
}
