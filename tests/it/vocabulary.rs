//! One vocabulary: every state name in every output comes from `vocabulary.rs`.
//!
//! The plan below is run through the real binary so that its tasks and runs pass
//! through every state there is; each output (plain terminal lines, the summary
//! table and its closing line, `report.md`, `planrun status`, `planrun runs`, the
//! JSON events, the journal) is rendered and every place that names a state is
//! checked against the definition. The README's table of states is checked too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use planrun::journal::{Journal, PlanState, Record};
use planrun::vocabulary::{RunStatus, TaskStatus};
use serde_json::Value;

const PLAN: &str = r#"
[plan]
name = "states"

[tasks.ok]
type = "exec-script"
script = 'echo ok'

[tasks.allowed]
type = "exec-script"
script = 'exit 3'
allow_failure = true

[tasks.bad]
type = "exec-script"
script = 'test ! -e fail'
needs = ["ok"]

[tasks.after-bad]
type = "exec-script"
script = 'echo after'
needs = ["bad"]

[tasks.slow]
type = "exec-script"
script = 'touch slow.started; while [ ! -e go ]; do sleep 0.02; done'
needs = ["ok"]

[tasks.cleanup]
type = "exec-script"
script = 'echo "$PLANRUN_RUN_OUTCOME"'
always = true
needs = ["after-bad", "slow"]
"#;

/// A dry run's plan: a change, a check that holds, a check that fails, a check that
/// fails after the change.
const DRY: &str = r#"
[plan]
name = "dry"

[tasks.look]
type = "exec-script"
script = 'true'
read_only = true

[tasks.change]
type = "exec-script"
command = ["true"]

[tasks.check]
type = "exec-script"
script = 'false'
read_only = true

[tasks.after-change]
type = "exec-script"
script = 'false'
read_only = true
needs = ["change"]
"#;

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("planrun"));
        cmd.current_dir(self.path()).env("NO_COLOR", "1").args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn touch(&self, file: &str) {
        std::fs::write(self.path().join(file), "").unwrap();
    }

    fn remove(&self, file: &str) {
        let _ = std::fs::remove_file(self.path().join(file));
    }

    fn wait_for(&self, file: &str) {
        let start = Instant::now();
        while !self.path().join(file).exists() {
            assert!(start.elapsed() < Duration::from_secs(30), "no {file}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn signal(child: &Child, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        signal,
    )
    .unwrap();
}

/// The task state `text` starts with (the longest name that fits), if any.
fn task_state_at(text: &str) -> Option<TaskStatus> {
    TaskStatus::ALL
        .iter()
        .copied()
        .filter(|s| {
            text.strip_prefix(s.display())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', ':', ',', '|']))
        })
        .max_by_key(|s| s.display().len())
}

/// The run state `text` starts with (the longest name that fits), if any.
fn run_state_at(text: &str) -> Option<RunStatus> {
    RunStatus::ALL
        .iter()
        .copied()
        .filter(|s| {
            text.strip_prefix(s.display())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', ':', ',', '|', '*']))
        })
        .max_by_key(|s| s.display().len())
}

/// What the outputs said, by output: the task and run states named.
#[derive(Default)]
struct Seen {
    tasks: BTreeSet<TaskStatus>,
    runs: BTreeSet<RunStatus>,
}

impl Seen {
    fn task(&mut self, output: &str, text: &str) {
        match task_state_at(text) {
            Some(s) => {
                self.tasks.insert(s);
            }
            None => panic!("{output}: `{text}` names no task state of the vocabulary"),
        }
    }

    fn run(&mut self, output: &str, text: &str) {
        match run_state_at(text) {
            Some(s) => {
                self.runs.insert(s);
            }
            None => panic!("{output}: `{text}` names no run state of the vocabulary"),
        }
    }

    /// Plain terminal lines, the summary table and its closing line.
    fn human(&mut self, text: &str, tasks: &[&str]) {
        let mut in_table = false;
        for line in text.lines() {
            if line.starts_with("task ") && line.contains(" state ") {
                in_table = true;
                continue;
            }
            if in_table {
                if let Some(rest) = line.strip_prefix("stopped while waiting:") {
                    assert!(rest.is_empty());
                    continue;
                }
                if line.starts_with("  ") {
                    continue;
                }
                if let Some(id) = tasks.iter().find(|id| line.starts_with(&format!("{id} "))) {
                    self.task("summary table", line[id.len()..].trim_start());
                    continue;
                }
                // The closing line: `[dry ]run <state> in <time>: <n> <state>, ...`.
                let rest = line.strip_prefix("dry ").unwrap_or(line);
                let rest = rest.strip_prefix("run ").expect(line);
                self.run("closing line", rest);
                let counts = &rest[rest.find(": ").expect(line) + 2..];
                for part in counts.split(", ") {
                    let (n, state) = part.split_once(' ').expect(part);
                    assert!(n.parse::<usize>().is_ok(), "{part}");
                    self.task("closing line", state);
                }
                in_table = false;
                continue;
            }
            // `HH:MM:SS.mmm <task> <state> ...`; progress lines are `<task>: ...`.
            let Some((_, rest)) = line.split_once(' ') else {
                continue;
            };
            if let Some(id) = tasks.iter().find(|id| rest.starts_with(&format!("{id} "))) {
                let what = &rest[id.len() + 1..];
                if what.starts_with("started") || what.starts_with("attempt ") {
                    continue;
                }
                self.task("terminal line", what);
            }
        }
    }

    /// Columns split by two spaces or more.
    fn columns(line: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut rest = line.trim_end();
        while let Some(i) = rest.find("  ") {
            out.push(&rest[..i]);
            rest = rest[i..].trim_start();
        }
        out.push(rest);
        out
    }

    /// `planrun status`: the run's state, and the STATE column.
    fn status(&mut self, text: &str) {
        let head = text.lines().next().unwrap();
        let state = &head[head.find("`: ").expect(head) + 3..];
        self.run("status", state);
        for line in text.lines().skip_while(|l| !l.starts_with("TASK ")).skip(1) {
            if line.is_empty() {
                break;
            }
            self.task("status", Self::columns(line)[1]);
        }
    }

    /// `planrun runs`: the OUTCOME column.
    fn runs(&mut self, text: &str) {
        for line in text.lines().skip(1) {
            let cols = Self::columns(line);
            // An unfinished run has no end time: its state is the third column.
            let state = cols.iter().rev().nth(1).unwrap();
            self.run("runs", state);
        }
    }

    /// `report.md`: the outcome, the task and attempt tables, how each process ended.
    fn report(&mut self, text: &str) {
        let outcome = text
            .lines()
            .find_map(|l| l.strip_prefix("| outcome | **"))
            .unwrap();
        self.run("report outcome", outcome);
        let mut section = "";
        for line in text.lines() {
            if let Some(h) = line.strip_prefix("## ") {
                section = h;
                continue;
            }
            if !line.starts_with("| ") || line.starts_with("|---") {
                continue;
            }
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            match section {
                "Tasks" if cells[0] != "task" => self.task("report tasks", cells[1]),
                "Attempts" if cells[0] != "task" => self.task("report attempts", cells[5]),
                "Processes" if cells[0] != "#" => {
                    let how = cells[4];
                    if !how.starts_with("interrupted at") && !how.starts_with("cut off") {
                        self.run("report processes", how);
                    }
                }
                _ => {}
            }
        }
    }

    /// JSON events: every `state`, every key of `counts`, every `outcome`.
    fn json(&mut self, text: &str) {
        let ids = |all: &[&'static str]| all.iter().copied().collect::<BTreeSet<_>>();
        let task_ids = ids(&TaskStatus::ALL.map(TaskStatus::id));
        let run_ids = ids(&RunStatus::ALL.map(RunStatus::id));
        for line in text.lines() {
            let e: Value = serde_json::from_str(line).unwrap();
            if let Some(state) = e.get("state") {
                let id = state.as_str().unwrap();
                assert!(task_ids.contains(id), "event state {id}");
                self.tasks
                    .insert(*TaskStatus::ALL.iter().find(|s| s.id() == id).unwrap());
            }
            if let Some(counts) = e.get("counts") {
                for key in counts.as_object().unwrap().keys() {
                    assert!(task_ids.contains(key.as_str()), "counts key {key}");
                }
            }
            if let Some(outcome) = e.get("outcome") {
                let id = outcome.as_str().unwrap();
                assert!(run_ids.contains(id), "outcome {id}");
            }
        }
    }
}

#[test]
fn every_state_name_in_every_output_comes_from_the_one_definition() {
    let d = Dir {
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::write(d.path().join("plan.toml"), PLAN).unwrap();
    let tasks = ["ok", "allowed", "bad", "after-bad", "slow", "cleanup"];
    let mut seen = Seen::default();

    // 1. A failure: succeeded, failed (allowed), failed, skipped.
    d.touch("fail");
    d.touch("go");
    let o = d.run(&["plan.toml"]);
    assert_eq!(o.status.code(), Some(1));
    seen.human(&stdout(&o), &tasks);
    // The allowed failure is one in every output that reads the journal too, not a
    // plain failure: `planrun status`, `report.md`, `graph --run`.
    let status = stdout(&d.run(&["status", "plan.toml"]));
    let row = |text: &str, prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in {text}"))
            .to_owned()
    };
    assert_eq!(
        Seen::columns(&row(&status, "allowed "))[1],
        "failed (allowed)"
    );
    let state = d.path().join(".planrun/states");
    let latest = std::fs::read_to_string(state.join("latest")).unwrap();
    let report =
        std::fs::read_to_string(state.join("runs").join(latest.trim()).join("report.md")).unwrap();
    assert!(
        row(&report, "| `allowed` |").starts_with("| `allowed` | failed (allowed) |"),
        "{report}"
    );
    let graph = stdout(&d.run(&["graph", "plan.toml", "--run", "latest"]));
    assert!(
        row(&graph, "  \"allowed\" [").contains("failed (allowed)"),
        "{graph}"
    );
    // 2. Resumed (JSON): done earlier; the run succeeds with warnings.
    d.remove("fail");
    let o = d.run(&["plan.toml", "--resume", "--output", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    seen.json(&stdout(&o));
    let o = d.run(&["status", "plan.toml"]);
    seen.status(&stdout(&o));
    // 3. A new run interrupted while `slow` waits: interrupted, pending; then a
    // status while a process works on it (running) and after a kill -9 (cut off).
    d.remove("go");
    d.remove("slow.started");
    let child = d.spawn(&["plan.toml"]);
    d.wait_for("slow.started");
    let o = d.run(&["status", "plan.toml"]);
    seen.status(&stdout(&o));
    signal(&child, nix::sys::signal::Signal::SIGINT);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130));
    seen.human(&stdout(&o), &tasks);
    d.remove("slow.started");
    let mut child = d.spawn(&["plan.toml", "--resume"]);
    d.wait_for("slow.started");
    signal(&child, nix::sys::signal::Signal::SIGKILL);
    child.wait().unwrap();
    let o = d.run(&["status", "plan.toml"]);
    seen.status(&stdout(&o));
    // 4. Abandoned by a restart that succeeds.
    d.touch("go");
    let o = d.run(&["plan.toml", "--restart"]);
    assert_eq!(o.status.code(), Some(0));
    seen.human(&stdout(&o), &tasks);
    let o = d.run(&["runs", "plan.toml"]);
    seen.runs(&stdout(&o));

    // Every report and every journal of the plan.
    let state = PlanState::new(&d.path().join(".planrun"), "states");
    for id in state.run_ids().unwrap() {
        let run = state.dir().run(&id);
        if let Ok(text) = std::fs::read_to_string(run.report_path()) {
            seen.report(&text);
        }
        let journal = Journal::read(&run.journal_path()).unwrap();
        for r in &journal.records {
            let kind = serde_json::to_value(r).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned();
            if let Some(state) = kind.strip_prefix("task-")
                && !matches!(
                    r,
                    Record::TaskStarted { .. }
                        | Record::TaskReset { .. }
                        | Record::TaskProcess { .. }
                )
            {
                assert!(
                    TaskStatus::ALL.iter().any(|s| s.id() == state),
                    "journal record {kind}"
                );
            }
        }
    }

    // 5. A dry run: would change, checked ok, would fail, depends on a change.
    std::fs::write(d.path().join("dry.toml"), DRY).unwrap();
    let o = d.run(&["dry.toml", "--dry-run"]);
    assert_eq!(o.status.code(), Some(1));
    seen.human(&stdout(&o), &["look", "change", "check", "after-change"]);

    // 6. A plain success.
    std::fs::write(
        d.path().join("fine.toml"),
        "[plan]\nname = \"fine\"\n[tasks.one]\ntype = \"exec-script\"\nscript = 'true'\n",
    )
    .unwrap();
    let o = d.run(&["fine.toml"]);
    assert_eq!(o.status.code(), Some(0));
    seen.human(&stdout(&o), &["one"]);

    // Every state of the vocabulary was seen, but `cancelled`: a task is cancelled
    // only when the run cannot go on (its journal fails), which no run here does.
    let missing: Vec<TaskStatus> = TaskStatus::ALL
        .into_iter()
        .filter(|s| !seen.tasks.contains(s) && *s != TaskStatus::Cancelled)
        .collect();
    assert!(missing.is_empty(), "task states never shown: {missing:?}");
    let missing: Vec<RunStatus> = RunStatus::ALL
        .into_iter()
        .filter(|s| !seen.runs.contains(s))
        .collect();
    assert!(missing.is_empty(), "run states never shown: {missing:?}");
}

/// The README's table of states is the definition's.
#[test]
fn the_readme_lists_the_states_of_the_definition() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let rows = |header: &str| -> Vec<(String, String)> {
        readme
            .lines()
            .skip_while(|l| *l != header)
            .skip(2)
            .take_while(|l| l.starts_with("| "))
            .map(|l| {
                let (state, meaning) = l.trim_matches('|').trim().split_once(" | ").unwrap();
                (state.to_owned(), meaning.to_owned())
            })
            .collect()
    };
    let pairs = |all: Vec<(&str, &str)>| -> Vec<(String, String)> {
        all.into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect()
    };
    assert_eq!(
        rows("| task state | meaning |"),
        pairs(
            TaskStatus::ALL
                .iter()
                .map(|s| (s.display(), s.meaning()))
                .collect()
        )
    );
    assert_eq!(
        rows("| run state | meaning |"),
        pairs(
            RunStatus::ALL
                .iter()
                .map(|s| (s.display(), s.meaning()))
                .collect()
        )
    );
}
