//! The engine's entry point for one Kubernetes task of any type: its budget,
//! connection, progress sink, run directory and redactor. Each Kubernetes task type
//! says what it does with them as a [`KubeWork`], in its own file.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use crate::redact::Redactor;

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

/// What a Kubernetes task type does with the connection.
pub trait KubeWork: Sync {
    /// A dry run passes when the kind is not served yet: an earlier task (a CRD that
    /// `pulumi up` installs) would install it.
    const KIND_MAY_COME_LATER: bool = false;

    /// Does the work; returns the one-line summary.
    fn run(
        &self,
        env: &TaskEnv<'_>,
        task: &KubeTask<'_>,
    ) -> impl Future<Output = Result<String, KubeError>> + Send;
}

/// Runs one Kubernetes task. Returns the one-line summary.
pub async fn run_kube_task<W: KubeWork>(work: &W, task: KubeTask<'_>) -> Result<String, KubeError> {
    let env = TaskEnv::new(
        task.conn,
        task.progress,
        task.timeout.unwrap_or(DEFAULT_BUDGET),
    )
    .dry_run(task.dry_run);
    match work.run(&env, &task).await {
        Err(KubeError::UnknownKind { kind, .. }) if task.dry_run && W::KIND_MAY_COME_LATER => {
            Ok(format!(
                "would check {kind} objects; the kind is not served now (an earlier task may install it)"
            ))
        }
        other => other,
    }
}
