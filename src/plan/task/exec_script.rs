//! `exec-script`: run a command (argv) or a shell script.

use std::collections::BTreeMap;

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// Runs `command` (argv, no shell) or `script` (bash -euo pipefail, or sh -eu).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawExecScript {
    /// Program and arguments, run without a shell: ["pnpm", "--filter", "x", "build"].
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Shell source, run with `bash -euo pipefail -c` (or `sh -eu -c` without bash); each `{{ name }}` in it is one quoted shell word.
    #[serde(default)]
    pub script: Option<String>,
    /// Working directory, relative to the plan file's directory (default: that directory).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Extra environment variables for the child.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Exit codes that count as success (default [0]).
    #[serde(default)]
    pub ok_codes: Option<Vec<i32>>,
    /// The task only reads: it also runs under `--dry-run`.
    #[serde(default)]
    pub read_only: bool,
    /// A read-only shell check of what the task achieved, run on resume before the
    /// task is taken as done (in `cwd`, with `env`): exit 0 means it still holds;
    /// anything else runs the task again, and what follows it.
    #[serde(default)]
    pub verify: Option<String>,
}

/// The `exec-script` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "exec-script",
    summary: "run a command (argv, no shell) or a shell script",
    selection: false,
    kubernetes: false,
    waits: false,
    typical: Duration::from_secs(1),
    schema: schema_of::<RawExecScript>,
    example_id: "build-cluster",
};

/// An example task of the type, in the schema (`examples`) and `planrun explain`.
fn example() -> serde_json::Value {
    serde_json::json!({
        "type": "exec-script",
        "description": "The new code builds before anything is deleted",
        "command": [
            "pnpm",
            "--filter",
            "@oceanid/cluster",
            "build"
        ],
        "timeout": "10m"
    })
}
