//! The table printed when a run ends: every task with its state (in the vocabulary),
//! duration and attempts, what each stopped wait was blocked by, and the closing
//! line.

use std::fmt::Write as _;
use std::time::Duration;

use planrun_text::format_duration;

use super::record::{RunRecord, TaskRecord};
use super::style::Paint;
use crate::events::RunOutcome;
use crate::vocabulary::{TaskStatus, Tone};

/// The colour of a state.
pub fn paint_status(paint: Paint, status: TaskStatus, text: &str) -> String {
    match status.tone() {
        Tone::Good => paint.green(text),
        Tone::Bad => paint.red(text),
        Tone::Warn => paint.yellow(text),
        Tone::Quiet => paint.dim(text),
    }
}

/// The summary table and the closing line, ready to print.
pub fn render(record: &RunRecord, paint: Paint) -> String {
    let width = record
        .tasks
        .iter()
        .map(|t| t.id.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let state_width = TaskStatus::ALL
        .iter()
        .map(|s| s.display().len())
        .max()
        .unwrap_or(16);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:<state_width$}  {:>8}  attempts",
        "task", "state", "duration"
    );
    for task in &record.tasks {
        let label = format!("{:<state_width$}", task.status.display());
        let label = paint_status(paint, task.status, &label);
        let duration = task
            .duration_ms
            .map(|ms| format_duration(Duration::from_millis(ms)))
            .unwrap_or_else(|| "-".into());
        let attempts = if task.attempt == 0 {
            "-".to_owned()
        } else {
            task.attempt.to_string()
        };
        let _ = writeln!(
            out,
            "{:<width$}  {label}  {duration:>8}  {attempts}",
            task.id
        );
    }
    let blocked: Vec<&TaskRecord> = record.tasks.iter().filter(|t| stopped_waiting(t)).collect();
    if !blocked.is_empty() {
        let _ = writeln!(out, "stopped while waiting:");
        for t in blocked {
            let _ = writeln!(
                out,
                "  {}: {}",
                t.id,
                t.detail.as_deref().unwrap_or_default()
            );
        }
    }
    for task in record.tasks.iter().filter(|t| t.log_failed.is_some()) {
        let _ = writeln!(
            out,
            "{} the log of {} is incomplete: {}",
            paint.yellow("warning:"),
            task.id,
            task.log_failed.as_deref().unwrap_or_default()
        );
    }
    let _ = writeln!(out, "{}", closing_line(record, paint));
    out
}

/// Whether the task was stopped (Ctrl-C, its timeout, the run failing) while it
/// waited on something it had said.
fn stopped_waiting(t: &TaskRecord) -> bool {
    let stopped = match t.status {
        TaskStatus::Interrupted | TaskStatus::Cancelled => true,
        TaskStatus::Failed | TaskStatus::FailedAllowed => t
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("timed out")),
        _ => false,
    };
    stopped && t.detail.is_some()
}

/// `run failed in 3.2s: 4 succeeded, 9 done earlier, 1 failed, 2 skipped`.
pub fn closing_line(record: &RunRecord, paint: Paint) -> String {
    let Some(outcome) = record.outcome else {
        return "the run ended before it could say how".to_owned();
    };
    let head = format!(
        "{}run {} in {}",
        if record.dry_run { "dry " } else { "" },
        outcome.status(),
        format_duration(Duration::from_millis(record.duration_ms))
    );
    let head = match outcome {
        RunOutcome::Succeeded => paint.green(&head),
        RunOutcome::SucceededWithWarnings => paint.yellow(&head),
        _ => paint.red(&head),
    };
    format!("{}: {}", paint.bold(&head), record.counts.describe())
}
