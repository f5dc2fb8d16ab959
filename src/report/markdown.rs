//! The Markdown run report written to `report.md` in the run directory: what ran,
//! who ran it and where, how each task ended and how long it took, and the output
//! excerpt of each failure. Everything in it already passed the redactor.

use std::fmt::Write as _;
use std::time::Duration;

use planrun_text::format_duration;

use super::record::{RunRecord, TaskResult};
use crate::events::SkipReason;
use crate::layout;
use crate::vocabulary::RunStatus;

/// The report as Markdown.
pub fn render(record: &RunRecord) -> String {
    let meta = &record.meta;
    let mut out = String::new();
    let outcome = record
        .outcome
        .map_or(RunStatus::NotFinished, |o| o.status());
    let _ = writeln!(out, "# planrun run report: {}\n", meta.plan_name);
    if let Some(d) = &meta.plan_description {
        let _ = writeln!(out, "{d}\n");
    }
    let mut rows: Vec<(&str, String)> = vec![
        ("outcome", format!("**{outcome}**")),
        ("plan", format!("`{}`", meta.plan_path)),
        ("run id", format!("`{}`", record.run_id)),
        ("started", record.started.map(timestamp).unwrap_or_default()),
        ("ended", record.finished.map(timestamp).unwrap_or_default()),
        (
            "duration",
            format_duration(Duration::from_millis(record.duration_ms)),
        ),
        ("by", format!("{} on {}", meta.user, meta.host)),
        ("in", format!("`{}`", meta.cwd)),
        (
            "with",
            format!(
                "planrun {}, {} jobs{}",
                meta.planrun_version,
                record.jobs,
                if record.dry_run { ", dry run" } else { "" }
            ),
        ),
    ];
    if let Some((context, server)) = &meta.kube {
        rows.push(("kube context", format!("`{context}` at {server}")));
    }
    let _ = writeln!(out, "| | |\n|---|---|");
    for (k, v) in rows {
        let _ = writeln!(out, "| {k} | {} |", cell(&v));
    }
    let c = &record.counts;
    let _ = writeln!(
        out,
        "\n{} succeeded, {} failed ({} allowed), {} skipped, {} cancelled, {} not run.\n",
        c.succeeded, c.failed, c.allowed_failures, c.skipped, c.cancelled, c.not_run
    );

    let _ = writeln!(out, "## Tasks\n");
    let _ = writeln!(out, "| task | outcome | duration | attempts | note |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for t in &record.tasks {
        let duration = t
            .duration_ms
            .map(|ms| format_duration(Duration::from_millis(ms)))
            .unwrap_or_else(|| "-".into());
        let note = match &t.result {
            TaskResult::Skipped(SkipReason::DependencyFailed { dependency }) => {
                format!("`{dependency}` did not succeed")
            }
            TaskResult::Skipped(SkipReason::RunFailed) => "the run failed first".into(),
            TaskResult::Skipped(SkipReason::DoneEarlier) => "succeeded in an earlier run".into(),
            TaskResult::Cancelled(reason) => reason.to_string(),
            TaskResult::Failed { .. } => t.error.clone().unwrap_or_default(),
            _ => t.summary.clone().unwrap_or_default(),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            t.id,
            t.result.status().label(),
            duration,
            if t.attempts == 0 {
                "-".to_owned()
            } else {
                t.attempts.to_string()
            },
            cell(&note)
        );
    }

    let incomplete: Vec<_> = record
        .tasks
        .iter()
        .filter_map(|t| t.log_failed.as_ref().map(|why| (t, why)))
        .collect();
    if !incomplete.is_empty() {
        let _ = writeln!(out, "\n## Incomplete logs\n");
        for (t, why) in incomplete {
            let _ = writeln!(out, "- `{}`: {}", t.id, cell(why));
        }
    }

    let failures: Vec<_> = record
        .tasks
        .iter()
        .filter(|t| matches!(t.result, TaskResult::Failed { .. }))
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\n## Failures");
        for t in failures {
            let _ = writeln!(
                out,
                "\n### `{}`: {}\n",
                t.id,
                t.error.as_deref().unwrap_or("failed")
            );
            if t.excerpt.is_empty() {
                let _ = writeln!(out, "(no output)");
            } else {
                let fence = if t.excerpt.iter().any(|l| l.contains("```")) {
                    "~~~~"
                } else {
                    "```"
                };
                let _ = writeln!(out, "Last lines of output:\n\n{fence}text");
                for line in &t.excerpt {
                    let _ = writeln!(out, "{line}");
                }
                let _ = writeln!(out, "{fence}");
            }
            let log = layout::log_path_in_run(&t.id);
            if let Some(dir) = &record.run_dir
                && std::path::Path::new(dir).join(&log).is_file()
            {
                let _ = writeln!(out, "\nFull log: `{}`", log.display());
            }
        }
    }
    out
}

/// `2025-01-01 12:00:00.123 UTC`
fn timestamp(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
