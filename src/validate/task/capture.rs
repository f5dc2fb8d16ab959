//! `capture`: save Secrets or ConfigMaps to a private file before deleting them.

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::RawCapture;
use crate::validate::error::ErrorKind;
use crate::validate::selection::Selection;
use crate::validate::task_table::Builder;

/// `capture`: Secrets or ConfigMaps written to a 0600 YAML file in the run directory.
#[derive(Debug, Clone)]
pub struct Capture {
    pub selection: Selection,
    /// File name, relative to the run directory.
    pub file: String,
}

impl Capture {
    /// Secrets or ConfigMaps only, into a plain file name.
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawCapture = b.own()?;
        let id = b.id;
        let selection = b.selection_of_named_kinds(
            "a capture task saves Secrets and ConfigMaps: name them with kind or kinds",
        )?;
        if let Some(other) = selection
            .named_kinds()
            .into_iter()
            .find(|k| !matches!(*k, "Secret" | "ConfigMap"))
        {
            let key = if b.table.contains_key("kinds") {
                "kinds"
            } else {
                "kind"
            };
            b.error(
                ErrorKind::BadValue,
                format!("task `{id}` captures `{other}`"),
                key,
                "not Secret or ConfigMap",
                "a capture task saves kind = \"Secret\" or kind = \"ConfigMap\" (or kinds = [\"Secret\", \"ConfigMap\"])",
            );
            return None;
        }
        let file = raw.file.unwrap_or_else(|| format!("{id}.yaml"));
        if file.is_empty() || file.contains('/') || file.contains('\\') || file.starts_with('.') {
            b.error(
                ErrorKind::BadValue,
                format!("task `{id}`: bad capture file name `{file}`"),
                "file",
                "not a plain file name",
                "give a plain file name such as \"flux-secrets.yaml\"; it is written inside the run directory",
            );
            return None;
        }
        Some(Self { selection, file })
    }
}

impl TaskSpec for Capture {
    fn task_type(&self) -> TaskType {
        TaskType::Capture
    }

    fn changes(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        format!(
            "save {} to {} in the run directory (mode 0600)",
            self.selection.describe(),
            self.file
        )
    }
}
