//! Dispatch from a task's type to the code that runs it.

use crate::validate::{Task, TaskKind};

use super::attempt::Attempt;
use super::outcome::{TaskError, TaskOutcome};
use super::{assert_file, confirm, pulumi, script};

/// Runs one attempt of `task`. Executors never print: output goes through
/// `ctx` (events and the task log). They watch `ctx.cancel` and, when it fires,
/// stop what they started and return [`TaskError::Cancelled`].
pub async fn execute(task: &Task, ctx: &Attempt) -> Result<TaskOutcome, TaskError> {
    match &task.kind {
        TaskKind::ExecScript(spec) => script::execute(spec, ctx).await,
        TaskKind::PulumiUp(spec) => pulumi::execute(spec, ctx).await,
        TaskKind::AssertFile(spec) => assert_file::execute(spec, ctx).await,
        TaskKind::Confirm(spec) => confirm::execute(spec, ctx).await,
        TaskKind::KubeDelete(_)
        | TaskKind::WaitAbsent(_)
        | TaskKind::WaitCondition(_)
        | TaskKind::AssertDeployments(_)
        | TaskKind::AssertFieldManagers(_)
        | TaskKind::Capture(_) => super::kube::execute(task, ctx).await,
    }
}
