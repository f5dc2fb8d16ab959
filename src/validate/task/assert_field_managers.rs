//! `assert-field-managers`: who manages the fields of the selected objects.

use std::fmt::Write as _;

use regex::Regex;

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::RawAssertFieldManagers;
use crate::validate::error::{ErrorKind, PlanError};
use crate::validate::selection::Selection;
use crate::validate::task_table::Builder;

/// `assert-field-managers`.
#[derive(Debug, Clone)]
pub struct AssertFieldManagers {
    pub selection: Selection,
    /// No managedFields entry's manager may match any of these.
    pub forbidden: Vec<Regex>,
    /// When set, each object needs an entry with operation `Apply` from a matching
    /// manager.
    pub required_apply: Option<Regex>,
}

impl AssertFieldManagers {
    /// Valid patterns, and at least one assertion.
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawAssertFieldManagers = b.own()?;
        let forbidden = b.regexes("forbidden_managers", &raw.forbidden_managers);
        let required_apply = raw
            .required_apply_manager
            .map(|p| b.regex("required_apply_manager", &p));
        if forbidden.is_empty() && required_apply.is_none() {
            b.errors.push(
                PlanError::new(ErrorKind::MissingField, format!("task `{}` asserts nothing", b.id))
                    .at(b.id_span.clone(), "no assertion")
                    .help("add forbidden_managers = [\"kubectl-client-side-apply\"] and/or required_apply_manager = \"...\"")
                    .about_missing(["forbidden_managers", "required_apply_manager"]),
            );
            return None;
        }
        let forbidden: Option<Vec<Regex>> = forbidden.into_iter().collect();
        let required_apply = match required_apply {
            Some(r) => Some(r?),
            None => None,
        };
        Some(Self {
            selection: b.selection()?,
            forbidden: forbidden?,
            required_apply,
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
        if let Some(req) = &self.required_apply {
            let _ = write!(out, "; each applied by {}", req.as_str());
        }
        out
    }
}
