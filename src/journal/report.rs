//! The Markdown run report, `report.md` in the run directory: one report for the
//! whole run, across every planrun process that worked on it, rendered from the
//! run's journal (the same source as `planrun status`, with the same words): each
//! task's final state with its result line (what was deleted, captured, applied) or
//! error, how long it was expected to take (from the plan's earlier runs) and took,
//! every attempt with its times, outcome and the process that ran it, every
//! process with who ran it where, how its part ended (an interruption with its time
//! and cause, a cut-off), the run on a time axis (a Mermaid gantt chart,
//! [`timeline`](super::timeline)), and the last lines of each failed task's log.
//!
//! Each planrun process rewrites the report when its part of the run ends,
//! atomically (a temporary file renamed over it), so a reader never sees half a
//! report. Everything in it went through the redactor before it was journaled or
//! logged.

use std::fmt::Write as _;
use std::path::Path;

use jiff::Timestamp;
use planrun_text::format_duration;

use super::history::{AttemptHistory, RecordedState, RunHistory, RunProcess, TaskHistory};
use super::record::RecordedOutcome;
use super::status::{fmt_time, span, task_note};
use crate::events::Counts;
use crate::layout::{self, RunDir};

/// Lines of a failed task's log the report shows.
const LOG_TAIL: usize = 20;

/// What the report says about the plan besides the journal.
#[derive(Debug, Clone)]
pub struct ReportPlan<'a> {
    pub name: &'a str,
    pub path: &'a str,
    pub description: Option<&'a str>,
    /// The plan's task ids, in execution order.
    pub tasks: Vec<&'a str>,
}

/// Renders the report of `run`; `run_dir` holds the task logs.
pub fn render(run: &RunHistory, plan: &ReportPlan<'_>, run_dir: &Path, live: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# planrun run report: {}\n", plan.name);
    if let Some(d) = plan.description {
        let _ = writeln!(out, "{d}\n");
    }
    let ended = run.finished.map(|(at, _)| at);
    let mut rows: Vec<(&str, String)> = vec![
        ("outcome", format!("**{}**", run.status(live))),
        ("plan", format!("`{}`", plan.path)),
        ("run id", format!("`{}`", run.run_id())),
        ("started", fmt_time(run.start.at)),
    ];
    match ended {
        Some(at) => {
            rows.push(("ended", fmt_time(at)));
            rows.push(("duration", span(run.start.at, at)));
        }
        None => rows.push(("last change", fmt_time(run.last_change))),
    }
    rows.push((
        "processes",
        match run.sessions.len() {
            1 => "1".to_owned(),
            n => format!("{n} (resumed {} times)", n - 1),
        },
    ));
    let _ = writeln!(out, "| | |\n|---|---|");
    for (k, v) in rows {
        let _ = writeln!(out, "| {k} | {} |", cell(&v));
    }
    let mut counts = Counts::default();
    let pending = TaskHistory::default();
    let task = |id: &str| run.task(id).unwrap_or(&pending);
    for id in &plan.tasks {
        counts.add(task(id).state.status(live));
    }
    let _ = writeln!(out, "\n{}.\n", counts.describe());

    let _ = writeln!(out, "## Tasks\n");
    let _ = writeln!(
        out,
        "| task | state | result | attempts | expected | duration |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for id in &plan.tasks {
        let t = task(id);
        let duration = match (t.started_at, t.ended_at) {
            (Some(s), Some(e)) if t.state != RecordedState::Pending => span(s, e),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "| `{id}` | {} | {} | {} | {} | {duration} |",
            t.state.status(live),
            cell(&task_note(t)),
            if t.attempts == 0 {
                "-".to_owned()
            } else {
                t.attempts.to_string()
            },
            t.expected.map_or_else(|| "-".to_owned(), format_duration),
        );
    }
    if plan.tasks.iter().any(|id| task(id).expected.is_some()) {
        let _ = writeln!(
            out,
            "\nexpected: the median of the task's last successful attempts with the same \
             definition, before its last attempt; duration: its last attempt."
        );
    }

    let _ = writeln!(out, "\n## Processes\n");
    let _ = writeln!(out, "| # | started | as | by | how it ended |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    let last = run.sessions.len() - 1;
    for (i, p) in run.sessions.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            i + 1,
            fmt_time(p.at),
            p.how.as_deref().unwrap_or("new run"),
            cell(&who(p)),
            cell(&how_it_ended(p, live && i == last))
        );
    }

    let attempted: Vec<(&str, &TaskHistory)> = plan
        .tasks
        .iter()
        .map(|id| (*id, task(id)))
        .filter(|(_, t)| !t.attempt_log.is_empty())
        .collect();
    if !attempted.is_empty() {
        let _ = writeln!(out, "\n## Attempts\n");
        let _ = writeln!(out, "| task | # | process | started | took | outcome |");
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for (id, t) in attempted {
            for a in &t.attempt_log {
                let _ = writeln!(
                    out,
                    "| `{id}` | {} | {} | {} | {} | {} |",
                    a.number,
                    a.process + 1,
                    fmt_time(a.started_at),
                    a.ended_at
                        .map_or_else(|| "-".to_owned(), |e| span(a.started_at, e)),
                    cell(&attempt_outcome(a, live && a.process == last))
                );
            }
        }
    }

    if plan.tasks.iter().any(|id| !task(id).attempt_log.is_empty()) {
        let _ = writeln!(
            out,
            "\n## Timeline\n\nEvery attempt of every task, by the journal's times; the \
             markers are each process's start, each interruption and each cut-off.\n"
        );
        let _ = write!(
            out,
            "```mermaid\n{}```\n",
            super::timeline::gantt(run, &plan.tasks, live)
        );
    }

    let failures: Vec<&str> = plan
        .tasks
        .iter()
        .copied()
        .filter(|id| {
            matches!(
                task(id).state,
                RecordedState::Failed | RecordedState::FailedAllowed
            )
        })
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\n## Failures");
        for id in failures {
            let t = task(id);
            let _ = writeln!(
                out,
                "\n### `{id}`: {}\n",
                t.message.as_deref().unwrap_or("failed")
            );
            let log = layout::log_path_in_run(id);
            let tail = log_tail(&run_dir.join(&log));
            if tail.is_empty() {
                let _ = writeln!(out, "(no output)");
            } else {
                let fence = if tail.iter().any(|l| l.contains("```")) {
                    "~~~~"
                } else {
                    "```"
                };
                let _ = writeln!(out, "Last lines of its log:\n\n{fence}text");
                for line in &tail {
                    let _ = writeln!(out, "{line}");
                }
                let _ = writeln!(out, "{fence}\n\nFull log: `{}`", log.display());
            }
        }
    }
    out
}

/// Writes `text` as the report of the run in `run_dir`, atomically: a reader sees
/// the previous report or this one, never a mix.
pub fn write(run_dir: &RunDir, text: &str) -> std::io::Result<()> {
    // Plan names, descriptions, messages and log lines come from outside: their
    // control characters are escaped (the report is read in terminals too).
    let text = planrun_text::escape_controls(text);
    layout::replace_private(&run_dir.report_path(), text.as_bytes())
}

/// Who ran a process, where, against what.
fn who(p: &RunProcess) -> String {
    let mut out = match (&p.info.user, &p.info.host) {
        (Some(u), Some(h)) => format!("{u} on {h}"),
        (Some(u), None) => u.clone(),
        (None, Some(h)) => format!("on {h}"),
        (None, None) => "unknown".to_owned(),
    };
    let _ = write!(out, ", pid {}, planrun {}", p.pid, p.planrun_version);
    if let Some(kube) = &p.info.kube {
        let _ = write!(out, ", kube context {kube}");
    }
    out
}

/// How a process's part of the run ended: its outcome with the time, an
/// interruption with its cause, or a cut-off.
fn how_it_ended(p: &RunProcess, live: bool) -> String {
    let signal = |at: Timestamp, cause: &Option<String>| {
        format!(
            "interrupted at {} by {}",
            fmt_time(at),
            cause.as_deref().unwrap_or("a stop signal")
        )
    };
    match (p.ended, &p.interrupted, live) {
        (Some((_, RecordedOutcome::Interrupted)), Some((at, cause)), _) => signal(*at, cause),
        (Some((at, outcome)), _, _) => format!("{} at {}", outcome.status(), fmt_time(at)),
        (None, Some((at, cause)), false) => format!(
            "{}, then cut off before it recorded its end",
            signal(*at, cause)
        ),
        (None, _, true) => "running".to_owned(),
        (None, None, false) => format!(
            "cut off (no end recorded: killed, crashed or lost power); last change {}",
            fmt_time(p.last_change)
        ),
    }
}

/// An attempt's state, with its exit code and message when it did not succeed (a
/// success's result line is in the task table).
fn attempt_outcome(a: &AttemptHistory, live: bool) -> String {
    let mut out = a.state.status(live).display().to_owned();
    if a.state == RecordedState::Succeeded {
        return out;
    }
    if let Some(code) = a.exit_code {
        let _ = write!(out, " (exit {code})");
    }
    if let Some(m) = &a.message {
        let _ = write!(out, ": {m}");
    }
    out
}

/// How much of the end of a log is read for its last lines: a log can be gigabytes
/// (a line of them), the report shows a few lines.
const TAIL_READ: u64 = 256 * 1024;

/// The last lines of a log file (none when it is missing), each cut at
/// [`planrun_text::EXCERPT_LINE`] bytes saying how much more the log has; only the
/// end of the file is read.
fn log_tail(path: &Path) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(TAIL_READ);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    // The first line read is the end of a longer one: its start is before the window.
    let cut_first = start > 0 && lines.len() > 1;
    if cut_first {
        lines.remove(0);
    }
    lines[lines.len().saturating_sub(LOG_TAIL)..]
        .iter()
        .map(|l| planrun_text::cap_line(l, planrun_text::EXCERPT_LINE, l.len() as u64))
        .collect()
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
