//! Dispatch from a task's type to the code that runs it.

use crate::validate::{Task, TaskKind, ValidatedPlan};

use super::context::ExecContext;
use super::outcome::{TaskError, TaskOutcome};
use super::pulumi;
use super::script;

/// Runs one attempt of `task`. Executors never print: output goes through
/// `ctx` (events and the task log). They watch `ctx.cancel` and, when it fires,
/// stop what they started and return [`TaskError::Cancelled`].
pub async fn execute(task: &Task, ctx: &ExecContext) -> Result<TaskOutcome, TaskError> {
    match &task.kind {
        TaskKind::ExecScript(spec) => script::execute(spec, ctx).await,
        TaskKind::PulumiUp(spec) => pulumi::execute(spec, ctx).await,
        kind if kind.uses_kube() => super::kube::execute(task, ctx).await,
        other => Err(TaskError::NoExecutor(other.type_name())),
    }
}

/// Whether planrun can run tasks of this type.
pub fn has_executor(kind: &TaskKind) -> bool {
    matches!(kind, TaskKind::ExecScript(_) | TaskKind::PulumiUp(_)) || kind.uses_kube()
}

/// The first task whose type has no executor yet, with that type: `run` refuses such
/// a plan before starting anything.
pub fn first_unsupported(plan: &ValidatedPlan) -> Option<(&Task, &'static str)> {
    plan.tasks()
        .iter()
        .find(|t| !has_executor(&t.kind))
        .map(|t| (t, t.kind.type_name()))
}

/// What the task would do, for `--dry-run` and the report (variables resolved,
/// secrets masked by the caller).
pub fn describe(task: &Task) -> String {
    task.kind.describe()
}
