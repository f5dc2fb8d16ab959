//! Keys that select Kubernetes objects, shared by the Kubernetes task types.

use schemars::JsonSchema;
use serde::Deserialize;

/// Which objects: a kind, and one of `name`, `name_pattern` or `selector`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSelection {
    /// Object kind, e.g. "Namespace", "CustomResourceDefinition", "GitRepository".
    pub kind: String,
    /// "group/version" (or "v1") when the kind alone is ambiguous.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Namespace of namespaced kinds; omit for cluster-scoped kinds.
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
    "api_version",
    "namespace",
    "name",
    "name_pattern",
    "selector",
];
