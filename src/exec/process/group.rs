//! Children in their own process group, and signals to the whole group.
//!
//! Every child is spawned with `process_group(0)`: it leads a new group, so a
//! terminal's Ctrl-C reaches only planrun (which then decides), and stopping a task
//! reaches everything it started, grandchildren included. The registry knows the
//! groups alive now: a second Ctrl-C kills them all, the process guard (when the run
//! has one) stops them if planrun dies, and whoever listens (the dispatcher, for the
//! journal) hears of each new one.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::mpsc;

use super::guard::{ProcessGuard, Watched};

/// Sends `signal` to process group `pgid`. A group already gone is fine.
pub fn signal_group(pgid: i32, signal: Signal) {
    // ESRCH (no such group) is the only expected error, and means there is nothing
    // left to signal.
    let _ = killpg(Pid::from_raw(pgid), signal);
}

/// A task's process group, as the journal records it: a resume refuses to start
/// while a process of it still runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessGroup {
    pub task: String,
    pub attempt: u32,
    pub pgid: i32,
    /// The leader's start time, which tells this group from a later one with the
    /// same number (see [`crate::procs::survivors`]).
    pub leader_start: u64,
}

/// The process groups of the children alive now. Cloning shares the set.
#[derive(Debug, Clone, Default)]
pub struct GroupRegistry {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    groups: Mutex<BTreeSet<i32>>,
    guard: Option<ProcessGuard>,
    listener: Mutex<Option<mpsc::UnboundedSender<ProcessGroup>>>,
}

impl GroupRegistry {
    /// A registry without a guard (tests; children then die with planrun only when
    /// it ends normally).
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry that tells `guard` of every group.
    pub fn guarded(guard: ProcessGuard) -> Self {
        Self {
            inner: Arc::new(Inner {
                guard: Some(guard),
                ..Inner::default()
            }),
        }
    }

    /// The pid of the run's process guard, if it has one.
    pub fn guard_pid(&self) -> Option<u32> {
        self.inner.guard.as_ref().map(ProcessGuard::pid)
    }

    /// Every group registered from now on is also sent here.
    pub fn listen(&self) -> mpsc::UnboundedReceiver<ProcessGroup> {
        let (tx, rx) = mpsc::unbounded_channel();
        *lock(&self.inner.listener) = Some(tx);
        rx
    }

    /// Registers a group until the returned registration is dropped; the guard
    /// stops it with `stop`, then SIGKILL after `grace`, if planrun dies first.
    pub fn register(&self, group: ProcessGroup, stop: Signal, grace: Duration) -> Registration {
        lock(&self.inner.groups).insert(group.pgid);
        if let Some(guard) = &self.inner.guard {
            guard.watch(&Watched {
                pgid: group.pgid,
                leader_start: group.leader_start,
                signal: stop,
                grace,
            });
        }
        let pgid = group.pgid;
        if let Some(listener) = lock(&self.inner.listener).as_ref() {
            // A listener that went away (the run is over) misses nothing it needs.
            let _ = listener.send(group);
        }
        Registration {
            registry: self.clone(),
            pgid,
        }
    }

    /// Sends SIGKILL to every registered group.
    pub fn kill_all(&self) {
        for &pgid in lock(&self.inner.groups).iter() {
            signal_group(pgid, Signal::SIGKILL);
        }
    }

    pub fn len(&self) -> usize {
        lock(&self.inner.groups).len()
    }

    pub fn is_empty(&self) -> bool {
        lock(&self.inner.groups).is_empty()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data stays consistent even if a holder panicked: every change is a single
    // operation.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps a group registered while alive.
#[derive(Debug)]
pub struct Registration {
    registry: GroupRegistry,
    pgid: i32,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.registry.inner.groups).remove(&self.pgid);
        if let Some(guard) = &self.registry.inner.guard {
            guard.release(self.pgid);
        }
    }
}
