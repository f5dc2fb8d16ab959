//! The executor registry: each task type's executor, by [`TaskKind`]. See
//! `CONTRIBUTING.md` for adding a type.

use crate::validate::{Task, TaskKind};

use super::attempt::Attempt;
use super::outcome::{TaskError, TaskOutcome};
use super::{assert_file, confirm, kube, notify, pulumi, script};

/// Runs one attempt of `task`. Executors never print: output goes through the
/// attempt (events and the task log). They watch `attempt.cancel` and, when it
/// fires, stop what they started and return a cancelled [`TaskError`].
pub async fn execute(task: &Task, attempt: &Attempt) -> Result<TaskOutcome, TaskError> {
    match &task.kind {
        TaskKind::ExecScript(spec) => script::execute(spec, attempt).await,
        TaskKind::KubeDelete(spec) => kube::execute(task, spec, attempt).await,
        TaskKind::KubePatch(spec) => kube::execute(task, spec, attempt).await,
        TaskKind::KubeApply(spec) => kube::execute(task, spec, attempt).await,
        TaskKind::WaitAbsent(spec) => kube::execute(task, spec, attempt).await,
        TaskKind::WaitCondition(spec) => kube::execute(task, spec, attempt).await,
        TaskKind::AssertDeployments(spec) => kube::execute(task, spec, attempt).await,
        TaskKind::AssertFieldManagers(spec) => kube::execute(task, spec, attempt).await,
        TaskKind::Capture(spec) => kube::execute(task, spec, attempt).await,
        TaskKind::AssertFile(spec) => assert_file::execute(spec, attempt).await,
        TaskKind::Confirm(spec) => confirm::execute(spec, attempt).await,
        TaskKind::PulumiPreview(spec) => pulumi::execute_preview(spec, attempt).await,
        TaskKind::PulumiUp(spec) => pulumi::execute(spec, attempt).await,
        TaskKind::Notify(spec) => notify::execute(spec, attempt).await,
    }
}
