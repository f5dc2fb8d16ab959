//! `assert-file`: a file exists and every pattern matches its content.

use crate::events::Stream;
use crate::validate::AssertFile;

use super::attempt::Attempt;
use super::outcome::{TaskError, TaskOutcome};

pub async fn execute(spec: &AssertFile, ctx: &Attempt) -> Result<TaskOutcome, TaskError> {
    let path = spec.path.display();
    let text = match tokio::fs::read(&spec.path).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TaskError::failed(format!(
                "{path} does not exist (check the path, or the variable it is built from)"
            )));
        }
        Err(e) => return Err(TaskError::failed(format!("cannot read {path}: {e}"))),
    };
    let mut missing = Vec::new();
    for pattern in &spec.patterns {
        match pattern.find(&text) {
            Some(found) => {
                let line = text[..found.start()].matches('\n').count() + 1;
                ctx.emit(
                    Stream::Stdout,
                    &format!("{path}:{line}: matches /{}/", pattern.as_str()),
                );
            }
            None => missing.push(format!("/{}/", pattern.as_str())),
        }
    }
    if missing.is_empty() {
        Ok(TaskOutcome::new(format!(
            "{path} matches all {} pattern(s)",
            spec.patterns.len()
        )))
    } else {
        Err(TaskError::failed(format!(
            "{path} does not contain {}",
            missing.join(", ")
        )))
    }
}
