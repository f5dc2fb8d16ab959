//! Task executors: one per task type, dispatched from [`execute`]; child processes
//! live in [`process`], Kubernetes tasks in [`kube`].

mod assert_file;
mod confirm;
mod context;
mod executor;
pub mod kube;
mod kube_tasks;
mod outcome;
pub mod process;
pub mod pulumi;
mod script;

pub use context::{DEFAULT_GRACE, ExecContext};
pub use executor::{describe, execute, first_unsupported, has_executor};
pub use kube_tasks::KubeSlot;
pub use outcome::{TaskError, TaskOutcome};
