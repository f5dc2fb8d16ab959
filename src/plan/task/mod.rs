//! Raw serde types of each task type's own keys, one file per type.

pub(super) mod assert_deployments;
pub(super) mod assert_field_managers;
pub(super) mod assert_file;
pub(super) mod capture;
pub(super) mod confirm;
pub(super) mod exec_script;
pub(super) mod kube_apply;
pub(super) mod kube_delete;
pub(super) mod kube_patch;
pub(super) mod notify;
pub(super) mod pulumi_preview;
pub(super) mod pulumi_up;
pub(super) mod wait_absent;
pub(super) mod wait_condition;

pub use assert_deployments::RawAssertDeployments;
pub use assert_field_managers::{RawAssertFieldManagers, RawOperation};
pub use assert_file::RawAssertFile;
pub use capture::RawCapture;
pub use confirm::RawConfirm;
pub use exec_script::RawExecScript;
pub use kube_apply::RawKubeApply;
pub use kube_delete::{RawKubeDelete, RawPropagation};
pub use kube_patch::{RawJsonPatchVerb, RawKubePatch};
pub use notify::RawNotifyTask;
pub use pulumi_preview::RawPulumiPreview;
pub use pulumi_up::{RawOnPending, RawPulumiUp};
pub use wait_absent::RawWaitAbsent;
pub use wait_condition::RawWaitCondition;
