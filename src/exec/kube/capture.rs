//! `capture`: write the selected Secrets or ConfigMaps as YAML to a private file
//! (mode 0600) in the run directory, before they are deleted. The summary names
//! objects and keys only; every Secret value joins the run's redactor first, so no
//! output, log, journal or report can show it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use k8s_openapi::ByteString;
use kube::api::{DynamicObject, ResourceExt};
use serde_json::{Map, Value};

use crate::exec::private_file::write_private;
use crate::redact::Redactor;
use crate::validate::Capture;

use super::env::TaskEnv;
use super::error::KubeError;
use super::select::{Access, Selected};
use super::task::{KubeTask, KubeWork};

/// Annotations that may hold a copy of the data (kubectl's last-applied
/// configuration holds a Secret's values in clear base64); never written out.
pub(crate) const DROPPED_ANNOTATIONS: &[&str] =
    &["kubectl.kubernetes.io/last-applied-configuration"];

/// Captures the selected objects into `run_dir/spec.file`. Returns a summary.
pub async fn capture(
    env: &TaskEnv<'_>,
    spec: &Capture,
    run_dir: &Path,
    redactor: &Redactor,
) -> Result<String, KubeError> {
    let sel = Selected::resolve(env, &spec.selection, Access::READ).await?;
    let objects = sel.list(env).await?;
    for obj in objects.iter().filter(|o| is_secret(o)) {
        register_secret_values(&object_value(obj), redactor);
    }
    let described: Vec<String> = objects
        .iter()
        .map(|o| format!("{} (keys: {})", sel.short_ref(o), keys(o).join(", ")))
        .collect();
    let what = match (sel.kinds.as_slice(), objects.len()) {
        ([kind], 1) => kind.resource.kind.to_lowercase(),
        ([kind], _) => kind.resource.plural.clone(),
        (_, 1) => "object".to_string(),
        _ => "objects".to_string(),
    };
    let items: Vec<Value> = objects.iter().map(manifest).collect();
    let path = run_dir.join(&spec.file);
    keep_what_was_captured(&path, &items)?;
    if env.dry_run {
        return Ok(format!(
            "would capture {} {what} to {}: {}",
            objects.len(),
            spec.file,
            described.join("; ")
        ));
    }
    let document = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let yaml = serde_yaml::to_string(&document).map_err(|e| KubeError::CaptureIo {
        path: spec.file.clone(),
        source: std::io::Error::other(e),
    })?;
    write_private(&path, yaml.as_bytes()).map_err(|source| KubeError::CaptureIo {
        path: path.display().to_string(),
        source,
    })?;
    for line in &described {
        env.say(&format!("captured {line}"));
    }
    Ok(if objects.is_empty() {
        format!(
            "captured nothing: no object matches {}; wrote an empty list to {}",
            sel.description, spec.file
        )
    } else {
        format!(
            "captured {} {what} to {} (mode 0600): {}",
            objects.len(),
            spec.file,
            described.join("; ")
        )
    })
}

/// Refuses to replace an earlier capture at `path` (a run resumed, or a task run
/// again with `--rerun`) by `items` when they lack an object it holds: once the
/// objects are deleted, capturing again would otherwise write over the only copy of
/// them with less, or with nothing. A capture of the same objects (fresh values) or
/// of more replaces it. An earlier file that cannot be read as a capture is kept too.
fn keep_what_was_captured(path: &Path, items: &[Value]) -> Result<(), KubeError> {
    let kept = |reason: String| KubeError::CaptureKept {
        path: path.display().to_string(),
        reason,
    };
    let earlier = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(kept(format!("it cannot be read: {e}"))),
    };
    let Some(held) = identities_in(&earlier) else {
        // The parser's message is not shown: it may quote the file's values.
        return Err(kept(
            "it is not a list of objects as a capture writes it".into(),
        ));
    };
    let now: BTreeSet<String> = items.iter().filter_map(identity).collect();
    let lost: Vec<String> = held.into_iter().filter(|i| !now.contains(i)).collect();
    if lost.is_empty() {
        return Ok(());
    }
    Err(kept(format!(
        "it holds {}, which the cluster no longer has",
        lost.join(", ")
    )))
}

/// The objects of a capture file, `Kind namespace/name` each; `None` when the text
/// is not a capture (a YAML `List` of objects with a kind and a name).
fn identities_in(yaml: &str) -> Option<Vec<String>> {
    let doc: Value = serde_yaml::from_str(yaml).ok()?;
    doc.get("items")?.as_array()?.iter().map(identity).collect()
}

/// An object's `Kind namespace/name` (`Kind name` when it has no namespace).
fn identity(item: &Value) -> Option<String> {
    let kind = item.get("kind")?.as_str()?;
    let meta = item.get("metadata")?;
    let name = meta.get("name")?.as_str()?;
    Some(match meta.get("namespace").and_then(Value::as_str) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    })
}

/// Whether a listed object is a Secret.
pub(crate) fn is_secret(obj: &DynamicObject) -> bool {
    obj.types
        .as_ref()
        .is_some_and(|t| t.kind == "Secret" && t.api_version == "v1")
}

/// The object as JSON (kind, metadata and data), as [`register_secret_values`] reads it.
pub(crate) fn object_value(obj: &DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

/// The object as it can be applied again: identity, labels, annotations and data;
/// no server-set fields.
fn manifest(obj: &DynamicObject) -> Value {
    let mut metadata = Map::new();
    metadata.insert("name".into(), obj.name_any().into());
    if let Some(ns) = obj.namespace() {
        metadata.insert("namespace".into(), ns.into());
    }
    if !obj.labels().is_empty() {
        metadata.insert("labels".into(), serde_json::json!(obj.labels()));
    }
    let annotations: BTreeMap<&String, &String> = obj
        .annotations()
        .iter()
        .filter(|(k, _)| !DROPPED_ANNOTATIONS.contains(&k.as_str()))
        .collect();
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), serde_json::json!(annotations));
    }
    let mut out = Map::new();
    if let Some(types) = &obj.types {
        out.insert("apiVersion".into(), types.api_version.clone().into());
        out.insert("kind".into(), types.kind.clone().into());
    }
    out.insert("metadata".into(), Value::Object(metadata));
    for field in ["type", "immutable", "data", "binaryData", "stringData"] {
        if let Some(v) = obj.data.get(field) {
            out.insert(field.into(), v.clone());
        }
    }
    Value::Object(out)
}

/// The data keys of a Secret or ConfigMap, sorted.
pub(crate) fn keys(obj: &DynamicObject) -> Vec<String> {
    let mut keys: Vec<String> = ["data", "binaryData", "stringData"]
        .iter()
        .filter_map(|f| obj.data.get(*f).and_then(Value::as_object))
        .flat_map(|m| m.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Adds a Secret's values to the redactor: base64 as stored, and decoded with every
/// form a secret is printed in (see [`Redactor::add_secret`]).
pub(crate) fn register_secret_values(obj: &Value, redactor: &Redactor) {
    for field in ["data", "stringData"] {
        let Some(map) = obj.get(field).and_then(Value::as_object) else {
            continue;
        };
        for value in map.values() {
            let Some(text) = value.as_str() else { continue };
            if field == "data" {
                redactor.add(text);
                match serde_json::from_value::<ByteString>(value.clone()) {
                    Ok(ByteString(bytes)) => redactor.add_secret(&String::from_utf8_lossy(&bytes)),
                    Err(_) => redactor.add_secret(text),
                }
            } else {
                redactor.add_secret(text);
            }
        }
    }
    let annotations = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object);
    for annotation in DROPPED_ANNOTATIONS {
        if let Some(v) = annotations
            .and_then(|a| a.get(*annotation))
            .and_then(Value::as_str)
        {
            redactor.add(v);
        }
    }
}

/// Registers with `redactor` the values of the Secrets a capture task saved to
/// `path` in an earlier planrun process of the run (a resume does not capture
/// again, yet a later task may print what was captured). The file is the only
/// place the values are kept. Returns how many Secrets it held.
pub fn register_captured(path: &Path, redactor: &Redactor) -> std::io::Result<usize> {
    let text = std::fs::read_to_string(path)?;
    let document: Value = serde_yaml::from_str(&text).map_err(std::io::Error::other)?;
    let secrets: Vec<&Value> = document
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| item.get("kind").and_then(Value::as_str) == Some("Secret"))
        .collect();
    for secret in &secrets {
        register_secret_values(secret, redactor);
    }
    Ok(secrets.len())
}

impl KubeWork for Capture {
    async fn run(&self, env: &TaskEnv<'_>, task: &KubeTask<'_>) -> Result<String, KubeError> {
        capture(env, self, task.run_dir, task.redactor).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "flux-system",
                "namespace": "flux-system",
                "uid": "u-1",
                "resourceVersion": "12",
                "labels": {"app": "flux"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"identity\":\"c2VjcmV0LWtleS12YWx1ZQ==\"}}"},
                "managedFields": [{"manager": "kubectl", "operation": "Update"}]
            },
            "type": "Opaque",
            "data": {"identity": "c2VjcmV0LWtleS12YWx1ZQ==", "multi": "bGluZS1vbmUtc2VjcmV0CmxpbmUtdHdvLXNlY3JldA=="}
        }))
        .unwrap()
    }

    #[test]
    fn manifest_keeps_data_and_drops_server_fields() {
        let m = manifest(&secret());
        assert_eq!(m["metadata"]["name"], "flux-system");
        assert_eq!(m["data"]["identity"], "c2VjcmV0LWtleS12YWx1ZQ==");
        assert!(m["metadata"].get("uid").is_none());
        assert!(m["metadata"].get("managedFields").is_none());
        assert!(m["metadata"].get("annotations").is_none());
        assert_eq!(m["type"], "Opaque");
        assert_eq!(keys(&secret()), vec!["identity", "multi"]);
    }

    #[test]
    fn every_form_of_a_secret_value_is_masked() {
        let r = Redactor::new();
        register_secret_values(&object_value(&secret()), &r);
        for text in [
            "secret-key-value",
            "c2VjcmV0LWtleS12YWx1ZQ==",
            "line-one-secret",
            "line-two-secret",
        ] {
            assert_eq!(r.redact(text), crate::redact::MASK, "{text}");
        }
    }

    #[test]
    fn values_of_a_capture_file_are_registered_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capture.yaml");
        let items: Vec<Value> = vec![manifest(&secret())];
        let document = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        write_private(&path, serde_yaml::to_string(&document).unwrap().as_bytes()).unwrap();
        let r = Redactor::new();
        assert_eq!(register_captured(&path, &r).unwrap(), 1);
        for text in [
            "secret-key-value",
            "line-one-secret",
            "c2VjcmV0LWtleS12YWx1ZQ==",
        ] {
            assert_eq!(r.redact(text), crate::redact::MASK, "{text}");
        }
        assert!(register_captured(&dir.path().join("missing.yaml"), &r).is_err());
    }

    /// A capture is replaced by one holding the same objects or more, never by one
    /// that lacks an object it held; an earlier file that is not a capture is kept,
    /// and what is said of it never quotes it.
    #[test]
    fn an_earlier_capture_is_replaced_only_by_one_that_lacks_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capture.yaml");
        let flux = manifest(&secret());
        let mut other = flux.clone();
        other["metadata"]["name"] = "other".into();
        // No earlier capture.
        keep_what_was_captured(&path, &[]).unwrap();
        let document = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [flux.clone(), other.clone()]});
        write_private(&path, serde_yaml::to_string(&document).unwrap().as_bytes()).unwrap();
        keep_what_was_captured(&path, &[other.clone(), flux.clone()]).unwrap();
        let mut third = flux.clone();
        third["metadata"]["name"] = "third".into();
        keep_what_was_captured(&path, &[flux.clone(), other.clone(), third]).unwrap();
        let lost = keep_what_was_captured(&path, &[other]).unwrap_err();
        assert_eq!(
            lost.to_string(),
            format!(
                "{} holds an earlier capture, kept as it is: it holds Secret flux-system/flux-system, which the cluster no longer has",
                path.display()
            )
        );
        let err = keep_what_was_captured(&path, &[]).unwrap_err().to_string();
        assert!(
            err.ends_with("it holds Secret flux-system/flux-system, Secret flux-system/other, which the cluster no longer has"),
            "{err}"
        );
        std::fs::write(&path, "identity: c2VjcmV0LWtleS12YWx1ZQ==\n").unwrap();
        let err = keep_what_was_captured(&path, &[flux])
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("kept as it is: it is not a list of objects as a capture writes it"),
            "{err}"
        );
        assert!(!err.contains("c2Vj"), "{err}");
    }
}
