//! `confirm`: a gate a person answers before the plan goes on.

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::RawConfirm;
use crate::validate::task_table::Builder;

/// `confirm`: a gate a person answers (or `--yes`).
#[derive(Debug, Clone)]
pub struct Confirm {
    pub message: String,
}

impl Confirm {
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawConfirm = b.own()?;
        Some(Self {
            message: raw.message.unwrap_or_else(|| "Proceed?".into()),
        })
    }
}

impl TaskSpec for Confirm {
    fn task_type(&self) -> TaskType {
        TaskType::Confirm
    }

    fn changes(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        format!("ask: {}", self.message)
    }
}
