//! `kube-apply`: server-side apply manifest files, or the objects an earlier
//! `capture` task saved.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// Server-side applies objects under a named field manager; exactly one of `files`
/// and `from_capture`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawKubeApply {
    /// Manifest files (YAML, several documents or a List each), relative to the plan file's directory.
    #[serde(default)]
    pub files: Option<Vec<String>>,
    /// The id of a `capture` task this task needs: apply the objects it saved in the run directory.
    #[serde(default)]
    pub from_capture: Option<String>,
    /// Only these objects, as "namespace/name" ("name" for cluster-scoped ones), e.g. ["flux-system/ssh-credentials"].
    #[serde(default)]
    pub only: Vec<String>,
    /// Leave objects that exist as they are (and say so); apply only the absent ones.
    #[serde(default)]
    pub if_absent: bool,
    /// Field manager of the apply (default "planrun").
    #[serde(default)]
    pub field_manager: Option<String>,
    /// Take over fields another manager owns instead of failing on the conflict.
    #[serde(default)]
    pub force: bool,
}

/// The `kube-apply` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "kube-apply",
    summary: "server-side apply manifest files or a capture (only named objects, only where absent)",
    selection: false,
    kubernetes: true,
    waits: false,
    typical: Duration::from_secs(2),
    schema: schema_of::<RawKubeApply>,
    example_id: "restore-flux-secrets",
};

/// An example task of the type, in the schema (`examples`) and `planrun explain`.
fn example() -> serde_json::Value {
    serde_json::json!({
        "type": "kube-apply",
        "description": "Restore the Flux Git credentials where the stack did not recreate them",
        "files": ["manifests/flux-secrets.yaml"],
        "only": ["flux-system/flux-system"],
        "if_absent": true
    })
}
