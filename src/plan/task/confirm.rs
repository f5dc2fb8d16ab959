//! `confirm`: a gate a person answers before the plan goes on.

use schemars::JsonSchema;
use serde::Deserialize;

/// Asks for confirmation on the terminal; `--yes` answers it in advance.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConfirm {
    /// The question shown (default "Proceed?").
    #[serde(default)]
    pub message: Option<String>,
}
