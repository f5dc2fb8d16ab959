//! `capture`: save Secrets or ConfigMaps to a private file before deleting them.

use schemars::JsonSchema;
use serde::Deserialize;

/// Writes the selected Secrets or ConfigMaps as YAML to a file (mode 0600) in the run
/// directory; prints only names and keys, never values.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCapture {
    /// File name inside the run directory (default "<task id>.yaml").
    #[serde(default)]
    pub file: Option<String>,
}
