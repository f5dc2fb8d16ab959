//! `kube-delete`: delete the selected objects; absent ones are fine.

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::{RawKubeDelete, RawPropagation};
use crate::validate::selection::Selection;
use crate::validate::task_table::Builder;

/// `kube-delete`.
#[derive(Debug, Clone)]
pub struct KubeDelete {
    pub selection: Selection,
    pub propagation: Propagation,
}

/// How dependents of deleted objects are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

impl KubeDelete {
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawKubeDelete = b.own()?;
        Some(Self {
            selection: b.selection()?,
            propagation: match raw.propagation {
                RawPropagation::Background => Propagation::Background,
                RawPropagation::Foreground => Propagation::Foreground,
                RawPropagation::Orphan => Propagation::Orphan,
            },
        })
    }
}

impl TaskSpec for KubeDelete {
    fn task_type(&self) -> TaskType {
        TaskType::KubeDelete
    }

    fn changes(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!(
            "delete {} (propagation {:?}; absent is fine)",
            self.selection.describe(),
            self.propagation
        )
    }
}
