//! `kube-patch`: a merge patch or a JSON patch on every selected object, or named
//! finalizers removed from them.

use serde_json::{Value, json};

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::{RawJsonPatchVerb, RawKubePatch};
use crate::validate::error::{ErrorKind, PlanError};
use crate::validate::selection::Selection;
use crate::validate::task_table::{Builder, exactly_one};

/// `kube-patch`.
#[derive(Debug, Clone)]
pub struct KubePatch {
    pub selection: Selection,
    pub change: PatchChange,
}

/// What `kube-patch` does to each object.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchChange {
    /// A JSON merge patch (an object).
    Merge(Value),
    /// A JSON patch (an array of operations).
    Json(Value),
    /// These finalizers go; the others stay.
    RemoveFinalizers(Vec<String>),
}

impl KubePatch {
    /// Exactly one change, well formed.
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawKubePatch = b.own()?;
        let id = b.id;
        exactly_one(
            id,
            b.table,
            &[
                ("merge_patch", raw.merge_patch.is_some()),
                ("json_patch", raw.json_patch.is_some()),
                ("remove_finalizers", raw.remove_finalizers.is_some()),
            ],
            b.errors,
        )?;
        let change = if let Some(patch) = raw.merge_patch {
            if patch.is_empty() {
                b.error(
                    ErrorKind::BadValue,
                    format!("task `{id}`: `merge_patch` is empty"),
                    "merge_patch",
                    "changes nothing",
                    "write the fields to set, e.g. merge_patch = { spec = { suspend = true } }",
                );
                return None;
            }
            PatchChange::Merge(Value::Object(patch))
        } else if let Some(ops) = raw.json_patch {
            if ops.is_empty() {
                b.error(
                    ErrorKind::BadValue,
                    format!("task `{id}`: `json_patch` is empty"),
                    "json_patch",
                    "changes nothing",
                    "write operations, e.g. json_patch = [{ op = \"replace\", path = \"/spec/replicas\", value = 0 }]",
                );
                return None;
            }
            let mut out = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                let n = i + 1;
                let problem = if !op.path.starts_with('/') {
                    Some(format!(
                        "operation {n}: path `{}` is not a JSON pointer (it starts with \"/\")",
                        op.path
                    ))
                } else {
                    match op.op {
                        RawJsonPatchVerb::Add
                        | RawJsonPatchVerb::Replace
                        | RawJsonPatchVerb::Test
                            if op.value.is_none() =>
                        {
                            Some(format!("operation {n} ({}) has no `value`", op.op.name()))
                        }
                        RawJsonPatchVerb::Move | RawJsonPatchVerb::Copy
                            if !op.from.as_deref().is_some_and(|f| f.starts_with('/')) =>
                        {
                            Some(format!(
                                "operation {n} ({}) needs `from`, a JSON pointer",
                                op.op.name()
                            ))
                        }
                        _ => None,
                    }
                };
                if let Some(problem) = problem {
                    b.error(
                        ErrorKind::BadValue,
                        format!("task `{id}`: {problem}"),
                        "json_patch",
                        "bad operation",
                        "each operation is { op, path } plus `value` (add, replace, test) or `from` (move, copy); paths look like \"/metadata/labels/app\"",
                    );
                    return None;
                }
                let mut entry = json!({"op": op.op.name(), "path": op.path});
                if let Some(value) = &op.value {
                    entry["value"] = value.clone();
                }
                if let Some(from) = &op.from {
                    entry["from"] = json!(from);
                }
                out.push(entry);
            }
            PatchChange::Json(Value::Array(out))
        } else if let Some(names) = raw.remove_finalizers {
            if names.is_empty() || names.iter().any(|n| n.trim().is_empty()) {
                b.error(
                    ErrorKind::BadValue,
                    format!("task `{id}`: `remove_finalizers` is empty or has an empty name"),
                    "remove_finalizers",
                    "no finalizer named",
                    "name the finalizers to remove, e.g. remove_finalizers = [\"finalizers.fluxcd.io\"]",
                );
                return None;
            }
            PatchChange::RemoveFinalizers(names)
        } else {
            b.errors.push(
                PlanError::new(
                    ErrorKind::MissingField,
                    format!("task `{id}` changes nothing"),
                )
                .at(b.id_span.clone(), "no change")
                .help("give one of `merge_patch` (a table), `json_patch` (a list of operations) or `remove_finalizers` (a list of names)"),
            );
            return None;
        };
        Some(Self {
            selection: b.selection()?,
            change,
        })
    }
}

impl TaskSpec for KubePatch {
    fn task_type(&self) -> TaskType {
        TaskType::KubePatch
    }

    fn changes(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        let what = self.selection.describe();
        match &self.change {
            PatchChange::Merge(patch) => format!("merge-patch {what} with {patch}"),
            PatchChange::Json(ops) => format!("JSON-patch {what} with {ops}"),
            PatchChange::RemoveFinalizers(names) => format!(
                "remove finalizer{} {} from {what} (conflict-safe; others untouched)",
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            ),
        }
    }
}
