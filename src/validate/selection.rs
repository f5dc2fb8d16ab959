//! Which Kubernetes objects a task is about: the `kind`, `api_version`, `namespace`
//! and one of `name`, `name_pattern` or `selector`, shared by the Kubernetes task
//! types that take a selection.

use std::fmt::Write as _;

use regex::Regex;

use super::document::{Table, key_span, value_span};
use super::error::{ErrorKind, PlanError};
use super::task_table::{TaskContext, regex_at};
use crate::plan::{RawSelection, TaskType};

/// Which Kubernetes objects a task is about.
#[derive(Debug, Clone)]
pub struct Selection {
    pub kind: String,
    /// `group/version` or `version` for the core group; `None`: resolved by kind.
    pub api_version: Option<String>,
    /// `None`: cluster-scoped kinds, or all namespaces for namespaced ones.
    pub namespace: Option<String>,
    pub target: Target,
}

#[derive(Debug, Clone)]
pub enum Target {
    Name(String),
    /// Regex matched against `metadata.name` (unanchored, as written).
    Pattern(Regex),
    /// A label selector in Kubernetes syntax (`app=x,tier!=db`).
    Selector(String),
}

impl Selection {
    /// Whether an object name matches this selection's name or pattern (label
    /// selectors are applied by the server, so they always match here).
    pub fn matches_name(&self, name: &str) -> bool {
        match &self.target {
            Target::Name(n) => n == name,
            Target::Pattern(re) => re.is_match(name),
            Target::Selector(_) => true,
        }
    }

    /// e.g. `Namespace flux-system`, `CustomResourceDefinition matching /\.toolkit\.fluxcd\.io$/`.
    pub fn describe(&self) -> String {
        let mut out = self.kind.clone();
        if let Some(api) = &self.api_version {
            let _ = write!(out, " ({api})");
        }
        match &self.target {
            Target::Name(name) => {
                let _ = write!(out, " {name}");
            }
            Target::Pattern(re) => {
                let _ = write!(out, " matching /{}/", re.as_str());
            }
            Target::Selector(sel) => {
                let _ = write!(out, " with labels {sel}");
            }
        }
        if let Some(ns) = &self.namespace {
            let _ = write!(out, " in namespace {ns}");
        }
        out
    }
}

/// Checks a task's selection keys: exactly one target, a kind, a valid pattern.
pub(super) fn build_selection(
    cx: &TaskContext<'_>,
    raw: RawSelection,
    table: &Table<'_>,
    id: &str,
    task_type: TaskType,
    errors: &mut Vec<PlanError>,
) -> Option<Selection> {
    let given: Vec<&str> = [
        ("name", raw.name.is_some()),
        ("name_pattern", raw.name_pattern.is_some()),
        ("selector", raw.selector.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    if given.len() > 1 {
        let mut error = PlanError::new(
            ErrorKind::ConflictingFields,
            format!("task `{id}` sets both `{}` and `{}`", given[0], given[1]),
        );
        for key in &given {
            if let Some(span) = key_span(table, key) {
                error = error.at(span, format!("`{key}` here"));
            }
        }
        errors.push(error.help("give exactly one of `name`, `name_pattern` or `selector`"));
        return None;
    }
    if raw.kind.trim().is_empty() {
        errors.push(
            PlanError::new(ErrorKind::BadValue, format!("task `{id}`: `kind` is empty"))
                .at(value_span(table, "kind").unwrap_or(0..0), "empty")
                .help("name a Kubernetes kind, e.g. \"Namespace\" or \"CustomResourceDefinition\""),
        );
        return None;
    }
    for (key, value) in [
        ("name", raw.name.as_deref()),
        ("namespace", raw.namespace.as_deref()),
    ] {
        // A reference left as written is an undefined variable, said already.
        let Some(value) = value.filter(|v| !v.contains("{{")) else {
            continue;
        };
        // An empty name would address the whole collection (a DELETE of every
        // object); `/` or `..` would address another path.
        let bad = value.is_empty()
            || value.contains('/')
            || value == "."
            || value == ".."
            || value.chars().any(|c| c.is_whitespace() || c.is_control());
        if bad {
            errors.push(
                PlanError::new(
                    ErrorKind::BadValue,
                    format!("task `{id}`: `{key}` {value:?} is not an object {key}"),
                )
                .at(value_span(table, key).unwrap_or(0..0), "not a name")
                .help(format!(
                    "give the object's {key}, e.g. \"flux-system\" (a name has no spaces or `/` and is never empty); to select several objects use `name_pattern` or `selector`"
                )),
            );
            return None;
        }
    }
    let target = if let Some(name) = raw.name {
        Target::Name(name)
    } else if let Some(pattern) = raw.name_pattern {
        Target::Pattern(regex_at(cx, table, "name_pattern", &pattern, None, errors)?)
    } else if let Some(selector) = raw.selector {
        if selector.trim().is_empty() {
            errors.push(
                PlanError::new(
                    ErrorKind::BadValue,
                    format!("task `{id}`: `selector` is empty"),
                )
                .at(
                    value_span(table, "selector").unwrap_or(0..0),
                    "empty selector",
                )
                .help("write a label selector like \"app.kubernetes.io/part-of=flux\""),
            );
            return None;
        }
        Target::Selector(selector)
    } else {
        errors.push(
            PlanError::new(
                ErrorKind::MissingField,
                format!("task `{id}` selects no objects"),
            )
            .at(
                key_span(table, "kind").unwrap_or(0..0),
                format!("which {}?", raw.kind),
            )
            .help(format!(
                "a `{}` task needs one of `name`, `name_pattern` (regex) or `selector` (labels)",
                task_type.name()
            ))
            .about_missing(["name", "name_pattern", "selector"]),
        );
        return None;
    };
    Some(Selection {
        kind: raw.kind,
        api_version: raw.api_version,
        namespace: raw.namespace,
        target,
    })
}
