//! `wait-absent`: wait, by watch, until the selected objects are gone.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// Waits until no selected object exists (the task's `timeout`, default 5m).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawWaitAbsent {}

/// The `wait-absent` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "wait-absent",
    summary: "wait, by watch, until Kubernetes objects are gone",
    selection: true,
    kubernetes: true,
    waits: true,
    typical: Duration::from_secs(30),
    schema: schema_of::<RawWaitAbsent>,
    example_id: "flux-namespace-gone",
};

/// An example task of the type, in the schema (`examples`) and `planrun explain`.
fn example() -> serde_json::Value {
    serde_json::json!({
        "type": "wait-absent",
        "kind": "Namespace",
        "name": "flux-system",
        "timeout": "10m"
    })
}
