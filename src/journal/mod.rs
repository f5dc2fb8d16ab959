//! The durable journal of a run, resume, the plan lock and the run directories.
//!
//! Every task state change is appended to the run's journal and made durable before
//! planrun acts on it ([`writer`]); reading tells a crash's torn tail from corruption
//! ([`frame`], [`reader`]); [`resume`] decides, as a pure function, what a resume
//! runs; [`lock`] keeps two planrun processes off the same plan.

mod error;
pub mod frame;
mod lock;
mod reader;
mod record;
pub mod resume;
mod rundir;
mod session;
mod sink;
mod state;
pub mod status;
mod writer;

pub use error::JournalError;
pub use lock::{LockError, LockHolder, PlanLock, live_holder};
pub use reader::{Journal, TornTailWarning};
pub use record::{
    FORMAT_VERSION, MAX_MESSAGE_CHARS, Record, RunOutcome, RunResumed, RunStarted, VarOverrides,
    short_message,
};
pub use resume::{Decision, ResumePlan, ResumeTask, RunReason, plan_resume};
pub use rundir::{JOURNAL_FILE, PlanState, new_run_id};
pub use session::{
    PlanLoader, Prepared, Refusal, RunJournal, Session, StartMode, default_state_dir, open,
    peek_plan_name, prepare,
};
pub use sink::JournalSink;
pub use state::{RunProcess, RunState, TaskHistory, TaskState};
pub use writer::{GROUP_INTERVAL, JournalWriter, SyncMode};
