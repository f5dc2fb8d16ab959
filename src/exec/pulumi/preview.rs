//! `pulumi-preview`: the review half of an update. Optionally `pulumi refresh` (the
//! deletions of a rebuild happen out of band: a state that still lists the deleted
//! objects would recreate nothing), then `pulumi preview --diff --save-plan` with the
//! human display (`--json` replaces the diff, pulumi/pulumi
//! `pkg/backend/display/`). The diff goes to the task's log and, masked, to
//! `<task>.diff.txt` in the run directory; the plan to `<task>.plan.json` (0600,
//! created before the CLI writes it: the CLI's `os.Create` keeps an existing file's
//! mode) with its SHA-256 in `<task>.plan.sha256`, written last, once the preview
//! succeeded: `pulumi-up`'s `plan_from` applies that plan and no other. Under
//! `--dry-run` the refresh is part of the preview (`--refresh`) and not saved.

use std::path::Path;

use super::operation::{self, Operation};
use super::run::{Settings, digest, prepare, said};
use crate::exec::private_file::write_private;
use crate::exec::{Attempt, TaskError, TaskOutcome};
use crate::layout::PreviewFiles;
use crate::validate::PulumiPreview;

/// Runs one attempt with the [`Settings`] from the environment.
pub async fn execute(task: &PulumiPreview, ctx: &Attempt) -> Result<TaskOutcome, TaskError> {
    execute_with(task, ctx, &Settings::from_env()).await
}

/// Runs one attempt.
pub async fn execute_with(
    task: &PulumiPreview,
    ctx: &Attempt,
    settings: &Settings,
) -> Result<TaskOutcome, TaskError> {
    let project = &task.project;
    let files = PreviewFiles::of(&ctx.task).under(&ctx.run.run_dir);
    let io = |what: &str, path: &Path, e: std::io::Error| {
        TaskError::failed(format!("cannot write {what} {}: {e}", path.display()))
    };
    // A digest left by an earlier attempt must not vouch for the new plan.
    match std::fs::remove_file(&files.digest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("the plan digest", &files.digest, e)),
    }
    let binary = prepare(project, ctx, settings).await?;
    let refresh_now = task.refresh && !ctx.run.dry_run;
    if refresh_now {
        operation::run(Operation::Refresh, project, &binary, ctx, settings).await?;
    }
    write_private(&files.plan, b"").map_err(|e| io("the plan", &files.plan, e))?;
    let review = operation::run(
        Operation::Review {
            refresh: task.refresh && ctx.run.dry_run,
            plan: files.plan.clone(),
        },
        project,
        &binary,
        ctx,
        settings,
    )
    .await?;
    let mut diff = String::new();
    for line in &review.shown {
        diff.push_str(&ctx.run.redactor.redact(line));
        diff.push('\n');
    }
    write_private(&files.diff, diff.as_bytes()).map_err(|e| io("the diff", &files.diff, e))?;
    let plan = std::fs::read(&files.plan).map_err(|e| io("the plan", &files.plan, e))?;
    if plan.is_empty() {
        return Err(TaskError::failed(format!(
            "`pulumi preview --save-plan` wrote no plan to {}",
            files.plan.display()
        )));
    }
    // Owner-only whatever the CLI did to it.
    std::fs::set_permissions(
        &files.plan,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .map_err(|e| io("the plan", &files.plan, e))?;
    write_private(&files.digest, format!("{}\n", digest(&plan)).as_bytes())
        .map_err(|e| io("the plan digest", &files.digest, e))?;
    // In a dry run the update the preview shows is what would change (without a
    // summary it cannot say there is nothing to change).
    let changes = review.summary.as_ref().is_none_or(|s| s.has_changes());
    let what = said(review.summary);
    let outcome = if ctx.run.dry_run && changes {
        TaskOutcome::would_change
    } else {
        TaskOutcome::new
    };
    Ok(outcome(format!(
        "previewed stack {}{}: {what}; diff in {}, plan in {}",
        project.stack,
        if refresh_now { " after a refresh" } else { "" },
        files.diff.display(),
        files.plan.display()
    )))
}
