//! `pulumi-up`: `pulumi up` for a stack, non-interactive.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// Runs `pulumi up --yes` for a stack (only the preview under `--dry-run`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawPulumiUp {
    /// Stack name, e.g. "oceanid-cluster".
    pub stack: String,
    /// Pulumi project directory, relative to the plan file's directory (default ".").
    #[serde(default)]
    pub cwd: Option<String>,
    /// Run `pulumi preview --diff` before the update.
    #[serde(default)]
    pub preview: bool,
    /// The id of a pulumi-preview task this task needs: `pulumi up --plan` with the plan it saved, so the update does only what was reviewed.
    #[serde(default)]
    pub plan_from: Option<String>,
    /// Refresh the stack's state before the update.
    #[serde(default)]
    pub refresh: bool,
    /// Config keys that must exist for the stack before anything runs.
    #[serde(default)]
    pub require_config: Vec<String>,
    /// Extra arguments for `pulumi up`.
    #[serde(default)]
    pub args: Vec<String>,
    /// The Pulumi CLI to run (default "pulumi" from PATH).
    #[serde(default)]
    pub binary: Option<String>,
    /// What to do when the stack holds pending operations or a lock from an
    /// interrupted update: "stop" (default: fail with the exact commands that
    /// resolve them) or "refresh" (`pulumi cancel` for a held lock, then `pulumi
    /// refresh --clear-pending-creates`, then the update).
    #[serde(default)]
    pub on_pending: Option<RawOnPending>,
}

/// What a `pulumi-up` task does about an interrupted update's leftovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RawOnPending {
    Stop,
    Refresh,
}

/// The `pulumi-up` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "pulumi-up",
    summary: "pulumi up for a stack, non-interactive, with config checks and preview",
    selection: false,
    kubernetes: false,
    waits: false,
    typical: Duration::from_secs(180),
    schema: schema_of::<RawPulumiUp>,
    example_id: "pulumi-up",
};

/// An example task of the type, in the schema (`examples`) and `planrun explain`.
fn example() -> serde_json::Value {
    serde_json::json!({
        "type": "pulumi-up",
        "stack": "oceanid-cluster",
        "cwd": "cluster",
        "refresh": true,
        "require_config": [
            "flux.ssh_private_key",
            "github.token"
        ],
        "timeout": "20m"
    })
}
