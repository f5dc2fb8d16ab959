//! The `[vars]` table: a variable is a plain string, or a table with options.

use schemars::JsonSchema;
use serde::Deserialize;

/// A variable written as a table: `token = { env = "GITHUB_TOKEN", secret = true }`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVarSpec {
    /// The default value; `--var name=value` overrides it.
    #[serde(default)]
    pub value: Option<String>,
    /// An environment variable to read the value from (before `value`, after `--var`).
    #[serde(default)]
    pub env: Option<String>,
    /// A secret's value is masked everywhere planrun prints or stores text.
    #[serde(default)]
    pub secret: bool,
    /// What the variable is for.
    #[serde(default)]
    pub description: Option<String>,
}
