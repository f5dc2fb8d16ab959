//! `assert-deployments`: deployments ready at the expected image tags.

use std::collections::BTreeMap;

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// Named deployments exist, are Available with every replica updated and ready, and
/// run the expected image tags; waits up to the task's timeout (default 5m).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawAssertDeployments {
    /// Namespace of the deployments.
    pub namespace: String,
    /// Deployment name -> expected image tag ("*" for any tag).
    pub deployments: BTreeMap<String, String>,
}

/// The `assert-deployments` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "assert-deployments",
    summary: "deployments are Available with all replicas ready at the expected image tags",
    selection: false,
    kubernetes: true,
    waits: true,
    typical: Duration::from_secs(30),
    schema: schema_of::<RawAssertDeployments>,
    example_id: "flux-controllers-ready",
};

/// An example task of the type, in the schema (`examples`) and `planrun explain`.
fn example() -> serde_json::Value {
    serde_json::json!({
        "type": "assert-deployments",
        "namespace": "flux-system",
        "deployments": {
            "source-controller": "v1.7.0",
            "kustomize-controller": "v1.7.0",
            "helm-controller": "v1.4.0"
        },
        "timeout": "10m"
    })
}
