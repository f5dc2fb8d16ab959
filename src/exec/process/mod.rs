//! Child processes: each in its own process group, output streamed to the task log
//! and the event stream, stopped group-wide with a grace period, and stopped by the
//! process guard if planrun dies first.

mod binary;
mod child;
mod group;
mod guard;
mod output;

pub use binary::resolve_binary;
pub use child::{ProcessExit, ProcessSpec, RunOptions, describe_status, run, run_with};
pub use group::{GroupRegistry, ProcessGroup, signal_group};
pub use guard::{GUARD_COMMAND, ProcessGuard, Watched, adopt_orphans, guard_main, stop_adopted};
pub use output::EXCERPT_LINES;
