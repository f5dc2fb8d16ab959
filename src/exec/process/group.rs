//! Children in their own process group, and signals to the whole group.
//!
//! Every child is spawned with `process_group(0)`: it leads a new group, so a
//! terminal's Ctrl-C reaches only planrun (which then decides), and stopping a task
//! reaches everything it started, grandchildren included.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Sends `signal` to process group `pgid`. A group already gone is fine.
pub fn signal_group(pgid: i32, signal: Signal) {
    // ESRCH (no such group) is the only expected error, and means there is nothing
    // left to signal.
    let _ = killpg(Pid::from_raw(pgid), signal);
}

/// The process groups of the children alive now, so that a second Ctrl-C can kill
/// them all before planrun exits at once. Cloning shares the set.
#[derive(Debug, Clone, Default)]
pub struct GroupRegistry {
    groups: Arc<Mutex<BTreeSet<i32>>>,
}

impl GroupRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a group until the returned guard is dropped.
    pub fn register(&self, pgid: i32) -> GroupGuard {
        self.lock().insert(pgid);
        GroupGuard {
            registry: self.clone(),
            pgid,
        }
    }

    /// Sends SIGKILL to every registered group.
    pub fn kill_all(&self) {
        for &pgid in self.lock().iter() {
            signal_group(pgid, Signal::SIGKILL);
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<i32>> {
        // The set stays consistent even if a holder panicked: inserts and removes are
        // single operations.
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Keeps a group registered while alive.
#[derive(Debug)]
pub struct GroupGuard {
    registry: GroupRegistry,
    pgid: i32,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.pgid);
    }
}
