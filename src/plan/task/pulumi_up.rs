//! `pulumi-up`: `pulumi up` for a stack, non-interactive.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// Runs `pulumi up --yes` for a stack (only the preview under `--dry-run`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
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
};
