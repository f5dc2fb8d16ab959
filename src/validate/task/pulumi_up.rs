//! `pulumi-up`: `pulumi up` for a stack, non-interactive; and what every Pulumi task
//! type shares ([`PulumiProject`]).

use std::path::PathBuf;

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::RawPulumiUp;
use crate::validate::error::{ErrorKind, PlanError};
use crate::validate::task_ref::TaskRef;
use crate::validate::task_table::Builder;

/// The stack a Pulumi task works on and how the CLI is run for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulumiProject {
    pub stack: String,
    /// The Pulumi project directory, resolved against the plan's directory.
    pub cwd: PathBuf,
    /// Config keys that must exist for the stack before anything runs.
    pub require_config: Vec<String>,
    /// Extra arguments for the task's operation.
    pub args: Vec<String>,
    /// The Pulumi CLI to run (`pulumi` on PATH unless set).
    pub binary: String,
}

impl PulumiProject {
    /// The project from a task's own keys: a stack name is required.
    pub(in crate::validate) fn build(
        b: &mut Builder<'_, '_>,
        stack: String,
        cwd: Option<&str>,
        require_config: Vec<String>,
        args: Vec<String>,
        binary: Option<String>,
    ) -> Option<Self> {
        if stack.trim().is_empty() {
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
            stack,
            cwd: b.path(cwd),
            require_config,
            args,
            binary: binary.unwrap_or_else(|| "pulumi".into()),
        })
    }
}

impl PulumiProject {
    /// `pulumi <steps, "then"-joined> for stack S (in DIR)`, the config check first
    /// when keys are required.
    pub fn describe(&self, steps: Vec<String>) -> String {
        let mut all = Vec::new();
        if !self.require_config.is_empty() {
            all.push(format!("check config {}", self.require_config.join(", ")));
        }
        all.extend(steps);
        format!(
            "pulumi {} for stack {} (in {})",
            all.join(", then "),
            self.stack,
            self.cwd.display()
        )
    }
}

/// `pulumi-up`.
#[derive(Debug, Clone)]
pub struct PulumiUp {
    pub project: PulumiProject,
    /// Run `pulumi preview --diff` first.
    pub preview: bool,
    pub refresh: bool,
    /// The pulumi-preview task whose saved plan binds the update (`up --plan`).
    pub plan_from: Option<TaskRef>,
    /// What to do about an interrupted update's pending operations and lock.
    pub on_pending: OnPending,
}

/// What a `pulumi-up` task does when the stack holds an interrupted update's
/// pending operations or lock.
pub type OnPending = crate::plan::task::RawOnPending;

impl PulumiUp {
    /// A stack name; `plan_from` excludes the task's own preview and refresh (the
    /// reviewed preview did both, and a refresh now would change the state the plan
    /// was made from).
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawPulumiUp = b.own()?;
        let plan_from = raw
            .plan_from
            .as_deref()
            .map(|id| TaskRef::at(b, "plan_from", id));
        if let Some(reference) = &plan_from {
            for (key, set) in [("preview", raw.preview), ("refresh", raw.refresh)] {
                if set {
                    let span = crate::validate::document::key_span(b.table, key)
                        .unwrap_or(b.id_span.clone());
                    b.errors.push(
                        PlanError::new(
                            ErrorKind::ConflictingFields,
                            format!("task `{}`: `{key}` and `plan_from` exclude each other", b.id),
                        )
                        .at(span, "here")
                        .at(reference.span.clone(), "the reviewed preview")
                        .help(format!(
                            "the pulumi-preview task `{}` previews (and refreshes, with refresh = true); \
                             the update applies exactly its plan: remove `{key}` here",
                            reference.id
                        )),
                    );
                }
            }
        }
        Some(Self {
            project: PulumiProject::build(
                b,
                raw.stack,
                raw.cwd.as_deref(),
                raw.require_config,
                raw.args,
                raw.binary,
            )?,
            preview: raw.preview && raw.plan_from.is_none(),
            refresh: raw.refresh && raw.plan_from.is_none(),
            plan_from,
            on_pending: raw.on_pending.unwrap_or(OnPending::Stop),
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
        if self.refresh {
            steps.push("refresh".into());
        }
        if self.preview {
            steps.push("preview --diff".into());
        }
        match &self.plan_from {
            Some(reference) => steps.push(format!("up --plan (the plan of {})", reference.id)),
            None => steps.push("up".into()),
        }
        self.project.describe(steps)
    }
}
