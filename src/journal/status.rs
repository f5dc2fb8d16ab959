//! Rendering where runs stand, for `planrun status` and `planrun runs`.

use std::collections::BTreeSet;
use std::fmt::Write;

use jiff::Timestamp;
use planrun_text::format_duration;

use super::history::{RecordedState, RunHistory, TaskHistory};

/// "12 of 50 tasks succeeded, 1 failed, 2 cut off": `plan_tasks` are the plan's task
/// ids (tasks of the journal no longer in the plan are not counted).
pub fn progress(run: &RunHistory, plan_tasks: &[&str], live: bool) -> String {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    let mut succeeded = 0;
    for id in plan_tasks {
        match run.task(id).map(|t| t.state) {
            Some(RecordedState::Succeeded) => succeeded += 1,
            None | Some(RecordedState::Pending) => {}
            Some(s) => *counts.entry(s.status(live).display()).or_default() += 1,
        }
    }
    let mut out = format!("{succeeded} of {} tasks succeeded", plan_tasks.len());
    for (state, n) in counts {
        let _ = write!(out, ", {n} {state}");
    }
    out
}

/// The `status` table of one run: the plan's tasks in plan order, then journaled
/// tasks the plan no longer has.
pub fn render_status(run: &RunHistory, plan_tasks: &[&str], live: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} of plan `{}`: {} ({})",
        run.run_id(),
        run.start.plan_name,
        run.status(live),
        progress(run, plan_tasks, live)
    );
    let _ = write!(out, "started {}", fmt_time(run.start.at));
    if let Some((at, _)) = run.finished {
        let _ = write!(out, ", ended {}", fmt_time(at));
    } else {
        let _ = write!(out, ", last change {}", fmt_time(run.last_change));
    }
    if run.sessions.len() > 1 {
        let _ = write!(out, ", resumed {} times", run.sessions.len() - 1);
    }
    out.push('\n');
    for p in &run.sessions {
        if let Some(how) = &p.how {
            let _ = writeln!(out, "resumed {} ({how})", fmt_time(p.at));
        }
        if let Some((at, cause)) = &p.interrupted {
            let _ = writeln!(
                out,
                "interrupted {} by {}",
                fmt_time(*at),
                cause.as_deref().unwrap_or("a stop signal")
            );
        }
    }
    out.push('\n');

    let in_plan: BTreeSet<&str> = plan_tasks.iter().copied().collect();
    let pending = TaskHistory::default();
    let mut rows: Vec<[String; 5]> = plan_tasks
        .iter()
        .map(|id| row(id, run.task(id).unwrap_or(&pending), live, None))
        .collect();
    rows.extend(
        run.tasks
            .iter()
            .filter(|(id, _)| !in_plan.contains(id.as_str()))
            .map(|(id, t)| row(id, t, live, Some("no longer in the plan"))),
    );
    let header = ["TASK", "STATE", "ATTEMPTS", "DURATION", "NOTE"].map(String::from);
    table(&mut out, &header, &rows);
    out
}

fn row(id: &str, t: &TaskHistory, live: bool, note: Option<&str>) -> [String; 5] {
    let duration = match (t.started_at, t.ended_at) {
        (Some(s), Some(e)) if t.state != RecordedState::Pending => span(s, e),
        _ => String::new(),
    };
    let mut n = task_note(t);
    if let Some(extra) = note {
        if !n.is_empty() {
            n.push_str("; ");
        }
        n.push_str(extra);
    }
    [
        id.to_owned(),
        t.state.status(live).display().to_owned(),
        t.attempts.to_string(),
        duration,
        n,
    ]
}

/// What `status` and the report say beside a task's state: its result line when it
/// succeeded, else its exit code and message (the error, why it was skipped or
/// reset, what it was waiting on when stopped).
pub fn task_note(t: &TaskHistory) -> String {
    if t.state == RecordedState::Succeeded {
        return t.summary.clone().unwrap_or_default();
    }
    let mut n = String::new();
    // A message that already names the exit code (`exit code 3`) says it alone.
    if let Some(code) = t
        .exit_code
        .filter(|&code| t.message.as_deref() != Some(format!("exit code {code}").as_str()))
    {
        let _ = write!(n, "exit {code}");
    }
    if let Some(m) = &t.message {
        if !n.is_empty() {
            n.push_str(": ");
        }
        n.push_str(m);
    }
    n
}

/// One line of the `runs` listing.
#[derive(Debug, Clone)]
pub struct RunLine<'a> {
    pub run: &'a RunHistory,
    pub live: bool,
    /// Total tasks in the plan, when known.
    pub plan_tasks: Option<usize>,
}

/// The `runs` table, in the order given (oldest first).
pub fn render_runs(lines: &[RunLine<'_>]) -> String {
    let header = ["RUN", "STARTED", "ENDED", "OUTCOME", "TASKS"].map(String::from);
    let rows: Vec<[String; 5]> = lines
        .iter()
        .map(|l| {
            let tasks = match l.plan_tasks {
                Some(total) => format!("{}/{total} succeeded", l.run.succeeded_count()),
                None => format!("{} succeeded", l.run.succeeded_count()),
            };
            [
                l.run.run_id().to_owned(),
                fmt_time(l.run.start.at),
                l.run
                    .finished
                    .map(|(at, _)| fmt_time(at))
                    .unwrap_or_default(),
                l.run.status(l.live).display().to_owned(),
                tasks,
            ]
        })
        .collect();
    let mut out = String::new();
    table(&mut out, &header, &rows);
    out
}

fn table(out: &mut String, header: &[String; 5], rows: &[[String; 5]]) {
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for r in std::iter::once(header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// `1m12s` from `from` to `to`.
pub fn span(from: Timestamp, to: Timestamp) -> String {
    format_duration(to.duration_since(from).try_into().unwrap_or_default())
}

/// `2026-11-26 06:36:12Z`.
pub fn fmt_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::journal::record::{
        FORMAT_VERSION, ProcessInfo, Record, RecordedOutcome, RunStarted, VarOverrides,
    };

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000 + s).unwrap()
    }

    fn run() -> RunHistory {
        let mut r = RunHistory::new(RunStarted {
            format: FORMAT_VERSION,
            run_id: "20261119T051320Z-0a1b".into(),
            plan_name: "flux-rebuild".into(),
            plan_path: "plans/flux.toml".into(),
            at: ts(0),
            planrun_version: "0.1.0".into(),
            pid: 7,
            vars: VarOverrides::default(),
            process: ProcessInfo::default(),
        });
        for rec in [
            Record::TaskStarted {
                task: "capture".into(),
                attempt: 1,
                fingerprint: "f".into(),
                at: ts(1),
                expected_ms: None,
            },
            Record::TaskSucceeded {
                task: "capture".into(),
                attempt: 1,
                fingerprint: "f".into(),
                at: ts(3),
                exit_code: None,
                summary: Some("captured 1 secret".into()),
            },
            Record::TaskStarted {
                task: "delete".into(),
                attempt: 1,
                fingerprint: "f".into(),
                at: ts(3),
                expected_ms: None,
            },
            Record::TaskFailed {
                task: "delete".into(),
                attempt: 1,
                at: ts(75),
                exit_code: Some(1),
                message: Some("forbidden".into()),
                allowed: false,
            },
            Record::TaskStarted {
                task: "old".into(),
                attempt: 1,
                fingerprint: "f".into(),
                at: ts(3),
                expected_ms: None,
            },
        ] {
            r.apply(&rec);
        }
        r
    }

    #[test]
    fn status_lists_plan_tasks_then_stray_ones() {
        let text = render_status(&run(), &["capture", "delete", "wait"], false);
        assert_eq!(
            text,
            "\
run 20261119T051320Z-0a1b of plan `flux-rebuild`: cut off (1 of 3 tasks succeeded, 1 failed)
started 2026-11-18 11:06:40Z, last change 2026-11-18 11:07:55Z

TASK     STATE      ATTEMPTS  DURATION  NOTE
capture  succeeded  1         2s        captured 1 secret
delete   failed     1         1m12s     exit 1: forbidden
wait     pending    0
old      cut off    1                   no longer in the plan
"
        );
    }

    #[test]
    fn runs_lists_outcomes() {
        let mut done = run();
        done.apply(&Record::RunFinished {
            at: ts(100),
            outcome: RecordedOutcome::Failed,
        });
        let live = run();
        let text = render_runs(&[
            RunLine {
                run: &done,
                live: false,
                plan_tasks: Some(3),
            },
            RunLine {
                run: &live,
                live: true,
                plan_tasks: None,
            },
        ]);
        assert_eq!(
            text,
            "\
RUN                    STARTED               ENDED                 OUTCOME  TASKS
20261119T051320Z-0a1b  2026-11-18 11:06:40Z  2026-11-18 11:08:20Z  failed   1/3 succeeded
20261119T051320Z-0a1b  2026-11-18 11:06:40Z                        running  1 succeeded
"
        );
    }
}
