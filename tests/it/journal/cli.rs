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
        all.contains("will run (3): a (its definition changed since it succeeded), b (it failed), c (it was skipped)"),
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

/// a -> b -> c, a -> d; `delete` needs nothing and stands for a task that changes
/// the cluster. Each task appends its name to `ran`; b fails while `fail-b` exists.
const RERUN: &str = r#"
[plan]
name = "rerun"

[tasks.a]
type = "exec-script"
script = 'echo a >> ran'

[tasks.b]
type = "exec-script"
script = 'echo b >> ran; test ! -e fail-b'
needs = ["a"]

[tasks.c]
type = "exec-script"
script = 'echo c >> ran'
needs = ["b"]

[tasks.d]
type = "exec-script"
script = 'echo d >> ran'
needs = ["a"]

[tasks.delete]
type = "exec-script"
script = 'echo delete >> ran'
"#;

/// The lines of planrun's listing on stderr.
fn listing(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("planrun: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn rerun_runs_exactly_the_task_and_its_dependents_and_says_so_first() {
    let d = Dir::new(RERUN);
    assert_eq!(code(&d.run(&["plan.toml"])), 0);
    let first: Vec<String> = d.read("ran").lines().map(str::to_owned).collect();
    let run_id = d.state("rerun").latest().unwrap().unwrap();
    std::fs::remove_file(d.path().join("ran")).unwrap();

    let o = d.run(&["plan.toml", "--rerun", "b"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(d.read("ran"), "b\nc\n", "only b and what needs it ran");
    assert_eq!(
        listing(&o),
        [
            format!("running again, in run {run_id} of plan `rerun`, `b` and what depends on it:"),
            "  will run (2): b (--rerun asked for it), c (it needs `b`, which runs again)"
                .to_owned(),
            format!("  taken as done from run {run_id} (3): a, d, delete"),
        ]
    );
    assert_eq!(first.len(), 5);

    // A task new in the plan is not run by a --rerun that did not ask for it, and
    // the listing says how to run it.
    std::fs::remove_file(d.path().join("ran")).unwrap();
    std::fs::write(
        d.plan(),
        format!("{RERUN}\n[tasks.new]\ntype = \"exec-script\"\nscript = 'echo new >> ran'\nneeds = [\"b\"]\n[tasks.lone]\ntype = \"exec-script\"\nscript = 'echo lone >> ran'\n"),
    )
    .unwrap();
    let o = d.run(&["plan.toml", "--rerun", "c"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(d.read("ran"), "c\n");
    let said = listing(&o).join("\n");
    assert!(
        said.contains(&format!(
            "  skipped (2): new (it did not run in run {run_id}; `--rerun new` runs it), lone (it did not run in run {run_id}; `--rerun lone` runs it)"
        )),
        "{said}"
    );
    let o = d.run(&["plan.toml", "--rerun", "nope"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
}

/// The harm the issue reports: `--rerun` on an unfinished run ran everything not yet
/// done, deletes included. It is refused, naming how to finish the run with it.
#[test]
fn rerun_on_an_unfinished_run_is_refused_and_says_how_to_combine_it_with_resume() {
    let d = Dir::new(RERUN);
    std::fs::write(d.path().join("fail-b"), "").unwrap();
    std::fs::write(
        d.plan(),
        RERUN.replace("[tasks.delete]\n", "[tasks.delete]\nneeds = [\"c\"]\n"),
    )
    .unwrap();
    assert_eq!(code(&d.run(&["plan.toml"])), 1);
    std::fs::remove_file(d.path().join("ran")).unwrap();
    let o = d.run(&["plan.toml", "--rerun", "d"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    let err = flat(&o.stderr);
    assert!(err.contains("is unfinished (failed,"), "{err}");
    assert!(
        err.contains("use `planrun plan.toml --resume --rerun d`"),
        "{err}"
    );
    assert_eq!(d.read("ran"), "", "nothing ran");

    // Combined with --resume, by choice: the run finishes, d again too.
    std::fs::remove_file(d.path().join("fail-b")).unwrap();
    let o = d.run(&["plan.toml", "--resume", "--rerun", "d"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let mut ran: Vec<&str> = Vec::new();
    let text_ran = d.read("ran");
    ran.extend(text_ran.lines());
    ran.sort_unstable();
    assert_eq!(ran, ["b", "c", "d", "delete"]);
    let said = listing(&o).join("\n");
    assert!(
        said.contains("will run (4): b (it failed), c (it was skipped), d (--rerun asked for it), delete (it was skipped)"),
        "{said}"
    );
}

/// --resume and --restart list what they will do before anything starts.
#[test]
fn resume_and_restart_list_what_will_run_first() {
    let d = Dir::new(RERUN);
    std::fs::write(d.path().join("fail-b"), "").unwrap();
    assert_eq!(code(&d.run(&["plan.toml"])), 1);
    let run_id = d.state("rerun").latest().unwrap().unwrap();
    std::fs::remove_file(d.path().join("fail-b")).unwrap();
    let o = d.run(&["plan.toml", "--resume"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        listing(&o),
        [
            format!("resuming run {run_id} of plan `rerun` (failed):"),
            "  will run (2): b (it failed), c (it was skipped)".to_owned(),
            format!("  taken as done from run {run_id} (3): a, d, delete"),
        ]
    );
    // The listing comes before the first task's line.
    let out = text(&o);
    assert!(out.find("will run (2)").unwrap() > 0);

    std::fs::write(d.path().join("fail-b"), "").unwrap();
    assert_eq!(code(&d.run(&["plan.toml", "--restart"])), 1);
    let failed_run = d.state("rerun").latest().unwrap().unwrap();
    let o = d.run(&["plan.toml", "--restart"]);
    assert_eq!(
        listing(&o)[..2],
        [
            format!("abandoning run {failed_run} of plan `rerun` (failed); starting a new run:"),
            "  will run (5): a, b, c, d, delete".to_owned(),
        ]
    );
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
        assert!(
            err.contains(&format!("or stop it with `kill {}`", first.id())),
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

/// The same torture in the default sync mode, `durable`: records are written before
/// planrun acts on them and synced by the journal's own thread, so a SIGKILL loses
/// none of them either.
#[test]
fn crash_torture_durable() {
    torture("durable");
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

/// A run interrupted twice (SIGINT, then SIGTERM) and resumed to the end has one
/// report for the whole run: every task's state and result, every attempt with the
/// process that ran it, both interruptions with their time and cause; `status`
/// says the same; the attempts are numbered across the processes.
#[test]
fn one_report_for_a_run_interrupted_twice() {
    let d = Dir::new(
        r#"
[plan]
name = "twice"

[tasks.quick]
type = "exec-script"
script = 'echo quick'

[tasks.slow]
type = "exec-script"
script = 'echo waiting; touch slow.started; while [ ! -e go ]; do sleep 0.02; done'
needs = ["quick"]

[tasks.last]
type = "exec-script"
script = 'echo last'
needs = ["slow"]
"#,
    );
    for signal in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
    ] {
        let _ = std::fs::remove_file(d.path().join("slow.started"));
        let mut args = vec!["plan.toml"];
        if d.state("twice").latest().unwrap().is_some() {
            args.push("--resume");
        }
        let mut child = planrun()
            .current_dir(d.path())
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(
            || d.path().join("slow.started").exists(),
            Duration::from_secs(30),
        );
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
            signal,
        )
        .unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(130));
    }
    std::fs::write(d.path().join("go"), "").unwrap();
    let o = d.run(&["plan.toml", "--resume"]);
    assert_eq!(code(&o), 0, "{}", text(&o));

    let state = d.state("twice");
    let run_id = state.latest().unwrap().unwrap();
    assert_eq!(state.run_ids().unwrap().len(), 1, "one run");
    let report = std::fs::read_to_string(state.dir().run(&run_id).report_path()).unwrap();
    for row in [
        "| outcome | **succeeded** |",
        "| processes | 3 (resumed 2 times) |",
        "| `quick` | succeeded | ran script: echo quick | 1 |",
        "| `slow` | succeeded | ran script: echo waiting; touch slow.started; while [ ! -e go ]; do sleep 0.02; done | 3 |",
        "| `last` | succeeded | ran script: echo last | 1 |",
        "by SIGINT (Ctrl-C) |",
        "| --resume | ",
        "| new run | ",
        "by SIGTERM |",
    ] {
        assert!(report.contains(row), "no `{row}` in:\n{report}");
    }
    assert_eq!(report.matches("interrupted at ").count(), 2, "{report}");
    let row = |task: &str, n: u32| {
        report
            .lines()
            .find(|l| l.starts_with(&format!("| `{task}` | {n} | {n} | ")))
            .unwrap_or_else(|| panic!("no attempt {n} of {task}:\n{report}"))
            .to_owned()
    };
    assert!(row("slow", 1).ends_with("| interrupted |"), "{report}");
    assert!(row("slow", 2).ends_with("| interrupted |"), "{report}");
    assert!(row("slow", 3).ends_with("| succeeded |"), "{report}");
    // status says the same, from the same journal.
    let o = d.run(&["status", "plan.toml"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(", resumed 2 times"), "{out}");
    assert_eq!(out.matches(" (--resume)\n").count(), 2, "{out}");
    assert_eq!(out.matches("interrupted 20").count(), 2, "{out}");
    let slow = out.lines().find(|l| l.starts_with("slow ")).unwrap();
    let cols: Vec<&str> = slow.split_whitespace().collect();
    assert_eq!(&cols[..3], ["slow", "succeeded", "3"], "{out}");
    // The task log numbers the attempts across the processes, as status does.
    let log = std::fs::read_to_string(state.dir().run(&run_id).log_path("slow")).unwrap();
    let headers: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("--- attempt"))
        .collect();
    assert_eq!(headers.len(), 3, "{log}");
    for (i, h) in headers.iter().enumerate() {
        assert!(h.starts_with(&format!("--- attempt {}: ", i + 1)), "{log}");
    }
    let journal = Journal::read(&state.journal_path(&run_id)).unwrap();
    let attempts: Vec<u32> = journal
        .records
        .iter()
        .filter_map(|r| match r {
            Record::TaskStarted { task, attempt, .. } if task == "slow" => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
}

/// An `always` task learns how the run stands as it starts: `succeeded`, `failed`
/// (with the failed tasks named) or `interrupted`.
#[test]
fn an_always_task_sees_each_outcome() {
    let plan = r#"
[plan]
name = "outcome"

[tasks.work]
type = "exec-script"
script = 'test ! -e fail; if [ -e hang ]; then touch hanging; while :; do sleep 0.02; done; fi'

[tasks.flaky]
type = "exec-script"
script = 'test ! -e fail'
allow_failure = true

[tasks.record]
type = "exec-script"
always = true
script = 'echo "$PLANRUN_RUN_OUTCOME [$PLANRUN_FAILED_TASKS]" >> outcomes'
needs = ["work", "flaky"]
"#;
    let d = Dir::new(plan);
    assert_eq!(code(&d.run(&["plan.toml"])), 0);
    std::fs::write(d.path().join("fail"), "").unwrap();
    assert_eq!(code(&d.run(&["plan.toml"])), 1);
    std::fs::remove_file(d.path().join("fail")).unwrap();
    std::fs::write(d.path().join("hang"), "").unwrap();
    let mut child = planrun()
        .current_dir(d.path())
        .args(["plan.toml", "--restart"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        || d.path().join("hanging").exists(),
        Duration::from_secs(30),
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_eq!(
        d.read("outcomes"),
        "succeeded []\nfailed [work,flaky]\ninterrupted []\n"
    );
}

/// On a terminal, a rerun that would run tasks that change things asks after its
/// listing; "no" runs nothing (exit 3), "yes" goes on. (`script` gives planrun a
/// terminal and types the answer.)
#[test]
fn on_a_terminal_a_rerun_of_changing_tasks_asks_first() {
    let d = Dir::new(RERUN);
    assert_eq!(code(&d.run(&["plan.toml"])), 0);
    std::fs::remove_file(d.path().join("ran")).unwrap();
    let bin = assert_cmd::cargo::cargo_bin!("planrun");
    let on_terminal = |answer: &str| {
        let mut child = Command::new("script")
            .current_dir(d.path())
            .env("NO_COLOR", "1")
            .args(["-qec"])
            .arg(format!("{} plan.toml --rerun b", bin.display()))
            .arg("/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("`script` (util-linux) gives planrun a terminal");
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(answer.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        out
    };
    let o = on_terminal("n\n");
    let all = text(&o);
    assert!(
        all.contains("2 of these change things (b, c). Go on? [y/N]"),
        "{all}"
    );
    assert_eq!(code(&o), 3, "{all}");
    assert_eq!(d.read("ran"), "", "nothing ran: {all}");
    let o = on_terminal("y\n");
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(d.read("ran"), "b\nc\n");
}
