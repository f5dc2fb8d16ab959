//! The validated task types, one file per type (its struct, its checks, its
//! description), and their registry: [`TaskKind`], keyed by [`TaskType`]. See
//! `CONTRIBUTING.md` for adding a type.

mod assert_deployments;
mod assert_field_managers;
mod assert_file;
mod capture;
mod confirm;
mod exec_script;
mod kube_apply;
mod kube_delete;
mod kube_patch;
mod notify;
mod pulumi_preview;
mod pulumi_up;
mod wait_absent;
mod wait_condition;

pub use assert_deployments::AssertDeployments;
pub use assert_field_managers::{AssertFieldManagers, Operation, Owner};
pub use assert_file::AssertFile;
pub use capture::Capture;
pub use confirm::Confirm;
pub use exec_script::{ExecScript, Program};
pub use kube_apply::{ApplySource, DEFAULT_FIELD_MANAGER, KubeApply, ObjectName};
pub use kube_delete::{KubeDelete, Propagation};
pub use kube_patch::{KubePatch, PatchChange};
pub use notify::Notify;
pub use pulumi_preview::PulumiPreview;
pub use pulumi_up::{OnPending, PulumiProject, PulumiUp};
pub use wait_absent::WaitAbsent;
pub use wait_condition::WaitCondition;

use super::task_table::Builder;
use crate::plan::TaskType;

/// What every validated task type tells about itself.
pub trait TaskSpec {
    /// The type, as plans name it.
    fn task_type(&self) -> TaskType;

    /// Whether the task changes things (the cluster, a stack, files): what a
    /// person is asked to confirm before a resume runs it. Checks and waits do not.
    fn changes(&self) -> bool;

    /// What the task will do, in one line. Secret values are still in the text:
    /// callers pass it through the redactor.
    fn describe(&self) -> String;
}

/// What a task does, by type.
#[derive(Debug, Clone)]
pub enum TaskKind {
    ExecScript(ExecScript),
    KubeDelete(KubeDelete),
    KubePatch(KubePatch),
    KubeApply(KubeApply),
    WaitAbsent(WaitAbsent),
    WaitCondition(WaitCondition),
    AssertDeployments(AssertDeployments),
    AssertFieldManagers(AssertFieldManagers),
    Capture(Capture),
    AssertFile(AssertFile),
    Confirm(Confirm),
    PulumiPreview(PulumiPreview),
    PulumiUp(PulumiUp),
    Notify(Notify),
}

impl TaskKind {
    /// The type's own part of a task of type `task_type`; `None` when it has errors
    /// (reported to the builder).
    pub(super) fn build(task_type: TaskType, b: &mut Builder<'_, '_>) -> Option<Self> {
        match task_type {
            TaskType::ExecScript => ExecScript::build(b).map(Self::ExecScript),
            TaskType::KubeDelete => KubeDelete::build(b).map(Self::KubeDelete),
            TaskType::KubePatch => KubePatch::build(b).map(Self::KubePatch),
            TaskType::KubeApply => KubeApply::build(b).map(Self::KubeApply),
            TaskType::WaitAbsent => WaitAbsent::build(b).map(Self::WaitAbsent),
            TaskType::WaitCondition => WaitCondition::build(b).map(Self::WaitCondition),
            TaskType::AssertDeployments => AssertDeployments::build(b).map(Self::AssertDeployments),
            TaskType::AssertFieldManagers => {
                AssertFieldManagers::build(b).map(Self::AssertFieldManagers)
            }
            TaskType::Capture => Capture::build(b).map(Self::Capture),
            TaskType::AssertFile => AssertFile::build(b).map(Self::AssertFile),
            TaskType::Confirm => Confirm::build(b).map(Self::Confirm),
            TaskType::PulumiPreview => PulumiPreview::build(b).map(Self::PulumiPreview),
            TaskType::PulumiUp => PulumiUp::build(b).map(Self::PulumiUp),
            TaskType::Notify => Notify::build(b).map(Self::Notify),
        }
    }

    /// The type-specific task as a [`TaskSpec`].
    pub fn spec(&self) -> &dyn TaskSpec {
        match self {
            TaskKind::ExecScript(spec) => spec,
            TaskKind::KubeDelete(spec) => spec,
            TaskKind::KubePatch(spec) => spec,
            TaskKind::KubeApply(spec) => spec,
            TaskKind::WaitAbsent(spec) => spec,
            TaskKind::WaitCondition(spec) => spec,
            TaskKind::AssertDeployments(spec) => spec,
            TaskKind::AssertFieldManagers(spec) => spec,
            TaskKind::Capture(spec) => spec,
            TaskKind::AssertFile(spec) => spec,
            TaskKind::Confirm(spec) => spec,
            TaskKind::PulumiPreview(spec) => spec,
            TaskKind::PulumiUp(spec) => spec,
            TaskKind::Notify(spec) => spec,
        }
    }

    pub fn task_type(&self) -> TaskType {
        self.spec().task_type()
    }

    /// The `type` as written in a plan.
    pub fn type_name(&self) -> &'static str {
        self.task_type().name()
    }

    /// What the task will do, in one line (see [`TaskSpec::describe`]).
    pub fn describe(&self) -> String {
        self.spec().describe()
    }

    /// Whether the task changes things (see [`TaskSpec::changes`]).
    pub fn changes(&self) -> bool {
        self.spec().changes()
    }

    /// Whether the task talks to the Kubernetes API.
    pub fn uses_kube(&self) -> bool {
        self.task_type().info().kubernetes
    }
}
