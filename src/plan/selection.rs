//! Keys that select Kubernetes objects, shared by the Kubernetes task types.

use schemars::JsonSchema;
use serde::Deserialize;

/// Which objects: the kinds (one of `kind`, `kinds` or `group_pattern`), where
/// (`namespace`), and which of them (one of `name`, `name_pattern` or `selector`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSelection {
    /// Object kind, e.g. "Namespace", "CustomResourceDefinition", "GitRepository".
    #[serde(default)]
    pub kind: Option<String>,
    /// Several kinds at once instead of `kind`, e.g. ["ClusterRole", "ClusterRoleBinding"].
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    /// Instead of `kind`: every kind served whose API group matches this regular expression, e.g. 'fluxcd\.io$' (preferred versions; kinds lacking the verbs the task needs are skipped).
    #[serde(default)]
    pub group_pattern: Option<String>,
    /// "group/version" (or "v1") when the kind alone is ambiguous (with `kind` only).
    #[serde(default)]
    pub api_version: Option<String>,
    /// Namespace of namespaced kinds, or "*" for all namespaces; omit for cluster-scoped kinds.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Exactly this object.
    #[serde(default)]
    pub name: Option<String>,
    /// Every object whose name matches this regular expression.
    #[serde(default)]
    pub name_pattern: Option<String>,
    /// Every object matching this label selector, e.g. "app.kubernetes.io/part-of=flux".
    #[serde(default)]
    pub selector: Option<String>,
}

/// The keys of [`RawSelection`].
pub const SELECTION_KEYS: &[&str] = &[
    "kind",
    "kinds",
    "group_pattern",
    "api_version",
    "namespace",
    "name",
    "name_pattern",
    "selector",
];
