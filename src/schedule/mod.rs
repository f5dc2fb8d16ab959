//! The scheduler: the dispatcher (sole owner of run state) and the pure decisions it
//! relies on.

mod dispatcher;
mod graph;
mod run_state;
mod state;

pub use dispatcher::{Dispatcher, RunConfig, RunError, RunSummary};
pub use graph::DepGraph;
pub use run_state::{Ended, Mode, RunState};
pub use state::{Failure, MemorySink, NoSink, SkipCause, StateChange, StateSink, TaskState};
