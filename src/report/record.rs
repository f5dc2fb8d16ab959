//! What the run did, assembled from its events: the data behind the final summary
//! table and the Markdown report.

use std::collections::HashMap;

use jiff::Timestamp;

use crate::events::{CancelReason, Counts, Event, EventKind, RunOutcome, SkipReason};
use crate::vocabulary::TaskStatus;

/// Facts about the run that are not events: who ran it, where, on what.
#[derive(Debug, Clone, Default)]
pub struct RunMeta {
    pub plan_name: String,
    pub plan_path: String,
    pub plan_description: Option<String>,
    /// Task ids, in execution order.
    pub tasks: Vec<String>,
    pub user: String,
    pub host: String,
    pub cwd: String,
    pub planrun_version: String,
    /// The kube context and API server URL Kubernetes tasks used, if any.
    pub kube: Option<(String, String)>,
}

impl RunMeta {
    /// User, host, working directory and planrun version of this process.
    pub fn of_this_process() -> Self {
        let user = std::env::var("USER")
            .ok()
            .or_else(|| {
                nix::unistd::User::from_uid(nix::unistd::getuid())
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            })
            .unwrap_or_else(|| "unknown".into());
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown".into());
        Self {
            user,
            host,
            cwd: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            planrun_version: env!("CARGO_PKG_VERSION").into(),
            ..Self::default()
        }
    }
}

/// How a task ended in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskResult {
    NotRun,
    Running,
    Succeeded,
    Failed { allowed: bool },
    Skipped(SkipReason),
    Cancelled(CancelReason),
}

impl TaskResult {
    /// Where the task stands, in words.
    pub fn status(&self) -> TaskStatus {
        match self {
            TaskResult::NotRun => TaskStatus::Pending,
            TaskResult::Running => TaskStatus::Running,
            TaskResult::Succeeded => TaskStatus::Succeeded,
            TaskResult::Failed { allowed: false } => TaskStatus::Failed,
            TaskResult::Failed { allowed: true } => TaskStatus::FailedAllowed,
            TaskResult::Skipped(SkipReason::DoneEarlier) => TaskStatus::DoneEarlier,
            TaskResult::Skipped(_) => TaskStatus::Skipped,
            TaskResult::Cancelled(_) => TaskStatus::Cancelled,
        }
    }
}

/// One task's record.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    pub id: String,
    pub result: TaskResult,
    pub attempts: u32,
    pub duration_ms: Option<u64>,
    pub started: Option<Timestamp>,
    pub error: Option<String>,
    pub excerpt: Vec<String>,
    pub summary: Option<String>,
    /// Why the task's log is incomplete, if it is.
    pub log_failed: Option<String>,
}

/// Everything the reports show.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub meta: RunMeta,
    pub run_id: String,
    pub run_dir: Option<String>,
    pub dry_run: bool,
    pub jobs: usize,
    pub started: Option<Timestamp>,
    pub finished: Option<Timestamp>,
    pub outcome: Option<RunOutcome>,
    pub duration_ms: u64,
    pub counts: Counts,
    pub tasks: Vec<TaskRecord>,
    index: HashMap<String, usize>,
}

impl RunRecord {
    pub fn new(meta: RunMeta) -> Self {
        let tasks = meta
            .tasks
            .iter()
            .map(|id| TaskRecord {
                id: id.clone(),
                result: TaskResult::NotRun,
                attempts: 0,
                duration_ms: None,
                started: None,
                error: None,
                excerpt: Vec::new(),
                summary: None,
                log_failed: None,
            })
            .collect();
        let index = meta
            .tasks
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        Self {
            index,
            meta,
            run_id: String::new(),
            run_dir: None,
            dry_run: false,
            jobs: 0,
            started: None,
            finished: None,
            outcome: None,
            duration_ms: 0,
            counts: Counts::default(),
            tasks,
        }
    }

    /// Takes one event into account.
    pub fn apply(&mut self, event: &Event) {
        match &event.kind {
            EventKind::RunStarted {
                run_id,
                run_dir,
                jobs,
                dry_run,
                ..
            } => {
                self.run_id = run_id.clone();
                self.run_dir = run_dir.clone();
                self.jobs = *jobs;
                self.dry_run = *dry_run;
                self.started = Some(event.ts);
            }
            EventKind::RunFinished {
                outcome,
                duration_ms,
                counts,
            } => {
                self.outcome = Some(*outcome);
                self.duration_ms = *duration_ms;
                self.counts = *counts;
                self.finished = Some(event.ts);
            }
            EventKind::TaskOutput { .. } => {}
            kind => {
                let Some(task) = kind.task().and_then(|id| self.task_mut(id)) else {
                    return;
                };
                match kind {
                    EventKind::TaskStarted { attempt, .. } => {
                        task.result = TaskResult::Running;
                        task.attempts = *attempt;
                        task.started.get_or_insert(event.ts);
                    }
                    EventKind::TaskRetrying { error, .. } => task.error = Some(error.clone()),
                    EventKind::TaskSucceeded {
                        attempt,
                        duration_ms,
                        summary,
                        ..
                    } => {
                        task.result = TaskResult::Succeeded;
                        task.attempts = *attempt;
                        task.duration_ms = Some(*duration_ms);
                        task.summary = summary.clone();
                        task.error = None;
                    }
                    EventKind::TaskFailed {
                        attempt,
                        duration_ms,
                        error,
                        allowed,
                        excerpt,
                        ..
                    } => {
                        task.result = TaskResult::Failed { allowed: *allowed };
                        task.attempts = *attempt;
                        task.duration_ms = Some(*duration_ms);
                        task.error = Some(error.clone());
                        task.excerpt = excerpt.clone();
                    }
                    EventKind::TaskLogFailed { path, error, .. } => {
                        task.log_failed = Some(format!("cannot write {path}: {error}"));
                    }
                    EventKind::TaskSkipped { reason, .. } => {
                        task.result = TaskResult::Skipped(reason.clone());
                    }
                    EventKind::TaskCancelled {
                        attempt,
                        duration_ms,
                        reason,
                        ..
                    } => {
                        task.result = TaskResult::Cancelled(*reason);
                        task.attempts = *attempt;
                        task.duration_ms = Some(*duration_ms);
                    }
                    _ => {}
                }
            }
        }
    }

    fn task_mut(&mut self, id: &str) -> Option<&mut TaskRecord> {
        let i = *self.index.get(id)?;
        self.tasks.get_mut(i)
    }
}
