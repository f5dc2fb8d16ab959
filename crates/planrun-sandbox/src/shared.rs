//! The state one sandbox shares between its HTTP handlers, timers and test handle.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

use super::faults::{Faults, RequestRecord};
use super::store::{Scheduled, Store};

/// Requests the request log keeps: the latest ones, so that a long-lived sandbox
/// (hours of watches and polls) never grows without bound.
pub const REQUEST_LOG_CAPACITY: usize = 10_000;

/// Everything behind the server.
pub struct Shared {
    store: Mutex<Store>,
    faults: Mutex<Faults>,
    requests: Mutex<VecDeque<RequestRecord>>,
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
            cancel: CancellationToken::new(),
            addr,
        })
    }

    /// Run `f` on the store, then start the timers it scheduled.
    pub fn with_store<R>(self: &Arc<Self>, f: impl FnOnce(&mut Store) -> R) -> R {
        let (r, effects) = {
            let mut store = lock(&self.store);
            let r = f(&mut store);
            (r, store.take_effects())
        };
        self.spawn_effects(effects);
        r
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
