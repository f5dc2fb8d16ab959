//! Keys every task accepts, whatever its type.

use schemars::JsonSchema;
use serde::Deserialize;

/// Keys shared by every task type.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCommon {
    /// What the task does, in the words of the runbook.
    #[serde(default)]
    pub description: Option<String>,
    /// Ids of the tasks that must succeed before this one starts.
    #[serde(default)]
    pub needs: Vec<String>,
    /// Longest the task may run, e.g. "30s", "10m", "1h30m". Waits default to "5m".
    #[serde(default)]
    pub timeout: Option<String>,
    /// How many times to retry after a failure (default 0).
    #[serde(default)]
    pub retries: u32,
    /// Delay before the first retry, doubled for each next one (default "1s").
    #[serde(default)]
    pub backoff: Option<String>,
    /// Upper bound of the retry delay (default "1m").
    #[serde(default)]
    pub backoff_max: Option<String>,
    /// A failure of this task does not fail the run; its dependents still run.
    #[serde(default)]
    pub allow_failure: bool,
    /// Run once everything it needs has ended, whatever the outcome (cleanup, report).
    #[serde(default)]
    pub always: bool,
}

/// `type`, then the keys of [`RawCommon`] (`&COMMON_KEYS[1..]`).
pub const COMMON_KEYS: &[&str] = &[
    "type",
    "description",
    "needs",
    "timeout",
    "retries",
    "backoff",
    "backoff_max",
    "allow_failure",
    "always",
];
