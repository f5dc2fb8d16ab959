//! The run on a time axis, for `report.md`: a Mermaid `gantt` block with one
//! section per task that ran and one bar per attempt (every planrun process of the
//! run), from the journal's times, and a section of markers for each process's
//! start, each interruption and each cut-off.
//!
//! The block uses only this subset of Mermaid's gantt grammar (Mermaid's
//! `packages/mermaid/src/diagrams/gantt/parser/gantt.jison`): `gantt`, `title`,
//! `dateFormat x` (times as Unix milliseconds, so no time zone is involved),
//! `axisFormat`, `todayMarker off`, `section NAME`, and task lines `NAME :TAGS, ID,
//! START, END` whose tags are `done`, `crit`, `active` and `milestone`. Names never
//! hold `:`, `#` or `;` (the grammar's separators and entity start).

use std::fmt::Write as _;

use jiff::Timestamp;

use super::history::{AttemptHistory, RecordedState, RunHistory};

/// The Mermaid gantt chart of `run`; `tasks` are the plan's task ids in execution
/// order (a task that never started has no bar). `live`: a planrun process works on
/// the run now (an attempt without an end is running, not cut off).
pub fn gantt(run: &RunHistory, tasks: &[&str], live: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "gantt");
    let _ = writeln!(out, "  title {}", text(&format!("run {}", run.run_id())));
    let _ = writeln!(out, "  dateFormat x");
    let _ = writeln!(out, "  axisFormat %H:%M:%S");
    let _ = writeln!(out, "  todayMarker off");
    let last = run.sessions.len().saturating_sub(1);
    for (i, id) in tasks.iter().enumerate() {
        let Some(t) = run.task(id).filter(|t| !t.attempt_log.is_empty()) else {
            continue;
        };
        let _ = writeln!(out, "  section {}", text(id));
        for (n, a) in t.attempt_log.iter().enumerate() {
            let end = attempt_end(run, a);
            let live = live && a.process == last;
            let _ = writeln!(
                out,
                "    {} :{}, t{i}a{n}, {}, {}",
                text(&format!("{} {}", a.number, a.state.status(live).display())),
                tag(a.state, live),
                millis(a.started_at),
                millis(end.max(a.started_at)),
            );
        }
    }
    let markers = markers(run, live);
    if !markers.is_empty() {
        let _ = writeln!(out, "  section processes");
        for (n, (at, what)) in markers.iter().enumerate() {
            let _ = writeln!(
                out,
                "    {} :milestone, m{n}, {}, {}",
                text(what),
                millis(*at),
                millis(*at)
            );
        }
    }
    out
}

/// When an attempt ended, or, without an end, the last the journal heard of its
/// process (running, or cut off then).
fn attempt_end(run: &RunHistory, a: &AttemptHistory) -> Timestamp {
    a.ended_at.unwrap_or_else(|| {
        run.sessions
            .get(a.process)
            .map_or(run.last_change, |p| p.last_change)
    })
}

/// What happened to the run's processes: each start (a resume says how it was
/// asked), each interruption with its cause, each cut-off.
fn markers(run: &RunHistory, live: bool) -> Vec<(Timestamp, String)> {
    let last = run.sessions.len().saturating_sub(1);
    let mut out = Vec::new();
    for (i, p) in run.sessions.iter().enumerate() {
        out.push((
            p.at,
            match &p.how {
                Some(how) => format!("process {} starts, {how}", i + 1),
                None => format!("process {} starts", i + 1),
            },
        ));
        if let Some((at, cause)) = &p.interrupted {
            out.push((
                *at,
                format!(
                    "interrupted by {}",
                    cause.as_deref().unwrap_or("a stop signal")
                ),
            ));
        }
        if p.ended.is_none() && !(live && i == last) {
            out.push((p.last_change, format!("process {} cut off", i + 1)));
        }
    }
    out
}

/// The gantt tag of an attempt's state.
fn tag(state: RecordedState, live: bool) -> &'static str {
    match state {
        RecordedState::Succeeded => "done",
        RecordedState::Running if live => "active",
        RecordedState::Pending | RecordedState::Skipped => "active",
        RecordedState::Running
        | RecordedState::Failed
        | RecordedState::FailedAllowed
        | RecordedState::Cancelled
        | RecordedState::Interrupted => "crit",
    }
}

fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// Text safe in a gantt name or title: the grammar's separators replaced.
fn text(s: &str) -> String {
    s.replace([':', ';', '#', '\n'], " ")
        .replace("%%", "% %")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::journal::record::{
        FORMAT_VERSION, ProcessInfo, Record, RecordedOutcome, RunResumed, RunStarted, VarOverrides,
    };

    fn ts(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(1_800_000_000_000 + ms).unwrap()
    }

    fn started(task: &str, attempt: u32, at: i64) -> Record {
        Record::TaskStarted {
            task: task.into(),
            attempt,
            fingerprint: "f".into(),
            expected_ms: None,
            at: ts(at),
        }
    }

    /// Two processes: `a` succeeds, `b` fails once, is retried, then interrupted by
    /// SIGINT; the resume runs `b` again to success.
    fn run() -> RunHistory {
        let mut run = RunHistory::new(RunStarted {
            format: FORMAT_VERSION,
            run_id: "r1".into(),
            plan_name: "p".into(),
            plan_path: "p.toml".into(),
            at: ts(0),
            planrun_version: "0".into(),
            pid: 1,
            vars: VarOverrides::default(),
            process: ProcessInfo::default(),
        });
        for r in [
            started("a", 1, 10),
            Record::TaskSucceeded {
                task: "a".into(),
                attempt: 1,
                fingerprint: "f".into(),
                at: ts(1_010),
                exit_code: Some(0),
                summary: None,
            },
            started("b", 1, 1_010),
            Record::TaskFailed {
                task: "b".into(),
                attempt: 1,
                at: ts(1_500),
                exit_code: Some(1),
                message: Some("boom: bad".into()),
                allowed: false,
            },
            started("b", 2, 2_500),
            Record::RunInterrupted {
                at: ts(3_000),
                cause: Some("SIGINT (Ctrl-C)".into()),
            },
            Record::TaskInterrupted {
                task: "b".into(),
                at: ts(3_100),
                message: None,
            },
            Record::RunFinished {
                at: ts(3_200),
                outcome: RecordedOutcome::Interrupted,
            },
            Record::RunResumed(RunResumed {
                at: ts(60_000),
                planrun_version: "0".into(),
                pid: 2,
                vars: VarOverrides::default(),
                process: ProcessInfo::default(),
                how: Some("--resume".into()),
            }),
            started("b", 3, 60_010),
            Record::TaskSucceeded {
                task: "b".into(),
                attempt: 3,
                fingerprint: "f".into(),
                at: ts(61_000),
                exit_code: Some(0),
                summary: None,
            },
        ] {
            run.apply(&r);
        }
        run
    }

    #[test]
    fn every_attempt_is_a_bar_and_every_interruption_a_marker() {
        let chart = gantt(&run(), &["a", "b", "never"], false);
        let base = 1_800_000_000_000_i64;
        let expected = format!(
            "gantt
  title run r1
  dateFormat x
  axisFormat %H:%M:%S
  todayMarker off
  section a
    1 succeeded :done, t0a0, {a0}, {a1}
  section b
    1 failed :crit, t1a0, {b0}, {b1}
    2 interrupted :crit, t1a1, {b2}, {b3}
    3 succeeded :done, t1a2, {b4}, {b5}
  section processes
    process 1 starts :milestone, m0, {p0}, {p0}
    interrupted by SIGINT (Ctrl-C) :milestone, m1, {i0}, {i0}
    process 2 starts, --resume :milestone, m2, {p1}, {p1}
    process 2 cut off :milestone, m3, {c}, {c}
",
            a0 = base + 10,
            a1 = base + 1_010,
            b0 = base + 1_010,
            b1 = base + 1_500,
            b2 = base + 2_500,
            b3 = base + 3_100,
            b4 = base + 60_010,
            b5 = base + 61_000,
            p0 = base,
            i0 = base + 3_000,
            p1 = base + 60_000,
            c = base + 61_000,
        );
        assert_eq!(chart, expected);
    }

    #[test]
    fn names_lose_the_grammars_separators() {
        assert_eq!(text("a: b; #c %% d"), "a  b   c % % d");
    }
}
