//! `wait-absent`: wait, by watch, until the selected objects are gone.

use schemars::JsonSchema;
use serde::Deserialize;

/// Waits until no selected object exists (the task's `timeout`, default 5m).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWaitAbsent {}
