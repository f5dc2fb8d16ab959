//! Which Kubernetes objects a task is about, shared by the Kubernetes task types that
//! take a selection:
//!
//! - the kinds: one `kind` (pinned with `api_version` when ambiguous), several
//!   `kinds`, or every kind served by an API group matching `group_pattern`;
//! - where: `namespace` (namespaced kinds only), `"*"` for every namespace, or none
//!   (cluster-scoped kinds; for namespaced kinds the task type decides, see
//!   [`Namespaces::Unset`]);
//! - which: one of `name`, `name_pattern` or `selector`.
//!
//! Mixed scopes follow one rule: `namespace` applies to namespaced kinds. A kind
//! named with `kind` or `kinds` that is cluster-scoped while a concrete namespace is
//! given is an error (the plan says something impossible); a group pattern that also
//! matches cluster-scoped kinds selects only its namespaced kinds in that namespace
//! (the others are skipped, and the task says so).

use std::fmt::Write as _;

use regex::Regex;

use super::document::{Table, key_span, value_span};
use super::error::{ErrorKind, PlanError};
use super::task_table::{TaskContext, exactly_one, regex_at};
use crate::plan::{RawSelection, TaskType};

/// The `namespace` value meaning every namespace.
pub const ALL_NAMESPACES: &str = "*";

/// Which Kubernetes objects a task is about.
#[derive(Debug, Clone)]
pub struct Selection {
    pub kinds: KindSet,
    pub namespace: Namespaces,
    pub target: Target,
}

/// The kinds a selection covers.
#[derive(Debug, Clone)]
pub enum KindSet {
    /// One kind; `api_version` is `group/version` (`version` for the core group), or
    /// `None`: resolved by kind.
    Kind {
        kind: String,
        api_version: Option<String>,
    },
    /// Several kinds, each resolved by kind alone.
    Kinds(Vec<String>),
    /// Every kind served by an API group whose name matches (unanchored, as written).
    GroupPattern(Regex),
}

/// Where namespaced objects are looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespaces {
    /// No `namespace`: right for cluster-scoped kinds. For namespaced kinds, tasks
    /// that only read take every namespace; tasks that change objects refuse, so that
    /// acting on every namespace is always written as `namespace = "*"`.
    Unset,
    /// `namespace = "*"`: every namespace.
    All,
    /// One namespace.
    Named(String),
}

impl Namespaces {
    /// The one namespace named, if any.
    pub fn named(&self) -> Option<&str> {
        match self {
            Namespaces::Named(ns) => Some(ns),
            _ => None,
        }
    }
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
    /// One kind (resolved by kind alone) in `namespace` (`"*"` for all of them).
    pub fn of_kind(kind: &str, namespace: Option<&str>, target: Target) -> Self {
        Self {
            kinds: KindSet::Kind {
                kind: kind.to_owned(),
                api_version: None,
            },
            namespace: match namespace {
                None => Namespaces::Unset,
                Some(ALL_NAMESPACES) => Namespaces::All,
                Some(ns) => Namespaces::Named(ns.to_owned()),
            },
            target,
        }
    }

    /// Whether an object name matches this selection's name or pattern (label
    /// selectors are applied by the server, so they always match here).
    pub fn matches_name(&self, name: &str) -> bool {
        match &self.target {
            Target::Name(n) => n == name,
            Target::Pattern(re) => re.is_match(name),
            Target::Selector(_) => true,
        }
    }

    /// The kinds named with `kind` or `kinds` (none for a group pattern).
    pub fn named_kinds(&self) -> Vec<&str> {
        match &self.kinds {
            KindSet::Kind { kind, .. } => vec![kind.as_str()],
            KindSet::Kinds(kinds) => kinds.iter().map(String::as_str).collect(),
            KindSet::GroupPattern(_) => Vec::new(),
        }
    }

    /// e.g. `Namespace flux-system`, `CustomResourceDefinition matching /\.toolkit\.fluxcd\.io$/`,
    /// `every kind of the groups matching /fluxcd\.io$/ matching /.*/ in all namespaces`.
    pub fn describe(&self) -> String {
        let mut out = match &self.kinds {
            KindSet::Kind { kind, api_version } => match api_version {
                Some(api) => format!("{kind} ({api})"),
                None => kind.clone(),
            },
            KindSet::Kinds(kinds) => kinds.join(", "),
            KindSet::GroupPattern(re) => {
                format!("the kinds of the API groups matching /{}/,", re.as_str())
            }
        };
        let grouped = matches!(self.kinds, KindSet::GroupPattern(_));
        match &self.target {
            Target::Name(name) if grouped => {
                let _ = write!(out, " objects named {name}");
            }
            Target::Name(name) => {
                let _ = write!(out, " {name}");
            }
            Target::Pattern(re) if grouped => {
                let _ = write!(out, " objects named /{}/", re.as_str());
            }
            Target::Pattern(re) => {
                let _ = write!(out, " matching /{}/", re.as_str());
            }
            Target::Selector(sel) => {
                let _ = write!(out, " with labels {sel}");
            }
        }
        match &self.namespace {
            Namespaces::Unset => {}
            Namespaces::All => out.push_str(" in all namespaces"),
            Namespaces::Named(ns) => {
                let _ = write!(out, " in namespace {ns}");
            }
        }
        out
    }
}

/// Checks a task's selection keys: exactly one of the kind keys, exactly one target,
/// valid patterns, `api_version` only with `kind`.
pub(super) fn build_selection(
    cx: &TaskContext<'_>,
    raw: RawSelection,
    table: &Table<'_>,
    id: &str,
    task_type: TaskType,
    errors: &mut Vec<PlanError>,
) -> Option<Selection> {
    let kinds = build_kinds(cx, &raw, table, id, task_type, errors);
    let names_ok = check_object_names(&raw, table, id, errors);
    let namespace = match raw.namespace.as_deref() {
        None => Some(Namespaces::Unset),
        Some(ALL_NAMESPACES) => Some(Namespaces::All),
        Some(ns) if ns.trim().is_empty() => {
            errors.push(
                PlanError::new(
                    ErrorKind::BadValue,
                    format!("task `{id}`: `namespace` is empty"),
                )
                .at(value_span(table, "namespace").unwrap_or(0..0), "empty")
                .help("name a namespace, write \"*\" for all namespaces, or omit `namespace` for cluster-scoped kinds"),
            );
            None
        }
        Some(ns) => Some(Namespaces::Named(ns.to_owned())),
    };
    let target = build_target(cx, &raw, table, id, task_type, errors);
    if !names_ok {
        return None;
    }
    Some(Selection {
        kinds: kinds?,
        namespace: namespace?,
        target: target?,
    })
}

/// `name` and `namespace` must each be one object's name: an empty name would
/// address the whole collection (a DELETE of every object); `/` or `..` would
/// address another path. An empty `namespace` and "*" are judged with the
/// namespaces. Returns whether both are fine.
fn check_object_names(
    raw: &RawSelection,
    table: &Table<'_>,
    id: &str,
    errors: &mut Vec<PlanError>,
) -> bool {
    for (key, value) in [
        ("name", raw.name.as_deref()),
        (
            "namespace",
            raw.namespace
                .as_deref()
                .filter(|ns| *ns != ALL_NAMESPACES && !ns.trim().is_empty()),
        ),
    ] {
        // A reference left as written is an undefined variable, said already.
        let Some(value) = value.filter(|v| !v.contains("{{")) else {
            continue;
        };
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
            return false;
        }
    }
    true
}

fn build_kinds(
    cx: &TaskContext<'_>,
    raw: &RawSelection,
    table: &Table<'_>,
    id: &str,
    task_type: TaskType,
    errors: &mut Vec<PlanError>,
) -> Option<KindSet> {
    let key = exactly_one(
        id,
        table,
        &[
            ("kind", raw.kind.is_some()),
            ("kinds", raw.kinds.is_some()),
            ("group_pattern", raw.group_pattern.is_some()),
        ],
        errors,
    )?;
    if raw.api_version.is_some() && raw.kind.is_none() {
        let mut error = PlanError::new(
            ErrorKind::ConflictingFields,
            format!("task `{id}`: `api_version` pins the version of one `kind`"),
        )
        .at(
            key_span(table, "api_version").unwrap_or(0..0),
            "only with `kind`",
        );
        if let Some(other) = key
            && let Some(span) = key_span(table, other)
        {
            error = error.at(span, format!("`{other}` here"));
        }
        errors.push(error.help(
            "with `kinds` or `group_pattern` each kind is used at its preferred version; pin one kind per task with `kind` and `api_version` instead",
        ));
        return None;
    }
    let empty = |key: &str, what: &str, errors: &mut Vec<PlanError>| {
        errors.push(
            PlanError::new(
                ErrorKind::BadValue,
                format!("task `{id}`: `{key}` is empty"),
            )
            .at(value_span(table, key).unwrap_or(0..0), "empty")
            .help(what.to_owned()),
        );
    };
    if let Some(kind) = &raw.kind {
        if kind.trim().is_empty() {
            empty(
                "kind",
                "name a Kubernetes kind, e.g. \"Namespace\" or \"CustomResourceDefinition\"",
                errors,
            );
            return None;
        }
        return Some(KindSet::Kind {
            kind: kind.clone(),
            api_version: raw.api_version.clone(),
        });
    }
    if let Some(kinds) = &raw.kinds {
        if kinds.is_empty() || kinds.iter().any(|k| k.trim().is_empty()) {
            empty(
                "kinds",
                "list Kubernetes kinds, e.g. [\"ClusterRole\", \"ClusterRoleBinding\"]",
                errors,
            );
            return None;
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = kinds.iter().find(|k| !seen.insert(k.as_str())) {
            errors.push(
                PlanError::new(
                    ErrorKind::BadValue,
                    format!("task `{id}` lists kind `{dup}` twice"),
                )
                .at(value_span(table, "kinds").unwrap_or(0..0), "repeated kind")
                .help("list each kind once"),
            );
            return None;
        }
        return Some(KindSet::Kinds(kinds.clone()));
    }
    if let Some(pattern) = &raw.group_pattern {
        return regex_at(cx, table, "group_pattern", pattern, None, errors)
            .map(KindSet::GroupPattern);
    }
    errors.push(
        PlanError::new(
            ErrorKind::MissingField,
            format!("task `{id}` names no kind"),
        )
        .at(table_anchor(table), "which kind?")
        .help(format!(
            "a `{}` task needs one of `kind` (\"Namespace\"), `kinds` ([\"ClusterRole\", \"ClusterRoleBinding\"]) or `group_pattern` ('fluxcd\\.io$')",
            task_type.name()
        ))
        .about_missing(["kind", "kinds", "group_pattern"]),
    );
    None
}

fn build_target(
    cx: &TaskContext<'_>,
    raw: &RawSelection,
    table: &Table<'_>,
    id: &str,
    task_type: TaskType,
    errors: &mut Vec<PlanError>,
) -> Option<Target> {
    exactly_one(
        id,
        table,
        &[
            ("name", raw.name.is_some()),
            ("name_pattern", raw.name_pattern.is_some()),
            ("selector", raw.selector.is_some()),
        ],
        errors,
    )?;
    if let Some(name) = &raw.name {
        return Some(Target::Name(name.clone()));
    }
    if let Some(pattern) = &raw.name_pattern {
        return regex_at(cx, table, "name_pattern", pattern, None, errors).map(Target::Pattern);
    }
    if let Some(selector) = &raw.selector {
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
        return Some(Target::Selector(selector.clone()));
    }
    let what = raw.kind.clone().unwrap_or_else(|| "objects".to_owned());
    errors.push(
        PlanError::new(
            ErrorKind::MissingField,
            format!("task `{id}` selects no objects"),
        )
        .at(table_anchor(table), format!("which {what}?"))
        .help(format!(
            "a `{}` task needs one of `name`, `name_pattern` (regex; \".*\" for all) or `selector` (labels)",
            task_type.name()
        ))
        .about_missing(["name", "name_pattern", "selector"]),
    );
    None
}

/// Where a problem of the selection as a whole is shown: its kind key.
fn table_anchor(table: &Table<'_>) -> std::ops::Range<usize> {
    ["kind", "kinds", "group_pattern", "type"]
        .iter()
        .find_map(|k| key_span(table, k))
        .unwrap_or(0..0)
}
