//! `kube-delete`: delete the selected objects; absent ones are fine.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// Deletion propagation policy.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RawPropagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

/// Deletes the selected objects (already absent is success).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawKubeDelete {
    /// How dependents are deleted (default "background", as kubectl).
    #[serde(default)]
    pub propagation: RawPropagation,
}

/// The `kube-delete` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "kube-delete",
    summary: "delete Kubernetes objects; absent ones are fine",
    selection: true,
    kubernetes: true,
    waits: false,
    typical: Duration::from_secs(2),
    schema: schema_of::<RawKubeDelete>,
    example_id: "delete-flux-crds",
};

/// An example task of the type, in the schema (`examples`) and `planrun explain`.
fn example() -> serde_json::Value {
    serde_json::json!({
        "type": "kube-delete",
        "description": "Every Flux CRD (their custom resources go with them)",
        "kind": "CustomResourceDefinition",
        "name_pattern": "\\.toolkit\\.fluxcd\\.io$"
    })
}
