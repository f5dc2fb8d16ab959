//! Where a plan's runs live on disk, and which is the latest.
//!
//! ```text
//! .planrun/                      the state directory (add it to .gitignore)
//!   <plan name>/
//!     lock                       held by the planrun process running the plan
//!     latest                     the latest run's id, replaced atomically
//!     runs/<run id>/
//!       journal                  the append-only journal of the run
//!       ...                      task logs, the run report
//! ```
//!
//! Run ids sort by time: `20261126T063612Z-0a1b` (UTC start, then 4 random hex
//! digits). The `latest` file decides which run is the latest (two runs can start
//! within one second); without it, the greatest id is.

use std::fs;
use std::hash::{BuildHasher, RandomState};
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::error::JournalError;
use super::lock::{LockError, PlanLock};
use super::writer::sync_parent;

/// Name of the journal file in a run directory.
pub const JOURNAL_FILE: &str = "journal";

/// The state of one plan: `<state dir>/<plan name>/`.
#[derive(Debug, Clone)]
pub struct PlanState {
    dir: PathBuf,
    plan_name: String,
}

impl PlanState {
    /// The state of plan `plan_name` under `state_dir` (usually `.planrun`).
    pub fn new(state_dir: &Path, plan_name: &str) -> Self {
        Self {
            dir: state_dir.join(dir_name(plan_name)),
            plan_name: plan_name.to_owned(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn plan_name(&self) -> &str {
        &self.plan_name
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join("lock")
    }

    /// Takes the plan's lock (see [`PlanLock`]), creating the directory if needed.
    pub fn lock(&self) -> Result<PlanLock, LockError> {
        fs::create_dir_all(&self.dir).map_err(|source| LockError::Io {
            path: self.dir.clone(),
            source,
        })?;
        PlanLock::acquire(&self.lock_path(), &format!("plan `{}`", self.plan_name))
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.dir.join("runs")
    }

    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.runs_dir().join(run_id)
    }

    pub fn journal_path(&self, run_id: &str) -> PathBuf {
        self.run_dir(run_id).join(JOURNAL_FILE)
    }

    /// Ids of the runs that have a journal, oldest first by id.
    pub fn run_ids(&self) -> Result<Vec<String>, JournalError> {
        let runs = self.runs_dir();
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
            if entry.path().join(JOURNAL_FILE).is_file() {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The latest run's id, if there is a run.
    pub fn latest(&self) -> Result<Option<String>, JournalError> {
        let path = self.dir.join("latest");
        match fs::read_to_string(&path) {
            Ok(text) => {
                let id = text.trim();
                if !id.is_empty() && self.journal_path(id).is_file() {
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
        let path = self.dir.join("latest");
        let tmp = self.dir.join("latest.tmp");
        {
            let mut f = fs::File::create(&tmp).map_err(|e| JournalError::io("create", &tmp, e))?;
            f.write_all(format!("{run_id}\n").as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| JournalError::io("write", &tmp, e))?;
        }
        fs::rename(&tmp, &path).map_err(|e| JournalError::io("rename into place", &path, e))?;
        sync_parent(&path)
    }

    /// Creates a fresh run directory and returns its id (the journal is created by
    /// [`JournalWriter::create`](super::writer::JournalWriter::create)).
    pub fn create_run_dir(&self, now: Timestamp) -> Result<String, JournalError> {
        let runs = self.runs_dir();
        fs::create_dir_all(&runs).map_err(|e| JournalError::io("create", &runs, e))?;
        loop {
            let id = new_run_id(now);
            let dir = runs.join(&id);
            match fs::create_dir(&dir) {
                Ok(()) => {
                    sync_parent(&dir)?;
                    return Ok(id);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(JournalError::io("create", dir, e)),
            }
        }
    }
}

/// A new run id for a run starting at `now`: `YYYYMMDDTHHMMSSZ-xxxx`.
pub fn new_run_id(now: Timestamp) -> String {
    let salt = RandomState::new().hash_one((std::process::id(), now.as_nanosecond()));
    format!("{}-{:04x}", now.strftime("%Y%m%dT%H%M%SZ"), salt & 0xffff)
}

/// A plan name as a directory name, as the run directories name it: anything but
/// ASCII letters, digits, `-`, `_` and `.` becomes `_`, and ``, `.` and `..` get a
/// leading `_`.
fn dir_name(plan_name: &str) -> String {
    let mut name: String = plan_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if matches!(name.as_str(), "" | "." | "..") {
        name.insert(0, '_');
    }
    name
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn run_ids_sort_by_time() {
        let a = new_run_id("2026-11-26T06:36:12Z".parse().unwrap());
        let b = new_run_id("2026-11-26T06:36:13Z".parse().unwrap());
        assert!(a.starts_with("20261126T063612Z-"), "{a}");
        assert_eq!(a.len(), "20261126T063612Z-0a1b".len());
        assert!(a < b);
    }

    #[test]
    fn plan_names_become_safe_directory_names() {
        assert_eq!(dir_name("flux-rebuild"), "flux-rebuild");
        assert_eq!(dir_name("a/b c"), "a_b_c");
        assert_eq!(dir_name(".."), "_..");
    }

    #[test]
    fn latest_follows_the_latest_file_then_the_greatest_id() {
        let dir = tempfile::tempdir().unwrap();
        let ps = PlanState::new(dir.path(), "p");
        assert_eq!(ps.latest().unwrap(), None);
        let now = Timestamp::now();
        let a = ps.create_run_dir(now).unwrap();
        let b = ps.create_run_dir(now).unwrap();
        for id in [&a, &b] {
            fs::write(ps.journal_path(id), "").unwrap();
        }
        let greatest = a.clone().max(b.clone());
        let least = a.min(b);
        assert_eq!(ps.latest().unwrap().as_ref(), Some(&greatest));
        ps.set_latest(&least).unwrap();
        assert_eq!(ps.latest().unwrap(), Some(least.clone()));
        assert_eq!(ps.run_ids().unwrap(), [least, greatest]);
    }
}
