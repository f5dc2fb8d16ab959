//! `assert-field-managers`: who manages the fields of the selected objects.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// No selected object has a managedFields entry from a forbidden manager; with
/// `owners`, each has an entry from an accepted owner.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawAssertFieldManagers {
    /// Regular expressions of managers that must not appear, e.g. ["kubectl-client-side-apply"].
    #[serde(default)]
    pub forbidden_managers: Vec<String>,
    /// Accepted owners: each object needs a managedFields entry (not of a subresource) matching one, e.g. [{ manager = '^pulumi-kubernetes$', operation = "Update" }].
    #[serde(default)]
    pub owners: Vec<RawOwner>,
    /// Shorthand for owners = [{ manager = "<this>", operation = "Apply" }].
    #[serde(default)]
    pub required_apply_manager: Option<String>,
}

/// One accepted owner of an object's fields.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOwner {
    /// Regular expression of the manager's name, e.g. '^pulumi-kubernetes-[a-z0-9]+$'.
    pub manager: String,
    /// The entry's operation; any when absent.
    #[serde(default)]
    pub operation: Option<RawOperation>,
}

/// The operation of a managedFields entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum RawOperation {
    /// Server-side apply.
    Apply,
    /// Any other write: create, update (PUT), patch.
    Update,
}

/// The `assert-field-managers` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "assert-field-managers",
    summary: "no object has fields from a forbidden manager; each has an accepted owner",
    selection: true,
    kubernetes: true,
    waits: false,
    typical: Duration::from_secs(2),
    schema: schema_of::<RawAssertFieldManagers>,
    example_id: "no-client-side-apply",
};

/// An example task of the type, in the schema (`examples`) and `planrun explain`.
fn example() -> serde_json::Value {
    serde_json::json!({
        "type": "assert-field-managers",
        "kind": "CustomResourceDefinition",
        "name_pattern": "\\.toolkit\\.fluxcd\\.io$",
        "forbidden_managers": [
            "^kubectl-client-side-apply$"
        ]
    })
}
