//! Kubernetes task executors, talking to the API server directly through kube-rs:
//! one file per task type, plus the connection, kind discovery, API error handling
//! and the watch loop they share.

mod absent;
mod assert_deployments;
mod capture;
mod connection;
mod delete;
mod env;
mod error;
mod executor;
mod field_managers;
mod kinds;
mod retry;
mod select;
mod status;
mod task;
mod wait_absent;
mod wait_condition;
mod watch;

pub use absent::present_now;
pub use assert_deployments::assert_deployments;
pub use capture::{capture, register_captured};
pub use connection::{ConnectOptions, Connection, check_guard};
pub use delete::kube_delete;
pub use env::{Progress, Quiet, TaskEnv};
pub use error::KubeError;
pub use executor::execute;
pub use field_managers::assert_field_managers;
pub use task::{KubeDone, KubeTask, KubeWork, run_kube, run_kube_task};
pub use wait_absent::wait_absent;
pub use wait_condition::wait_condition;
