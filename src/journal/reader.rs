//! Reading a journal back: every valid record, a torn tail dropped with a warning,
//! corruption anywhere else a clear error (see [`frame`](super::frame)).

use std::fmt;
use std::path::{Path, PathBuf};

use super::error::JournalError;
use super::frame::{self, TornTail};
use super::history::RunHistory;
use super::record::{FORMAT_VERSION, Record, RunStarted};

/// A journal as read from disk.
#[derive(Debug, Clone)]
pub struct Journal {
    pub path: PathBuf,
    /// Every valid record, in order; the first is always [`Record::RunStarted`].
    pub records: Vec<Record>,
    /// Length of the valid prefix; a writer continues here.
    pub valid_len: u64,
    /// Damage at the end that a crash explains, dropped from `records`.
    pub torn_tail: Option<TornTail>,
}

impl Journal {
    /// Reads and checks the journal at `path`.
    pub fn read(path: &Path) -> Result<Self, JournalError> {
        let bytes = std::fs::read(path).map_err(|e| JournalError::io("read", path, e))?;
        Self::parse(path, &bytes)
    }

    /// Checks journal bytes read from `path`.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, JournalError> {
        let decoded = frame::decode(bytes)
            .map_err(|c| JournalError::corrupt(path, c.offset, c.next_valid, c.why))?;
        let records = decoded
            .frames
            .iter()
            .map(|f| {
                serde_json::from_slice::<Record>(f.payload).map_err(|source| {
                    JournalError::BadRecord {
                        path: path.to_owned(),
                        offset: f.offset,
                        source,
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        match records.first() {
            Some(Record::RunStarted(s)) if s.format > FORMAT_VERSION => {
                return Err(JournalError::Format {
                    path: path.to_owned(),
                    found: s.format,
                });
            }
            Some(Record::RunStarted(_)) => {}
            _ => {
                return Err(JournalError::NoStart {
                    path: path.to_owned(),
                });
            }
        }
        if let Some(t) = &decoded.torn_tail {
            tracing::warn!(path = %path.display(), offset = t.offset, len = t.len, "dropped the torn end of a journal");
        }
        Ok(Self {
            path: path.to_owned(),
            records,
            valid_len: decoded.valid_len,
            torn_tail: decoded.torn_tail,
        })
    }

    /// The run-started record.
    pub fn start(&self) -> &RunStarted {
        match self.records.first() {
            Some(Record::RunStarted(s)) => s,
            _ => unreachable!("Journal::parse checks the first record"),
        }
    }

    /// The run as its records tell it.
    pub fn history(&self) -> RunHistory {
        let mut run = RunHistory::new(self.start().clone());
        for record in &self.records[1..] {
            run.apply(record);
        }
        run
    }

    /// The warning to show when a torn tail was dropped.
    pub fn torn_tail_warning(&self) -> Option<TornTailWarning<'_>> {
        self.torn_tail.as_ref().map(|t| TornTailWarning {
            path: &self.path,
            tail: t,
        })
    }
}

/// "dropped N bytes at the end of JOURNAL (why): ...", for the terminal.
#[derive(Debug)]
pub struct TornTailWarning<'a> {
    path: &'a Path,
    tail: &'a TornTail,
}

impl fmt::Display for TornTailWarning<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "journal {}: dropped {} bytes at byte {} ({}); an interrupted write leaves this, \
             and the change it recorded is treated as never made",
            self.path.display(),
            self.tail.len,
            self.tail.offset,
            self.tail.why
        )
    }
}
