//! One planrun process per plan and state directory, by an OS file lock.
//!
//! The lock is an exclusive `flock` on `.planrun/<plan>/lock`, held for as long as
//! the process runs the plan. The OS drops it when the process ends, however it ends
//! (kill -9 included), so a stale lock never blocks anyone; the file's content (the
//! holder's pid and start time) only serves the refusal message. Children of planrun
//! do not inherit it (Rust opens files close-on-exec).

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use miette::Diagnostic;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How long a lock whose recorded holder is dead may stay held before planrun
/// refuses: the time a child of the dead holder needs to get from fork to exec.
const DEAD_HOLDER_GRACE: Duration = Duration::from_secs(2);

/// Who holds a lock, as written in the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    pub started_at: Timestamp,
    /// The run it works on, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

#[derive(Debug, Error, Diagnostic)]
pub enum LockError {
    #[error("{what} is already running{}", describe(holder.as_ref()))]
    #[diagnostic(
        code(planrun::lock::held),
        help("wait for it to finish, or stop it{}; two planrun processes never run the same plan with the same state directory (lock file {})", how_to_stop(holder.as_ref()), path.display())
    )]
    Held {
        what: String,
        path: PathBuf,
        holder: Option<LockHolder>,
    },

    #[error("cannot {action} {}", path.display())]
    #[diagnostic(
        code(planrun::state_dir::io),
        help(
            "planrun keeps its runs in the state directory (.planrun beside the plan): make it writable, or give another with --state-dir DIR"
        )
    )]
    Io {
        /// What failed: "create the state directory", "open the lock file"...
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How the operator stops the holder: it stops its tasks on SIGTERM, whatever its
/// terminal (one left by a dropped SSH session included), and its run is then
/// resumable.
fn how_to_stop(holder: Option<&LockHolder>) -> String {
    holder.map_or_else(String::new, |h| {
        format!(
            " with `kill {}` (it stops its tasks and ends interrupted; `--resume` then goes on)",
            h.pid
        )
    })
}

fn describe(holder: Option<&LockHolder>) -> String {
    match holder {
        Some(h) => {
            let run = h
                .run_id
                .as_deref()
                .map(|r| format!(", run {r}"))
                .unwrap_or_default();
            format!(
                " (pid {}, started {}{run})",
                h.pid,
                h.started_at
                    .round(jiff::Unit::Second)
                    .unwrap_or(h.started_at)
            )
        }
        None => " (holder unknown: it is just starting)".to_owned(),
    }
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct PlanLock {
    file: File,
    path: PathBuf,
    holder: LockHolder,
}

impl PlanLock {
    /// Takes the lock at `path` without waiting. `what` names the locked thing in the
    /// refusal ("plan `flux-rebuild`").
    pub fn acquire(path: &Path, what: &str) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            action: "open the lock file",
            path: path.to_owned(),
            source,
        };
        let mut file =
            crate::layout::open_private(path, crate::layout::Open::ReadWrite).map_err(io)?;
        // A holder that died can leave its lock shared with a child caught between
        // fork and exec (the lock goes away at the exec); wait that out briefly.
        let deadline = Instant::now() + DEAD_HOLDER_GRACE;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = read_holder(&mut file);
                    let dead = holder.as_ref().is_some_and(|h| !is_alive(h.pid));
                    if dead && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    return Err(LockError::Held {
                        what: what.to_owned(),
                        path: path.to_owned(),
                        holder,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        let holder = LockHolder {
            pid: std::process::id(),
            started_at: Timestamp::now(),
            run_id: None,
        };
        let mut lock = Self {
            file,
            path: path.to_owned(),
            holder,
        };
        lock.write_holder().map_err(io)?;
        Ok(lock)
    }

    /// Records the run this process works on, for the refusal message of others.
    pub fn set_run(&mut self, run_id: &str) -> Result<(), LockError> {
        self.holder.run_id = Some(run_id.to_owned());
        self.write_holder().map_err(|source| LockError::Io {
            action: "write the lock file",
            path: self.path.clone(),
            source,
        })
    }

    fn write_holder(&mut self) -> std::io::Result<()> {
        let text = serde_json::to_string(&self.holder).expect("a holder serializes");
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(text.as_bytes())?;
        // No fsync: the content only matters while this process lives.
        Ok(())
    }
}

/// The holder of the lock at `path`, if its process is alive (for `status` and
/// `runs`). This reads the lock file and probes the pid instead of taking the lock,
/// so it never makes a planrun that is starting at this instant refuse to run; a
/// reused pid can fool it, which only affects what is shown.
pub fn live_holder(path: &Path) -> Option<LockHolder> {
    let text = std::fs::read_to_string(path).ok()?;
    let holder: LockHolder = serde_json::from_str(&text).ok()?;
    is_alive(holder.pid).then_some(holder)
}

/// Whether process `pid` runs (a zombie, killed and not yet reaped, holds no lock).
fn is_alive(pid: u32) -> bool {
    i32::try_from(pid).is_ok_and(crate::procs::is_running)
}

fn read_holder(file: &mut File) -> Option<LockHolder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holder_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let mut first = PlanLock::acquire(&path, "plan `p`").unwrap();
        first.set_run("20261126T063612Z-0a1b").unwrap();
        assert_eq!(live_holder(&path).unwrap().pid, std::process::id());
        // flock locks belong to the open file: a second open in this process conflicts
        // like another process would.
        let err = PlanLock::acquire(&path, "plan `p`").unwrap_err();
        let LockError::Held { holder, .. } = &err else {
            panic!("{err:?}")
        };
        let holder = holder.as_ref().unwrap();
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.run_id.as_deref(), Some("20261126T063612Z-0a1b"));
        let msg = err.to_string();
        assert!(
            msg.starts_with("plan `p` is already running (pid "),
            "{msg}"
        );
        drop(first);
        PlanLock::acquire(&path, "plan `p`").unwrap();
    }
}
