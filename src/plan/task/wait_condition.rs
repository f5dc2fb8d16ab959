//! `wait-condition`: wait until the selected objects have a status condition.

use schemars::JsonSchema;
use serde::Deserialize;

/// Waits until every selected object has `condition` with `status` (default "True").
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWaitCondition {
    /// Condition type, e.g. "Ready".
    pub condition: String,
    /// Expected status (default "True").
    #[serde(default)]
    pub status: Option<String>,
}
