//! A run you can look at: `report.md`'s Mermaid gantt chart (every attempt of every
//! task on a time axis, interruptions marked) and `planrun graph PLAN --run latest`
//! (the DAG coloured by each task's state, DOT and Mermaid), checked by a grammar
//! of the subset planrun emits and, where Mermaid is installed (CI installs it),
//! by Mermaid's own parser.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use regex::Regex;

use crate::support::{only_run, wait_for_file};

const PLAN: &str = r#"
[plan]
name = "timeline"

[tasks.first]
type = "exec-script"
script = 'echo first'

[tasks.slow]
type = "exec-script"
script = 'touch slow.started; while [ ! -e go ]; do sleep 0.05; done'
needs = ["first"]

[tasks.last]
type = "exec-script"
script = 'echo last'
needs = ["slow"]
"#;

fn planrun(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("planrun"));
    cmd.current_dir(dir).env("NO_COLOR", "1").args(args);
    cmd
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    planrun(dir, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The ```mermaid blocks of a Markdown text.
pub(crate) fn mermaid_blocks(markdown: &str) -> Vec<String> {
    markdown
        .split("```mermaid\n")
        .skip(1)
        .map(|b| b[..b.find("```").unwrap()].to_owned())
        .collect()
}

/// The gantt subset planrun emits (see `journal/timeline.rs`): a header, then
/// sections of task lines `NAME :TAGS, ID, START, END` with millisecond times.
pub(crate) fn check_gantt(text: &str) {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("gantt"), "{text}");
    let header =
        Regex::new(r"^  (title [^:;#]+|dateFormat x|axisFormat [%A-Za-z:]+|todayMarker off)$")
            .unwrap();
    let section = Regex::new(r"^  section [^:;#]+$").unwrap();
    let task = Regex::new(
        r"^    [^:;#]+ :(done|crit|active|milestone), ([a-z][a-z0-9]*), (\d{13}), (\d{13})$",
    )
    .unwrap();
    let mut ids = std::collections::BTreeSet::new();
    let mut in_section = false;
    for line in lines {
        if let Some(c) = task.captures(line) {
            assert!(in_section, "a task outside a section: {line}");
            assert!(ids.insert(c[2].to_owned()), "duplicate id: {line}");
            let (start, end): (u64, u64) = (c[3].parse().unwrap(), c[4].parse().unwrap());
            assert!(start <= end, "ends before it starts: {line}");
        } else if section.is_match(line) {
            in_section = true;
        } else {
            assert!(!in_section && header.is_match(line), "not gantt: {line:?}");
        }
    }
}

/// The flowchart subset `planrun graph --format mermaid` emits.
pub(crate) fn check_flowchart(text: &str) {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("flowchart TD"), "{text}");
    let node = Regex::new(r#"^  t\d+\["[^"]+<br/><small>[^"<]+</small>"\]$"#).unwrap();
    let edge = Regex::new(r"^  t\d+ --> t\d+$").unwrap();
    let class_def = Regex::new(
        r"^  classDef [a-z_]+ fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6},color:#[0-9a-f]{6}$",
    )
    .unwrap();
    let class = Regex::new(r"^  class t\d+(,t\d+)* [a-z_]+$").unwrap();
    for line in lines {
        assert!(
            [&node, &edge, &class_def, &class]
                .iter()
                .any(|r| r.is_match(line)),
            "not the flowchart subset: {line:?}"
        );
    }
}

/// Mermaid's own parser, where it is installed (`PLANRUN_MERMAID_MODULES`, set by
/// `.ci/run`); in CI it must be.
fn mermaid_parse(diagrams: &[String]) {
    let Some(modules) = std::env::var_os("PLANRUN_MERMAID_MODULES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs Mermaid and sets PLANRUN_MERMAID_MODULES"
        );
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mermaid-parse.mjs");
    let mut child = Command::new("node")
        .arg(script)
        .env("PLANRUN_MERMAID_MODULES", modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(diagrams).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = stdout(&out);
    assert!(out.status.success(), "Mermaid refused: {said}");
    assert_eq!(said.lines().count(), diagrams.len(), "{said}");
}

/// `planrun graph plan.toml --run latest --format mermaid` in `d`, checked.
fn latest_flowchart(d: &Path) -> String {
    let graph = planrun(
        d,
        &[
            "graph",
            "plan.toml",
            "--run",
            "latest",
            "--format",
            "mermaid",
        ],
    )
    .output()
    .unwrap();
    let drawn = stdout(&graph);
    assert!(graph.status.success(), "{drawn}");
    check_flowchart(&drawn);
    drawn
}

#[test]
fn the_report_charts_every_attempt_and_the_graph_colours_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("plan.toml"), PLAN).unwrap();
    // Process 1 is interrupted while `slow` waits; process 2 resumes to the end.
    let child = spawn(d, &["plan.toml"]);
    wait_for_file(&d.join("slow.started"));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stdout(&out));

    // While interrupted: the graph shows where the run stands.
    let interrupted = latest_flowchart(d);
    assert!(
        interrupted.contains("slow<br/><small>exec-script · interrupted</small>"),
        "{interrupted}"
    );
    assert!(
        interrupted.contains("  class t1 interrupted\n"),
        "{interrupted}"
    );
    assert!(
        interrupted.contains("  class t2 pending\n"),
        "{interrupted}"
    );

    std::fs::write(d.join("go"), "").unwrap();
    let out = planrun(d, &["plan.toml", "--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    let run = only_run(&d.join(".planrun/timeline/runs"));
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    let blocks = mermaid_blocks(&report);
    assert_eq!(blocks.len(), 1, "{report}");
    let gantt = &blocks[0];
    check_gantt(gantt);
    // Every attempt is a bar in its task's section; the interruption and both
    // processes are markers.
    for expected in [
        "  section first\n    1 succeeded :done, t0a0, ",
        "  section slow\n    1 interrupted :crit, t1a0, ",
        "    2 succeeded :done, t1a1, ",
        "  section last\n    1 succeeded :done, t2a0, ",
        "    process 1 starts :milestone, ",
        "    interrupted by SIGINT (Ctrl-C) :milestone, ",
        "    process 2 starts, --resume :milestone, ",
    ] {
        assert!(gantt.contains(expected), "no `{expected}` in:\n{gantt}");
    }
    assert!(!gantt.contains("cut off"), "{gantt}");

    let mermaid = latest_flowchart(d);
    assert!(
        mermaid.contains("  class t0,t1,t2 succeeded\n"),
        "{mermaid}"
    );
    let dot = stdout(
        &planrun(d, &["graph", "plan.toml", "--run", "latest"])
            .output()
            .unwrap(),
    );
    assert!(
        dot.contains(r##""slow" [label="slow\nexec-script\nsucceeded", style="rounded,filled", fillcolor="#d3f9d8", color="#2b8a3e"];"##),
        "{dot}"
    );
    // Without --run, the plain graph; a run that does not exist is named.
    let plain = stdout(
        &planrun(d, &["graph", "plan.toml", "--format", "mermaid"])
            .output()
            .unwrap(),
    );
    assert!(!plain.contains("classDef"), "{plain}");
    let missing = planrun(d, &["graph", "plan.toml", "--run", "nope"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("has no run nope"));

    mermaid_parse(&[gantt.clone(), interrupted, mermaid]);
}
