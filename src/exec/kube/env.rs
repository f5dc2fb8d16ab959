//! What a Kubernetes task runs with: the connection, where progress lines go, its
//! deadline and whether it may change anything.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::connection::Connection;
use crate::events::WouldDo;

/// Where a task's progress lines go (the engine turns them into output events).
/// Lines never contain secret values; the engine masks them again anyway.
pub trait Progress: Send + Sync {
    /// One line of what the task did (to the task's output).
    fn line(&self, text: &str);

    /// What the task waits on now, replacing the previous detail: what a wait has
    /// left and why, a retry of the API. Shown on the task's live line.
    fn detail(&self, text: &str) {
        self.line(text);
    }
}

impl<F: Fn(&str) + Send + Sync> Progress for F {
    fn line(&self, text: &str) {
        self(text)
    }
}

/// Progress that goes nowhere.
pub struct Quiet;

impl Progress for Quiet {
    fn line(&self, _text: &str) {}
}

/// One attempt of one Kubernetes task.
pub struct TaskEnv<'a> {
    pub conn: &'a Connection,
    pub progress: &'a dyn Progress,
    /// Nothing the task does, retries and waits included, goes past this.
    pub deadline: Instant,
    /// When the attempt began, for "timed out after ...".
    pub started: Instant,
    /// Change nothing: deletes are sent as server-side dry runs.
    pub dry_run: bool,
    /// The last detail said, so that only changes are.
    last_detail: Mutex<Option<String>>,
    /// In a dry run: the task found something it would change.
    would_change: AtomicBool,
    /// In a dry run: what it would do, one thing at a time.
    would: Mutex<Vec<WouldDo>>,
}

impl<'a> TaskEnv<'a> {
    /// An attempt starting now with `budget` to finish.
    pub fn new(conn: &'a Connection, progress: &'a dyn Progress, budget: Duration) -> Self {
        let started = Instant::now();
        Self {
            conn,
            progress,
            deadline: started + budget,
            started,
            dry_run: false,
            last_detail: Mutex::new(None),
            would_change: AtomicBool::new(false),
            would: Mutex::new(Vec::new()),
        }
    }

    #[must_use]
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    pub(crate) fn say(&self, text: &str) {
        self.progress.line(text);
    }

    /// What the task waits on now (see [`Progress::detail`]); said only when it
    /// changed.
    pub(crate) fn detail(&self, text: &str) {
        let mut last = self.last_detail.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_deref() != Some(text) {
            *last = Some(text.to_owned());
            drop(last);
            self.progress.detail(text);
        }
    }

    /// In a dry run: notes that the task would change something (a delete the
    /// server accepted as a dry run), so it reads "would change", not "checked ok".
    pub(crate) fn note_change(&self) {
        self.would_change.store(true, Ordering::Relaxed);
    }

    /// In a dry run: notes one thing the task would do (and that it would change
    /// something).
    pub(crate) fn would(&self, what: WouldDo) {
        self.note_change();
        self.would
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(what);
    }

    /// What the task noted it would do.
    pub fn noted(&self) -> Vec<WouldDo> {
        self.would.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether the task noted a change it would make.
    pub fn noted_change(&self) -> bool {
        self.would_change.load(Ordering::Relaxed)
    }

    pub(crate) fn client(&self) -> kube::Client {
        self.conn.client().clone()
    }

    /// The time the attempt has been given, for timeout messages.
    pub(crate) fn budget(&self) -> Duration {
        self.deadline.saturating_duration_since(self.started)
    }
}
