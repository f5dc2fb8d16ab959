//! The journal on disk: round trips, torn tails at every byte, corruption, resume of
//! the writer after a torn tail.

use std::fs;
use std::path::Path;

use jiff::Timestamp;
use planrun::journal::{
    FORMAT_VERSION, Journal, JournalError, JournalWriter, PlanState, Record, RunStarted, RunState,
    TaskState, VarOverrides,
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
    })
}

fn started(task: &str) -> Record {
    Record::TaskStarted {
        task: task.into(),
        attempt: 1,
        fingerprint: format!("fp-{task}"),
        at: Timestamp::now(),
    }
}

fn succeeded(task: &str) -> Record {
    Record::TaskSucceeded {
        task: task.into(),
        attempt: 1,
        fingerprint: format!("fp-{task}"),
        at: Timestamp::now(),
        exit_code: Some(0),
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
    let state = RunState::from_records(&j.records).unwrap();
    for t in ["a", "b", "c"] {
        assert_eq!(state.task(t).unwrap().state, TaskState::Succeeded);
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
        let state = RunState::from_records(&j.records).unwrap();
        assert_eq!(state.task("c").unwrap().state, TaskState::Running);
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
