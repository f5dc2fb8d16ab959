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
    /// In a dry run, a kind not served now is said to be possibly installed by an
    /// earlier task (a CRD that `pulumi up` installs).
    const KIND_MAY_COME_LATER: bool = false;

    /// Does the work; returns the one-line summary.
    fn run(
        &self,
        env: &TaskEnv<'_>,
        task: &KubeTask<'_>,
    ) -> impl Future<Output = Result<String, KubeError>> + Send;
}

/// What a Kubernetes task did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeDone {
    /// One line: what was done, or in a dry run what would be.
    pub summary: String,
    /// In a dry run: it would change something.
    pub would_change: bool,
    /// In a dry run: what it would do.
    pub would: Vec<crate::events::WouldDo>,
}

/// Runs one Kubernetes task. Returns the one-line summary.
pub async fn run_kube_task<W: KubeWork>(work: &W, task: KubeTask<'_>) -> Result<String, KubeError> {
    run_kube(work, task).await.map(|done| done.summary)
}

/// Runs one Kubernetes task. Returns what it did.
pub async fn run_kube<W: KubeWork>(work: &W, task: KubeTask<'_>) -> Result<KubeDone, KubeError> {
    let env = TaskEnv::new(
        task.conn,
        task.progress,
        task.timeout.unwrap_or(DEFAULT_BUDGET),
    )
    .dry_run(task.dry_run);
    match work.run(&env, &task).await {
        Ok(summary) => Ok(KubeDone {
            summary,
            would_change: env.noted_change(),
            would: env.noted(),
        }),
        Err(KubeError::UnknownKind {
            kind,
            api_version,
            close,
            unlisted,
        }) if task.dry_run && W::KIND_MAY_COME_LATER => Err(KubeError::Assertion {
            summary: format!("kind `{kind}` is not served now (an earlier task may install it)"),
            details: KubeError::UnknownKind {
                kind,
                api_version,
                close,
                unlisted,
            }
            .to_string()
            .lines()
            .map(str::to_owned)
            .collect(),
        }),
        Err(e) => Err(e),
    }
}
