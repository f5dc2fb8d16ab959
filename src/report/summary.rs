//! The table printed when a run ends: every task with its outcome and duration.

use std::fmt::Write as _;
use std::time::Duration;

use planrun_text::format_duration;

use super::record::{RunRecord, TaskResult};
use super::style::Paint;
use crate::vocabulary::RunStatus;

/// The summary table and the closing line, ready to print.
pub fn render(record: &RunRecord, paint: Paint) -> String {
    let width = record
        .tasks
        .iter()
        .map(|t| t.id.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:<16}  {:>8}  attempts",
        "task", "outcome", "duration"
    );
    for task in &record.tasks {
        let label = format!("{:<16}", task.result.status().label());
        let label = match task.result {
            TaskResult::Succeeded => paint.green(&label),
            TaskResult::Failed { allowed: false } | TaskResult::Cancelled(_) => paint.red(&label),
            TaskResult::Failed { allowed: true } | TaskResult::Skipped(_) => paint.yellow(&label),
            _ => paint.dim(&label),
        };
        let duration = task
            .duration_ms
            .map(|ms| format_duration(Duration::from_millis(ms)))
            .unwrap_or_else(|| "-".into());
        let attempts = if task.attempts == 0 {
            "-".to_owned()
        } else {
            task.attempts.to_string()
        };
        let _ = writeln!(
            out,
            "{:<width$}  {label}  {duration:>8}  {attempts}",
            task.id
        );
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

/// `run failed in 3.2s: 4 succeeded, 1 failed, 2 skipped`.
pub fn closing_line(record: &RunRecord, paint: Paint) -> String {
    let Some(outcome) = record.outcome else {
        return format!("run {}", RunStatus::NotFinished);
    };
    let c = &record.counts;
    let mut parts = vec![format!("{} succeeded", c.succeeded)];
    if c.failed > 0 {
        if c.allowed_failures > 0 {
            parts.push(format!(
                "{} failed ({} allowed)",
                c.failed, c.allowed_failures
            ));
        } else {
            parts.push(format!("{} failed", c.failed));
        }
    }
    for (n, what) in [
        (c.skipped, "skipped"),
        (c.cancelled, "cancelled"),
        (c.not_run, "not run"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let head = format!(
        "{}run {} in {}",
        if record.dry_run { "dry " } else { "" },
        outcome.status(),
        format_duration(Duration::from_millis(record.duration_ms))
    );
    let head = match outcome {
        crate::events::RunOutcome::Succeeded => paint.green(&head),
        crate::events::RunOutcome::SucceededWithWarnings => paint.yellow(&head),
        _ => paint.red(&head),
    };
    format!("{}: {}", paint.bold(&head), parts.join(", "))
}
