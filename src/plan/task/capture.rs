//! `capture`: save Secrets or ConfigMaps to a private file before deleting them.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// Writes the selected Secrets or ConfigMaps as YAML to a file (mode 0600) in the run
/// directory; prints only names and keys, never values.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawCapture {
    /// File name inside the run directory (default "<task id>.yaml"); a capture run
    /// again replaces it only when it lacks nothing the file holds.
    #[serde(default)]
    pub file: Option<String>,
}

/// The `capture` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "capture",
    summary: "save Secrets or ConfigMaps to a 0600 file in the run directory",
    selection: true,
    kubernetes: true,
    waits: false,
    typical: Duration::from_secs(2),
    schema: schema_of::<RawCapture>,
    example_id: "capture-secrets",
};

/// An example task of the type, in the schema (`examples`) and `planrun explain`.
fn example() -> serde_json::Value {
    serde_json::json!({
        "type": "capture",
        "description": "Keep Flux's Secrets before the namespace goes",
        "kind": "Secret",
        "namespace": "flux-system",
        "name_pattern": ".*",
        "file": "flux-secrets.yaml"
    })
}
