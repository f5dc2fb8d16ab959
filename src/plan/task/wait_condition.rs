//! `wait-condition`: wait until the selected objects have a status condition.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// Waits until every selected object has `condition` with `status` (default "True").
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawWaitCondition {
    /// Condition type, e.g. "Ready".
    pub condition: String,
    /// Expected status (default "True").
    #[serde(default)]
    pub status: Option<String>,
}

/// The `wait-condition` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "wait-condition",
    summary: "wait until Kubernetes objects have a status condition (Ready=True)",
    selection: true,
    kubernetes: true,
    waits: true,
    typical: Duration::from_secs(30),
    schema: schema_of::<RawWaitCondition>,
    example_id: "git-repositories-ready",
};

/// An example task of the type, in the schema (`examples`) and `planrun explain`.
fn example() -> serde_json::Value {
    serde_json::json!({
        "type": "wait-condition",
        "kind": "GitRepository",
        "namespace": "flux-system",
        "name_pattern": ".*",
        "condition": "Ready",
        "timeout": "5m"
    })
}
