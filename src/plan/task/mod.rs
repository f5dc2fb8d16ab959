//! Raw serde types of each task type's own keys, one file per type.

mod assert_deployments;
mod assert_field_managers;
mod assert_file;
mod capture;
mod confirm;
mod exec_script;
mod kube_delete;
mod pulumi_up;
mod wait_absent;
mod wait_condition;

pub use assert_deployments::RawAssertDeployments;
pub use assert_field_managers::RawAssertFieldManagers;
pub use assert_file::RawAssertFile;
pub use capture::RawCapture;
pub use confirm::RawConfirm;
pub use exec_script::RawExecScript;
pub use kube_delete::{RawKubeDelete, RawPropagation};
pub use pulumi_up::RawPulumiUp;
pub use wait_absent::RawWaitAbsent;
pub use wait_condition::RawWaitCondition;
