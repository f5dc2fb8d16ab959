//! `assert-file`: a file exists and contains patterns.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// The file exists and every pattern matches its content.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawAssertFile {
    /// Path, relative to the plan file's directory.
    pub path: String,
    /// Regular expressions that must all match somewhere in the file.
    pub patterns: Vec<String>,
}

/// The `assert-file` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "assert-file",
    summary: "a file exists and matches every pattern",
    selection: false,
    kubernetes: false,
    waits: false,
    typical: Duration::ZERO,
    schema: schema_of::<RawAssertFile>,
    example_id: "verify-bootstrap",
};

/// An example task of the type, in the schema (`examples`) and `planrun explain`.
fn example() -> serde_json::Value {
    serde_json::json!({
        "type": "assert-file",
        "path": "cluster/src/gitops/fluxBootstrap.ts",
        "patterns": [
            "k8s\\.helm\\.v4\\.Chart"
        ]
    })
}
