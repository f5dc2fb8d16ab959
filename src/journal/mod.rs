//! The durable journal of a run, resume, the plan lock and a plan's runs on disk.
//!
//! Every task state change is appended to the run's journal and made durable before
//! planrun acts on it ([`writer`]); reading tells a crash's torn tail from corruption
//! ([`frame`], [`reader`]); [`resume`] decides, as a pure function, what a resume
//! runs; [`lock`] keeps two planrun processes off the same plan.

mod error;
pub mod frame;
mod history;
mod lock;
mod plan_state;
mod reader;
mod record;
pub mod resume;
mod session;
mod sink;
mod start;
pub mod status;
mod writer;

pub use error::JournalError;
pub use history::{RecordedState, RunHistory, RunProcess, TaskHistory};
pub use lock::{LockError, LockHolder, PlanLock, live_holder};
pub use plan_state::PlanState;
pub use reader::{Journal, TornTailWarning};
pub use record::{
    FORMAT_VERSION, MAX_MESSAGE_CHARS, Record, RecordedOutcome, RunResumed, RunStarted,
    VarOverrides, short_message,
};
pub use resume::{Decision, ResumePlan, ResumeTask, RunReason, plan_resume};
pub use session::{
    PlanLoader, Prepared, Refusal, RunJournal, Session, StartError, open, peek_plan_name, prepare,
};
pub use sink::JournalSink;
pub use start::{Choice, StartMode, choose};
pub use writer::{GROUP_INTERVAL, JournalWriter, SyncMode};
