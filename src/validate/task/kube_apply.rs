//! `kube-apply`: server-side apply of manifest files, or of the objects a `capture`
//! task saved, optionally only named objects and only where absent.

use std::path::PathBuf;

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::RawKubeApply;
use crate::validate::error::{ErrorKind, PlanError};
use crate::validate::task_ref::TaskRef;
use crate::validate::task_table::{Builder, exactly_one};

/// The field manager when the plan names none.
pub const DEFAULT_FIELD_MANAGER: &str = "planrun";

/// `kube-apply`.
#[derive(Debug, Clone)]
pub struct KubeApply {
    pub source: ApplySource,
    /// When not empty, only these objects are applied.
    pub only: Vec<ObjectName>,
    /// Objects that exist are left as they are.
    pub if_absent: bool,
    pub field_manager: String,
    /// Take over fields other managers own.
    pub force: bool,
}

/// Where the objects come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplySource {
    /// Manifest files, resolved against the plan's directory.
    Files(Vec<PathBuf>),
    /// The file a `capture` task wrote in the run directory.
    Capture {
        /// The capture task.
        task: TaskRef,
        /// Its file name (filled in once every task is known).
        file: String,
    },
}

/// An object named in `only`: `namespace/name`, or `name` for cluster-scoped ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName {
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl KubeApply {
    /// Exactly one source; `only` entries well formed; a manager name.
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawKubeApply = b.own()?;
        let id = b.id;
        let key = exactly_one(
            id,
            b.table,
            &[
                ("files", raw.files.is_some()),
                ("from_capture", raw.from_capture.is_some()),
            ],
            b.errors,
        )?;
        let source = match (key, raw.files, raw.from_capture) {
            (Some("files"), Some(files), _) => {
                if files.is_empty() || files.iter().any(|f| f.trim().is_empty()) {
                    b.error(
                        ErrorKind::BadValue,
                        format!("task `{id}`: `files` is empty or names an empty path"),
                        "files",
                        "no file",
                        "list manifest files, relative to the plan file, e.g. files = [\"manifests/secret.yaml\"]",
                    );
                    return None;
                }
                ApplySource::Files(files.iter().map(|f| b.path(Some(f))).collect())
            }
            (Some("from_capture"), _, Some(task)) => ApplySource::Capture {
                task: TaskRef::at(b, "from_capture", &task),
                file: String::new(),
            },
            _ => {
                b.errors.push(
                    PlanError::new(
                        ErrorKind::MissingField,
                        format!("task `{id}` applies nothing"),
                    )
                    .at(b.id_span.clone(), "no objects")
                    .help("give `files` (manifests) or `from_capture` (the id of a capture task this one needs)"),
                );
                return None;
            }
        };
        let mut only = Vec::new();
        for entry in &raw.only {
            let parts: Vec<&str> = entry.split('/').collect();
            let name = match parts.as_slice() {
                [name] if !name.is_empty() => ObjectName {
                    namespace: None,
                    name: (*name).to_owned(),
                },
                [ns, name] if !ns.is_empty() && !name.is_empty() => ObjectName {
                    namespace: Some((*ns).to_owned()),
                    name: (*name).to_owned(),
                },
                _ => {
                    b.error(
                        ErrorKind::BadValue,
                        format!("task `{id}`: `only` entry `{entry}` is not namespace/name or name"),
                        "only",
                        "not an object name",
                        "name objects as \"flux-system/ssh-credentials\" (namespaced) or \"name\" (cluster-scoped)",
                    );
                    return None;
                }
            };
            only.push(name);
        }
        let field_manager = raw
            .field_manager
            .unwrap_or_else(|| DEFAULT_FIELD_MANAGER.to_owned());
        if field_manager.trim().is_empty() || field_manager.len() > 128 {
            b.error(
                ErrorKind::BadValue,
                format!("task `{id}`: bad `field_manager`"),
                "field_manager",
                "empty or longer than 128 characters",
                "name the manager the API server records, e.g. \"planrun\"",
            );
            return None;
        }
        Some(Self {
            source,
            only,
            if_absent: raw.if_absent,
            field_manager,
            force: raw.force,
        })
    }
}

impl TaskSpec for KubeApply {
    fn task_type(&self) -> TaskType {
        TaskType::KubeApply
    }

    fn changes(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        let what = match &self.source {
            ApplySource::Files(files) => files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            ApplySource::Capture { task, file } => {
                format!("what `{}` captured ({file} in the run directory)", task.id)
            }
        };
        let mut out = format!(
            "server-side apply {what} as {}{}",
            self.field_manager,
            if self.force {
                ", forcing conflicts"
            } else {
                ""
            }
        );
        if !self.only.is_empty() {
            let names: Vec<String> = self.only.iter().map(ToString::to_string).collect();
            out.push_str(&format!("; only {}", names.join(", ")));
        }
        if self.if_absent {
            out.push_str("; only where absent");
        }
        out
    }
}
