//! `kube-delete`: delete by name, name pattern or label selector; absent objects are
//! fine (`--ignore-not-found`), objects already being deleted are left to finish, and
//! a dry run asks the server (`dryRun=All`) and lists what would go. Before acting
//! (dry run included) it says which objects carry finalizers, inside the selected
//! ones too, and which running Deployments may act on them, or are stopped first with
//! their namespace (see `finalizers.rs`).

use kube::api::{DeleteParams, PropagationPolicy, ResourceExt};

use crate::events::WouldDo;
use crate::validate::{KubeDelete, Propagation};

use super::env::TaskEnv;
use super::error::KubeError;
use super::finalizers;
use super::retry;
use super::select::{Access, Selected, preview_ref};
use super::task::{KubeTask, KubeWork};

/// What happened to one object.
enum Deleted {
    /// The server accepted the delete (or, in a dry run, would have).
    Accepted,
    /// 404: someone else was quicker.
    Absent,
    /// 409: already being deleted (a Terminating namespace answers so).
    InProgress,
}

/// Deletes the selected objects. Returns a one-line summary.
pub async fn kube_delete(env: &TaskEnv<'_>, spec: &KubeDelete) -> Result<String, KubeError> {
    let sel = Selected::resolve(env, &spec.selection, Access::DELETE).await?;
    sel.say_notes(env);
    let objects = sel.list(env).await?;
    if objects.is_empty() {
        env.say(&format!("{} already absent", sel.description));
        return Ok(sel.noted(format!(
            "nothing to delete: {} already absent",
            sel.description
        )));
    }
    // Before acting: what the deletion will meet (it does not block the delete).
    let findings = finalizers::scan(env, &sel, &objects).await;
    for line in &findings.lines {
        env.say(line);
    }
    let params = DeleteParams {
        dry_run: env.dry_run,
        propagation_policy: Some(policy(spec.propagation)),
        ..DeleteParams::default()
    };
    let mut accepted = Vec::new();
    let mut in_progress = Vec::new();
    for obj in &objects {
        let what = sel.object_ref(obj);
        if obj.metadata.deletion_timestamp.is_some() {
            env.say(&format!("{what} is already being deleted"));
            in_progress.push(what);
            continue;
        }
        let api = sel.object_api(env, obj);
        let name = obj.name_any();
        let outcome = retry::call(env, "delete", &what, || async {
            match api.delete(&name, &params).await {
                Ok(_) => Ok(Deleted::Accepted),
                Err(e) if retry::is_404(&e) => Ok(Deleted::Absent),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Deleted::InProgress),
                Err(e) => Err(e),
            }
        })
        .await?;
        match outcome {
            Deleted::Accepted if env.dry_run => {
                env.say(&format!("would delete {what} (server-side dry run)"));
                env.would(WouldDo::Delete {
                    object: preview_ref(obj),
                });
                accepted.push(what);
            }
            Deleted::Accepted => {
                env.say(&format!(
                    "deleted {what} (propagation {})",
                    policy_name(spec.propagation)
                ));
                accepted.push(what);
            }
            Deleted::Absent => env.say(&format!("{what} was already gone")),
            Deleted::InProgress => {
                env.say(&format!("{what} is already being deleted"));
                in_progress.push(what);
            }
        }
    }
    let verb = if env.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut summary = format!("{verb} {}", count(&accepted));
    if !in_progress.is_empty() {
        summary.push_str(&format!("; already being deleted: {}", count(&in_progress)));
    }
    if let Some(held) = findings.summary() {
        summary.push_str("; ");
        summary.push_str(&held);
    }
    Ok(sel.noted(summary))
}

fn count(names: &[String]) -> String {
    match names.len() {
        0 => "nothing".to_string(),
        1 => names[0].clone(),
        n if n <= 10 => format!("{n} objects: {}", names.join(", ")),
        n => format!("{n} objects: {}, ...", names[..10].join(", ")),
    }
}

fn policy(p: Propagation) -> PropagationPolicy {
    match p {
        Propagation::Background => PropagationPolicy::Background,
        Propagation::Foreground => PropagationPolicy::Foreground,
        Propagation::Orphan => PropagationPolicy::Orphan,
    }
}

fn policy_name(p: Propagation) -> &'static str {
    match p {
        Propagation::Background => "Background",
        Propagation::Foreground => "Foreground",
        Propagation::Orphan => "Orphan",
    }
}

impl KubeWork for KubeDelete {
    async fn run(&self, env: &TaskEnv<'_>, _task: &KubeTask<'_>) -> Result<String, KubeError> {
        kube_delete(env, self).await
    }
}
