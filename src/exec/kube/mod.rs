//! Kubernetes task executors, talking to the API server directly through kube-rs:
//! one file per task type, plus the connection, kind discovery, API error handling
//! and the watch loop they share.

mod absent;
mod apply;
mod assert_deployments;
mod capture;
mod child_config;
mod connection;
mod delete;
mod env;
mod error;
mod executor;
mod field_managers;
mod finalizers;
mod kinds;
mod namespace_order;
mod patch;
mod retry;
mod select;
mod status;
mod task;
mod wait_absent;
mod wait_condition;
mod watch;

pub use absent::present_now;
pub use apply::{applied_now, kube_apply};
pub use assert_deployments::assert_deployments;
pub use capture::{capture, register_captured};
pub use child_config::ChildKubeconfig;
pub use connection::{ConnectOptions, Connection, SILENCE_LIMIT, cause, check_guard, tune};
pub use delete::kube_delete;
pub use env::{Progress, Quiet, TaskEnv};
pub use error::KubeError;
pub use executor::execute;
pub use field_managers::assert_field_managers;
pub use patch::{kube_patch, patched_now};
pub use task::{KubeDone, KubeTask, KubeWork, run_kube, run_kube_task};
pub use wait_absent::wait_absent;
pub use wait_condition::wait_condition;
