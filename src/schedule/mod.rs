//! The scheduler: the dispatcher (sole owner of run state) and the pure decisions it
//! relies on.

mod dispatcher;
mod estimate;
mod graph;
mod run_state;
mod state;

pub use dispatcher::{Dispatcher, RunConfig, RunError};
#[cfg(test)]
pub use state::MemorySink;
pub use state::{Commit, NoSink, SkipCause, StateChange, StateSink};
