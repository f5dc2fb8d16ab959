//! `assert-file`: a file exists and every pattern matches its text.

use super::context::ExecContext;
use super::outcome::{TaskError, TaskOutcome};
use crate::validate::AssertFile;

/// Runs one attempt: reads the file and checks every pattern, naming those missing.
pub async fn execute(spec: &AssertFile, _ctx: &ExecContext) -> Result<TaskOutcome, TaskError> {
    let text = tokio::fs::read_to_string(&spec.path)
        .await
        .map_err(|e| TaskError::failed(format!("cannot read {}: {e}", spec.path.display())))?;
    let missing: Vec<&str> = spec
        .patterns
        .iter()
        .filter(|p| !p.is_match(&text))
        .map(|p| p.as_str())
        .collect();
    if missing.is_empty() {
        Ok(TaskOutcome {
            summary: Some(format!(
                "{} matches {} pattern(s)",
                spec.path.display(),
                spec.patterns.len()
            )),
        })
    } else {
        Err(TaskError::failed(format!(
            "{} does not match {}",
            spec.path.display(),
            missing
                .iter()
                .map(|p| format!("/{p}/"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}
