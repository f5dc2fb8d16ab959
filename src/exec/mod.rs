//! Task executors, one per task type.

pub mod kube;
