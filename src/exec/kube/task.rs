//! The engine's entry point: run one Kubernetes task of any type with its budget,
//! connection, progress sink, run directory and redactor.

use std::path::Path;
use std::time::Duration;

use crate::redact::Redactor;
use crate::validate::TaskKind;

use super::connection::Connection;
use super::env::{Progress, TaskEnv};
use super::error::KubeError;

/// The budget of a task without a `timeout`: retries of transient errors stop here.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(300);

/// Everything a Kubernetes task runs with besides its definition.
pub struct KubeTask<'a> {
    pub conn: &'a Connection,
    pub progress: &'a dyn Progress,
    /// Where `capture` writes.
    pub run_dir: &'a Path,
    /// Captured Secret values join it.
    pub redactor: &'a Redactor,
    pub dry_run: bool,
    /// The task's timeout; [`DEFAULT_BUDGET`] when `None`.
    pub timeout: Option<Duration>,
}

/// Runs `kind` (a Kubernetes task type). Returns the one-line summary.
pub async fn run_kube_task(kind: &TaskKind, task: KubeTask<'_>) -> Result<String, KubeError> {
    let env = TaskEnv::new(
        task.conn,
        task.progress,
        task.timeout.unwrap_or(DEFAULT_BUDGET),
    )
    .dry_run(task.dry_run);
    let result = match kind {
        TaskKind::KubeDelete(spec) => super::kube_delete(&env, spec).await,
        TaskKind::WaitAbsent(spec) => super::wait_absent(&env, spec).await,
        TaskKind::WaitCondition(spec) => super::wait_condition(&env, spec).await,
        TaskKind::AssertDeployments(spec) => super::assert_deployments(&env, spec).await,
        TaskKind::AssertFieldManagers(spec) => super::assert_field_managers(&env, spec).await,
        TaskKind::Capture(spec) => super::capture(&env, spec, task.run_dir, task.redactor).await,
        other => {
            return Err(KubeError::Client {
                verb: "run",
                resource: other.type_name().to_string(),
                message: "not a Kubernetes task type".into(),
            });
        }
    };
    match result {
        // A dry run skipped the task that would install the kind (a CRD from
        // `pulumi up`): say so instead of failing the rehearsal.
        Err(KubeError::UnknownKind { kind: k, .. })
            if task.dry_run
                && matches!(
                    kind,
                    TaskKind::WaitCondition(_) | TaskKind::AssertFieldManagers(_)
                ) =>
        {
            Ok(format!(
                "would check {k} objects; the kind is not served now (an earlier task may install it)"
            ))
        }
        other => other,
    }
}
