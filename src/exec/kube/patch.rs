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

use kube::api::{Api, DynamicObject, Patch, PatchParams, ResourceExt, ValidationDirective};
use planrun_text::plural;
use serde_json::{Value, json};

use crate::events::WouldDo;
use crate::validate::{KubePatch, PatchChange};

use super::env::TaskEnv;
use super::error::KubeError;
use super::retry;
use super::select::{Access, Selected, preview_ref};
use super::status::first_few;
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
    // "patched", "removed", or in a dry run "would patch", "would remove".
    let (patched, removed_verb) = if env.dry_run {
        ("would patch", "would remove")
    } else {
        ("patched", "removed")
    };
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
                    env.say(&format!("{patched} {what}"));
                } else {
                    env.say(&format!(
                        "{removed_verb} {} from {what}",
                        removed.join(", ")
                    ));
                }
                if env.dry_run {
                    env.would(WouldDo::Patch {
                        object: preview_ref(obj),
                        remove_finalizers: removed,
                    });
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
                "{removed_verb} {} from {objects_text}{place}",
                names.join(", ")
            );
            if unchanged > 0 {
                s.push_str(&format!("; {unchanged} had none"));
            }
            s
        }
        PatchChange::Merge(_) | PatchChange::Json(_) => {
            let mut s = format!("{patched} {objects_text}{place}");
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

/// Every patch is sent with `fieldValidation=Strict`, as kubectl sends its writes: a
/// field the kind does not declare (a typo in the plan's patch) is refused rather than
/// dropped by the server with a warning nobody reads, which would leave the task
/// saying the object was already as patched (k8s.io/apiserver v0.36.3
/// `pkg/endpoints/handlers/patch.go`).
fn params(env: &TaskEnv<'_>) -> PatchParams {
    PatchParams {
        dry_run: env.dry_run,
        field_validation: Some(ValidationDirective::Strict),
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

/// Most objects a lost postcondition names; the rest are counted.
const NAMED: usize = 3;

/// Whether what the task did still holds now, read-only (its postcondition on
/// resume): `None` when it does; else why not. Removed finalizers: no selected
/// object carries one again (naming who wrote the object's finalizers last, from
/// its managedFields); a merge patch: applied to each selected object as it is now,
/// it changes nothing (RFC 7386, as the API server applies it). A JSON patch has no
/// check planrun could make (`add` to an array's end is never "still applied"):
/// `exec::has_check` leaves it out. A kind nobody serves any more, or objects gone,
/// hold: nothing is left to patch.
pub async fn patched_now(env: &TaskEnv<'_>, spec: &KubePatch) -> Result<Option<String>, KubeError> {
    let sel = match Selected::resolve(env, &spec.selection, Access::READ).await {
        Ok(sel) => sel,
        Err(KubeError::UnknownKind { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut lost = Vec::new();
    for obj in sel.list(env).await? {
        let name = sel.short_ref(&obj);
        match &spec.change {
            PatchChange::RemoveFinalizers(names) => {
                let back: Vec<&str> = obj
                    .finalizers()
                    .iter()
                    .filter(|f| names.contains(f))
                    .map(String::as_str)
                    .collect();
                if !back.is_empty() {
                    let by = finalizers_writer(&obj)
                        .map(|who| format!(" (finalizers written {who})"))
                        .unwrap_or_default();
                    lost.push(format!("{name} carries {} again{by}", back.join(", ")));
                }
            }
            PatchChange::Merge(patch) => {
                let now = content(&obj);
                let mut patched = now.clone();
                json_patch::merge(&mut patched, patch);
                if patched != now {
                    lost.push(format!("{name} differs from the patch again"));
                }
            }
            PatchChange::Json(_) => {}
        }
    }
    Ok((!lost.is_empty()).then(|| first_few(lost, NAMED)))
}

/// "12:03:14 UTC by kustomize-controller": the latest managedFields entry that owns
/// `metadata.finalizers` (kube-apiserver records the manager and time of each write
/// per field set: kubernetes/kubernetes
/// staging/src/k8s.io/apimachinery/pkg/util/managedfields).
fn finalizers_writer(obj: &DynamicObject) -> Option<String> {
    obj.managed_fields()
        .iter()
        .filter(|e| {
            e.fields_v1
                .as_ref()
                .and_then(|f| f.0.pointer("/f:metadata/f:finalizers"))
                .is_some()
        })
        .max_by_key(|e| e.time.as_ref().map(|t| t.0))
        .map(|e| {
            let manager = e.manager.as_deref().unwrap_or("an unnamed manager");
            match &e.time {
                Some(t) => format!("{} by {manager}", t.0.strftime("%H:%M:%S UTC")),
                None => format!("by {manager}"),
            }
        })
}

impl KubeWork for KubePatch {
    async fn run(&self, env: &TaskEnv<'_>, _task: &KubeTask<'_>) -> Result<String, KubeError> {
        kube_patch(env, self).await
    }
}
