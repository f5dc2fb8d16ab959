//! `assert-field-managers`: who manages the fields of the selected objects.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// No selected object has a managedFields entry from a forbidden manager; optionally
/// each has an `Apply` entry from the required manager.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAssertFieldManagers {
    /// Regular expressions of managers that must not appear, e.g. ["kubectl-client-side-apply"].
    #[serde(default)]
    pub forbidden_managers: Vec<String>,
    /// Regular expression of a manager that must own fields by server-side apply.
    #[serde(default)]
    pub required_apply_manager: Option<String>,
}

/// The `assert-field-managers` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "assert-field-managers",
    summary: "no object has fields from a forbidden manager; optionally one applies them",
    selection: true,
    kubernetes: true,
    waits: false,
    typical: Duration::from_secs(2),
    schema: schema_of::<RawAssertFieldManagers>,
};
