//! What an executor gets besides its task: where to write, what to mask, when to
//! stop, where to send output, and shared clients.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cancel::Cancel;
use crate::events::{EventKind, EventSender, Stream};
use crate::redact::Redactor;

use super::process::GroupRegistry;

/// The run's Kubernetes connection (client, context, server, kind cache), opened and
/// checked against the plan's context guard before any task starts, and shared by
/// every task of the run; empty when no task uses Kubernetes.
pub type KubeSlot = Arc<tokio::sync::OnceCell<super::kube::Connection>>;

/// How long a cancelled child has between SIGTERM and SIGKILL unless told otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// Everything an attempt of a task may use besides the task itself.
#[derive(Clone)]
pub struct ExecContext {
    /// The task's id.
    pub task: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The run's directory (a scratch one for a dry run).
    pub run_dir: PathBuf,
    /// The task's log file; `None` when output is not kept.
    pub log: Option<PathBuf>,
    pub redactor: Redactor,
    /// Cancelled on interruption (run-wide) or on this attempt's timeout.
    pub cancel: Cancel,
    pub events: EventSender,
    /// Change nothing: describe, or only run what is read-only.
    pub dry_run: bool,
    /// `--yes`: confirmation gates pass without asking.
    pub assume_yes: bool,
    pub kube: KubeSlot,
    /// Variables every child gets (`PLANRUN_RUN_DIR`, `PLANRUN_RUN_ID`,
    /// `PLANRUN_TASK`, `PLANRUN_PLAN`).
    pub child_env: Arc<Vec<(String, String)>>,
    /// SIGTERM-to-SIGKILL delay for cancelled children.
    pub grace: Duration,
    /// Process groups alive now, for the emergency kill on a second Ctrl-C.
    pub groups: GroupRegistry,
}

impl ExecContext {
    /// Sends one line of task output to the reporters (masked).
    pub fn output(&self, stream: Stream, line: &str) {
        self.events.emit(EventKind::TaskOutput {
            task: self.task.clone(),
            stream,
            line: self.redactor.redact(line).into_owned(),
        });
    }
}
