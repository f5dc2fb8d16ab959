//! `assert-file`: a file exists and contains patterns.

use schemars::JsonSchema;
use serde::Deserialize;

/// The file exists and every pattern matches its content.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAssertFile {
    /// Path, relative to the plan file's directory.
    pub path: String,
    /// Regular expressions that must all match somewhere in the file.
    pub patterns: Vec<String>,
}
