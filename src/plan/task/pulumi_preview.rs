//! `pulumi-preview`: the review half of an update: refresh, preview with the diff,
//! the plan saved for `pulumi-up`'s `plan_from`.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// Runs `pulumi preview --diff --save-plan` for a stack (after `pulumi refresh` when
/// asked), keeping the diff and the plan in the run directory.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawPulumiPreview {
    /// Stack name, e.g. "oceanid-cluster".
    pub stack: String,
    /// Pulumi project directory, relative to the plan file's directory (default ".").
    #[serde(default)]
    pub cwd: Option<String>,
    /// Refresh the stack's state from the cluster first (`pulumi refresh`; under `--dry-run`, `preview --refresh`).
    #[serde(default)]
    pub refresh: bool,
    /// Config keys that must exist for the stack before anything runs.
    #[serde(default)]
    pub require_config: Vec<String>,
    /// Extra arguments for `pulumi preview`.
    #[serde(default)]
    pub args: Vec<String>,
    /// The Pulumi CLI to run (default "pulumi" from PATH).
    #[serde(default)]
    pub binary: Option<String>,
}

/// The `pulumi-preview` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "pulumi-preview",
    summary: "pulumi preview with the diff saved and shown, and the plan saved for pulumi-up's plan_from",
    selection: false,
    kubernetes: false,
    waits: false,
    typical: Duration::from_secs(60),
    schema: schema_of::<RawPulumiPreview>,
    example_id: "pulumi-preview",
};

/// An example task of the type, in the schema (`examples`) and `planrun explain`.
fn example() -> serde_json::Value {
    serde_json::json!({
        "type": "pulumi-preview",
        "stack": "oceanid-cluster",
        "cwd": "cluster",
        "refresh": true,
        "require_config": [
            "flux.ssh_private_key",
            "github.token"
        ]
    })
}
