//! `notify`: post the task's message to its webhook; under `--dry-run`, say what
//! would be posted (nothing is sent).

use super::attempt::Attempt;
use super::outcome::{TaskError, TaskOutcome};
use crate::notify::{Message, deliver};
use crate::validate::Notify;

pub async fn execute(spec: &Notify, ctx: &Attempt) -> Result<TaskOutcome, TaskError> {
    let redact = |text: &str| ctx.run.redactor.redact(text).into_owned();
    if ctx.run.dry_run {
        return Ok(TaskOutcome::new(format!(
            "would post to the webhook (dry run, nothing sent): {}",
            redact(&spec.message)
        )));
    }
    let message = Message {
        event: "task".to_owned(),
        plan: env(ctx, "PLANRUN_PLAN"),
        run_id: env(ctx, "PLANRUN_RUN_ID"),
        task: ctx.task.clone(),
        text: spec.message.clone(),
        ..Message::default()
    };
    match deliver(&spec.webhook, &message, &ctx.cancel).await {
        Ok(done) => Ok(TaskOutcome::new(format!(
            "posted to the webhook (HTTP {}, {} {}): {}",
            done.status,
            done.tries,
            if done.tries == 1 { "try" } else { "tries" },
            redact(&spec.message)
        ))),
        Err(_) if ctx.cancel.is_cancelled() => Err(TaskError::cancelled(
            ctx.cancel
                .reason()
                .unwrap_or(crate::events::CancelReason::Interrupted),
        )),
        Err(e) => {
            let error = TaskError::failed(redact(&e));
            Err(if spec.required {
                error.with_help("the task says `required = true`: check the webhook, then resume")
            } else {
                error.with_help("not required: the run goes on (set `required = true` to stop it)")
            })
        }
    }
}

/// A variable every child of the attempt gets.
fn env(ctx: &Attempt, name: &str) -> String {
    ctx.child_env()
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}
