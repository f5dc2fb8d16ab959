//! Child processes: each in its own process group, output streamed to the task log
//! and the event stream, stopped group-wide with a grace period.

mod child;
mod group;
mod output;

pub use child::{ProcessExit, ProcessSpec, RunOptions, describe_status, run, run_with};
pub use group::{GroupRegistry, signal_group};
pub use output::EXCERPT_LINES;
