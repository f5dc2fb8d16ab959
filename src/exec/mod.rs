//! Task executors: one per task type, dispatched from [`execute`]; child processes
//! live in [`process`], Kubernetes tasks in [`kube`].

mod assert_file;
mod confirm;
mod context;
mod executor;
pub mod kube;
mod outcome;
pub mod process;
pub mod pulumi;
mod script;

pub use context::{DEFAULT_GRACE, ExecContext, KubeSlot};
pub use executor::execute;
pub use outcome::{TaskError, TaskOutcome};
