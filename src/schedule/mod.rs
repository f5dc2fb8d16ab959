//! The scheduler: the dispatcher (sole owner of run state), the pure decisions it
//! relies on, and cancellation.

mod cancel;
mod dispatcher;
mod graph;
mod run_state;
mod state;

pub use cancel::{Cancel, CancelReason};
pub use dispatcher::{Dispatcher, RunConfig, RunError, RunSummary};
pub use graph::DepGraph;
pub use run_state::{Ended, Mode, RunState};
pub use state::{MemorySink, NoSink, SkipCause, StateChange, StateSink, TaskState};
