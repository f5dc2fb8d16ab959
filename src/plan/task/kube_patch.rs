//! `kube-patch`: change the selected objects with a merge patch or a JSON patch, or
//! remove named finalizers from them.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::plan::task_type::{TypeInfo, schema_of};

/// An RFC 6902 operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawJsonPatchVerb {
    Add,
    Remove,
    Replace,
    Move,
    Copy,
    Test,
}

impl RawJsonPatchVerb {
    /// The `op` as written.
    pub fn name(self) -> &'static str {
        match self {
            RawJsonPatchVerb::Add => "add",
            RawJsonPatchVerb::Remove => "remove",
            RawJsonPatchVerb::Replace => "replace",
            RawJsonPatchVerb::Move => "move",
            RawJsonPatchVerb::Copy => "copy",
            RawJsonPatchVerb::Test => "test",
        }
    }
}

/// One operation of a JSON patch (RFC 6902).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawJsonPatchOp {
    /// "add", "remove", "replace", "move", "copy" or "test".
    pub op: RawJsonPatchVerb,
    /// JSON pointer to the field, e.g. "/spec/suspend" ("~1" for a "/" in a key).
    pub path: String,
    /// The value (add, replace, test).
    #[serde(default)]
    pub value: Option<Value>,
    /// JSON pointer to the source field (move, copy).
    #[serde(default)]
    pub from: Option<String>,
}

/// Patches every selected object; exactly one of `merge_patch`, `json_patch` and
/// `remove_finalizers`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawKubePatch {
    /// A JSON merge patch (RFC 7386) as a table, e.g. { spec = { suspend = true } }. TOML has no null: remove fields with json_patch.
    #[serde(default)]
    pub merge_patch: Option<Map<String, Value>>,
    /// A JSON patch (RFC 6902): [{ op = "replace", path = "/spec/replicas", value = 0 }].
    #[serde(default)]
    pub json_patch: Option<Vec<RawJsonPatchOp>>,
    /// Remove only these finalizers, e.g. ["finalizers.fluxcd.io"], conflict-safe; objects without them are left untouched.
    #[serde(default)]
    pub remove_finalizers: Option<Vec<String>>,
}

/// The `kube-patch` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "kube-patch",
    summary: "patch Kubernetes objects (merge or JSON patch), or remove named finalizers",
    selection: true,
    kubernetes: true,
    waits: false,
    typical: Duration::from_secs(2),
    schema: schema_of::<RawKubePatch>,
    example_id: "remove-flux-finalizers",
};

/// An example task of the type, in the schema (`examples`) and `planrun explain`.
fn example() -> serde_json::Value {
    serde_json::json!({
        "type": "kube-patch",
        "description": "Remove finalizers.fluxcd.io from every Flux object in every namespace",
        "group_pattern": "\\.fluxcd\\.io$",
        "namespace": "*",
        "name_pattern": ".*",
        "remove_finalizers": ["finalizers.fluxcd.io"]
    })
}
