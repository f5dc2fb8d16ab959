//! The durable, append-only journal writer.
//!
//! Every [`append`](JournalWriter::append) encodes its records, writes them with one
//! `write` and makes them durable with one `fdatasync` before returning: a caller may
//! act on a change once `append` returned, never before. Changes that happen together
//! (tasks finishing at once) go in one call, so they share one sync.
//!
//! [`SyncMode::Grouped`] trades that for speed on DAGs of many short tasks: records
//! are still written at once (a crash or kill of planrun loses nothing), but synced
//! at most every [`GROUP_INTERVAL`] and always at the run's end; a power loss or OS
//! crash may then lose the last records, and their tasks run again on resume.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::JournalError;
use super::frame;
use super::record::Record;
use crate::layout::{Open, open_private};

/// When appended records are made durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// Every batch is synced before planrun acts on it: nothing is lost, even to a
    /// power loss.
    #[default]
    Always,
    /// Written at once, synced at most every 100 ms and at the end: a kill of
    /// planrun loses nothing; a power loss may lose the last records (those tasks
    /// then run again on resume).
    Grouped,
}

/// Longest time records wait for a sync in [`SyncMode::Grouped`] while more follow.
pub const GROUP_INTERVAL: Duration = Duration::from_millis(100);

/// Appends records to one journal file.
#[derive(Debug)]
pub struct JournalWriter {
    file: File,
    path: PathBuf,
    /// Length of the valid content written.
    len: u64,
    buf: Vec<u8>,
    mode: SyncMode,
    last_sync: Instant,
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
        Ok(Self {
            file,
            path: path.to_owned(),
            len: buf.len() as u64,
            buf: Vec::new(),
            mode: SyncMode::Always,
            last_sync: Instant::now(),
        })
    }

    /// Opens an existing journal to append after its valid prefix of `valid_len` bytes
    /// (as the reader found it): a torn tail beyond it is cut away first, durably, so
    /// it never ends up in the middle of the journal.
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
        }
        Ok(Self {
            file,
            path: path.to_owned(),
            len: valid_len.min(len),
            buf: Vec::new(),
            mode: SyncMode::Always,
            last_sync: Instant::now(),
        })
    }

    /// Chooses when appended records are synced (default [`SyncMode::Always`]).
    pub fn set_sync_mode(&mut self, mode: SyncMode) {
        self.mode = mode;
    }

    /// Appends `records` and makes them durable (one write, one sync), or in
    /// [`SyncMode::Grouped`] syncs only when the last sync is [`GROUP_INTERVAL`] old or
    /// the run ends.
    ///
    /// On failure the file is cut back to its last durable length when possible, so a
    /// half-written batch never sits before later records.
    pub fn append(&mut self, records: &[Record]) -> Result<(), JournalError> {
        let sync = match self.mode {
            SyncMode::Always => true,
            SyncMode::Grouped => {
                self.last_sync.elapsed() >= GROUP_INTERVAL
                    || records
                        .iter()
                        .any(|r| matches!(r, Record::RunFinished { .. }))
            }
        };
        self.write(records, sync)
    }

    /// Appends `records` without syncing them: they survive a kill of planrun (the
    /// OS has them) but not a power loss, until the next sync. For facts a power
    /// loss makes moot, such as which processes run.
    pub fn append_unsynced(&mut self, records: &[Record]) -> Result<(), JournalError> {
        self.write(records, false)
    }

    fn write(&mut self, records: &[Record], sync: bool) -> Result<(), JournalError> {
        if records.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        for r in records {
            encode(r, &mut self.buf);
        }
        let written = self.file.write_all(&self.buf).and_then(|()| {
            if sync {
                self.last_sync = Instant::now();
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
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of durable journal.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
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
