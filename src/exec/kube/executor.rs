//! The Kubernetes task types inside the engine: the run's shared connection, progress
//! lines as task output (events and the task log), cancellation, and errors as the
//! engine's [`TaskError`].

use std::time::Duration;

use crate::exec::{Attempt, TaskError, TaskOutcome};
use crate::validate::Task;

use super::env::Progress;
use super::task::{KubeTask, KubeWork, run_kube};

/// After the engine's timeout fires, how long a task may take to finish on its own
/// deadline (at the same instant) and say why it timed out.
const EXPLAIN_GRACE: Duration = Duration::from_secs(5);

/// Progress lines are task output: to the event stream and the task log, masked;
/// details go to the task's live line.
impl Progress for Attempt {
    fn line(&self, text: &str) {
        self.say(text);
    }

    fn detail(&self, text: &str) {
        Attempt::detail(self, text);
    }
}

/// Runs one attempt of `task`, a Kubernetes task whose type-specific part is `work`.
pub async fn execute<W: KubeWork>(
    task: &Task,
    work: &W,
    ctx: &Attempt,
) -> Result<TaskOutcome, TaskError> {
    let Some(conn) = ctx.run.kube.get() else {
        return Err(TaskError::failed(
            "no Kubernetes connection was opened for this run (a bug: `run` opens it before any task starts)",
        ));
    };
    ctx.say(&format!(
        "--- attempt {}: {} (context {}, {})",
        ctx.number,
        task.kind.type_name(),
        conn.context(),
        conn.server()
    ));
    let work = run_kube(
        work,
        KubeTask {
            conn,
            progress: ctx,
            run_dir: &ctx.run.run_dir,
            redactor: &ctx.run.redactor,
            dry_run: ctx.run.dry_run,
            timeout: task.timeout,
        },
    );
    tokio::pin!(work);
    let result = tokio::select! {
        result = &mut work => result,
        reason = ctx.cancel.cancelled() => {
            if reason != crate::events::CancelReason::Timeout {
                return Err(TaskError::cancelled(reason));
            }
            // The task's own deadline is the same instant: let it explain the timeout.
            match tokio::time::timeout(EXPLAIN_GRACE, &mut work).await {
                Ok(result) => result,
                Err(_) => return Err(TaskError::cancelled(reason)),
            }
        }
    };
    let redact = |text: &str| ctx.run.redactor.redact(text).into_owned();
    match result {
        Ok(done) => Ok(TaskOutcome {
            would_change: done.would_change,
            would: done.would,
            ..TaskOutcome::new(redact(&done.summary))
        }),
        // The message carries the details (what remains, expected versus actual).
        Err(e) => Err(TaskError::from_diagnostic(&e).map_text(redact)),
    }
}
