//! The run engine through the real binary on fixture plans: ordering, concurrency
//! limits, failure policy, retries, timeouts and signals killing process groups,
//! JSON events against their schema, plain output without escape codes.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

use crate::support;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/engine")
        .join(name)
}

/// A scratch directory holding a copy of the fixture as `plan.toml`; the plan's
/// scripts write their markers there, and `.planrun/` lands there too.
fn workdir(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture(name), dir.path().join("plan.toml")).unwrap();
    dir
}

fn planrun(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("planrun").unwrap();
    cmd.current_dir(dir).env_remove("NO_COLOR");
    cmd
}

fn run_json(dir: &Path, extra: &[&str]) -> (Output, Vec<Value>) {
    let out = planrun(dir)
        .args(["run", "plan.toml", "--output", "json"])
        .args(extra)
        .output()
        .unwrap();
    let events = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (out, events)
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

fn task_event<'a>(events: &'a [Value], kind: &str, task: &str) -> Option<&'a Value> {
    events
        .iter()
        .find(|e| e["event"] == kind && e["task"] == task)
}

fn finished(events: &[Value]) -> &Value {
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run-finished", "the last event ends the run");
    last
}

/// Whether a process no longer runs (gone, or a zombie nobody has reaped).
fn gone(pid: i32) -> bool {
    !planrun::procs::is_running(pid)
}

/// Polls `cond` until it holds or 20 s pass.
fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn tasks_start_only_after_what_they_need() {
    let dir = workdir("order.toml");
    planrun(dir.path())
        .args(["plan.toml", "--jobs", "4"])
        .assert()
        .success();
    let log = std::fs::read_to_string(dir.path().join("order.txt")).unwrap();
    let pos = |line: &str| {
        log.lines()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("{line:?} missing from\n{log}"))
    };
    for (need, task) in [
        ("root", "left"),
        ("root", "right"),
        ("left", "join"),
        ("right", "join"),
        ("join", "tail"),
    ] {
        assert!(
            pos(&format!("end {need}")) < pos(&format!("start {task}")),
            "{task} started before {need} ended:\n{log}"
        );
    }
}

/// The first run learns how long each task takes; the second, one task at a time,
/// starts the task with the longest expected path first (not the longest chain of
/// tasks, nor the plan's order), says how long each is expected to take and how long
/// the run has left, and its report shows expected against actual durations.
#[test]
fn a_second_run_starts_the_critical_path_first() {
    let dir = workdir("critical_path.toml");
    let starts = |events: &[Value]| -> Vec<String> {
        of_kind(events, "task-started")
            .iter()
            .map(|e| e["task"].as_str().unwrap().to_owned())
            .collect()
    };
    let (out, first) = run_json(dir.path(), &["-j", "1"]);
    assert_eq!(out.status.code(), Some(0));
    // Nothing known yet: the longest chain first, no estimate.
    assert_eq!(starts(&first)[0], "a");
    assert!(of_kind(&first, "run-estimate").is_empty());
    assert!(
        of_kind(&first, "task-started")
            .iter()
            .all(|e| e.get("expected_ms").is_none())
    );

    let (out, second) = run_json(dir.path(), &["-j", "1"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(starts(&second), ["warm", "long", "single", "a", "b", "c"]);
    let expected = |task: &str| {
        task_event(&second, "task-started", task).unwrap()["expected_ms"]
            .as_u64()
            .unwrap()
    };
    assert!(
        expected("long") >= 700 && expected("single") >= 400,
        "{second:#?}"
    );
    assert!(expected("a") < expected("single"));
    // The time left, first before anything ran (every task known): at least the
    // work left one task at a time.
    let estimates = of_kind(&second, "run-estimate");
    let first_estimate = estimates
        .first()
        .expect("an estimate once durations are known");
    assert!(
        first_estimate["left_ms"].as_u64().unwrap() >= 1_300,
        "{first_estimate}"
    );
    assert_eq!(first_estimate["guessed"], 0);

    let runs = dir.path().join(".planrun/critical-path/runs");
    let mut ids: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    ids.sort();
    let report = std::fs::read_to_string(ids[1].join("report.md")).unwrap();
    assert!(
        report.contains("| task | state | result | attempts | expected | duration |"),
        "{report}"
    );
    let long = report
        .lines()
        .find(|l| l.starts_with("| `long` |"))
        .unwrap();
    let cells: Vec<&str> = long.split(" | ").collect();
    assert!(cells[4].ends_with('s') && cells[4] != "-", "{long}");
}

#[test]
fn never_more_than_jobs_at_once() {
    let dir = workdir("concurrency.toml");
    planrun(dir.path())
        .args(["plan.toml", "-j", "2"])
        .assert()
        .success();
    let counts = std::fs::read_to_string(dir.path().join("counts.txt")).unwrap();
    let max = counts
        .lines()
        .map(|l| l.trim().parse::<u32>().unwrap())
        .max()
        .unwrap();
    assert!(max <= 2, "{max} tasks ran at once with --jobs 2:\n{counts}");
    assert_eq!(counts.lines().count(), 16);
}

#[test]
fn independent_tasks_run_concurrently() {
    let dir = workdir("pair.toml");
    planrun(dir.path())
        .args(["plan.toml", "-j", "2"])
        .assert()
        .success();
}

#[test]
fn failure_skips_dependents_and_still_runs_always_tasks() {
    let dir = workdir("failure.toml");
    let (out, events) = run_json(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let failed = task_event(&events, "task-failed", "broken").unwrap();
    assert_eq!(failed["error"], "exit code 7");
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["excerpt"].as_array().unwrap().len(), 2);
    let skipped = task_event(&events, "task-skipped", "after-broken").unwrap();
    assert_eq!(skipped["reason"]["kind"], "dependency-failed");
    assert_eq!(skipped["state"], "skipped");
    assert_eq!(skipped["reason"]["dependency"], "broken");
    let skipped = task_event(&events, "task-skipped", "further").unwrap();
    assert_eq!(skipped["reason"]["dependency"], "after-broken");
    assert!(task_event(&events, "task-succeeded", "cleanup").is_some());
    assert!(dir.path().join("cleanup.ran").exists());
    assert!(!dir.path().join("after-broken.ran").exists());
    assert!(!dir.path().join("further.ran").exists());
    let end = finished(&events);
    assert_eq!(end["outcome"], "failed");
    assert_eq!(end["counts"]["failed"], 1);
    assert_eq!(end["counts"]["skipped"], 2);

    // The run directory has the report (with the failure excerpt) and the logs.
    let runs = dir.path().join(".planrun/failure/runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("| outcome | **failed** |"), "{report}");
    assert!(report.contains("### `broken`: exit code 7"), "{report}");
    assert!(
        report.contains("| `broken` | failed | exit code 7 | 1 |"),
        "{report}"
    );
    assert!(report.contains("the reason"), "{report}");
    let log = std::fs::read_to_string(run.join("logs/broken.log")).unwrap();
    assert!(
        log.contains("about to fail\n") && log.contains("the reason\n"),
        "{log}"
    );
    assert!(run.join("events.jsonl").is_file());
}

#[test]
fn allowed_failure_lets_dependents_run() {
    let dir = workdir("allowed.toml");
    let (out, events) = run_json(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        task_event(&events, "task-failed", "flaky").unwrap()["state"],
        "failed-allowed"
    );
    assert!(dir.path().join("next.ran").exists());
    assert_eq!(finished(&events)["outcome"], "succeeded-with-warnings");
    // `--rerun next` runs it again: the allowed failure before it is taken as the run
    // took it, not as a need that did not succeed.
    std::fs::remove_file(dir.path().join("next.ran")).unwrap();
    let (out, events) = run_json(dir.path(), &["--rerun", "next"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(dir.path().join("next.ran").exists(), "{stderr}");
    assert!(task_event(&events, "task-succeeded", "next").is_some());
    assert!(
        stderr.contains("flaky (it failed, allowed, in run "),
        "{stderr}"
    );
}

/// `planrun status` of a plan that has run only in rehearsals says where those runs
/// are (rehearsals keep theirs apart), and reads them with `--state-dir`.
#[test]
fn status_without_runs_points_at_the_rehearsals() {
    let dir = workdir("allowed.toml");
    let status = |extra: &[&str]| {
        planrun(dir.path())
            .env("NO_COLOR", "1")
            .args(["status", "plan.toml"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = status(&[]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(!said.contains("rehearsals"), "{said}");
    // A run kept where rehearsals keep theirs.
    let out = planrun(dir.path())
        .args(["run", "plan.toml", "--state-dir", ".planrun/rehearsal"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = status(&[]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{said}");
    // Without spaces: miette wraps the help, inside paths too.
    let compact: String = said.split_whitespace().collect();
    assert!(
        compact.contains(
            "(rehearsalskeeptheirsin.planrun/rehearsal/allowed:--state-dir.planrun/rehearsal)"
        ),
        "{said}"
    );
    let out = status(&["--state-dir", ".planrun/rehearsal"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("flaky  failed (allowed)"));
}

#[test]
fn retries_until_success() {
    let dir = workdir("retry.toml");
    let (out, events) = run_json(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    let retries = of_kind(&events, "task-retrying");
    assert_eq!(retries.len(), 2);
    assert_eq!(retries[0]["attempt"], 1);
    assert_eq!(retries[0]["delay_ms"], 10);
    assert_eq!(retries[1]["delay_ms"], 20);
    let started: Vec<_> = of_kind(&events, "task-started")
        .iter()
        .map(|e| e["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(started, [1, 2, 3]);
    assert_eq!(
        task_event(&events, "task-succeeded", "eventually").unwrap()["attempt"],
        3
    );
}

#[test]
fn timeout_kills_the_scripts_background_grandchild() {
    let dir = workdir("timeout.toml");
    let (out, events) = run_json(dir.path(), &["--grace", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    let failed = task_event(&events, "task-failed", "hang").unwrap();
    assert_eq!(failed["error"], "timed out after 1s");
    let pid = read_pid(&dir.path().join("grandchild.pid"));
    assert!(
        wait_until(|| gone(pid)),
        "grandchild {pid} survived the timeout"
    );
}

#[test]
fn sigint_cancels_running_tasks_and_exits_130() {
    interrupted_by(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn sighup_interrupts_like_sigint() {
    interrupted_by(nix::sys::signal::Signal::SIGHUP);
}

/// The interrupt fixture started, its task running: planrun, the task's shell and
/// its background grandchild.
struct Started {
    dir: tempfile::TempDir,
    planrun: std::process::Child,
    shell: i32,
    grandchild: i32,
}

fn start_interrupt_fixture(stderr: std::process::Stdio) -> Started {
    let dir = workdir("interrupt.toml");
    let planrun = std::process::Command::new(assert_cmd::cargo::cargo_bin("planrun"))
        .current_dir(dir.path())
        .args(["plan.toml", "--output", "json", "--grace", "2s"])
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    // The script writes grandchild.pid, then child.pid: wait for the last one.
    let shellfile = dir.path().join("child.pid");
    assert!(wait_until(|| {
        std::fs::read_to_string(&shellfile).is_ok_and(|s| s.ends_with('\n'))
    }));
    Started {
        grandchild: read_pid(&dir.path().join("grandchild.pid")),
        shell: read_pid(&shellfile),
        dir,
        planrun,
    }
}

fn signal(pid: u32, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
}

/// Runs the interrupt fixture and stops it with `signal` once its task runs.
fn interrupted_by(sig: nix::sys::signal::Signal) {
    let Started {
        dir,
        planrun: child,
        shell,
        grandchild,
    } = start_interrupt_fixture(std::process::Stdio::piped());
    signal(child.id(), sig);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        wait_until(|| gone(grandchild) && gone(shell)),
        "children survived"
    );
    assert!(
        !dir.path().join("later.ran").exists(),
        "nothing but `always` tasks runs after an interruption"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("cleanup.ran")).unwrap(),
        "interrupted \n",
        "the `always` task ran once the interrupted task ended, and knew how the run stood"
    );
    let events: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cancelled = task_event(&events, "task-cancelled", "long").unwrap();
    assert_eq!(cancelled["reason"], "interrupted");
    assert_eq!(cancelled["state"], "interrupted");
    let long_ended = events.iter().position(|e| e == cancelled).unwrap();
    let cleanup_started = events
        .iter()
        .position(|e| e["event"] == "task-started" && e["task"] == "cleanup")
        .unwrap();
    assert!(long_ended < cleanup_started, "cleanup after `long` ended");
    let end = finished(&events);
    assert_eq!(end["outcome"], "interrupted");
    assert_eq!(end["counts"]["pending"], 1);
    assert_eq!(end["counts"]["interrupted"], 1);
    assert_eq!(end["counts"]["succeeded"], 1);
}

/// Issue 14, break 1: with stderr a closed pipe (`planrun ... 2>&1 >/dev/null |
/// true`), what planrun says on an interruption fails to be written; the
/// interruption itself must not.
#[test]
fn a_closed_stderr_does_not_stop_an_interruption() {
    let Started {
        dir: _dir,
        mut planrun,
        shell,
        grandchild,
    } = start_interrupt_fixture(std::process::Stdio::piped());
    drop(planrun.stderr.take());
    signal(planrun.id(), nix::sys::signal::Signal::SIGINT);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = planrun.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            planrun.kill().unwrap();
            panic!("planrun did not stop on SIGINT with its stderr closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(planrun.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(
        wait_until(|| gone(grandchild) && gone(shell)),
        "children survived"
    );
}

/// The events a run wrote to its `events.jsonl` so far.
fn events_file(dir: &Path) -> Vec<Value> {
    let runs = dir.join(".planrun/stuck-terminal/runs");
    let Ok(mut entries) = std::fs::read_dir(&runs) else {
        return Vec::new();
    };
    let Some(Ok(run)) = entries.next() else {
        return Vec::new();
    };
    std::fs::read_to_string(run.path().join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits until the run in `dir` has ended with `outcome`, by its `events.jsonl`, its
/// `always` cleanup having seen it.
fn assert_ended(dir: &Path, outcome: &str) {
    assert!(
        wait_until(|| {
            events_file(dir)
                .iter()
                .any(|e| e["event"] == "run-finished" && e["outcome"] == outcome)
        }),
        "events.jsonl: {:?}",
        events_file(dir)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("cleanup.ran")).unwrap(),
        format!("{outcome}\n")
    );
}

/// A terminal nobody reads (the dropped SSH session of a maintenance window) holds
/// up none of the run: the `kill` another planrun names stops its task and runs its
/// cleanup, `events.jsonl`
/// is written to the end, the plan's lock is free for `--resume` from elsewhere
/// while planrun still waits to show its summary, and a second SIGTERM ends that
/// wait with the run's exit code.
#[test]
fn a_terminal_nobody_reads_holds_up_neither_an_interruption_nor_a_resume() {
    let dir = workdir("stuck-terminal.toml");
    let terminal = support::StuckTerminal::new();
    let mut first = terminal.planrun(dir.path(), &["plan.toml", "--grace", "2s"]);
    let shellfile = dir.path().join("child.pid");
    assert!(wait_until(|| {
        std::fs::read_to_string(&shellfile).is_ok_and(|s| s.ends_with('\n'))
    }));
    let shell = read_pid(&shellfile);
    // The operator, back on another connection, is told how to stop it.
    let refused = planrun(dir.path())
        .args(["plan.toml", "--resume", "--yes"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(3));
    let said: Vec<&str> = std::str::from_utf8(&refused.stderr)
        .unwrap()
        .split(|c: char| c.is_whitespace() || c == '│')
        .filter(|w| !w.is_empty())
        .collect();
    assert!(
        said.join(" ")
            .contains(&format!("or stop it with `kill {}`", first.0.id())),
        "{said:?}"
    );
    signal(first.0.id(), nix::sys::signal::Signal::SIGTERM);
    assert!(wait_until(|| gone(shell)), "the task outlived SIGTERM");
    assert_ended(dir.path(), "interrupted");
    assert!(
        first.0.try_wait().unwrap().is_none(),
        "planrun waits to show its summary on the terminal"
    );
    std::fs::write(dir.path().join("go-on"), "").unwrap();
    let resumed = planrun(dir.path())
        .args(["plan.toml", "--resume", "--yes", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    signal(first.0.id(), nix::sys::signal::Signal::SIGTERM);
    assert_eq!(first.exit_code(), Some(130));
}

/// A run that ends while its terminal takes nothing: its `events.jsonl` is whole, and
/// Ctrl-C (or any stop signal) ends planrun's wait for the terminal with the run's
/// own exit code.
#[test]
fn a_stop_signal_after_the_run_ends_exits_with_the_runs_code() {
    let dir = workdir("stuck-terminal.toml");
    std::fs::write(dir.path().join("go-on"), "").unwrap();
    let terminal = support::StuckTerminal::new();
    let mut planrun = terminal.planrun(dir.path(), &["plan.toml"]);
    assert_ended(dir.path(), "succeeded");
    signal(planrun.0.id(), nix::sys::signal::Signal::SIGINT);
    assert_eq!(planrun.exit_code(), Some(0));
}

/// Issue 14, break 2: planrun killed by a signal it cannot handle (SIGKILL) or does
/// not (SIGUSR1) takes its tasks with it: its process guard stops their groups.
#[test]
fn tasks_die_with_planrun_however_it_dies() {
    for sig in [
        nix::sys::signal::Signal::SIGKILL,
        nix::sys::signal::Signal::SIGUSR1,
    ] {
        let Started {
            dir: _dir,
            mut planrun,
            shell,
            grandchild,
        } = start_interrupt_fixture(std::process::Stdio::null());
        signal(planrun.id(), sig);
        assert!(planrun.wait().unwrap().code().is_none());
        assert!(
            wait_until(|| gone(grandchild) && gone(shell)),
            "the task outlived planrun killed by {sig}"
        );
    }
}

/// Issue 14, break 2: a resume refuses (exit 3, naming the task and the pid) while a
/// process of an earlier attempt still runs, here one that outlived both planrun
/// and its guard.
#[test]
fn resume_refuses_while_a_process_of_the_earlier_run_runs() {
    let Started {
        dir,
        mut planrun,
        shell,
        grandchild,
    } = start_interrupt_fixture(std::process::Stdio::null());
    let guard = guard_of(planrun.id());
    signal(guard, nix::sys::signal::Signal::SIGKILL);
    signal(planrun.id(), nix::sys::signal::Signal::SIGKILL);
    planrun.wait().unwrap();
    assert!(
        !gone(shell) && !gone(grandchild),
        "nobody was left to stop them"
    );
    let out = planrun_cmd(dir.path())
        .args(["plan.toml", "--resume"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("task `long` (attempt 1): pid {shell} ("))
            && err.contains(&format!("pid {grandchild} (sleep)")),
        "{err}"
    );
    assert!(!dir.path().join("later.ran").exists());
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(shell),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(wait_until(|| gone(grandchild) && gone(shell)));
    // Once they are gone, the run resumes.
    std::fs::write(
        dir.path().join("plan.toml"),
        std::fs::read_to_string(dir.path().join("plan.toml"))
            .unwrap()
            .replace("sleep 300 &", "true &"),
    )
    .unwrap();
    let out = planrun_cmd(dir.path())
        .args(["plan.toml", "--resume", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The guard reads its ledger once planrun is gone: each group watched gets the
/// signal it was watched with (not the SIGTERM of the marker's fallback: these
/// carry no marker), and a group released first is left alone.
#[test]
fn the_guard_stops_what_its_ledger_watches_with_the_signal_given() {
    use nix::sys::signal::Signal;
    use planrun::exec::process::{ProcessGuard, Watched};
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let group = |name: &str| {
        let mark = dir.path().join(name);
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "trap 'echo int > {m}; exit' INT; trap 'echo term > {m}; exit' TERM; \
                 sleep 30 & wait",
                m = mark.display()
            ))
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        // The traps are set once the shell waits.
        std::thread::sleep(Duration::from_millis(300));
        let watched = Watched {
            pgid: pid,
            leader_start: planrun::procs::process(pid).unwrap().start_ticks,
            signal: Signal::SIGINT,
            grace: Duration::from_millis(500),
        };
        (child, mark, watched)
    };
    let guard = ProcessGuard::start(
        Path::new(&assert_cmd::cargo::cargo_bin("planrun")),
        Duration::from_secs(5),
    )
    .unwrap();
    let (mut released, released_mark, r) = group("released");
    let (mut watched, watched_mark, w) = group("watched");
    guard.watch(&r);
    guard.release(r.pgid);
    guard.watch(&w);
    let guard_pid = guard.pid();
    drop(guard);
    watched.wait().unwrap();
    assert_eq!(
        std::fs::read_to_string(&watched_mark).unwrap().trim(),
        "int"
    );
    assert!(wait_until(|| gone(i32::try_from(guard_pid).unwrap())));
    assert!(!released_mark.exists(), "a released group was signalled");
    assert!(!gone(r.pgid));
    released.kill().unwrap();
    released.wait().unwrap();
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(r.pgid), Signal::SIGKILL);
}

/// The pid of planrun `pid`'s process guard (its child running `__guard`).
fn guard_of(pid: u32) -> u32 {
    let mut found = None;
    assert!(wait_until(|| {
        found = planrun::procs::children(pid as i32)
            .into_iter()
            .find(|p| {
                std::fs::read_to_string(format!("/proc/{}/cmdline", p.pid))
                    .is_ok_and(|c| c.contains("__guard"))
            })
            .map(|p| p.pid as u32);
        found.is_some()
    }));
    found.unwrap()
}

fn planrun_cmd(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("planrun"));
    cmd.current_dir(dir);
    cmd
}

#[test]
fn json_events_follow_the_published_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/events.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for (plan, extra) in [
        ("failure.toml", &[][..]),
        ("retry.toml", &[]),
        ("allowed.toml", &[]),
        ("dry_run.toml", &["--dry-run"]),
    ] {
        let dir = workdir(plan);
        let (_, events) = run_json(dir.path(), extra);
        assert_eq!(events[0]["event"], "run-started");
        for event in &events {
            assert_eq!(event["v"], 2);
            if let Err(e) = validator.validate(event) {
                panic!("{event} does not follow the schema: {e}");
            }
            kinds.insert(event["event"].as_str().unwrap().to_owned());
        }
    }
    for kind in [
        "run-started",
        "task-started",
        "task-output",
        "task-retrying",
        "task-succeeded",
        "task-failed",
        "task-skipped",
        "run-finished",
    ] {
        assert!(kinds.contains(kind), "no {kind} event seen");
    }
}

#[test]
fn plain_output_has_no_escape_codes() {
    let dir = workdir("failure.toml");
    let out = planrun(dir.path()).arg("plan.toml").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains('\x1b'), "escape codes in:\n{stdout}");
    assert!(stdout.contains(" broken failed "), "{stdout}");
    assert!(stdout.contains("    | the reason"), "{stdout}");
    assert!(stdout.contains("run failed in"), "{stdout}");
    // Every progress line starts with a time of day.
    let first = stdout.lines().next().unwrap();
    assert!(
        first.as_bytes()[2] == b':' && first.as_bytes()[8] == b'.',
        "{first}"
    );
}

#[test]
fn dry_run_runs_only_read_only_tasks_and_writes_nothing() {
    let dir = workdir("dry_run.toml");
    let out = planrun(dir.path())
        .args(["plan.toml", "--dry-run", "--var", "target=staging"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("would run touch change-staging.ran"),
        "{stdout}"
    );
    assert!(dir.path().join("inspect.ran").exists());
    assert!(!dir.path().join("change-staging.ran").exists());
    assert!(!dir.path().join(".planrun").exists());
}

/// An honest dry run: a read-only check that fails against the live state would
/// fail; one that fails only after a change the dry run did not make depends on
/// that change (and says which) without failing the dry run; the summary tells
/// changes, failing, dependent and passing checks apart, and the dry run exits 1
/// for the check that fails on its own.
#[test]
fn a_dry_run_with_a_failing_check_says_so_and_exits_1() {
    let dir = workdir("dry_run_checks.toml");
    let out = planrun(dir.path())
        .args(["plan.toml", "--dry-run"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for expected in [
        " inspect checked ok ",
        " precheck would fail ",
        " change would change ",
        " dependent would change ",
        " after depends on a change ",
        "unknown until `change` and 1 more change things (the dry run did not): ",
        "changed.txt does not exist",
    ] {
        assert!(stdout.contains(expected), "no `{expected}` in:\n{stdout}");
    }
    let table: Vec<(String, String)> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("task "))
        .skip(1)
        .take_while(|l| !l.starts_with("dry run"))
        .map(|l| {
            let (id, rest) = l.split_once(' ').unwrap();
            let state = rest.trim_start();
            let state = state[..state.find("  ").unwrap()].to_owned();
            (id.to_owned(), state)
        })
        .collect();
    assert_eq!(
        table,
        [
            ("inspect", "checked ok"),
            ("precheck", "would fail"),
            ("change", "would change"),
            ("dependent", "would change"),
            ("after", "depends on a change"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert!(
        stdout.contains(": 2 would change, 1 checked ok, 1 depends on a change, 1 would fail\n"),
        "{stdout}"
    );
    assert!(!dir.path().join("changed.txt").exists());
    assert!(!dir.path().join("dependent.ran").exists());
    assert!(!dir.path().join(".planrun").exists());
}

#[test]
fn gates_and_file_assertions() {
    let dir = workdir("gates.toml");
    // No terminal and no --yes: the gate fails and nothing behind it runs.
    let out = planrun(dir.path())
        .args(["run", "plan.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("confirmation needed and no terminal to ask on"),
        "{stdout}"
    );
    assert!(
        stdout.contains("answer it in advance with --yes"),
        "{stdout}"
    );
    assert!(!dir.path().join("after-gate.ran").exists());

    // With --yes the gate passes; the file assertion names the pattern it missed.
    let dir = workdir("gates.toml");
    let out = planrun(dir.path())
        .args(["run", "plan.toml", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(dir.path().join("after-gate.ran").exists());
    assert!(
        stdout.contains("does not contain /never-there/"),
        "{stdout}"
    );
}

#[test]
fn invalid_plan_exits_2_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plan.toml"),
        "[plan]\nname = \"x\"\n[tasks.a]\ntype = \"exec-script\"\nscript = \"touch a.ran\"\nneeds = [\"nope\"]\n",
    )
    .unwrap();
    let out = planrun(dir.path()).arg("plan.toml").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("a.ran").exists());
}

/// Issue 14, break 5: a value cannot change a script: each `{{ name }}` is one
/// quoted shell word, and every variable is in the environment as well.
#[test]
fn a_variable_cannot_change_a_script() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plan.toml"),
        r#"
[plan]
name = "inject"

[vars]
name = "plain"
other-name = "two words"

[tasks.show]
type = "exec-script"
script = '''
printf '<%s>\n' {{ name }} {{ other-name }} > words
printf '%s|%s' "$PLANRUN_VAR_NAME" "$PLANRUN_VAR_OTHER_NAME" > env
'''
"#,
    )
    .unwrap();
    for value in [
        r#"x"; touch pwned; echo ""#,
        "$(touch pwned)",
        "`touch pwned`",
        "it's; touch pwned",
        "a\ntouch pwned",
    ] {
        let out = planrun(dir.path())
            .args(["plan.toml", "--restart", "--var"])
            .arg(format!("name={value}"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{value}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!dir.path().join("pwned").exists(), "{value} ran a command");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("words")).unwrap(),
            format!("<{value}>\n<two words>\n")
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("env")).unwrap(),
            format!("{value}|two words")
        );
    }
}

/// A raw reference runs, and `planrun validate` warns about it.
#[test]
fn validate_warns_about_raw_references() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plan.toml"),
        "[plan]\nname = \"raw\"\n[vars]\nflags = \"-e\"\n[tasks.a]\ntype = \"exec-script\"\nscript = \"set {{ raw(flags) }}\"\n",
    )
    .unwrap();
    let out = planrun(dir.path())
        .env("NO_COLOR", "1")
        .args(["validate", "plan.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "plan plan.toml is valid: 1 task, 3 variables, 1 warning\n"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("planrun::raw_reference"), "{err}");
    assert!(
        err.contains("pastes the value of `flags` into the script as written"),
        "{err}"
    );
}

/// Issue 14, break 6: durations are bounded, in plans (a validation error, see the
/// plan diagnostics) and for `--grace` (a usage error), so no deadline overflows.
#[test]
fn grace_longer_than_thirty_days_is_a_usage_error() {
    let dir = workdir("interrupt.toml");
    let out = planrun(dir.path())
        .args(["plan.toml", "--grace", "18446744073709551615s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "invalid value '18446744073709551615s' for '--grace <DURATION>': longer than 30d"
        ),
        "{err}"
    );
    assert!(!dir.path().join(".planrun").exists(), "nothing ran");
}

/// A small tmpfs mounted for one test, unmounted when dropped; `None` (with a
/// message saying why the test is skipped) where mounting is not permitted.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "skipped: cannot mount a small tmpfs (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// Issue 14, break 7: a full disk stops the run at once with a message naming the
/// journal and its error and the way to resume (exit 4), a task log cut short is
/// said, and once there is room again the run resumes.
#[test]
fn a_full_disk_stops_the_run_and_says_how_to_resume() {
    let Some(disk) = SmallDisk::mount("256k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The first time, `fill` prints far more than the disk holds (its log takes the
    // disk), then a chain of tasks grows the journal past the page it has: the
    // journal's next write fails. Markers live outside the small disk.
    let mut plan = String::from(
        r#"
[plan]
name = "full"

[tasks.fill]
type = "exec-script"
script = '''
if [ ! -e filled ]; then touch filled; head -c 600000 /dev/zero | tr '\0' 'x' | fold -w 100; fi
echo small
'''
"#,
    );
    let mut need = "fill".to_owned();
    for i in 0..80 {
        plan.push_str(&format!(
            "\n[tasks.step-{i:02}]\ntype = \"exec-script\"\ncommand = [\"true\"]\nneeds = [\"{need}\"]\n"
        ));
        need = format!("step-{i:02}");
    }
    plan.push_str(&format!(
        "\n[tasks.next]\ntype = \"exec-script\"\nscript = \"touch next.ran\"\nneeds = [\"{need}\"]\n"
    ));
    std::fs::write(dir.path().join("plan.toml"), plan).unwrap();
    let state = disk.path().join("state");
    let out = planrun(dir.path())
        .env("NO_COLOR", "1")
        .args(["plan.toml", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(!dir.path().join("next.ran").exists());
    // miette's wrapping and gutter undone.
    let flat: String = stderr
        .split(|c: char| c.is_whitespace() || "│├╰─▶".contains(c))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains("the run stopped: planrun cannot record its progress"),
        "{stderr}"
    );
    // Without any spaces (miette wraps long paths anywhere).
    let compact: String = flat.chars().filter(|c| *c != ' ').collect();
    assert!(
        compact.contains(&format!("cannotappendto{}/full/runs/", state.display()))
            && compact.contains("/journalNospaceleftondevice"),
        "the journal is named: {flat}"
    );
    assert!(flat.contains("No space left on device"), "{stderr}");
    assert!(flat.contains("planrun plan.toml --resume"), "{stderr}");
    // The report could not be written on the full disk either: said, and not
    // offered to be read.
    assert!(
        compact.contains("/report.md:Nospaceleftondevice"),
        "the report is named: {flat}"
    );
    assert!(!stdout.contains("report: "), "{stdout}");
    assert!(
        stdout.contains("warning fill: cannot write its log")
            && stdout.contains("No space left on device"),
        "the cut log is said: {stdout}"
    );
    // Make room (the log of `fill` took it), then resume.
    for log in glob_logs(&state) {
        std::fs::remove_file(log).unwrap();
    }
    let out = planrun(dir.path())
        .args(["plan.toml", "--resume", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("next.ran").exists());
}

fn glob_logs(state: &Path) -> Vec<PathBuf> {
    let runs = state.join("full/runs");
    let mut out = Vec::new();
    for run in std::fs::read_dir(runs).unwrap().flatten() {
        if let Ok(logs) = std::fs::read_dir(run.path().join("logs")) {
            out.extend(logs.flatten().map(|e| e.path()));
        }
    }
    out
}

/// `--dry-run --resume --output json` previews what resuming the failed run would
/// do, as data: the `run-resumed` event lists what will run and why and what is
/// taken as done; done tasks are skipped as done earlier; each change says the
/// command it would run; nothing is written to the run.
#[test]
fn a_dry_run_of_a_resume_says_what_would_run_and_why_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plan.toml"),
        r#"
[plan]
name = "preview"

[tasks.first]
type = "exec-script"
command = ["touch", "first.ran"]

[tasks.second]
type = "exec-script"
script = "test -e fixed"
needs = ["first"]

[tasks.third]
type = "exec-script"
command = ["touch", "third.ran"]
needs = ["second"]
"#,
    )
    .unwrap();
    let (out, _) = run_json(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let journal = |d: &Path| {
        let run = support::only_run(&d.join(".planrun/preview/runs"));
        std::fs::read(run.join("journal")).unwrap()
    };
    let before = journal(dir.path());
    let (out, events) = run_json(dir.path(), &["--dry-run", "--resume"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("planrun: dry run: resuming run "),
        "{stderr}"
    );
    let resumed = &events[0];
    assert_eq!(resumed["event"], "run-resumed", "{resumed}");
    assert_eq!(resumed["dry_run"], true);
    assert_eq!(
        resumed["resume"]["will_run"],
        serde_json::json!([
            {"task": "second", "why": "it failed"},
            {"task": "third", "why": "it was skipped"}
        ])
    );
    assert_eq!(
        resumed["resume"]["taken_as_done"],
        serde_json::json!([{"task": "first"}])
    );
    let end = |task: &str| {
        events
            .iter()
            .find(|e| e["task"] == task && e.get("state").is_some())
            .unwrap()
            .clone()
    };
    assert_eq!(end("first")["state"], "done-earlier");
    let second = end("second");
    assert_eq!(second["state"], "would-change", "{second}");
    let argv = &second["would"][0]["argv"];
    assert_eq!(second["would"][0]["action"], "run");
    assert_eq!(argv[argv.as_array().unwrap().len() - 1], "test -e fixed");
    assert_eq!(
        end("third")["would"][0]["argv"],
        serde_json::json!(["touch", "third.ran"])
    );
    assert_eq!(journal(dir.path()), before, "the dry run wrote nothing");
    assert!(!dir.path().join("third.ran").exists());
}
