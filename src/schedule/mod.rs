//! The scheduler: the dispatcher (sole owner of run state), the pure decisions it
//! relies on, cancellation, and the run directory layout.

mod cancel;
mod dispatcher;
mod graph;
mod run_dir;
mod run_state;
mod state;

pub use cancel::{Cancel, CancelReason};
pub use dispatcher::{Dispatcher, RunConfig, RunError, RunSummary};
pub use graph::DepGraph;
pub use run_dir::{RunDir, default_state_dir};
pub use run_state::{Ended, Mode, RunState};
pub use state::{MemorySink, NoSink, SkipCause, StateChange, StateSink, TaskState};
