//! What this planrun process saw of the run, assembled from its events: the data
//! behind the summary table that ends the run.

use std::collections::HashMap;

use crate::events::{CancelReason, Counts, Event, EventKind, RunOutcome, SkipReason};
use crate::vocabulary::TaskStatus;

/// One task's record.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    pub id: String,
    pub status: TaskStatus,
    /// The number of its latest attempt, across the run (0: none).
    pub attempt: u32,
    pub duration_ms: Option<u64>,
    pub error: Option<String>,
    pub excerpt: Vec<String>,
    pub summary: Option<String>,
    pub skip: Option<SkipReason>,
    pub cancel: Option<CancelReason>,
    /// What it waits on now (or waited on last), from its progress.
    pub detail: Option<String>,
    /// Why the task's log is incomplete, if it is.
    pub log_failed: Option<String>,
}

/// Everything the summary shows.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub dry_run: bool,
    pub resumed: bool,
    pub outcome: Option<RunOutcome>,
    pub duration_ms: u64,
    pub counts: Counts,
    pub tasks: Vec<TaskRecord>,
    index: HashMap<String, usize>,
}

impl RunRecord {
    /// A record of the plan's tasks, in execution order.
    pub fn new(tasks: &[String]) -> Self {
        Self {
            index: tasks
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), i))
                .collect(),
            tasks: tasks
                .iter()
                .map(|id| TaskRecord {
                    id: id.clone(),
                    status: TaskStatus::Pending,
                    attempt: 0,
                    duration_ms: None,
                    error: None,
                    excerpt: Vec::new(),
                    summary: None,
                    skip: None,
                    cancel: None,
                    detail: None,
                    log_failed: None,
                })
                .collect(),
            dry_run: false,
            resumed: false,
            outcome: None,
            duration_ms: 0,
            counts: Counts::default(),
        }
    }

    /// Takes one event into account.
    pub fn apply(&mut self, event: &Event) {
        match &event.kind {
            EventKind::RunStarted(info) | EventKind::RunResumed(info) => {
                self.dry_run = info.dry_run;
                self.resumed = matches!(event.kind, EventKind::RunResumed(_));
            }
            EventKind::RunFinished {
                outcome,
                duration_ms,
                counts,
            } => {
                self.outcome = Some(*outcome);
                self.duration_ms = *duration_ms;
                self.counts = counts.clone();
            }
            kind => {
                let Some(task) = kind.task().and_then(|id| self.task_mut(id)) else {
                    return;
                };
                if let Some(state) = kind.end_state() {
                    task.status = state;
                }
                match kind {
                    EventKind::TaskStarted { attempt, .. } => {
                        task.status = TaskStatus::Running;
                        task.attempt = *attempt;
                        task.detail = None;
                    }
                    EventKind::TaskProgress { detail, .. } => task.detail = Some(detail.clone()),
                    EventKind::TaskRetrying { error, .. } => task.error = Some(error.clone()),
                    EventKind::TaskSucceeded {
                        attempt,
                        duration_ms,
                        summary,
                        ..
                    } => {
                        task.attempt = *attempt;
                        task.duration_ms = Some(*duration_ms);
                        task.summary = summary.clone();
                        task.error = None;
                    }
                    EventKind::TaskFailed {
                        attempt,
                        duration_ms,
                        error,
                        excerpt,
                        ..
                    } => {
                        task.attempt = *attempt;
                        task.duration_ms = Some(*duration_ms);
                        task.error = Some(error.clone());
                        task.excerpt = excerpt.clone();
                    }
                    EventKind::TaskLogFailed { path, error, .. } => {
                        task.log_failed = Some(format!("cannot write {path}: {error}"));
                    }
                    EventKind::TaskSkipped { reason, .. } => task.skip = Some(reason.clone()),
                    EventKind::TaskCancelled {
                        attempt,
                        duration_ms,
                        reason,
                        blocked_by,
                        ..
                    } => {
                        task.attempt = *attempt;
                        task.duration_ms = Some(*duration_ms);
                        task.cancel = Some(*reason);
                        if blocked_by.is_some() {
                            task.detail = blocked_by.clone();
                        }
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
