//! Postconditions, checked on resume before a task that succeeded in an earlier
//! process is taken as done: does what it achieved still hold now? Each check is
//! read-only and bounded in time ([`CHECK_TIMEOUT`]):
//!
//! - `kube-delete`, `wait-absent`: nothing the selection names exists (else: who
//!   brought it back, when);
//! - `kube-patch`: removed finalizers are still gone (else: who wrote them back,
//!   when), a merge patch still changes nothing; a JSON patch is not checked (an
//!   `add` to an array's end never reads as "still applied");
//! - `kube-apply`: every object it applies (or left as it was) still exists;
//! - `assert-deployments`, `wait-condition`, `assert-field-managers`, `assert-file`:
//!   the assertion, judged at once against the live state, as a dry run judges it;
//! - `exec-script` with `verify`: that shell check exits 0;
//! - every other type (`capture`, `confirm`, `pulumi-*`, `notify`) has no
//!   postcondition planrun could check, and is not checked.
//!
//! Which tasks are checked, and what a lost postcondition reruns, is decided in
//! `journal::resume`.

use std::future::Future;
use std::time::Duration;

use crate::events::CancelReason;
use crate::validate::{PatchChange, Task, TaskKind};

use super::attempt::Attempt;
use super::kube::{KubeError, Quiet, TaskEnv, applied_now, patched_now, present_now};
use super::process::{self, describe_status};
use super::{assert_file, kube, script};

/// The longest a postcondition check may take; one that takes longer counts as
/// not holding (the task runs again: the built-in types are safe to repeat).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// What a postcondition check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Postcondition {
    /// What the task achieved still holds.
    Holds,
    /// It no longer holds, and why ("flux-system exists again (created 12:03:14 UTC
    /// by pulumi-kubernetes)").
    Lost(String),
    /// The task type has no check (or the task no `verify`).
    NotChecked,
}

/// Whether `task` has a postcondition to check.
pub fn has_check(task: &Task) -> bool {
    match &task.kind {
        TaskKind::KubeDelete(_)
        | TaskKind::WaitAbsent(_)
        | TaskKind::KubeApply(_)
        | TaskKind::AssertDeployments(_)
        | TaskKind::WaitCondition(_)
        | TaskKind::AssertFieldManagers(_)
        | TaskKind::AssertFile(_) => true,
        TaskKind::ExecScript(spec) => spec.verify.is_some(),
        TaskKind::KubePatch(spec) => !matches!(spec.change, PatchChange::Json(_)),
        TaskKind::Capture(_)
        | TaskKind::Confirm(_)
        | TaskKind::PulumiPreview(_)
        | TaskKind::PulumiUp(_)
        | TaskKind::Notify(_) => false,
    }
}

/// Checks `task`'s postcondition with `check`, an attempt whose run resources are
/// read-only (`dry_run` set: assertions judge the live state at once) and whose
/// output goes nowhere that matters. Never longer than [`CHECK_TIMEOUT`].
pub async fn postcondition(task: &Task, check: &Attempt) -> Postcondition {
    if !has_check(task) {
        return Postcondition::NotChecked;
    }
    debug_assert!(check.run.dry_run, "postcondition checks change nothing");
    match tokio::time::timeout(CHECK_TIMEOUT, run_check(task, check)).await {
        Ok(found) => found,
        Err(_) => {
            check.cancel.cancel(CancelReason::Timeout);
            Postcondition::Lost(format!(
                "its check did not answer within {}s",
                CHECK_TIMEOUT.as_secs()
            ))
        }
    }
}

async fn run_check(task: &Task, check: &Attempt) -> Postcondition {
    let judged = |result: Result<crate::exec::TaskOutcome, crate::exec::TaskError>| match result {
        Ok(_) => Postcondition::Holds,
        Err(e) => Postcondition::Lost(first_line(&e.message)),
    };
    match &task.kind {
        TaskKind::KubeDelete(spec) => absent(check, &spec.selection).await,
        TaskKind::WaitAbsent(spec) => absent(check, &spec.selection).await,
        TaskKind::KubePatch(spec) => {
            kube_check(check, |env| async move { patched_now(&env, spec).await }).await
        }
        TaskKind::KubeApply(spec) => {
            kube_check(check, |env| async move {
                applied_now(&env, spec, &check.run.run_dir, &check.run.redactor).await
            })
            .await
        }
        TaskKind::AssertDeployments(spec) => judged(kube::execute(task, spec, check).await),
        TaskKind::WaitCondition(spec) => judged(kube::execute(task, spec, check).await),
        TaskKind::AssertFieldManagers(spec) => judged(kube::execute(task, spec, check).await),
        TaskKind::AssertFile(spec) => judged(assert_file::execute(spec, check).await),
        TaskKind::ExecScript(spec) => match &spec.verify {
            Some(source) => verify_script(spec, source, check).await,
            None => Postcondition::NotChecked,
        },
        TaskKind::Capture(_)
        | TaskKind::Confirm(_)
        | TaskKind::PulumiPreview(_)
        | TaskKind::PulumiUp(_)
        | TaskKind::Notify(_) => Postcondition::NotChecked,
    }
}

/// Nothing of `selection` exists now.
async fn absent(check: &Attempt, selection: &crate::validate::Selection) -> Postcondition {
    kube_check(
        check,
        |env| async move { present_now(&env, selection).await },
    )
    .await
}

/// A Kubernetes check made with the run's connection, quietly: `found` answers
/// `None` when the postcondition holds, else why not.
async fn kube_check<'a, F, Fut>(check: &'a Attempt, found: F) -> Postcondition
where
    F: FnOnce(TaskEnv<'a>) -> Fut,
    Fut: Future<Output = Result<Option<String>, KubeError>>,
{
    let Some(conn) = check.run.kube.get() else {
        return Postcondition::Lost("no Kubernetes connection to check it with".to_owned());
    };
    match found(TaskEnv::new(conn, &Quiet, CHECK_TIMEOUT)).await {
        Ok(None) => Postcondition::Holds,
        Ok(Some(why)) => Postcondition::Lost(why),
        Err(e) => Postcondition::Lost(format!("cannot check: {}", first_line(&e.to_string()))),
    }
}

/// An `exec-script` task's `verify`, run as its scripts are, in its directory with
/// its environment; exit 0: still holds.
async fn verify_script(
    spec: &crate::validate::ExecScript,
    source: &str,
    check: &Attempt,
) -> Postcondition {
    let process = script::process_spec(spec, script::shell_argv(source));
    match process::run(&process, check, "--- verify").await {
        Ok(exit) if exit.cancelled.is_none() && exit.status.success() => Postcondition::Holds,
        Ok(exit) => {
            let last = exit
                .tail
                .last()
                .map(|l| format!(": {l}"))
                .unwrap_or_default();
            Postcondition::Lost(format!(
                "its verify check failed ({}){last}",
                describe_status(&exit.status)
            ))
        }
        Err(e) => Postcondition::Lost(format!("its verify check could not run: {e}")),
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}
