//! `wait-condition`: wait until the selected objects have a status condition.

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::RawWaitCondition;
use crate::validate::selection::Selection;
use crate::validate::task_table::Builder;

/// `wait-condition`: every matching object has `condition` with `status`.
#[derive(Debug, Clone)]
pub struct WaitCondition {
    pub selection: Selection,
    pub condition: String,
    /// `"True"` unless written otherwise.
    pub status: String,
}

impl WaitCondition {
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawWaitCondition = b.own()?;
        Some(Self {
            selection: b.selection_of_named_kinds(
                "wait-condition waits until each kind it names has objects with the condition: name the kinds with kind or kinds",
            )?,
            condition: raw.condition,
            status: raw.status.unwrap_or_else(|| "True".into()),
        })
    }
}

impl TaskSpec for WaitCondition {
    fn task_type(&self) -> TaskType {
        TaskType::WaitCondition
    }

    fn changes(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        format!(
            "wait until {} has condition {}={}",
            self.selection.describe(),
            self.condition,
            self.status
        )
    }
}
