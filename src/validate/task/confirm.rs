//! `confirm`: a gate a person answers before the plan goes on.

use std::path::PathBuf;

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::RawConfirm;
use crate::validate::task_ref::TaskRef;
use crate::validate::task_table::Builder;

/// `confirm`: a gate a person answers (or `--yes`).
#[derive(Debug, Clone)]
pub struct Confirm {
    pub message: String,
    /// A pulumi-preview task whose diff is shown before the question.
    pub show_preview: Option<TaskRef>,
    /// A file shown before the question.
    pub show_file: Option<PathBuf>,
}

impl Confirm {
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawConfirm = b.own()?;
        Some(Self {
            message: raw.message.unwrap_or_else(|| "Proceed?".into()),
            show_preview: raw
                .show_preview
                .as_deref()
                .map(|id| TaskRef::at(b, "show_preview", id)),
            show_file: raw.show_file.as_deref().map(|p| b.path(Some(p))),
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
        let mut shown = Vec::new();
        if let Some(reference) = &self.show_preview {
            shown.push(format!("the preview of {}", reference.id));
        }
        if let Some(file) = &self.show_file {
            shown.push(file.display().to_string());
        }
        if shown.is_empty() {
            format!("ask: {}", self.message)
        } else {
            format!("show {}, then ask: {}", shown.join(" and "), self.message)
        }
    }
}
