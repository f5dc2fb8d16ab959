//! `assert-field-managers`: who manages the fields of the selected objects.
//!
//! `required_apply_manager = "X"` stays a documented shorthand for
//! `owners = [{ manager = "X", operation = "Apply" }]`: it means exactly that, so plans
//! that use it keep their meaning; giving both is an error, since the reader could not
//! tell whether the shorthand adds an owner or replaces the list.

use std::fmt::Write as _;

use regex::Regex;

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::{RawAssertFieldManagers, RawOperation};
use crate::validate::error::{ErrorKind, PlanError};
use crate::validate::selection::Selection;
use crate::validate::task_table::Builder;

/// `assert-field-managers`.
#[derive(Debug, Clone)]
pub struct AssertFieldManagers {
    pub selection: Selection,
    /// No managedFields entry's manager may match any of these.
    pub forbidden: Vec<Regex>,
    /// When not empty, each object needs an entry of the object itself (not of a
    /// subresource) that one of these accepts.
    pub owners: Vec<Owner>,
}

/// An accepted owner: a manager pattern and, optionally, the operation.
#[derive(Debug, Clone)]
pub struct Owner {
    pub manager: Regex,
    pub operation: Option<Operation>,
}

/// A managedFields operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    /// As the API server writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

impl Owner {
    /// Whether an entry of the object itself with this manager and operation is one.
    pub fn accepts(&self, manager: &str, operation: &str) -> bool {
        self.manager.is_match(manager) && self.operation.is_none_or(|op| op.as_str() == operation)
    }
}

impl std::fmt::Display for Owner {
    /// `/^pulumi-kubernetes$/ (Update)`, or without the operation when any is fine.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}/", self.manager.as_str())?;
        if let Some(op) = self.operation {
            write!(f, " ({})", op.as_str())?;
        }
        Ok(())
    }
}

impl AssertFieldManagers {
    /// Valid patterns, the owners in one form, and at least one assertion.
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawAssertFieldManagers = b.own()?;
        let forbidden = b.regexes("forbidden_managers", &raw.forbidden_managers);
        if raw.required_apply_manager.is_some() && !raw.owners.is_empty() {
            b.errors.push(
                PlanError::new(
                    ErrorKind::ConflictingFields,
                    format!(
                        "task `{}` gives both `owners` and `required_apply_manager`",
                        b.id
                    ),
                )
                .at(
                    crate::validate::document::value_span(b.table, "required_apply_manager")
                        .unwrap_or(b.id_span.clone()),
                    "the shorthand",
                )
                .help(
                    "required_apply_manager = \"X\" is short for owners = [{ manager = \"X\", \
                     operation = \"Apply\" }]: add it to `owners` instead",
                ),
            );
            return None;
        }
        let mut owners = Vec::new();
        if let Some(pattern) = &raw.required_apply_manager {
            owners.push(
                b.regex("required_apply_manager", pattern)
                    .map(|manager| Owner {
                        manager,
                        operation: Some(Operation::Apply),
                    }),
            );
        }
        let owner_spans = crate::validate::document::table_items(b.table, "owners", "manager");
        for (i, raw_owner) in raw.owners.iter().enumerate() {
            let span = owner_spans.get(i).cloned();
            owners.push(
                b.regex_at("owners", &raw_owner.manager, span)
                    .map(|manager| Owner {
                        manager,
                        operation: raw_owner.operation.map(|op| match op {
                            RawOperation::Apply => Operation::Apply,
                            RawOperation::Update => Operation::Update,
                        }),
                    }),
            );
        }
        if forbidden.is_empty() && owners.is_empty() {
            b.errors.push(
                PlanError::new(ErrorKind::MissingField, format!("task `{}` asserts nothing", b.id))
                    .at(b.id_span.clone(), "no assertion")
                    .help("add forbidden_managers = [\"kubectl-client-side-apply\"] and/or owners = [{ manager = '...', operation = \"Apply\" }]")
                    .about_missing(["forbidden_managers", "owners"]),
            );
            return None;
        }
        let forbidden: Option<Vec<Regex>> = forbidden.into_iter().collect();
        let owners: Option<Vec<Owner>> = owners.into_iter().collect();
        Some(Self {
            selection: b.selection()?,
            forbidden: forbidden?,
            owners: owners?,
        })
    }
}

impl TaskSpec for AssertFieldManagers {
    fn task_type(&self) -> TaskType {
        TaskType::AssertFieldManagers
    }

    fn changes(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        let mut out = format!("assert field managers of {}", self.selection.describe());
        if !self.forbidden.is_empty() {
            let list: Vec<&str> = self.forbidden.iter().map(|r| r.as_str()).collect();
            let _ = write!(out, ": none matching {}", list.join(", "));
        }
        if !self.owners.is_empty() {
            let list: Vec<String> = self.owners.iter().map(ToString::to_string).collect();
            let _ = write!(out, "; each owned by one of {}", list.join(", "));
        }
        out
    }
}
