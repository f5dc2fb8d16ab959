//! `wait-absent`: wait, by watch, until the selected objects are gone.

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::RawWaitAbsent;
use crate::validate::selection::Selection;
use crate::validate::task_table::Builder;

/// `wait-absent`.
#[derive(Debug, Clone)]
pub struct WaitAbsent {
    pub selection: Selection,
}

impl WaitAbsent {
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let _: RawWaitAbsent = b.own()?;
        Some(Self {
            selection: b.selection()?,
        })
    }
}

impl TaskSpec for WaitAbsent {
    fn task_type(&self) -> TaskType {
        TaskType::WaitAbsent
    }

    fn changes(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        format!("wait until no {} exists", self.selection.describe())
    }
}
