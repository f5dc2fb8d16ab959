//! The engine side of the Kubernetes task types: open the run's shared connection
//! on first use, check the plan's context guard, and run the task within its
//! timeout and the run's cancellation.

use std::sync::Arc;

use super::context::ExecContext;
use super::kube::{ConnectOptions, Connection, KubeError, KubeTask, run_kube_task};
use super::outcome::{TaskError, TaskOutcome};
use crate::events::{CancelReason, Stream};
use crate::validate::Task;

/// The run's Kubernetes connection, opened by whichever task needs it first, and the
/// plan's context guard.
#[derive(Debug, Clone, Default)]
pub struct KubeSlot {
    cell: Arc<tokio::sync::OnceCell<Connection>>,
    options: ConnectOptions,
    /// The plan's `[plan] context`: destructive or not, every Kubernetes task refuses
    /// another context.
    guard: Option<String>,
}

impl KubeSlot {
    pub fn new(options: ConnectOptions, guard: Option<String>) -> Self {
        Self {
            cell: Arc::default(),
            options,
            guard,
        }
    }

    async fn connection(&self) -> Result<&Connection, KubeError> {
        let conn = self
            .cell
            .get_or_try_init(|| Connection::open(&self.options))
            .await?;
        conn.check_guard(self.guard.as_deref())?;
        Ok(conn)
    }
}

/// Runs one attempt of a Kubernetes task.
pub async fn execute(task: &Task, ctx: &ExecContext) -> Result<TaskOutcome, TaskError> {
    let conn = ctx.kube.connection().await.map_err(failed)?;
    let progress = |line: &str| ctx.output(Stream::Stdout, line);
    let kube_task = KubeTask {
        conn,
        progress: &progress,
        run_dir: ctx.run_dir.path(),
        redactor: &ctx.redactor,
        dry_run: ctx.dry_run,
        timeout: task.timeout,
    };
    let work = run_kube_task(&task.kind, kube_task);
    tokio::pin!(work);
    let done = |result: Result<String, KubeError>| {
        result
            .map(|summary| TaskOutcome {
                summary: Some(summary),
            })
            .map_err(failed)
    };
    tokio::select! {
        result = &mut work => done(result),
        reason = ctx.cancel.cancelled() => {
            // The task's own deadline is its timeout too, a moment later than the
            // engine's: let it end with its explanation (what was still in the way).
            if reason == CancelReason::Timeout
                && let Ok(result) = tokio::time::timeout(OWN_TIMEOUT_GRACE, &mut work).await
            {
                return done(result);
            }
            Err(TaskError::Cancelled { reason, excerpt: Vec::new() })
        }
    }
}

/// How long a timed-out Kubernetes task gets to report why it timed out.
const OWN_TIMEOUT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

fn failed(e: KubeError) -> TaskError {
    TaskError::failed(e.to_string())
}
