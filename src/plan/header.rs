//! The `[plan]` table.

use schemars::JsonSchema;
use serde::Deserialize;

/// What the plan is, and the kube context it is meant for.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHeader {
    /// Short name of the plan; names its state directory (`.planrun/<name>/`).
    pub name: String,
    /// One or two sentences on what the plan does and why.
    #[serde(default)]
    pub description: Option<String>,
    /// The kube context the plan is meant for: destructive runs against any other
    /// context are refused.
    #[serde(default)]
    pub context: Option<String>,
}
