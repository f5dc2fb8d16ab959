//! The durable journal of a run, resume, the plan lock and a plan's runs on disk.
//!
//! Every task state change is appended to the run's journal and made durable before
//! planrun acts on it ([`writer`]); reading tells a crash's torn tail from corruption
//! ([`frame`], [`reader`]); [`resume`] decides, as a pure function, what a resume
//! runs; [`lock`] keeps two planrun processes off the same plan; [`report`] and
//! [`status`] render a run from its journal; [`timings`] keeps how long each task
//! took in the plan's last runs.

mod error;
mod frame;
mod history;
mod lock;
mod plan_state;
mod reader;
mod record;
pub mod report;
mod resume;
mod session;
mod sink;
mod start;
pub(crate) mod status;
mod timeline;
mod timings;
mod writer;

pub use error::JournalError;
pub use history::{RecordedState, RunHistory};
pub use lock::{LockError, PlanLock, live_holder};
pub use plan_state::PlanState;
pub use reader::Journal;
pub use record::{FORMAT_VERSION, ProcessInfo, Record, RecordedOutcome, RunStarted, VarOverrides};
pub use session::{
    DryResume, Prepared, Session, StartError, is_still_running, open, peek_plan_name, prepare,
};
pub use sink::JournalSink;
pub use start::{Listing, StartMode};
pub use timings::Timings;
pub use writer::{JournalWriter, SyncMode};
