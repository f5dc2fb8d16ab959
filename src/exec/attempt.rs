//! One attempt of one task: the run's resources, the attempt's own cancellation
//! (the run's, or its timeout) and its output, to the event stream and the task log.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::cancel::Cancel;
use crate::events::{EventKind, Stream};

use super::resources::RunResources;
use super::task_log::TaskLog;

/// Everything an attempt of a task may use besides the task itself.
pub struct Attempt {
    pub run: Arc<RunResources>,
    /// The task's id.
    pub task: String,
    /// 1 for the first attempt.
    pub number: u32,
    /// Cancelled on interruption (run-wide) or on this attempt's timeout.
    pub cancel: Cancel,
    child_env: Vec<(String, String)>,
    log: Mutex<TaskLog>,
    /// What the attempt waits on now (its last progress detail).
    detail: Mutex<Option<String>>,
}

impl Attempt {
    /// Attempt `number` of `task`; its output goes to the log file at `log` (when
    /// kept) and to the run's events.
    pub fn new(run: Arc<RunResources>, task: &str, number: u32, log: Option<PathBuf>) -> Self {
        let mut child_env = run.child_env.clone();
        child_env.push(("PLANRUN_TASK".to_owned(), task.to_owned()));
        Self {
            cancel: run.cancel.child(),
            run,
            task: task.to_owned(),
            number,
            child_env,
            log: Mutex::new(TaskLog::new(log)),
            detail: Mutex::new(None),
        }
    }

    /// Cancelled only by its own timeout, not by the run's interruption: for the
    /// `always` tasks that run after an interruption (a second Ctrl-C still kills
    /// them, with every process group).
    #[must_use]
    pub fn past_interruption(mut self) -> Self {
        self.cancel = Cancel::new();
        self
    }

    /// Adds variables to every child of this attempt.
    #[must_use]
    pub fn with_env(mut self, env: Vec<(String, String)>) -> Self {
        self.child_env.extend(env);
        self
    }

    /// What the task waits on now, replacing the previous detail: to the task's
    /// live line (an event) and its log (masked).
    pub fn detail(&self, text: &str) {
        let text = self.run.redactor.redact(text).into_owned();
        self.log_line(&text);
        *self.detail.lock().unwrap_or_else(|e| e.into_inner()) = Some(text.clone());
        self.run.events.emit(EventKind::TaskProgress {
            task: self.task.clone(),
            attempt: self.number,
            detail: text,
        });
    }

    /// The attempt's last progress detail: what it waited on.
    pub fn last_detail(&self) -> Option<String> {
        self.detail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Variables every child of this attempt gets, on top of planrun's environment.
    pub fn child_env(&self) -> &[(String, String)] {
        &self.child_env
    }

    /// The task's log file, if it is kept.
    pub fn log_path(&self) -> Option<PathBuf> {
        self.log().path().map(PathBuf::from)
    }

    /// Sends one line of task output to the reporters (masked).
    pub fn emit(&self, stream: Stream, line: &str) {
        self.run.events.emit(EventKind::TaskOutput {
            task: self.task.clone(),
            stream,
            line: self.run.redactor.redact(line).into_owned(),
        });
    }

    /// One line planrun itself says about the task: to the log and the output.
    pub fn say(&self, text: &str) {
        let text = self.run.redactor.redact(text);
        self.log_line(&text);
        self.emit(Stream::Stdout, &text);
    }

    /// Starts a section of the log: `header` (masked) is written before the
    /// section's first line, if it gets one.
    pub fn begin_log_section(&self, header: &str) {
        let header = self.run.redactor.redact(header).into_owned();
        self.log().begin(header);
    }

    /// Whether the current log section was written (its header at least).
    pub fn log_section_written(&self) -> bool {
        self.log().section_written()
    }

    /// One line (masked) to the log only.
    pub fn log_line(&self, text: &str) {
        let text = self.run.redactor.redact(text);
        let failed = self.log().line(&text);
        self.log_failed(failed);
    }

    /// Part of a line, already masked, to the log only (a line too long to hold
    /// in memory is written as it comes; [`Attempt::log_line`] ends it).
    pub fn log_partial(&self, masked: &str) {
        let failed = self.log().partial(masked);
        self.log_failed(failed);
    }

    /// Says that the log could not be written (once: the log is then given up).
    fn log_failed(&self, failed: Option<std::io::Error>) {
        if let Some(error) = failed {
            self.run.events.emit(EventKind::TaskLogFailed {
                task: self.task.clone(),
                path: self
                    .log_path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                error: error.to_string(),
            });
        }
    }

    fn log(&self) -> MutexGuard<'_, TaskLog> {
        // A panic while writing a line leaves at worst that line half written.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}
