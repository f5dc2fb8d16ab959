//! The journal on disk: round trips, torn tails at every byte, corruption, resume of
//! the writer after a torn tail.

use std::fs;
use std::path::Path;

use jiff::Timestamp;
use planrun::journal::{
    FORMAT_VERSION, Journal, JournalError, JournalWriter, PlanState, Record, RecordedState,
    RunHistory, RunStarted, VarOverrides,
};

fn start(run_id: &str) -> Record {
    Record::RunStarted(RunStarted {
        format: FORMAT_VERSION,
        run_id: run_id.into(),
        plan_name: "p".into(),
        plan_path: "p.toml".into(),
        at: Timestamp::now(),
        planrun_version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        vars: VarOverrides::default(),
        process: Default::default(),
    })
}

fn started(task: &str) -> Record {
    Record::TaskStarted {
        task: task.into(),
        attempt: 1,
        fingerprint: format!("fp-{task}"),
        at: Timestamp::now(),
        expected_ms: None,
    }
}

fn succeeded(task: &str) -> Record {
    Record::TaskSucceeded {
        task: task.into(),
        attempt: 1,
        fingerprint: format!("fp-{task}"),
        at: Timestamp::now(),
        exit_code: Some(0),
        summary: None,
    }
}

/// A journal of a started run with tasks a, b, c succeeded; returns its path and the
/// byte offset where the last record starts.
fn write_journal(dir: &Path) -> (std::path::PathBuf, u64) {
    let ps = PlanState::new(&dir.join(".planrun"), "p");
    let id = ps.create_run_dir(Timestamp::now()).unwrap();
    let path = ps.journal_path(&id);
    let mut w = JournalWriter::create(&path, &start(&id)).unwrap();
    w.append(&[started("a"), started("b")]).unwrap();
    w.append(&[succeeded("a"), succeeded("b"), started("c")])
        .unwrap();
    let before_last = w.len();
    w.append(&[succeeded("c")]).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), w.len());
    (path, before_last)
}

#[test]
fn a_journal_reads_back_what_was_appended() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_journal(dir.path());
    let j = Journal::read(&path).unwrap();
    assert_eq!(j.records.len(), 7);
    assert!(j.torn_tail.is_none());
    let state = RunHistory::from_records(&j.records).unwrap();
    for t in ["a", "b", "c"] {
        assert_eq!(state.task(t).unwrap().state, RecordedState::Succeeded);
    }
}

#[test]
fn truncation_anywhere_in_the_last_record_drops_it_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (path, before_last) = write_journal(dir.path());
    let full = fs::read(&path).unwrap();
    for cut in before_last..full.len() as u64 {
        let bytes = &full[..cut as usize];
        let j = Journal::parse(&path, bytes).unwrap();
        assert_eq!(j.records.len(), 6, "cut at {cut}");
        assert_eq!(j.valid_len, before_last);
        let state = RunHistory::from_records(&j.records).unwrap();
        assert_eq!(state.task("c").unwrap().state, RecordedState::Running);
        if cut == before_last {
            assert!(j.torn_tail.is_none());
        } else {
            let warning = j.torn_tail_warning().unwrap().to_string();
            assert!(
                warning.contains(&format!(
                    "dropped {} bytes at byte {before_last}",
                    cut - before_last
                )),
                "{warning}"
            );
        }
    }
}

#[test]
fn a_flipped_byte_before_the_last_record_is_an_error_naming_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (path, before_last) = write_journal(dir.path());
    let full = fs::read(&path).unwrap();
    let middle = before_last as usize / 2;
    for i in [0, middle, before_last as usize - 1] {
        let mut bytes = full.clone();
        bytes[i] ^= 0x20;
        let err = Journal::parse(&path, &bytes).unwrap_err();
        let JournalError::Corrupt { offset, .. } = &err else {
            panic!("flip at {i}: {err:?}")
        };
        let line_start = full[..i]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        assert_eq!(*offset, line_start as u64, "flip at {i}");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("is corrupt at byte {line_start}")),
            "{msg}"
        );
    }
}

#[test]
fn a_flipped_byte_in_the_last_record_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (path, before_last) = write_journal(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    let i = (before_last as usize + bytes.len()) / 2;
    bytes[i] ^= 0x20;
    let j = Journal::parse(&path, &bytes).unwrap();
    assert_eq!(j.valid_len, before_last);
    assert!(j.torn_tail.is_some());
}

#[test]
fn the_writer_cuts_a_torn_tail_before_appending() {
    let dir = tempfile::tempdir().unwrap();
    let (path, before_last) = write_journal(dir.path());
    let len = fs::metadata(&path).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 3).unwrap();
    drop(f);
    let j = Journal::read(&path).unwrap();
    assert!(j.torn_tail.is_some());
    let mut w = JournalWriter::open_append(&path, j.valid_len).unwrap();
    w.append(&[started("c"), succeeded("c")]).unwrap();
    let j = Journal::read(&path).unwrap();
    assert!(j.torn_tail.is_none());
    assert_eq!(j.records.len(), 8);
    assert_eq!(w.len(), fs::metadata(&path).unwrap().len());
    assert!(w.len() > before_last);
}

#[test]
fn a_journal_must_start_with_run_started() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    fs::write(&path, "").unwrap();
    assert!(matches!(
        Journal::read(&path),
        Err(JournalError::NoStart { .. })
    ));
}

mod session {
    use std::path::{Path, PathBuf};

    use jiff::Timestamp;
    use planrun::error::Error;
    use planrun::journal::{self, Record, RecordedOutcome, RecordedState, Session, StartMode};
    use planrun::validate::load_and_validate;

    const PLAN: &str = r#"
[plan]
name = "demo"

[vars]
msg = "hello"
token = { value = "plan-token", secret = true }

[tasks.a]
type = "exec-script"
command = ["echo", "{{ msg }}"]

[tasks.b]
type = "exec-script"
command = ["echo", "b"]
needs = ["a"]

[tasks.c]
type = "exec-script"
command = ["echo", "c"]
needs = ["b"]
"#;

    struct Fixture {
        _dir: tempfile::TempDir,
        plan: PathBuf,
        state: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("demo.toml");
        std::fs::write(&plan, PLAN).unwrap();
        let state = dir.path().join(".planrun");
        Fixture {
            plan,
            state,
            _dir: dir,
        }
    }

    fn open_once(f: &Fixture, vars: &[(&str, &str)], mode: &StartMode) -> Result<Session, Error> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        journal::open(&f.plan, &f.state, &vars, mode, &load_and_validate).map_err(Error::from)
    }

    /// Like [`open_once`], waiting out a lock held by this test process: a child
    /// spawned by another test between fork and exec briefly shares every open file,
    /// the lock of a just-dropped session included.
    fn open(f: &Fixture, vars: &[(&str, &str)], mode: StartMode) -> Result<Session, Error> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match open_once(f, vars, &mode) {
                Err(Error::Refused(r))
                    if std::time::Instant::now() < deadline
                        && r.downcast_ref::<journal::LockError>().is_some() =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    fn resume() -> StartMode {
        StartMode::Resume { rerun: vec![] }
    }

    /// Journals task `id` as started and, when `ok`, succeeded.
    /// A new run in which a, b and c all succeed, finished with `outcome`.
    fn finished_run(f: &Fixture, outcome: RecordedOutcome) {
        let mut s = open(f, &[], StartMode::New).unwrap();
        for t in ["a", "b", "c"] {
            run_task(&mut s, t, true);
        }
        s.journal
            .record(&[Record::RunFinished {
                at: Timestamp::now(),
                outcome,
            }])
            .unwrap();
    }

    fn run_task(s: &mut Session, id: &str, ok: bool) {
        let fp = s.plan.task(s.plan.find(id).unwrap()).fingerprint.clone();
        let now = Timestamp::now();
        let mut records = vec![Record::TaskStarted {
            task: id.into(),
            attempt: 1,
            fingerprint: fp.clone(),
            at: now,
            expected_ms: None,
        }];
        if ok {
            records.push(Record::TaskSucceeded {
                task: id.into(),
                attempt: 1,
                fingerprint: fp,
                at: now,
                exit_code: Some(0),
                summary: None,
            });
        }
        s.journal.record(&records).unwrap();
    }

    fn refusal(r: Result<Session, Error>) -> String {
        match r {
            Err(Error::Refused(report)) => {
                let help = report.help().map(|h| h.to_string()).unwrap_or_default();
                format!("{report}\nhelp: {help}")
            }
            Err(other) => panic!("expected a refusal, got {other:?}"),
            Ok(s) => panic!("expected a refusal, got run {}", s.journal.run_id()),
        }
    }

    fn names(plan_path: &Path) -> String {
        journal::peek_plan_name(plan_path).unwrap()
    }

    #[test]
    fn an_unfinished_run_refuses_a_new_one_and_resume_skips_successes() {
        let f = fixture();
        assert_eq!(names(&f.plan), "demo");
        let mut s = open(&f, &[], StartMode::New).unwrap();
        let run_id = s.journal.run_id().to_owned();
        assert!(s.journal.run_dir().ends_with(format!("demo/runs/{run_id}")));
        run_task(&mut s, "a", true);
        run_task(&mut s, "b", false);
        drop(s);

        let msg = refusal(open(&f, &[], StartMode::New));
        assert!(
            msg.contains(&format!("plan `demo` has an unfinished run {run_id}")),
            "{msg}"
        );
        assert!(msg.contains("1 of 3 tasks succeeded, 1 cut off"), "{msg}");
        assert!(
            msg.contains("--resume") && msg.contains("--restart"),
            "{msg}"
        );

        let s = open(&f, &[], resume()).unwrap();
        assert!(s.resumed);
        assert_eq!(s.journal.run_id(), run_id);
        assert_eq!(s.done, [0]);
        assert!(s.notices.is_empty(), "{:?}", s.notices);
    }

    #[test]
    fn a_second_process_is_refused_while_the_first_holds_the_lock() {
        let f = fixture();
        let s = open(&f, &[], StartMode::New).unwrap();
        let msg = refusal(open_once(&f, &[], &resume()));
        assert!(
            msg.contains(&format!(
                "plan `demo` is already running (pid {}",
                std::process::id()
            )),
            "{msg}"
        );
        assert!(msg.contains(s.journal.run_id()), "{msg}");
        drop(s);
        open(&f, &[], resume()).unwrap();
    }

    #[test]
    fn a_changed_definition_reruns_the_task_and_what_follows() {
        let f = fixture();
        finished_run(&f, RecordedOutcome::Failed);
        std::fs::write(
            &f.plan,
            PLAN.replace(r#"["echo", "b"]"#, r#"["echo", "B"]"#),
        )
        .unwrap();
        let s = open(&f, &[], resume()).unwrap();
        assert_eq!(s.done, [0]);
        assert_eq!(
            s.listing.as_ref().unwrap().will_run,
            [
                ("b", "its definition changed since it succeeded"),
                ("c", "it needs `b`, which runs again"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        // The decision is journaled: an interruption now does not forget it.
        drop(s);
        std::fs::write(&f.plan, PLAN).unwrap();
        let s = open(&f, &[], resume()).unwrap();
        assert_eq!(s.done, [0]);
        assert_eq!(
            s.journal.state().task("b").unwrap().state,
            RecordedState::Pending
        );
    }

    #[test]
    fn rerun_reopens_even_a_succeeded_run_and_unknown_tasks_are_invalid() {
        let f = fixture();
        finished_run(&f, RecordedOutcome::Succeeded);
        let msg = refusal(open(&f, &[], resume()));
        assert!(msg.contains("no unfinished run to resume"), "{msg}");
        match open(
            &f,
            &[],
            StartMode::Resume {
                rerun: vec!["bb".into()],
            },
        ) {
            Err(Error::Invalid(r)) => assert!(r.to_string().contains("did you mean `b`?"), "{r}"),
            other => panic!("{other:?}"),
        }
        let s = open(
            &f,
            &[],
            StartMode::Resume {
                rerun: vec!["b".into()],
            },
        )
        .unwrap();
        assert_eq!(s.done, [0]);
        assert_eq!(
            s.listing.as_ref().unwrap().will_run[0],
            ("b".to_owned(), "--rerun asked for it".to_owned())
        );
        // A new run is fine: the succeeded one was reopened, and is unfinished again.
        drop(s);
        refusal(open(&f, &[], StartMode::New));
    }

    #[test]
    fn restart_abandons_the_unfinished_run() {
        let f = fixture();
        let mut s = open(&f, &[], StartMode::New).unwrap();
        let first = s.journal.run_id().to_owned();
        run_task(&mut s, "a", true);
        drop(s);
        let s = open(&f, &[], StartMode::Restart).unwrap();
        assert_ne!(s.journal.run_id(), first);
        assert!(s.done.is_empty());
        let listing = s.listing.as_ref().unwrap();
        assert_eq!(
            listing.heading,
            format!("abandoning run {first} of plan `demo` (cut off); starting a new run")
        );
        assert_eq!(listing.will_run.len(), 3);
        let old = journal::Journal::read(&s.plan_state.journal_path(&first)).unwrap();
        assert!(matches!(
            old.records.last(),
            Some(Record::RunFinished {
                outcome: RecordedOutcome::Abandoned,
                ..
            })
        ));
        assert_eq!(
            s.plan_state.latest().unwrap().as_deref(),
            Some(s.journal.run_id())
        );
    }

    #[test]
    fn var_overrides_are_reused_on_resume_but_secret_values_are_not_journaled() {
        let f = fixture();
        let s = open(
            &f,
            &[("msg", "bye"), ("token", "cli-s3cret")],
            StartMode::New,
        )
        .unwrap();
        let journal_path = s.journal.path().to_owned();
        drop(s);
        let text = std::fs::read_to_string(&journal_path).unwrap();
        assert!(!text.contains("cli-s3cret"), "{text}");
        let value = |s: &Session, name: &str| {
            s.plan
                .vars()
                .iter()
                .find(|v| v.name == name)
                .unwrap()
                .value
                .clone()
        };

        let s = open(&f, &[], resume()).unwrap();
        assert_eq!(value(&s, "msg"), "bye");
        assert_eq!(value(&s, "token"), "plan-token");
        assert_eq!(s.notices.len(), 1);
        assert!(
            s.notices[0].starts_with("secret variable `token` was given with --var"),
            "{:?}",
            s.notices
        );
        drop(s);

        let s = open(&f, &[("msg", "again"), ("token", "cli-s3cret")], resume()).unwrap();
        assert_eq!(value(&s, "msg"), "again");
        assert_eq!(value(&s, "token"), "cli-s3cret");
        assert!(s.notices.is_empty());
        drop(s);
        let s = open(&f, &[], resume()).unwrap();
        assert_eq!(value(&s, "msg"), "again");
        let text = std::fs::read_to_string(&journal_path).unwrap();
        assert!(!text.contains("cli-s3cret"), "{text}");
    }

    #[test]
    fn an_override_of_a_variable_the_plan_dropped_is_dropped_with_a_notice() {
        let f = fixture();
        drop(open(&f, &[("msg", "bye")], StartMode::New).unwrap());
        let plan = PLAN
            .replace("msg = \"hello\"\n", "")
            .replace("{{ msg }}", "a");
        std::fs::write(&f.plan, plan).unwrap();
        let s = open(&f, &[], resume()).unwrap();
        assert_eq!(
            s.notices,
            ["the plan no longer declares variable `msg`, given with --var earlier; dropped"]
        );
    }
}

mod cli;
