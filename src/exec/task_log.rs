//! A task's log file, `logs/<task>.log` in the run directory: every attempt's output
//! and what planrun says about it, appended as it comes.
//!
//! The file is created (or appended to) only when there is something to write: a task
//! that prints nothing costs no file. Creating thousands of files is what dominated a
//! run of short silent tasks (ext4 slows file creation down right after many
//! deletions). A log that cannot be written never fails the task: its output still
//! reaches the events and the failure excerpt, and the failure is said once
//! ([`TaskLog::line`] returns it), never swallowed.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The writer of one task's log during one attempt. Text given to it is already
/// masked.
pub struct TaskLog {
    path: Option<PathBuf>,
    file: Option<File>,
    /// Whether opening or writing failed: no more tries.
    broken: bool,
    /// Written before the next line: the header of the current section.
    pending: Option<String>,
}

impl TaskLog {
    /// The log at `path`; `None`: output is not kept.
    pub fn new(path: Option<PathBuf>) -> Self {
        Self {
            path,
            file: None,
            broken: false,
            pending: None,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Starts a section (a child process, say): `header` is written before the
    /// section's first line, if it gets one.
    pub fn begin(&mut self, header: String) {
        self.pending = Some(header);
    }

    /// Whether the current section's header reached the log.
    pub fn section_written(&self) -> bool {
        self.pending.is_none() && self.file.is_some()
    }

    /// Appends one line, the section's header first if it is not written yet.
    /// Returns the error the first time the log cannot be written (then it is
    /// given up: the rest of the output reaches the events only).
    pub fn line(&mut self, text: &str) -> Option<std::io::Error> {
        self.write(text, true)
    }

    /// Appends part of a line, without its end (a line too long to hold in memory
    /// is written as it comes); [`TaskLog::line`] with the rest ends it.
    pub fn partial(&mut self, text: &str) -> Option<std::io::Error> {
        self.write(text, false)
    }

    fn write(&mut self, text: &str, end: bool) -> Option<std::io::Error> {
        let pending = self.pending.take();
        let file = match self.file() {
            Ok(Some(file)) => file,
            Ok(None) => {
                self.pending = pending;
                return None;
            }
            Err(e) => return Some(e),
        };
        let mut buf = Vec::with_capacity(text.len() + 1);
        if let Some(header) = pending {
            buf.extend_from_slice(header.as_bytes());
            buf.push(b'\n');
        }
        buf.extend_from_slice(text.as_bytes());
        if end {
            buf.push(b'\n');
        }
        match file.write_all(&buf) {
            Ok(()) => None,
            Err(e) => {
                self.broken = true;
                self.file = None;
                Some(e)
            }
        }
    }

    /// The file, opened for appending on first use (without following a symlink:
    /// see [`crate::layout::open_private`]); `None` when the log is not kept or
    /// was given up.
    fn file(&mut self) -> std::io::Result<Option<&mut File>> {
        if self.broken {
            return Ok(None);
        }
        if self.file.is_none() {
            let Some(path) = self.path.as_ref() else {
                return Ok(None);
            };
            match crate::layout::open_private(path, crate::layout::Open::Append) {
                Ok(file) => self.file = Some(file),
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
        }
        Ok(self.file.as_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_without_lines_leave_no_file_and_headers_come_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        let mut log = TaskLog::new(Some(path.clone()));
        log.begin("--- silent".into());
        assert!(!log.section_written());
        assert!(!path.exists());
        log.begin("--- attempt 1".into());
        log.line("out");
        log.line("more");
        assert!(log.section_written());
        log.begin("--- attempt 2".into());
        log.line("again");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "--- attempt 1\nout\nmore\n--- attempt 2\nagain\n"
        );
    }

    #[test]
    fn an_unkept_log_is_skipped_and_an_unwritable_one_said_once() {
        let mut off = TaskLog::new(None);
        assert!(off.line("x").is_none());
        assert!(!off.section_written());
        let mut bad = TaskLog::new(Some("/nonexistent/dir/t.log".into()));
        let e = bad.line("x").expect("the failure is returned");
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert!(bad.line("y").is_none(), "said once");
        assert!(!bad.section_written());
    }

    #[test]
    fn a_write_that_fails_is_said_once() {
        // /dev/full: every write fails with ENOSPC, like a full disk.
        let mut log = TaskLog::new(Some("/dev/full".into()));
        let e = log.line("x").expect("the failure is returned");
        assert_eq!(e.raw_os_error(), Some(28), "{e}");
        assert!(log.line("y").is_none());
    }

    #[test]
    fn a_long_line_can_be_written_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        let mut log = TaskLog::new(Some(path.clone()));
        log.begin("--- h".into());
        log.partial("ab");
        log.partial("cd");
        log.line("e");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "--- h\nabcde\n");
    }
}
