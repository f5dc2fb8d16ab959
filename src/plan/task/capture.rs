//! `capture`: save Secrets or ConfigMaps to a private file before deleting them.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// Writes the selected Secrets or ConfigMaps as YAML to a file (mode 0600) in the run
/// directory; prints only names and keys, never values.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCapture {
    /// File name inside the run directory (default "<task id>.yaml").
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
};
