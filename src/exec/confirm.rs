//! `confirm`: a gate a person answers. `--yes` answers it; without `--yes` the run
//! needs a terminal to ask on.

use std::io::{BufRead, IsTerminal, Write};

use super::context::ExecContext;
use super::outcome::{TaskError, TaskOutcome};
use crate::events::Stream;
use crate::validate::Confirm;

/// Runs one attempt of a confirmation gate.
pub async fn execute(spec: &Confirm, ctx: &ExecContext) -> Result<TaskOutcome, TaskError> {
    if ctx.assume_yes || ctx.dry_run {
        ctx.output(Stream::Stdout, &format!("{} yes (--yes)", spec.message));
        return Ok(TaskOutcome {
            summary: Some("confirmed by --yes".to_owned()),
        });
    }
    if !std::io::stdin().is_terminal() {
        return Err(TaskError::failed(format!(
            "cannot ask \"{}\": stdin is not a terminal (pass --yes to answer yes)",
            spec.message
        )));
    }
    let message = spec.message.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let mut err = std::io::stderr();
        let _ = write!(err, "\n{message} [y/N] ");
        let _ = err.flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    });
    tokio::select! {
        answer = answer => match answer {
            Ok(Ok(line)) if matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes") => Ok(TaskOutcome {
                summary: Some("confirmed".to_owned()),
            }),
            Ok(Ok(_)) => Err(TaskError::failed("not confirmed: the answer was not yes")),
            _ => Err(TaskError::failed("not confirmed: cannot read the answer")),
        },
        reason = ctx.cancel.cancelled() => Err(TaskError::Cancelled { reason, excerpt: Vec::new() }),
    }
}
