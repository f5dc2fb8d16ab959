//! `confirm`: a person says yes before the plan goes on; `--yes` says it in advance.
//! Without a terminal to ask on and without `--yes` the task fails, so an unattended
//! run never passes a gate by accident.
//!
//! What the question is about comes first: a `pulumi-preview` task's diff (with the
//! digest of the plan it saved, the plan a `plan_from` update applies) or a file.
//! It goes to the task's log (and the output events) in every case, and to the
//! terminal right above the question when a person is asked. A preview that is not
//! in this run's directory fails the gate: there would be nothing to say yes to.

use std::io::{BufRead, IsTerminal, Write};

use crate::events::{CancelReason, Stream};
use crate::layout::PreviewFiles;
use crate::validate::Confirm;

use super::attempt::Attempt;
use super::outcome::{TaskError, TaskOutcome};

pub async fn execute(spec: &Confirm, ctx: &Attempt) -> Result<TaskOutcome, TaskError> {
    let shown = shown_text(spec, ctx)?;
    for line in shown.lines() {
        ctx.say(line);
    }
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
    let shown = ctx.run.redactor.redact(&shown).into_owned();
    let ask = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut err = std::io::stderr().lock();
        if !shown.is_empty() {
            write!(err, "\n{shown}")?;
        }
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

/// What the gate shows before its question (not yet masked).
fn shown_text(spec: &Confirm, ctx: &Attempt) -> Result<String, TaskError> {
    let mut shown = String::new();
    if let Some(preview) = &spec.show_preview {
        let files = PreviewFiles::of(&preview.id).under(&ctx.run.run_dir);
        let diff = std::fs::read_to_string(&files.diff).map_err(|e| {
            TaskError::failed(format!(
                "the preview of `{}` is not in this run ({}: {e}): there is nothing to confirm",
                preview.id,
                files.diff.display()
            ))
            .with_help(format!(
                "run the preview again with what follows it: --resume --rerun {}",
                preview.id
            ))
        })?;
        shown.push_str(&format!(
            "--- the preview of `{}` ({}):\n",
            preview.id,
            files.diff.display()
        ));
        shown.push_str(&diff);
        if let Ok(digest) = std::fs::read_to_string(&files.digest) {
            shown.push_str(&format!(
                "--- the plan it saved: {} (sha256 {})\n",
                files.plan.display(),
                digest.trim()
            ));
        }
    }
    if let Some(file) = &spec.show_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| TaskError::failed(format!("cannot show {}: {e}", file.display())))?;
        shown.push_str(&format!("--- {}:\n", file.display()));
        shown.push_str(&text);
        if !text.ends_with('\n') {
            shown.push('\n');
        }
    }
    Ok(shown)
}
