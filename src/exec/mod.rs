//! Task executors: one per task type, dispatched from [`execute`]; child processes
//! live in [`process`], Kubernetes tasks in [`kube`].

mod assert_file;
mod attempt;
mod confirm;
mod executor;
pub mod kube;
mod notify;
mod outcome;
mod private_file;
pub mod process;
pub mod pulumi;
mod resources;
mod script;
mod task_log;
mod verify;

pub use attempt::Attempt;
pub use executor::execute;
pub use outcome::{FailureClass, TaskError, TaskOutcome};
pub use resources::{DEFAULT_GRACE, KubeSlot, RunResources};
pub use verify::{CHECK_TIMEOUT, Postcondition, has_check, postcondition};
