//! `kube-patch`: a merge patch or a JSON patch on every selected object, or named
//! finalizers removed from them.
//!
//! Removing finalizers is conflict-safe: the new list is computed from the object as
//! read and written with a merge patch that carries the read `resourceVersion`, so
//! the API server refuses it with 409 Conflict when the object changed meanwhile
//! (a patched object whose resourceVersion differs from the stored one is a
//! conflict: kubernetes/kubernetes `staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go`,
//! `Update`). The object is then read again and the list computed afresh, at most
//! [`MAX_ATTEMPTS`] times, so another writer's change (a finalizer it added, a label)
//! is kept. A JSON patch `test` of `/metadata/resourceVersion` would not do: a failed
//! `test` is answered 422, not 409 (`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go`,
//! `applyJSPatch`). Objects without the named finalizers are not written at all.
//!
//! Under `--dry-run` every write is sent with `dryRun=All`: the server checks it
//! and answers what the object would become, and nothing changes.

use std::collections::BTreeSet;

use kube::api::{Api, DynamicObject, Patch, PatchParams, ResourceExt};
use planrun_text::plural;
use serde_json::{Value, json};

use crate::validate::{KubePatch, PatchChange};

use super::env::TaskEnv;
use super::error::KubeError;
use super::retry;
use super::select::{Access, Selected};
use super::task::{KubeTask, KubeWork};

/// How many times a conflicting write is tried before the task gives up.
pub const MAX_ATTEMPTS: u32 = 5;

/// What became of one object.
enum Outcome {
    /// Written (or, in a dry run, would be); for finalizers, those removed.
    Changed(Vec<String>),
    /// Nothing to change: no named finalizer, or the patch changes nothing.
    Unchanged,
    /// Deleted meanwhile.
    Gone,
}

/// Patches the selected objects. Returns a one-line summary.
pub async fn kube_patch(env: &TaskEnv<'_>, spec: &KubePatch) -> Result<String, KubeError> {
    let sel = Selected::resolve(env, &spec.selection, Access::PATCH).await?;
    sel.say_notes(env);
    let objects = sel.list(env).await?;
    let verb = if env.dry_run { "would " } else { "" };
    let mut changed = Vec::new();
    let mut namespaces = BTreeSet::new();
    let mut unchanged = 0usize;
    let mut gone = 0usize;
    for obj in &objects {
        let what = sel.object_ref(obj);
        let api = sel.object_api(env, obj);
        let outcome = match &spec.change {
            PatchChange::RemoveFinalizers(names) => {
                remove_finalizers(env, &api, &what, obj.clone(), names).await?
            }
            PatchChange::Merge(patch) => {
                patch_once(env, &api, &what, obj, Patch::Merge(patch)).await?
            }
            PatchChange::Json(ops) => {
                let ops = serde_json::from_value(ops.clone()).map_err(|e| KubeError::Client {
                    verb: "patch",
                    resource: what.clone(),
                    message: format!("the JSON patch does not parse: {e}"),
                })?;
                patch_once(env, &api, &what, obj, Patch::<()>::Json(ops)).await?
            }
        };
        match outcome {
            Outcome::Changed(removed) => {
                if removed.is_empty() {
                    env.say(&format!("{verb}patched {what}"));
                } else {
                    env.say(&format!("{verb}removed {} from {what}", removed.join(", ")));
                }
                if env.dry_run {
                    env.note_change();
                }
                if let Some(ns) = obj.namespace() {
                    namespaces.insert(ns);
                }
                changed.push(what);
            }
            Outcome::Unchanged => unchanged += 1,
            Outcome::Gone => {
                env.say(&format!("{what} was deleted meanwhile"));
                gone += 1;
            }
        }
    }
    if objects.is_empty() {
        return Ok(sel.noted(format!(
            "nothing to patch: no object matches {}",
            sel.description
        )));
    }
    let objects_text = plural(changed.len(), "object", "objects");
    let place = if namespaces.is_empty() {
        String::new()
    } else {
        format!(
            " in {}",
            plural(namespaces.len(), "namespace", "namespaces")
        )
    };
    let mut summary = match &spec.change {
        PatchChange::RemoveFinalizers(names) => {
            let mut s = format!(
                "{}{} from {objects_text}{place}",
                if env.dry_run {
                    "would remove "
                } else {
                    "removed "
                },
                names.join(", ")
            );
            if unchanged > 0 {
                s.push_str(&format!("; {unchanged} had none"));
            }
            s
        }
        PatchChange::Merge(_) | PatchChange::Json(_) => {
            let mut s = format!("{verb}patched {objects_text}{place}");
            if unchanged > 0 {
                s.push_str(&format!("; {unchanged} already as patched"));
            }
            s
        }
    };
    if gone > 0 {
        summary.push_str(&format!("; {gone} deleted meanwhile"));
    }
    Ok(sel.noted(summary))
}

fn params(env: &TaskEnv<'_>) -> PatchParams {
    PatchParams {
        dry_run: env.dry_run,
        ..PatchParams::default()
    }
}

/// What a patch can change, for telling a no-op: the object without its
/// server-kept bookkeeping.
fn content(obj: &DynamicObject) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in ["managedFields", "resourceVersion", "generation"] {
            meta.remove(key);
        }
    }
    v
}

/// One merge or JSON patch: the server applies it to the latest version itself.
async fn patch_once<P: serde::Serialize + std::fmt::Debug + Send + Sync>(
    env: &TaskEnv<'_>,
    api: &Api<DynamicObject>,
    what: &str,
    obj: &DynamicObject,
    patch: Patch<P>,
) -> Result<Outcome, KubeError> {
    let name = obj.name_any();
    let params = params(env);
    let after = retry::call(env, "patch", what, || async {
        match api.patch(&name, &params, &patch).await {
            Ok(o) => Ok(Some(o)),
            Err(e) if retry::is_404(&e) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await?;
    Ok(match after {
        None => Outcome::Gone,
        Some(after) if content(&after) == content(obj) => Outcome::Unchanged,
        Some(_) => Outcome::Changed(Vec::new()),
    })
}

/// Removes `names` from the object's finalizers, re-reading it after a conflict.
async fn remove_finalizers(
    env: &TaskEnv<'_>,
    api: &Api<DynamicObject>,
    what: &str,
    mut current: DynamicObject,
    names: &[String],
) -> Result<Outcome, KubeError> {
    let name = current.name_any();
    let params = params(env);
    let mut attempts = 0u32;
    loop {
        let (removed, keep): (Vec<String>, Vec<String>) = current
            .finalizers()
            .iter()
            .cloned()
            .partition(|f| names.contains(f));
        if removed.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        attempts += 1;
        let body = json!({"metadata": {
            "resourceVersion": current.resource_version(),
            "finalizers": keep,
        }});
        let answer = retry::call(env, "patch", what, || async {
            match api.patch(&name, &params, &Patch::Merge(&body)).await {
                Ok(_) => Ok(Some(Ok(()))),
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    Ok(Some(Err(format!("{} (409): {}", s.reason, s.message))))
                }
                Err(e) if retry::is_404(&e) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
        let conflict = match answer {
            None => return Ok(Outcome::Gone),
            Some(Ok(())) => return Ok(Outcome::Changed(removed)),
            Some(Err(conflict)) => conflict,
        };
        if attempts >= MAX_ATTEMPTS {
            return Err(KubeError::Conflicting {
                what: what.to_string(),
                attempts,
                last: conflict,
            });
        }
        env.say(&format!(
            "{what} changed since it was read ({conflict}); reading it again"
        ));
        match retry::call(env, "get", what, || api.get_opt(&name)).await? {
            None => return Ok(Outcome::Gone),
            Some(fresh) => current = fresh,
        }
    }
}

impl KubeWork for KubePatch {
    async fn run(&self, env: &TaskEnv<'_>, _task: &KubeTask<'_>) -> Result<String, KubeError> {
        kube_patch(env, self).await
    }
}
