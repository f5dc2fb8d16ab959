//! `confirm`: a person says yes before the plan goes on; `--yes` says it in advance.
//! Without a terminal to ask on and without `--yes` the task fails, so an unattended
//! run never passes a gate by accident.

use std::io::{BufRead, IsTerminal, Write};

use crate::events::{CancelReason, Stream};
use crate::validate::Confirm;

use super::attempt::Attempt;
use super::outcome::{TaskError, TaskOutcome};

pub async fn execute(spec: &Confirm, ctx: &Attempt) -> Result<TaskOutcome, TaskError> {
    ctx.emit(Stream::Stdout, &spec.message);
    if ctx.run.assume_yes {
        return Ok(TaskOutcome::new("confirmed by --yes"));
    }
    if ctx.run.dry_run {
        return Ok(TaskOutcome::new(format!("would ask: {}", spec.message)));
    }
    if !std::io::stdin().is_terminal() {
        return Err(TaskError::failed(format!(
            "confirmation needed and no terminal to ask on: {} (answer it in advance with --yes)",
            spec.message
        )));
    }
    let question = ctx.run.redactor.redact(&spec.message).into_owned();
    let ask = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut err = std::io::stderr().lock();
        write!(err, "\n{question} [y/N] ")?;
        err.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        Ok(answer)
    });
    let answer = tokio::select! {
        answer = ask => answer,
        reason = ctx.cancel.cancelled() => {
            return Err(TaskError::cancelled(reason));
        }
    };
    match answer {
        Ok(Ok(answer)) if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") => {
            Ok(TaskOutcome::new("confirmed"))
        }
        Ok(Ok(answer)) => Err(TaskError::failed(format!(
            "not confirmed (answered {:?}); nothing after this gate ran",
            answer.trim()
        ))),
        Ok(Err(e)) => Err(TaskError::failed(format!("cannot read the answer: {e}"))),
        Err(_) => Err(TaskError::cancelled(CancelReason::Interrupted)),
    }
}
