//! A plan's runs on disk: which exist, which is the latest, the plan's lock, and new
//! run directories. Paths come from [`crate::layout`].

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::error::JournalError;
use super::lock::{LockError, PlanLock};
use super::writer::sync_parent;
use crate::layout::{self, PlanDir, RunDir};

/// The runs of one plan: `<state dir>/<plan name>/`.
#[derive(Debug, Clone)]
pub struct PlanState {
    dir: PlanDir,
}

impl PlanState {
    /// The state of plan `plan_name` under `state_dir` (usually `.planrun`).
    pub fn new(state_dir: &Path, plan_name: &str) -> Self {
        Self {
            dir: PlanDir::new(state_dir, plan_name),
        }
    }

    /// The plan's directory and the paths in it.
    pub fn dir(&self) -> &PlanDir {
        &self.dir
    }

    pub fn plan_name(&self) -> &str {
        self.dir.plan_name()
    }

    /// The directory of run `run_id`.
    pub fn run_dir(&self, run_id: &str) -> RunDir {
        self.dir.run(run_id)
    }

    pub fn journal_path(&self, run_id: &str) -> PathBuf {
        self.dir.run(run_id).journal_path()
    }

    /// Takes the plan's lock (see [`PlanLock`]), creating the directory if needed.
    pub fn lock(&self) -> Result<PlanLock, LockError> {
        self.acquire(
            &self.dir.lock_path(),
            &format!("plan `{}`", self.plan_name()),
        )
    }

    /// Takes the plan's rehearsal lock: one rehearsal of the plan at a time, so that
    /// none replaces the simulated world another one runs in. The rehearsal's run
    /// takes the plan's lock beside it.
    pub fn lock_rehearsal(&self) -> Result<PlanLock, LockError> {
        self.acquire(
            &self.dir.rehearsal_lock_path(),
            &format!("a rehearsal of plan `{}`", self.plan_name()),
        )
    }

    fn acquire(&self, path: &Path, what: &str) -> Result<PlanLock, LockError> {
        let dir = self.dir.path();
        layout::create_private_dir(dir).map_err(|source| LockError::Io {
            action: "create the state directory",
            path: dir.to_owned(),
            source,
        })?;
        PlanLock::acquire(path, what)
    }

    /// Ids of the runs that have a journal, oldest first by id.
    pub fn run_ids(&self) -> Result<Vec<String>, JournalError> {
        let runs = self.dir.runs_dir();
        let entries = match fs::read_dir(&runs) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(JournalError::io("list", runs, e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| JournalError::io("list", &runs, e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if self.has_run(&name) {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Whether run `run_id` holds a run: a journal with something in it. A journal
    /// is created with its first record in place (see `JournalWriter::create`), so
    /// an empty one never held a run (a disk that filled, a file made by hand): it
    /// is no run and blocks nothing.
    fn has_run(&self, run_id: &str) -> bool {
        std::fs::metadata(self.journal_path(run_id)).is_ok_and(|m| m.is_file() && m.len() > 0)
    }

    /// The latest run's id, if there is a run.
    pub fn latest(&self) -> Result<Option<String>, JournalError> {
        let path = self.dir.latest_path();
        match fs::read_to_string(&path) {
            Ok(text) => {
                let id = text.trim();
                if !id.is_empty() && self.has_run(id) {
                    return Ok(Some(id.to_owned()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(JournalError::io("read", path, e)),
        }
        Ok(self.run_ids()?.pop())
    }

    /// Makes `run_id` the latest run, atomically and durably.
    pub fn set_latest(&self, run_id: &str) -> Result<(), JournalError> {
        let path = self.dir.latest_path();
        layout::replace_private(&path, format!("{run_id}\n").as_bytes())
            .map_err(|e| JournalError::io("write", &path, e))
    }

    /// Creates a fresh run directory and returns its id (the journal is created by
    /// [`JournalWriter::create`](super::writer::JournalWriter::create)).
    pub fn create_run_dir(&self, now: Timestamp) -> Result<String, JournalError> {
        let runs = self.dir.runs_dir();
        layout::create_private_dir(&runs).map_err(|e| JournalError::io("create", &runs, e))?;
        loop {
            let id = layout::new_run_id(now);
            let dir = self.dir.run(&id);
            match std::fs::DirBuilder::new().mode(0o700).create(dir.path()) {
                Ok(()) => {
                    sync_parent(dir.path())?;
                    return Ok(id);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(JournalError::io("create", dir.path(), e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn latest_follows_the_latest_file_then_the_greatest_id() {
        let dir = tempfile::tempdir().unwrap();
        let ps = PlanState::new(dir.path(), "p");
        assert_eq!(ps.latest().unwrap(), None);
        let now = Timestamp::now();
        let a = ps.create_run_dir(now).unwrap();
        let b = ps.create_run_dir(now).unwrap();
        for id in [&a, &b] {
            fs::write(ps.journal_path(id), "x").unwrap();
        }
        let greatest = a.clone().max(b.clone());
        let least = a.min(b);
        assert_eq!(ps.latest().unwrap().as_ref(), Some(&greatest));
        ps.set_latest(&least).unwrap();
        assert_eq!(ps.latest().unwrap(), Some(least.clone()));
        assert_eq!(ps.run_ids().unwrap(), [least.clone(), greatest.clone()]);
        // An empty journal is no run: the other one is the latest.
        fs::write(ps.journal_path(&least), "").unwrap();
        assert_eq!(ps.latest().unwrap(), Some(greatest.clone()));
        assert_eq!(ps.run_ids().unwrap(), [greatest]);
    }
}
