//! The journal through the real binary: refusal, restart, rerun, fingerprint change,
//! status and runs, two processes at once, and the crash torture.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use planrun::journal::{Journal, PlanState, Record, RecordedState, RunHistory};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn planrun() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("planrun"));
    cmd.env("NO_COLOR", "1");
    cmd
}

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new(plan: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plan.toml"), plan).unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn plan(&self) -> PathBuf {
        self.path().join("plan.toml")
    }

    fn run(&self, args: &[&str]) -> Output {
        planrun()
            .current_dir(self.path())
            .args(args)
            .output()
            .unwrap()
    }

    fn state(&self, name: &str) -> PlanState {
        PlanState::new(&self.path().join(".planrun"), name)
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path().join(file)).unwrap_or_default()
    }
}

/// Diagnostic text with miette's wrapping and gutter undone.
fn flat(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .split(|c: char| c.is_whitespace() || c == '│')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// a -> b -> c; b fails while the file `fail-b` exists. Each task appends its name
/// to `ran`.
const ABC: &str = r#"
[plan]
name = "abc"

[vars]
word = "one"

[tasks.a]
type = "exec-script"
script = 'echo a >> ran'

[tasks.b]
type = "exec-script"
script = 'echo b >> ran; test ! -e fail-b; echo {{ word }} > /dev/null'
needs = ["a"]

[tasks.c]
type = "exec-script"
script = 'echo c >> ran'
needs = ["b"]
"#;

#[test]
fn a_failed_run_refuses_a_new_one_and_resume_finishes_it() {
    let d = Dir::new(ABC);
    std::fs::write(d.path().join("fail-b"), "").unwrap();
    let o = d.run(&["plan.toml"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(d.read("ran"), "a\nb\n");

    let o = d.run(&["plan.toml"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    let err = flat(&o.stderr);
    let run_id = d.state("abc").latest().unwrap().unwrap();
    assert!(err.contains(&format!("unfinished run {run_id}")), "{err}");
    assert!(
        err.contains("(failed, 1 of 3 tasks succeeded, 1 failed, 1 skipped; last change"),
        "{err}"
    );
    assert!(
        err.contains("--resume") && err.contains("--restart"),
        "{err}"
    );
    assert_eq!(d.read("ran"), "a\nb\n", "a refused run runs nothing");

    std::fs::remove_file(d.path().join("fail-b")).unwrap();
    let o = d.run(&["plan.toml", "--resume"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(d.read("ran"), "a\nb\nb\nc\n", "a is not run again");
    assert_eq!(d.state("abc").latest().unwrap().unwrap(), run_id);

    // Finished: a new run starts; resume has nothing to do.
    let o = d.run(&["resume", "plan.toml"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(
        flat(&o.stderr).contains("no unfinished run to resume"),
        "{}",
        text(&o)
    );
    let o = d.run(&["plan.toml"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(d.state("abc").run_ids().unwrap().len(), 2);
}

#[test]
fn restart_abandons_and_runs_everything() {
    let d = Dir::new(ABC);
    std::fs::write(d.path().join("fail-b"), "").unwrap();
    assert_eq!(code(&d.run(&["plan.toml"])), 1);
    std::fs::remove_file(d.path().join("fail-b")).unwrap();
    let o = d.run(&["plan.toml", "--restart"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(d.read("ran"), "a\nb\na\nb\nc\n");
    let o = d.run(&["runs", "plan.toml"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("abandoned") && out.contains("succeeded"),
        "{out}"
    );
}

#[test]
fn a_changed_task_reruns_with_what_follows_and_says_why() {
    let d = Dir::new(ABC);
    std::fs::write(d.path().join("fail-b"), "").unwrap();
    assert_eq!(code(&d.run(&["plan.toml"])), 1);
    std::fs::remove_file(d.path().join("fail-b")).unwrap();
    // Change a's definition: a, and b and c after it, run again.
    std::fs::write(d.plan(), ABC.replace("echo a >> ran", "echo A >> ran")).unwrap();
    let o = d.run(&["plan.toml", "--resume"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(d.read("ran"), "a\nb\nA\nb\nc\n");
    let all = text(&o);
    assert!(
        all.contains("task `a` runs again: its definition changed since it succeeded"),
        "{all}"
    );
}

#[test]
fn var_overrides_are_reused_and_change_fingerprints_when_given_again() {
    let d = Dir::new(ABC);
    std::fs::write(d.path().join("fail-b"), "").unwrap();
    assert_eq!(code(&d.run(&["plan.toml", "--var", "word=two"])), 1);
    std::fs::remove_file(d.path().join("fail-b")).unwrap();
    std::fs::write(d.path().join("fail-c"), "").unwrap();
    std::fs::write(
        d.plan(),
        ABC.replace("echo c >> ran'", "echo c >> ran; test ! -e fail-c'"),
    )
    .unwrap();
    // Same override reused: b's fingerprint is the same, a stays done.
    let o = d.run(&["plan.toml", "--resume"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(d.read("ran"), "a\nb\nb\nc\n");
    std::fs::remove_file(d.path().join("fail-c")).unwrap();
    // A new value for `word` changes b: b and c run again, a does not.
    let o = d.run(&["plan.toml", "--resume", "--var", "word=three"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(d.read("ran"), "a\nb\nb\nc\nb\nc\n");
}

#[test]
fn rerun_forces_a_task_and_its_dependents() {
    let d = Dir::new(ABC);
    assert_eq!(code(&d.run(&["plan.toml"])), 0);
    let o = d.run(&["plan.toml", "--rerun", "b"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(d.read("ran"), "a\nb\nc\nb\nc\n");
    let o = d.run(&["plan.toml", "--rerun", "nope"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
}

#[test]
fn status_shows_the_latest_run_task_by_task() {
    let d = Dir::new(ABC);
    std::fs::write(d.path().join("fail-b"), "").unwrap();
    assert_eq!(code(&d.run(&["plan.toml"])), 1);
    let o = d.run(&["status", "plan.toml"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let run_id = d.state("abc").latest().unwrap().unwrap();
    assert!(
        out.starts_with(&format!(
            "run {run_id} of plan `abc`: failed (1 of 3 tasks succeeded, 1 failed"
        )),
        "{out}"
    );
    let states: Vec<(&str, &str)> = out
        .lines()
        .skip_while(|l| !l.starts_with("TASK"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap(), w.next().unwrap())
        })
        .collect();
    assert_eq!(
        states,
        [("a", "succeeded"), ("b", "failed"), ("c", "skipped")]
    );
    let o = d.run(&["status", "plan.toml", "--run", &run_id]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

/// Runs a plan whose first task waits for a file; a second planrun is refused while
/// the first runs, with the first one's pid.
#[test]
fn the_journal_keeps_exit_codes_and_status_names_each_once() {
    let d = Dir::new(ABC);
    std::fs::write(d.path().join("fail-b"), "").unwrap();
    assert_eq!(code(&d.run(&["plan.toml"])), 1);
    let state = d.state("abc");
    let journal = Journal::read(&state.journal_path(&state.latest().unwrap().unwrap())).unwrap();
    let run = RunHistory::from_records(&journal.records).unwrap();
    assert_eq!(run.task("a").unwrap().exit_code, Some(0));
    assert_eq!(run.task("b").unwrap().exit_code, Some(1));
    let o = d.run(&["status", "plan.toml"]);
    let out = String::from_utf8_lossy(&o.stdout);
    let b = out.lines().find(|l| l.starts_with("b ")).unwrap();
    assert!(b.ends_with("  exit code 1"), "{out}");
}

#[test]
fn a_second_process_is_refused_while_the_first_runs() {
    let d = Dir::new(
        r#"
[plan]
name = "slow"

[tasks.wait]
type = "exec-script"
script = 'touch started; while [ ! -e release ]; do sleep 0.01; done'
"#,
    );
    let mut first = planrun()
        .current_dir(d.path())
        .arg("plan.toml")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        || d.path().join("started").exists(),
        Duration::from_secs(30),
    );
    for args in [
        &["plan.toml"][..],
        &["plan.toml", "--resume"],
        &["plan.toml", "--restart"],
    ] {
        let o = d.run(args);
        assert_eq!(code(&o), 3, "{}", text(&o));
        let err = flat(&o.stderr);
        assert!(
            err.contains(&format!(
                "plan `slow` is already running (pid {}",
                first.id()
            )),
            "{err}"
        );
    }
    let o = d.run(&["status", "plan.toml"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(": running ("),
        "{}",
        text(&o)
    );
    std::fs::write(d.path().join("release"), "").unwrap();
    assert!(first.wait().unwrap().success());
}

fn wait_for(cond: impl Fn() -> bool, deadline: Duration) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < deadline,
            "condition not met within {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for `child` up to `limit`; kills it with SIGKILL when it is still running.
/// Returns the exit code, or `None` when killed.
fn run_or_kill(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status.code().unwrap_or(-1));
        }
        if start.elapsed() >= limit {
            child.kill().unwrap();
            child.wait().unwrap();
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// ~50 exec-script tasks in a DAG, each appending the planrun session number to its
/// own counter file and leaving a background `sleep` behind; planrun is SIGKILLed at
/// random moments (seeded), then resumed until the run completes. When a run
/// completes before enough kills, another run starts; every run is checked, and
/// after every session no process a task started still runs (planrun's guard stops
/// them when planrun is killed, planrun itself when a task ends).
#[test]
fn crash_torture() {
    torture("always");
}

/// The same torture with `--journal-sync grouped`: records are written at once, so
/// a SIGKILL loses none of them even when they were not synced yet.
#[test]
fn crash_torture_grouped_sync() {
    torture("grouped");
}

fn torture(sync: &str) {
    const TASKS: usize = 50;
    const KILLS: usize = 30;
    let seed: u64 = std::env::var("PLANRUN_TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0ffee);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut plan = String::from("[plan]\nname = \"torture\"\n");
    for i in 0..TASKS {
        let needs: Vec<String> = (0..i)
            .filter(|_| rng.random_bool(3.0 / (i as f64 + 1.0).max(3.0)))
            .take(3)
            .map(|j| format!("\"t{j:02}\""))
            .collect();
        let ms = rng.random_range(10..80);
        plan.push_str(&format!(
            "\n[tasks.t{i:02}]\ntype = \"exec-script\"\nscript = 'sleep 60 >/dev/null 2>&1 & echo $! >> \"pids/$TORTURE_SESSION\"; echo \"$TORTURE_SESSION\" >> \"counters/$PLANRUN_RUN_ID-t{i:02}\"; sleep 0.{ms:03}'\nneeds = [{}]\n",
            needs.join(", ")
        ));
    }
    let d = Dir::new(&plan);
    std::fs::create_dir(d.path().join("counters")).unwrap();
    std::fs::create_dir(d.path().join("pids")).unwrap();
    let state = d.state("torture");

    // planrun pid -> session number
    let mut pids: BTreeMap<u32, usize> = BTreeMap::new();
    let mut kills = 0;
    let mut session = 0;
    let mut runs_checked = 0;
    loop {
        session += 1;
        assert!(session < 500, "no end in sight (seed {seed})");
        let latest = state.latest().unwrap().map(|id| {
            let j = Journal::read(&state.journal_path(&id))
                .unwrap_or_else(|e| panic!("journal does not read back (seed {seed}): {e:?}"));
            RunHistory::from_records(&j.records).unwrap()
        });
        let resume = match &latest {
            Some(run) if run.is_unfinished() => true,
            Some(run) => {
                if runs_checked < state.run_ids().unwrap().len() {
                    check_torture_run(&d, run.run_id(), TASKS, &pids, seed);
                    runs_checked += 1;
                }
                if kills >= KILLS {
                    break;
                }
                false
            }
            None => false,
        };
        let mut cmd = planrun();
        cmd.current_dir(d.path())
            .arg("plan.toml")
            .args(["--jobs", "4", "--journal-sync", sync]);
        if resume {
            cmd.arg("--resume");
        }
        let stderr = d.path().join(format!("stderr-{session}"));
        let mut child = cmd
            .env("TORTURE_SESSION", session.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        pids.insert(child.id(), session);
        let limit = if kills < KILLS {
            Duration::from_millis(rng.random_range(0..300))
        } else {
            Duration::from_secs(120)
        };
        match run_or_kill(&mut child, limit) {
            None => kills += 1,
            Some(0) => {}
            Some(c) => panic!(
                "session {session} exited {c} (seed {seed}):\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            ),
        }
        // Killed or not, nothing a task of this session started outlives it (a
        // zombie nobody reaped yet runs no more).
        let pids: Vec<i32> = d
            .read(&format!("pids/{session}"))
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect();
        let start = Instant::now();
        let survivors = loop {
            let survivors: Vec<i32> = pids
                .iter()
                .copied()
                .filter(|&p| planrun::procs::is_running(p))
                .collect();
            if survivors.is_empty() || start.elapsed() > Duration::from_secs(20) {
                break survivors;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(
            survivors.is_empty(),
            "session {session}: task processes {survivors:?} outlived planrun (seed {seed})"
        );
    }
    assert!(kills >= KILLS && runs_checked >= 1);
}

/// Checks one completed torture run against its journal and counter files.
fn check_torture_run(d: &Dir, run_id: &str, tasks: usize, pids: &BTreeMap<u32, usize>, seed: u64) {
    let state = d.state("torture");
    let journal = Journal::read(&state.journal_path(run_id)).unwrap();
    let run = RunHistory::from_records(&journal.records).unwrap();
    // Which session journaled each record.
    let mut current = 0;
    let mut started: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut succeeded: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for r in &journal.records {
        match r {
            Record::RunStarted(s) => current = pids[&s.pid],
            Record::RunResumed(s) => current = pids[&s.pid],
            Record::TaskStarted { task, .. } => started.entry(task).or_default().push(current),
            Record::TaskSucceeded { task, .. } => {
                succeeded.entry(task).or_default().push(current);
            }
            Record::TaskReset { task, .. } => panic!("no task changed, yet {task} was reset"),
            _ => {}
        }
    }
    for i in 0..tasks {
        let t = format!("t{i:02}");
        assert_eq!(run.task(&t).unwrap().state, RecordedState::Succeeded, "{t}");
        let ok = &succeeded[t.as_str()];
        if ok.len() != 1 {
            for r in &journal.records {
                if r.task().is_none_or(|x| x == t) {
                    eprintln!("{r:?}");
                }
            }
        }
        assert_eq!(
            ok.len(),
            1,
            "{t} succeeded more than once: sessions {ok:?} (seed {seed})"
        );
        let ok = ok[0];
        let lines: Vec<usize> = d
            .read(&format!("counters/{run_id}-{t}"))
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        let starts = &started[t.as_str()];
        // Exactly one run in the session that journaled the success...
        assert_eq!(
            lines.iter().filter(|&&s| s == ok).count(),
            1,
            "{t}: runs {lines:?}, success in session {ok} (seed {seed})"
        );
        for &s in &lines {
            // ...none after it, and every earlier one was in flight at a kill: started
            // (journaled before the spawn) in a session killed before its end.
            assert!(
                s <= ok,
                "{t} ran in session {s} after its success in session {ok} (seed {seed})"
            );
            assert!(
                starts.contains(&s),
                "{t} ran in session {s} without a journaled start (seed {seed})"
            );
        }
        let mut sessions = lines.clone();
        sessions.sort_unstable();
        sessions.dedup();
        assert_eq!(
            sessions.len(),
            lines.len(),
            "{t}: one run per session at most: {lines:?}"
        );
    }
}
