//! `confirm`: a gate a person answers before the plan goes on.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::plan::task_type::{TypeInfo, schema_of};

/// Asks for confirmation on the terminal; `--yes` answers it in advance.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example())]
pub struct RawConfirm {
    /// The question shown (default "Proceed?").
    #[serde(default)]
    pub message: Option<String>,
    /// The id of a pulumi-preview task this gate needs: its diff and change summary are shown before the question.
    #[serde(default)]
    pub show_preview: Option<String>,
    /// A file shown before the question, relative to the plan file's directory.
    #[serde(default)]
    pub show_file: Option<String>,
}

/// The `confirm` task type.
pub const TYPE: TypeInfo = TypeInfo {
    name: "confirm",
    summary: "ask a person to confirm before going on (--yes answers it)",
    selection: false,
    kubernetes: false,
    waits: false,
    typical: Duration::ZERO,
    schema: schema_of::<RawConfirm>,
    example_id: "confirm-window",
};

/// An example task of the type, in the schema (`examples`) and `planrun explain`.
fn example() -> serde_json::Value {
    serde_json::json!({
        "type": "confirm",
        "message": "The maintenance window is open and the team is told. Go on?"
    })
}
