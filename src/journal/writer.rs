//! The durable, append-only journal writer.
//!
//! Records reach the journal in two steps:
//! - **written**: [`write`](JournalWriter::write) encodes a batch and writes it with
//!   one `write`. Once it returns, the batch survives a kill of planrun (the OS holds
//!   it), but not yet a power loss or an OS crash.
//! - **durable**: an `fdatasync` covering the batch returned.
//!
//! [`committed`](JournalWriter::committed) is how far the journal may be relied on,
//! which the [`SyncMode`] decides:
//! - [`SyncMode::Durable`] (the default): `committed` is the durable length, and
//!   [`commit`](JournalWriter::commit) makes everything written durable, one
//!   `fdatasync` for every batch written since the last one (group commit): in the
//!   background, on a sync thread of the writer's own, while the caller has other
//!   work ([`commits`](JournalWriter::commits) wakes it when done), at once when a
//!   start waits for it, after up to [`REPORT_LINGER`] when only reports do (more
//!   batches then share the sync); or on the caller's thread when it has nothing
//!   else to do (a chain of tasks: no hand-off between threads on its critical
//!   path). The writer itself never waits for the disk: the dispatcher decides what
//!   must wait for which record (`schedule::dispatcher`).
//! - [`SyncMode::Always`]: every batch is synced before `write` returns, so
//!   everything written is committed at once; each step of the DAG waits for the disk.
//! - [`SyncMode::Grouped`]: the sync thread syncs at most every [`GROUP_INTERVAL`]
//!   (every record within that time of being written), and `committed` is the
//!   written length: planrun acts on changes a power loss may still take back.
//!
//! [`append`](JournalWriter::append) writes and waits until the batch is durable,
//! whatever the mode: for the records that open or close a run.
//!
//! Measured (`bash benches/dag.sh`): a preallocated journal makes an `fdatasync`
//! cheaper (no size to commit), but the filesystem's size update is also what keeps
//! an unsynced tail from surviving with holes in it after a power loss; an appended
//! journal reads back as a valid prefix, so it stays appended.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use super::error::JournalError;
use super::frame;
use super::record::Record;
use crate::layout::{Open, open_private};
use crate::schedule::Commit;

/// When appended records are made durable, and when planrun may act on them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// Written before planrun acts on them; synced by a thread of their own, one
    /// sync for everything written meanwhile. A task's end is durable before a task
    /// that needs it starts, before its event, and before the run ends; a task's
    /// start is written before its process starts and synced with the next group.
    #[default]
    Durable,
    /// Every change is durable before planrun goes on, starts included: one sync per
    /// step of the DAG.
    Always,
    /// Written at once, synced at most every 100 ms and at the end: planrun acts on
    /// changes a power loss may still take back (those tasks then run again on
    /// resume, after tasks that needed them may have run).
    Grouped,
}

/// Longest time a record waits for its sync in [`SyncMode::Grouped`].
pub const GROUP_INTERVAL: Duration = Duration::from_millis(100);

/// In [`SyncMode::Durable`], how long a commit that only reports wait for (not a
/// start) may gather records before its sync: a run of many short independent
/// tasks syncs about that often rather than once per batch, and its lines and
/// events come that much later.
pub const REPORT_LINGER: Duration = Duration::from_millis(10);

/// Appends records to one journal file.
#[derive(Debug)]
pub struct JournalWriter {
    file: File,
    path: PathBuf,
    /// Bytes written: the valid content, durable or not.
    len: u64,
    buf: Vec<u8>,
    mode: SyncMode,
    /// The sync thread ([`SyncMode::Durable`] and [`SyncMode::Grouped`]).
    syncer: Option<Syncer>,
}

impl JournalWriter {
    /// Creates the journal at `path` holding `first`, atomically: the file appears
    /// with its first record or not at all (written aside, synced, renamed, and the
    /// directory synced).
    pub fn create(path: &Path, first: &Record) -> Result<Self, JournalError> {
        let tmp = path.with_extension("tmp");
        let mut buf = Vec::new();
        encode(first, &mut buf);
        {
            let mut f = open_private(&tmp, Open::Truncate)
                .map_err(|e| JournalError::io("create", &tmp, e))?;
            f.write_all(&buf)
                .and_then(|()| f.sync_all())
                .map_err(|e| JournalError::io("write", &tmp, e))?;
        }
        fs::rename(&tmp, path).map_err(|e| JournalError::io("rename into place", path, e))?;
        sync_parent(path)?;
        let file = open_existing(path)?;
        Ok(Self::new(file, path, buf.len() as u64))
    }

    /// Opens an existing journal to append after its valid prefix of `valid_len` bytes
    /// (as the reader found it): a torn tail beyond it is cut away first, and what an
    /// earlier process wrote is synced, so a resume acts only on durable records.
    pub fn open_append(path: &Path, valid_len: u64) -> Result<Self, JournalError> {
        let file = open_existing(path)?;
        let len = file
            .metadata()
            .map_err(|e| JournalError::io("stat", path, e))?
            .len();
        if len > valid_len {
            file.set_len(valid_len)
                .and_then(|()| file.sync_all())
                .map_err(|e| JournalError::io("drop the torn end of", path, e))?;
        } else {
            // A process killed before its sync thread caught up left records only the
            // OS holds.
            file.sync_data()
                .map_err(|e| JournalError::io("sync", path, e))?;
        }
        Ok(Self::new(file, path, valid_len.min(len)))
    }

    fn new(file: File, path: &Path, len: u64) -> Self {
        Self {
            file,
            path: path.to_owned(),
            len,
            buf: Vec::new(),
            mode: SyncMode::Always,
            syncer: None,
        }
    }

    /// Chooses when written records are synced and committed (a new writer syncs
    /// each batch, as in [`SyncMode::Always`]).
    pub fn set_sync_mode(&mut self, mode: SyncMode) -> Result<(), JournalError> {
        if let Some(mut syncer) = self.syncer.take() {
            syncer.stop();
        }
        self.mode = mode;
        let delay = match mode {
            SyncMode::Always => return Ok(()),
            SyncMode::Durable => Some(REPORT_LINGER),
            SyncMode::Grouped => Some(GROUP_INTERVAL),
        };
        let file = self
            .file
            .try_clone()
            .map_err(|e| JournalError::io("open", &self.path, e))?;
        let syncer = Syncer::start(file, self.len, delay)
            .map_err(|e| JournalError::io("start the sync thread for", &self.path, e))?;
        self.syncer = Some(syncer);
        Ok(())
    }

    /// Writes `records` with one `write` and returns the journal's length after them:
    /// they are committed once [`committed`](Self::committed) reaches it. In
    /// [`SyncMode::Always`] that is before this returns.
    ///
    /// On failure the file is cut back to its length before the batch when possible,
    /// so a half-written batch never sits before later records.
    pub fn write(&mut self, records: &[Record]) -> Result<u64, JournalError> {
        self.write_batch(records, self.mode == SyncMode::Always)
    }

    /// Writes `records` without syncing them, whatever the mode: they survive a kill
    /// of planrun (the OS has them) but not a power loss, until the next sync. For
    /// facts a power loss makes moot, such as which processes run.
    pub fn append_unsynced(&mut self, records: &[Record]) -> Result<u64, JournalError> {
        self.write_batch(records, false)
    }

    fn write_batch(&mut self, records: &[Record], inline_sync: bool) -> Result<u64, JournalError> {
        if records.is_empty() {
            return Ok(self.len);
        }
        self.buf.clear();
        for r in records {
            encode(r, &mut self.buf);
        }
        let written = self.file.write_all(&self.buf).and_then(|()| {
            if inline_sync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            // Best effort: the error below is what matters.
            let _ = self.file.set_len(self.len);
            return Err(JournalError::io("append to", &self.path, e));
        }
        self.len += self.buf.len() as u64;
        if self.mode == SyncMode::Grouped
            && let Some(syncer) = &self.syncer
        {
            syncer.written(self.len, false);
        }
        Ok(self.len)
    }

    /// In [`SyncMode::Durable`], makes everything written durable: on this thread,
    /// or on the sync thread at once or after [`REPORT_LINGER`] (see [`Commit`]);
    /// nothing to do in the other modes.
    pub fn commit(&mut self, how: Commit) -> Result<(), JournalError> {
        match &self.syncer {
            Some(syncer) if self.mode == SyncMode::Durable => match how {
                Commit::Here => syncer.sync_here(&self.file, self.len),
                Commit::Now | Commit::Soon => {
                    syncer.written(self.len, how == Commit::Now);
                    Ok(())
                }
            },
            _ => Ok(()),
        }
        .map_err(|e| JournalError::io("sync", &self.path, e))
    }

    /// Writes `records` and waits until they are durable, whatever the mode.
    pub fn append(&mut self, records: &[Record]) -> Result<(), JournalError> {
        self.write(records)?;
        self.sync()
    }

    /// Makes everything written durable, on this thread.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        match &self.syncer {
            Some(syncer) => syncer.sync_here(&self.file, self.len),
            None => Ok(()),
        }
        .map_err(|e| JournalError::io("sync", &self.path, e))
    }

    /// How far the journal may be relied on (see [`SyncMode`]); an error once a sync
    /// failed (nothing written since is ever taken as durable).
    pub fn committed(&self) -> Result<u64, JournalError> {
        let Some(syncer) = &self.syncer else {
            return Ok(self.len);
        };
        let durable = syncer
            .durable()
            .map_err(|e| JournalError::io("sync", &self.path, e))?;
        Ok(match self.mode {
            SyncMode::Grouped => self.len,
            SyncMode::Durable | SyncMode::Always => durable,
        })
    }

    /// Changes whenever [`committed`](Self::committed) may have moved (or a sync
    /// failed); `None` when it never lags behind `write`.
    pub fn commits(&self) -> Option<watch::Receiver<u64>> {
        match self.mode {
            SyncMode::Durable => self.syncer.as_ref().map(|s| s.durable_tx.subscribe()),
            SyncMode::Always | SyncMode::Grouped => None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of journal written.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for JournalWriter {
    /// Whatever was written is synced before the writer goes (and with it, the
    /// plan's lock).
    fn drop(&mut self) {
        // A failure was reported to whoever waited for the commit; nobody is left.
        let _ = self.sync();
        if let Some(mut syncer) = self.syncer.take() {
            syncer.stop();
        }
    }
}

/// The sync thread of a writer: whenever bytes were written beyond the durable
/// length, one `fdatasync` for all of them.
#[derive(Debug)]
struct Syncer {
    shared: Arc<Shared>,
    durable_tx: Arc<watch::Sender<u64>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<SyncState>,
    /// Wakes the sync thread: more written, wanted at once, or stop. (Whoever waits
    /// for more to be durable is told through the writer's `watch` channel.)
    wake: Condvar,
}

#[derive(Debug)]
struct SyncState {
    written: u64,
    durable: u64,
    /// Something waits for the next sync: no gathering before it.
    urgent: bool,
    /// The sync that failed: nothing is taken as durable after it (the kernel may
    /// have dropped the pages it could not write, and a later sync would not say).
    failed: Option<SyncFailure>,
    stop: bool,
}

/// An `fdatasync` error, kept to be reported to every later caller.
#[derive(Debug, Clone)]
struct SyncFailure {
    raw: Option<i32>,
    kind: io::ErrorKind,
    message: String,
}

impl SyncFailure {
    fn of(e: &io::Error) -> Self {
        Self {
            raw: e.raw_os_error(),
            kind: e.kind(),
            message: e.to_string(),
        }
    }

    fn error(&self) -> io::Error {
        match self.raw {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(self.kind, self.message.clone()),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SyncState> {
        // A panic while holding the lock is a bug; the state stays consistent (plain
        // numbers), so go on with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes in how an `fdatasync` covering the first `target` bytes ended, from
    /// whichever thread ran it, and tells whoever waits for it. A sync that succeeded
    /// after another failed is still an error: nothing after a failure is taken as
    /// durable. The sync thread is not woken: more durable gives it nothing to do
    /// (a wake-up here cost a thread switch per step of a chain).
    fn synced(
        &self,
        target: u64,
        synced: io::Result<()>,
        durable_tx: &watch::Sender<u64>,
    ) -> (MutexGuard<'_, SyncState>, io::Result<()>) {
        let mut state = self.lock();
        let result = match synced {
            Ok(()) if state.failed.is_none() => {
                state.durable = state.durable.max(target);
                Ok(())
            }
            Ok(()) => Err(state
                .failed
                .as_ref()
                .map_or_else(|| io::Error::other("a sync failed"), SyncFailure::error)),
            Err(e) => {
                state.failed = Some(SyncFailure::of(&e));
                Err(e)
            }
        };
        durable_tx.send_replace(state.durable);
        (state, result)
    }
}

impl Syncer {
    fn start(file: File, len: u64, delay: Option<Duration>) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(SyncState {
                written: len,
                durable: len,
                urgent: false,
                failed: None,
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let durable_tx = Arc::new(watch::Sender::new(len));
        let thread = {
            let shared = shared.clone();
            let durable_tx = durable_tx.clone();
            std::thread::Builder::new()
                .name("planrun-journal-sync".into())
                .spawn(move || sync_loop(&file, &shared, &durable_tx, delay))?
        };
        Ok(Self {
            shared,
            durable_tx,
            thread: Some(thread),
        })
    }

    /// The journal is `len` bytes long now.
    fn written(&self, len: u64, urgent: bool) {
        let mut state = self.shared.lock();
        // The thread needs waking only when it waits for something to sync, or
        // gathers records and is now wanted at once: a thread gathering or syncing
        // looks at `written` again before it waits. (A wake-up for every batch
        // would cost two thread switches per task on a DAG of short tasks.)
        let idle = state.written <= state.durable;
        let hurried = urgent && !state.urgent;
        state.written = len;
        state.urgent |= urgent;
        drop(state);
        if idle || hurried {
            self.shared.wake.notify_all();
        }
    }

    fn durable(&self) -> io::Result<u64> {
        let state = self.shared.lock();
        match &state.failed {
            Some(f) => Err(f.error()),
            None => Ok(state.durable),
        }
    }

    /// Makes the first `len` bytes of `file` durable on the caller's thread (one
    /// `fdatasync`, unless they are already), and says so to whoever waits.
    fn sync_here(&self, file: &File, len: u64) -> io::Result<()> {
        {
            let state = self.shared.lock();
            if let Some(f) = &state.failed {
                return Err(f.error());
            }
            if state.durable >= len {
                return Ok(());
            }
        }
        let synced = file.sync_data();
        self.shared.synced(len, synced, &self.durable_tx).1
    }

    /// Syncs what is left and ends the thread.
    fn stop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // A panic in the thread is a bug, and it already said so.
            let _ = thread.join();
        }
    }
}

fn sync_loop(
    file: &File,
    shared: &Shared,
    durable_tx: &watch::Sender<u64>,
    delay: Option<Duration>,
) {
    let mut state = shared.lock();
    loop {
        if state.failed.is_some() || state.stop && state.written <= state.durable {
            return;
        }
        if state.written <= state.durable {
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        if let Some(delay) = delay
            && !state.stop
            && !state.urgent
        {
            // Let records gather; the end of the run, or a caller that cannot wait,
            // cuts the wait short.
            state = shared
                .wake
                .wait_timeout_while(state, delay, |s| !s.stop && !s.urgent)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.urgent = false;
        if state.written <= state.durable {
            // Synced meanwhile on the writer's thread.
            continue;
        }
        // Everything written by now is covered by this sync (and later bytes may be
        // too, but only these are claimed).
        let target = state.written;
        drop(state);
        let synced = file.sync_data();
        state = shared.synced(target, synced, durable_tx).0;
    }
}

/// An existing journal, for appending, never through a symbolic link.
fn open_existing(path: &Path) -> Result<File, JournalError> {
    if !path.is_file() {
        let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no journal there");
        return Err(JournalError::io("open", path, source));
    }
    open_private(path, Open::Append).map_err(|e| JournalError::io("open", path, e))
}

fn encode(record: &Record, out: &mut Vec<u8>) {
    let payload =
        serde_json::to_vec(record).expect("records serialize: no maps with non-string keys");
    frame::encode(&payload, out);
}

/// Makes a new or renamed directory entry durable.
pub(crate) fn sync_parent(path: &Path) -> Result<(), JournalError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io("sync directory", dir, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::journal::reader::Journal;

    fn record(i: u32) -> Record {
        Record::TaskSkipped {
            task: format!("t{i}"),
            at: jiff::Timestamp::UNIX_EPOCH,
            reason: None,
        }
    }

    fn start() -> Record {
        Record::RunStarted(crate::journal::record::RunStarted {
            format: crate::journal::FORMAT_VERSION,
            run_id: "r".into(),
            plan_name: "p".into(),
            plan_path: "p.toml".into(),
            at: jiff::Timestamp::UNIX_EPOCH,
            planrun_version: "0".into(),
            pid: 1,
            vars: Default::default(),
            process: Default::default(),
        })
    }

    /// Waits, with a deadline, until `committed` reaches `len`.
    fn committed_within(w: &JournalWriter, len: u64) -> u64 {
        let mut rx = w.commits().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), async {
                while w.committed().unwrap() < len {
                    rx.changed().await.unwrap();
                }
            })
            .await
            .expect("the sync thread commits what was written");
        });
        w.committed().unwrap()
    }

    #[test]
    fn durable_mode_commits_what_its_thread_synced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let mut w = JournalWriter::create(&path, &start()).unwrap();
        w.set_sync_mode(SyncMode::Durable).unwrap();
        let first = w.len();
        assert_eq!(
            w.committed().unwrap(),
            first,
            "the created journal is durable"
        );
        let mut len = first;
        for i in 0..50 {
            len = w.write(&[record(i), record(i + 1000)]).unwrap();
            assert_eq!(w.committed().unwrap(), first, "written, not committed");
        }
        assert_eq!(len, w.len());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
        // In the background, at once...
        w.commit(Commit::Now).unwrap();
        assert_eq!(committed_within(&w, len), len);
        // ...or after gathering for a moment...
        let len = w.write(&[record(2)]).unwrap();
        w.commit(Commit::Soon).unwrap();
        assert_eq!(committed_within(&w, len), len);
        // ...or here.
        let len = w.write(&[record(1)]).unwrap();
        w.commit(Commit::Here).unwrap();
        assert_eq!(w.committed().unwrap(), len);
        let j = Journal::read(&path).unwrap();
        assert_eq!(j.records.len(), 103);
    }

    #[test]
    fn always_mode_commits_before_write_returns_and_grouped_at_once() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [SyncMode::Always, SyncMode::Grouped] {
            let path = dir.path().join(format!("{mode:?}"));
            let mut w = JournalWriter::create(&path, &start()).unwrap();
            w.set_sync_mode(mode).unwrap();
            assert!(w.commits().is_none(), "{mode:?} never lags");
            let len = w.write(&[record(1)]).unwrap();
            assert_eq!(w.committed().unwrap(), len, "{mode:?}");
            // `append` waits for the disk in every mode.
            w.append(&[record(2)]).unwrap();
            assert_eq!(w.committed().unwrap(), w.len(), "{mode:?}");
        }
    }

    #[test]
    fn dropping_the_writer_syncs_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let mut w = JournalWriter::create(&path, &start()).unwrap();
        for mode in [SyncMode::Grouped, SyncMode::Durable] {
            w.set_sync_mode(mode).unwrap();
            w.write(&[record(1)]).unwrap();
            assert!(
                w.syncer.as_ref().unwrap().durable().unwrap() < w.len(),
                "{mode:?}"
            );
        }
        let shared = w.syncer.as_ref().unwrap().shared.clone();
        let len = w.len();
        drop(w);
        let state = shared.lock();
        assert_eq!(state.durable, len);
        assert!(state.stop);
    }

    #[test]
    fn a_failed_sync_is_never_taken_back() {
        // fdatasync on /dev/null fails (EINVAL): the sync thread must say so, and
        // take nothing as durable from then on.
        let file = File::open("/dev/null").unwrap();
        let mut syncer = Syncer::start(file.try_clone().unwrap(), 10, None).unwrap();
        // On the sync thread...
        let mut rx = syncer.durable_tx.subscribe();
        syncer.written(20, true);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), rx.changed())
                .await
                .unwrap()
                .unwrap();
        });
        assert_eq!(syncer.durable().unwrap_err().raw_os_error(), Some(22));
        // ...and then here: never taken back.
        let err = syncer.sync_here(&file, 30).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(22));
        syncer.stop();
        // On this thread first.
        let mut syncer = Syncer::start(file.try_clone().unwrap(), 10, None).unwrap();
        let err = syncer.sync_here(&file, 20).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(22));
        assert!(syncer.durable().is_err());
        syncer.stop();
    }
}
