//! What every attempt of a run shares, made once per run: where to write, what to
//! mask, when to stop, where to send output, and shared clients.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cancel::Cancel;
use crate::events::EventSender;
use crate::redact::Redactor;

use super::process::GroupRegistry;

/// The run's Kubernetes connection (client, context, server, kind cache), opened and
/// checked against the plan's context guard before any task starts, and shared by
/// every task of the run; empty when no task uses Kubernetes.
pub type KubeSlot = Arc<tokio::sync::OnceCell<super::kube::Connection>>;

/// How long a cancelled child has between SIGTERM and SIGKILL unless told otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// The run-wide part of what an executor may use besides its task.
pub struct RunResources {
    /// The run's directory (a scratch one for a dry run): where `capture` writes.
    pub run_dir: PathBuf,
    pub redactor: Redactor,
    /// Cancelled when the run is interrupted; each attempt has a child of it.
    pub cancel: Cancel,
    pub events: EventSender,
    /// Change nothing: describe, or only run what is read-only.
    pub dry_run: bool,
    /// `--yes`: confirmation gates pass without asking.
    pub assume_yes: bool,
    pub kube: KubeSlot,
    /// Variables every child gets (`PLANRUN_RUN_DIR`, `PLANRUN_RUN_ID`,
    /// `PLANRUN_PLAN`, `PLANRUN_PLAN_FILE`; each attempt adds `PLANRUN_TASK`).
    pub child_env: Vec<(String, String)>,
    /// SIGTERM-to-SIGKILL delay for cancelled children.
    pub grace: Duration,
    /// Process groups alive now, for the emergency kill on a second Ctrl-C.
    pub groups: GroupRegistry,
}

impl RunResources {
    /// Resources for a run in `run_dir` with everything else at its default (no
    /// Kubernetes, no secrets, SIGTERM grace [`DEFAULT_GRACE`]), sending events to
    /// `events`.
    pub fn new(run_dir: PathBuf, events: EventSender) -> Self {
        Self {
            run_dir,
            redactor: Redactor::new(),
            cancel: Cancel::new(),
            events,
            dry_run: false,
            assume_yes: false,
            kube: KubeSlot::default(),
            child_env: Vec::new(),
            grace: DEFAULT_GRACE,
            groups: GroupRegistry::new(),
        }
    }
}
