//! A task's log file, `logs/<task>.log` in the run directory: every attempt's output
//! and what planrun says about it, appended as it comes.
//!
//! The file is created (or appended to) only when there is something to write: a task
//! that prints nothing costs no file. Creating thousands of files is what dominated a
//! run of short silent tasks (ext4 slows file creation down right after many
//! deletions). A log that cannot be written never fails the task: its output still
//! reaches the events and the failure excerpt.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The writer of one task's log during one attempt. Text given to it is already
/// masked.
pub struct TaskLog {
    path: Option<PathBuf>,
    file: Option<File>,
    /// Whether opening failed: no more tries.
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
    pub fn line(&mut self, text: &str) {
        let pending = self.pending.take();
        let Some(file) = self.file() else {
            self.pending = pending;
            return;
        };
        let mut buf = Vec::with_capacity(text.len() + 1);
        if let Some(header) = pending {
            buf.extend_from_slice(header.as_bytes());
            buf.push(b'\n');
        }
        buf.extend_from_slice(text.as_bytes());
        buf.push(b'\n');
        let _ = file.write_all(&buf);
    }

    /// The file, opened for appending on first use.
    fn file(&mut self) -> Option<&mut File> {
        if self.file.is_none() && !self.broken {
            let path = self.path.as_ref()?;
            match File::options().create(true).append(true).open(path) {
                Ok(file) => self.file = Some(file),
                Err(_) => self.broken = true,
            }
        }
        self.file.as_mut()
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
    fn an_unkept_or_unwritable_log_is_silently_skipped() {
        let mut off = TaskLog::new(None);
        off.line("x");
        assert!(!off.section_written());
        let mut bad = TaskLog::new(Some("/nonexistent/dir/t.log".into()));
        bad.line("x");
        assert!(!bad.section_written());
    }
}
