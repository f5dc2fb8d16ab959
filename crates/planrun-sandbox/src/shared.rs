//! The state one sandbox shares between its HTTP handlers, timers and test handle.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::faults::{Faults, RequestRecord};
use super::snapshot::Snapshot;
use super::store::{Scheduled, Store};

/// Requests the request log keeps: the latest ones, so that a long-lived sandbox
/// (hours of watches and polls) never grows without bound.
pub const REQUEST_LOG_CAPACITY: usize = 10_000;

/// Everything behind the server.
pub struct Shared {
    store: Mutex<Store>,
    faults: Mutex<Faults>,
    requests: Mutex<VecDeque<RequestRecord>>,
    /// Where every change is saved, in its transaction (see [`crate::snapshot`]).
    persist: Mutex<Option<PathBuf>>,
    /// The first failure to save, if any: the saved cluster may lag from there.
    persist_error: Mutex<Option<String>>,
    /// Where what fired reactions say goes.
    said: Mutex<Option<mpsc::UnboundedSender<String>>>,
    /// Cancelled on shutdown: stops timers and open watches.
    pub cancel: CancellationToken,
    /// The bound address.
    pub addr: SocketAddr,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock is a bug; keep serving with the data as it is.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// New shared state.
    pub fn new(store: Store, faults: Faults, addr: SocketAddr) -> Arc<Self> {
        Arc::new(Self {
            store: Mutex::new(store),
            faults: Mutex::new(faults),
            requests: Mutex::new(VecDeque::new()),
            persist: Mutex::new(None),
            persist_error: Mutex::new(None),
            said: Mutex::new(None),
            cancel: CancellationToken::new(),
            addr,
        })
    }

    /// Run `f` on the store, then, in the same transaction when `f` changed
    /// something, fire the reactions that change brings about and save the store
    /// (when persisting); then start the timers scheduled.
    pub fn with_store<R>(self: &Arc<Self>, f: impl FnOnce(&mut Store) -> R) -> R {
        let (r, effects, said) = {
            let mut store = lock(&self.store);
            let before = store.resource_version();
            let r = f(&mut store);
            let mut said = Vec::new();
            if store.resource_version() != before {
                said = store.run_reactions();
                self.save(&store);
            }
            (r, store.take_effects(), said)
        };
        if let Some(tx) = lock(&self.said).as_ref() {
            for line in said {
                let _ = tx.send(line);
            }
        }
        self.spawn_effects(effects);
        r
    }

    /// Saves `store` where it persists, if it does; a failure is kept for
    /// [`Shared::persist_error`].
    fn save(&self, store: &Store) {
        let Some(path) = lock(&self.persist).clone() else {
            return;
        };
        if let Err(e) = Snapshot::of(store).save(&path) {
            lock(&self.persist_error).get_or_insert(format!(
                "cannot save the sandbox to {}: {e}",
                path.display()
            ));
        }
    }

    /// From now on every change is saved to `path` (and the store is, now).
    pub fn persist_to(self: &Arc<Self>, path: PathBuf) {
        *lock(&self.persist) = Some(path);
        let store = lock(&self.store);
        self.save(&store);
    }

    /// The first failure to save, if any.
    pub fn persist_error(&self) -> Option<String> {
        lock(&self.persist_error).clone()
    }

    /// Where what fired reactions say goes from now on.
    pub fn tell_reactions(&self) -> mpsc::UnboundedReceiver<String> {
        let (tx, rx) = mpsc::unbounded_channel();
        *lock(&self.said) = Some(tx);
        rx
    }

    /// The fault rules.
    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }

    /// Append to the request log, forgetting the oldest beyond
    /// [`REQUEST_LOG_CAPACITY`].
    pub fn record(&self, r: RequestRecord) {
        let mut log = lock(&self.requests);
        if log.len() == REQUEST_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(r);
    }

    /// A copy of the request log, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.requests).iter().cloned().collect()
    }

    /// Empty the request log.
    pub fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    fn spawn_effects(self: &Arc<Self>, effects: Vec<Scheduled>) {
        for effect in effects {
            let shared = Arc::clone(self);
            let cancel = self.cancel.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = cancel.cancelled() => {}
                    () = tokio::time::sleep(effect.after()) => {
                        shared.with_store(|s| s.fire(effect));
                    }
                }
            });
        }
    }
}
