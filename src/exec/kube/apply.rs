//! `kube-apply`: server-side apply of the objects of manifest files, or of the file
//! an earlier `capture` task wrote in the run directory; optionally only named
//! objects, optionally only those that are absent, under a named field manager.
//!
//! Objects are cleaned first, as an object read from a cluster must be before it
//! can be applied again: no `resourceVersion` (the apply would be a stale update),
//! `uid`, `creationTimestamp`, `generation`, `managedFields`, deletion marks or
//! `status`; no kubectl last-applied annotation (it holds a Secret's data in clear);
//! and no `ownerReferences` to an owner that no longer exists with that uid (the
//! garbage collector would delete the restored object at once). Every Secret value
//! joins the run's redactor before anything is said, and the result names objects
//! and keys only.

use std::path::Path;

use k8s_openapi::ByteString;
use kube::api::{DynamicObject, Patch, PatchParams, ResourceExt};
use serde::Deserialize;
use serde_json::Value;

use crate::events::WouldDo;
use crate::redact::Redactor;
use crate::validate::{ApplySource, KubeApply, ObjectName};

use super::capture::{DROPPED_ANNOTATIONS, is_secret, keys, object_value, register_secret_values};
use super::env::TaskEnv;
use super::error::KubeError;
use super::kinds::ResolvedKind;
use super::retry;
use super::select::{object_name, preview_ref};
use super::task::{KubeTask, KubeWork};

/// Metadata an object read from a cluster carries that an apply must not send.
const SERVER_METADATA: &[&str] = &[
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// The objects of one YAML text ([`planrun_text::manifest_objects`]: its documents,
/// `kind: List` expanded, empty ones skipped, a key given twice refused), each with an
/// apiVersion, a kind and a name.
pub(crate) fn parse_manifests(text: &str, path: &str) -> Result<Vec<Value>, KubeError> {
    let bad = |message: String| KubeError::Manifest {
        path: path.to_string(),
        message,
    };
    let out = planrun_text::manifest_objects(text).map_err(&bad)?;
    for obj in &out {
        let has = |p: &str| {
            obj.pointer(p)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        };
        if !has("/apiVersion") || !has("/kind") || !has("/metadata/name") {
            return Err(bad(
                "an object lacks apiVersion, kind or metadata.name".into()
            ));
        }
    }
    Ok(out)
}

/// The object without what the server sets (see the module documentation);
/// `ownerReferences` are checked apart.
pub(crate) fn clean(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(map) = out.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for key in SERVER_METADATA {
                meta.remove(*key);
            }
            if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                for a in DROPPED_ANNOTATIONS {
                    annotations.remove(*a);
                }
                if annotations.is_empty() {
                    meta.remove("annotations");
                }
            }
        }
    }
    out
}

fn matches_only(obj: &DynamicObject, only: &[ObjectName]) -> bool {
    only.is_empty()
        || only
            .iter()
            .any(|o| o.name == obj.name_any() && o.namespace == obj.namespace())
}

/// Applies the objects. Returns a one-line summary.
pub async fn kube_apply(
    env: &TaskEnv<'_>,
    spec: &KubeApply,
    run_dir: &Path,
    redactor: &Redactor,
) -> Result<String, KubeError> {
    let Some((origin, objects)) = load_objects(spec, run_dir, env.dry_run, redactor)? else {
        let ApplySource::Capture { task, file } = &spec.source else {
            unreachable!("only a capture can be missing in a dry run")
        };
        env.note_change();
        return Ok(format!(
            "would apply what `{}` captures ({file}; not written in a dry run){}",
            task.id,
            only_text(&spec.only)
        ));
    };
    let mut params = PatchParams::apply(&spec.field_manager);
    params.force = spec.force;
    params.dry_run = env.dry_run;
    let mut applied = Vec::new();
    let mut present = Vec::new();
    for obj in &objects {
        let (kind, obj, what) = resolve(env, obj).await?;
        let obj = &obj;
        let namespace = obj.namespace();
        if kind.namespaced && namespace.is_none() {
            return Err(KubeError::Manifest {
                path: origin.clone(),
                message: format!("{what} has no metadata.namespace, and its kind is namespaced"),
            });
        }
        let api = kind.api(env.client(), namespace.as_deref());
        let name = obj.name_any();
        if spec.if_absent {
            let exists = retry::call(env, "get", &what, || api.get_opt(&name)).await?;
            if exists.is_some() {
                env.say(&format!("{what} exists: left as it is"));
                present.push(what);
                continue;
            }
        }
        let mut body = clean(&serde_json::to_value(obj).unwrap_or(Value::Null));
        keep_live_owners(env, &what, namespace.as_deref(), &mut body).await?;
        let answer = retry::call(env, "apply", &what, || async {
            match api.patch(&name, &params, &Patch::Apply(&body)).await {
                Ok(_) => Ok(Ok(())),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Err(conflicts(&s))),
                Err(e) => Err(e),
            }
        })
        .await?;
        if let Err(conflicts) = answer {
            return Err(KubeError::ApplyConflict { what, conflicts });
        }
        let described =
            if is_secret(obj) || obj.types.as_ref().is_some_and(|t| t.kind == "ConfigMap") {
                format!("{what} (keys: {})", keys(obj).join(", "))
            } else {
                what
            };
        env.say(&format!(
            "{} {described} as {}",
            if env.dry_run {
                "would apply"
            } else {
                "applied"
            },
            spec.field_manager
        ));
        if env.dry_run {
            env.would(WouldDo::Apply {
                object: preview_ref(obj),
                field_manager: spec.field_manager.clone(),
            });
        }
        applied.push(described);
    }
    let mut summary = format!(
        "{} {} from {origin} as {}",
        if env.dry_run {
            "would apply"
        } else {
            "applied"
        },
        match applied.len() {
            0 => "nothing".to_string(),
            1 => applied[0].clone(),
            n => format!("{n} objects: {}", applied.join("; ")),
        },
        spec.field_manager
    );
    if !present.is_empty() {
        summary.push_str(&format!(
            "; present, left as they are: {}",
            present.join(", ")
        ));
    }
    Ok(summary)
}

/// Whether what the task applied is still there, read-only (its postcondition on
/// resume): `None` when every object it applies (or, with `if_absent`, left as it
/// was) exists now; else which are absent again.
pub async fn applied_now(
    env: &TaskEnv<'_>,
    spec: &KubeApply,
    run_dir: &Path,
    redactor: &Redactor,
) -> Result<Option<String>, KubeError> {
    let Some((_, objects)) = load_objects(spec, run_dir, false, redactor)? else {
        return Ok(None);
    };
    let mut absent = Vec::new();
    for obj in &objects {
        let (kind, obj, what) = match resolve(env, obj).await {
            Ok(found) => found,
            Err(KubeError::UnknownKind { kind, .. }) => {
                absent.push(format!("{} (kind {kind} is not served)", object_name(obj)));
                continue;
            }
            Err(e) => return Err(e),
        };
        let api = kind.api(env.client(), obj.namespace().as_deref());
        let name = obj.name_any();
        if retry::call(env, "get", &what, || api.get_opt(&name))
            .await?
            .is_none()
        {
            absent.push(what);
        }
    }
    Ok(match absent.len() {
        0 => None,
        1 => Some(format!("{} is absent again", absent[0])),
        n => Some(format!(
            "{n} objects are absent again: {}",
            absent.join(", ")
        )),
    })
}

/// The objects the task applies (`only` applied), and where they come from (for
/// messages); `None` in a dry run whose capture was not written. Every Secret value
/// joins `redactor` as it is read.
fn load_objects(
    spec: &KubeApply,
    run_dir: &Path,
    dry_run: bool,
    redactor: &Redactor,
) -> Result<Option<(String, Vec<DynamicObject>)>, KubeError> {
    let Some((origin, texts)) = read_source(spec, run_dir, dry_run)? else {
        return Ok(None);
    };
    let mut objects = Vec::new();
    for (path, text) in &texts {
        for value in parse_manifests(text, path)? {
            let obj = DynamicObject::deserialize(&value).map_err(|e| KubeError::Manifest {
                path: path.clone(),
                message: format!("not a Kubernetes object: {e}"),
            })?;
            // Before anything about the object is said anywhere.
            let read = object_value(&obj);
            let secret = is_secret(&obj);
            if secret {
                register_secret_values(&read, redactor);
            }
            let lost = lost_metadata(&value, &read);
            if !lost.is_empty() {
                return Err(refused_fields(
                    path,
                    &obj,
                    &lost,
                    "not a field of an object's metadata (a typo? metadata has name, namespace, labels, annotations, finalizers, ownerReferences, ...)",
                ));
            }
            let plain = if secret { plain_data(&obj) } else { Vec::new() };
            if !plain.is_empty() {
                return Err(refused_fields(
                    path,
                    &obj,
                    &plain,
                    "not base64 (a Secret's data holds base64; plain text goes under stringData)",
                ));
            }
            objects.push(obj);
        }
    }
    let missing: Vec<String> = spec
        .only
        .iter()
        .filter(|o| {
            !objects
                .iter()
                .any(|obj| o.name == obj.name_any() && o.namespace == obj.namespace())
        })
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() {
        let have: Vec<String> = objects.iter().map(object_name).collect();
        return Err(KubeError::Manifest {
            path: origin,
            message: format!(
                "`only` names {}, which {} not in it (it has: {})",
                missing.join(", "),
                if missing.len() == 1 { "is" } else { "are" },
                if have.is_empty() {
                    "nothing".to_string()
                } else {
                    have.join(", ")
                }
            ),
        });
    }
    Ok(Some((
        origin,
        objects
            .into_iter()
            .filter(|o| matches_only(o, &spec.only))
            .collect(),
    )))
}

/// A manifest's object refused for `fields`, which are `why` (each is named; no value).
fn refused_fields(path: &str, obj: &DynamicObject, fields: &[String], why: &str) -> KubeError {
    KubeError::Manifest {
        path: path.to_string(),
        message: format!(
            "{}: {} {} {why}",
            object_name(obj),
            fields.join(", "),
            if fields.len() == 1 { "is" } else { "are" }
        ),
    }
}

/// The keys of a Secret's `data` whose values are not base64, as `data.<key>` (the API
/// server decodes them into bytes and refuses the object: a create with a 400, a
/// server-side apply with a 500, `illegal base64 data at input byte N`, naming no key).
fn plain_data(obj: &DynamicObject) -> Vec<String> {
    let Some(data) = obj.data.get("data").and_then(Value::as_object) else {
        return Vec::new();
    };
    data.iter()
        .filter(|(_, v)| ByteString::deserialize(*v).is_err())
        .map(|(k, _)| format!("data.{k}"))
        .collect()
}

/// The `metadata` fields of a manifest that reading it as an object dropped: those
/// ObjectMeta does not have (k8s.io/apimachinery `pkg/apis/meta/v1/types.go`), which
/// the API server would drop too, with a warning nobody reads.
fn lost_metadata(manifest: &Value, read: &Value) -> Vec<String> {
    let Some(Value::Object(given)) = manifest.get("metadata") else {
        return Vec::new();
    };
    let kept = read.get("metadata").and_then(Value::as_object);
    given
        .iter()
        .filter(|(k, v)| !v.is_null() && kept.is_none_or(|m| !m.contains_key(*k)))
        .map(|(k, _)| format!("metadata.{k}"))
        .collect()
}

fn only_text(only: &[ObjectName]) -> String {
    if only.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = only.iter().map(ToString::to_string).collect();
        format!(", only {}", names.join(", "))
    }
}

/// The manifests of a task: where they come from (for messages), and each file's
/// name and text.
type Manifests = (String, Vec<(String, String)>);

/// The texts to apply and where they come from; `None` in a dry run whose capture
/// was not written (the capture task does not write in a dry run).
fn read_source(
    spec: &KubeApply,
    run_dir: &Path,
    dry_run: bool,
) -> Result<Option<Manifests>, KubeError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| KubeError::Manifest {
            path: path.display().to_string(),
            message: format!("cannot read it: {e}"),
        })
    };
    match &spec.source {
        ApplySource::Files(files) => {
            let mut texts = Vec::new();
            for f in files {
                texts.push((f.display().to_string(), read(f)?));
            }
            let origin = files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            Ok(Some((origin, texts)))
        }
        ApplySource::Capture { task, file } => {
            let task = &task.id;
            let path = run_dir.join(file);
            if !path.is_file() {
                if dry_run {
                    return Ok(None);
                }
                return Err(KubeError::Manifest {
                    path: path.display().to_string(),
                    message: format!(
                        "the capture of `{task}` is not in this run's directory (did `{task}` run in this run?)"
                    ),
                });
            }
            let text = read(&path)?;
            Ok(Some((
                format!("the capture of `{task}`"),
                vec![(file.clone(), text)],
            )))
        }
    }
}

/// The object's kind as served, the object as it is applied (a cluster-scoped one
/// without the namespace its manifest may give it, which kubectl drops too:
/// k8s.io/cli-runtime `pkg/resource/visitor.go`, FilterNamespace), and how messages
/// name it.
async fn resolve(
    env: &TaskEnv<'_>,
    obj: &DynamicObject,
) -> Result<(ResolvedKind, DynamicObject, String), KubeError> {
    let types = obj.types.clone().unwrap_or_default();
    let kind = env
        .conn
        .kinds()
        .resolve(env, &types.kind, Some(&types.api_version))
        .await?;
    let mut obj = obj.clone();
    if !kind.namespaced {
        obj.metadata.namespace = None;
    }
    let what = format!("{}/{}", kind.resource.plural, object_name(&obj));
    Ok((kind, obj, what))
}

/// Drops the owner references whose owner is gone (or another object by that name).
async fn keep_live_owners(
    env: &TaskEnv<'_>,
    what: &str,
    namespace: Option<&str>,
    body: &mut Value,
) -> Result<(), KubeError> {
    let Some(refs) = body
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .cloned()
    else {
        return Ok(());
    };
    let mut kept = Vec::new();
    for r in refs {
        let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (api_version, kind, name, uid) =
            (text("apiVersion"), text("kind"), text("name"), text("uid"));
        let live = match env
            .conn
            .kinds()
            .resolve(env, &kind, Some(&api_version))
            .await
        {
            Ok(owner_kind) => {
                let api = owner_kind.api(env.client(), namespace.filter(|_| owner_kind.namespaced));
                retry::call(env, "get", &format!("{kind} {name}"), || api.get_opt(&name))
                    .await?
                    .is_some_and(|o| o.uid().as_deref() == Some(uid.as_str()))
            }
            Err(KubeError::UnknownKind { .. }) => false,
            Err(e) => return Err(e),
        };
        if live {
            kept.push(r);
        } else {
            env.say(&format!(
                "{what}: dropped its owner reference to {kind} {name} (uid {uid}), which no longer exists"
            ));
        }
    }
    let meta = body
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .expect("an object with ownerReferences has metadata");
    if kept.is_empty() {
        meta.remove("ownerReferences");
    } else {
        meta.insert("ownerReferences".into(), Value::Array(kept));
    }
    Ok(())
}

/// The conflicting fields of a 409 answer to an apply, one line each.
fn conflicts(status: &kube::core::Status) -> Vec<String> {
    let causes: Vec<String> = status
        .details
        .as_ref()
        .map(|d| {
            d.causes
                .iter()
                .map(|c| format!("{}: {}", c.field, c.message))
                .collect()
        })
        .unwrap_or_default();
    if causes.is_empty() {
        vec![status.message.clone()]
    } else {
        causes
    }
}

impl KubeWork for KubeApply {
    async fn run(&self, env: &TaskEnv<'_>, task: &KubeTask<'_>) -> Result<String, KubeError> {
        kube_apply(env, self, task.run_dir, task.redactor).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_data_that_is_not_base64_is_named_by_key() {
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"},
            "data": {"good": "c2VjcmV0", "plain": "hunter2!", "other": "c2VjcmV0a2V5"}}))
        .unwrap();
        assert_eq!(plain_data(&obj), ["data.plain"]);
    }

    #[test]
    fn metadata_fields_reading_would_drop_are_named() {
        let manifest: Value = serde_yaml::from_str(
            "{apiVersion: v1, kind: ConfigMap, metadata: {name: a, lables: {x: y}, annotations: {}, finalizers: [], creationTimestamp: null, namespce: n}}",
        )
        .unwrap();
        let obj: DynamicObject = serde_json::from_value(manifest.clone()).unwrap();
        assert_eq!(
            lost_metadata(&manifest, &object_value(&obj)),
            ["metadata.lables", "metadata.namespce"]
        );
    }

    #[test]
    fn lists_and_documents_are_read_alike() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: a, namespace: x}}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: x}\n";
        let objects = parse_manifests(text, "f.yaml").unwrap();
        let names: Vec<&str> = objects
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
        let err = parse_manifests("kind: Secret\nmetadata: {name: a}\n", "f.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.yaml: an object lacks apiVersion, kind or metadata.name"
        );
    }

    #[test]
    fn cleaning_drops_what_the_server_set() {
        let obj = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {
                "name": "s", "namespace": "x", "uid": "u", "resourceVersion": "7",
                "creationTimestamp": "2025-01-01T00:00:00Z", "generation": 2,
                "managedFields": [{"manager": "kubectl"}],
                "labels": {"app": "flux"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
            },
            "data": {"k": "dg=="},
            "status": {"x": 1},
        });
        let clean = clean(&obj);
        assert_eq!(
            clean,
            serde_json::json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "s", "namespace": "x", "labels": {"app": "flux"}},
                "data": {"k": "dg=="},
            })
        );
    }

    #[test]
    fn conflicts_name_each_field() {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "code": 409, "reason": "Conflict", "message": "Apply failed with 1 conflict",
            "details": {"causes": [{"reason": "FieldManagerConflict", "message": "conflict with \"pulumi-kubernetes\" using v1", "field": ".data.identity"}]}
        }))
        .unwrap();
        assert_eq!(
            conflicts(&status),
            vec![".data.identity: conflict with \"pulumi-kubernetes\" using v1"]
        );
    }
}
