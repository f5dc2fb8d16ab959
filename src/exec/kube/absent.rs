//! The postcondition of `kube-delete` and `wait-absent` on resume: nothing the
//! selection names exists now. When something does, say who brought it back, as
//! the object itself tells it: its `creationTimestamp` and the managedFields entry
//! written then (the manager and operation the API server recorded for the create:
//! kube-apiserver's fieldmanager records the request's `fieldManager`, for a create
//! with operation Update, for a server-side apply with operation Apply;
//! kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/endpoints/handlers/create.go
//! and fieldmanager).

use kube::api::{DynamicObject, ResourceExt};

use crate::validate::{KindSet, Selection};

use super::env::TaskEnv;
use super::error::KubeError;
use super::select::{Access, Selected, object_name};
use super::status::first_few;

/// Most objects a reason names; the rest are counted.
const NAMED: usize = 3;

/// `None` when nothing of `selection` exists now; else why the postcondition "absent"
/// no longer holds: "flux-system exists again (created 12:03:14 UTC by
/// pulumi-kubernetes)".
pub async fn present_now(
    env: &TaskEnv<'_>,
    selection: &Selection,
) -> Result<Option<String>, KubeError> {
    // Several kinds named one by one are looked up one by one: a kind nobody
    // serves any more (its CRD is gone) has no objects, and says nothing of the
    // others.
    let parts = match &selection.kinds {
        KindSet::Kinds(names) => names
            .iter()
            .map(|kind| Selection {
                kinds: KindSet::Kind {
                    kind: kind.clone(),
                    api_version: None,
                },
                ..selection.clone()
            })
            .collect(),
        _ => vec![selection.clone()],
    };
    let multi = parts.len() > 1 || matches!(selection.kinds, KindSet::GroupPattern(_));
    let mut present = Vec::new();
    for part in &parts {
        let sel = match Selected::resolve(env, part, Access::READ).await {
            Ok(sel) => sel,
            Err(KubeError::UnknownKind { .. }) => continue,
            Err(e) => return Err(e),
        };
        let objects = match sel.list(env).await {
            Ok(objects) => objects,
            Err(KubeError::Api { code: 404, .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        present.extend(objects.iter().map(|obj| {
            let name = if multi {
                sel.object_ref(obj)
            } else {
                object_name(obj)
            };
            back_again(&name, obj)
        }));
    }
    Ok((!present.is_empty()).then(|| first_few(present, NAMED)))
}

/// "flux-system exists again (created 12:03:14 UTC by pulumi-kubernetes)".
/// `name`: how the object is named (its plural first when the selection covers
/// several kinds).
fn back_again(name: &str, obj: &DynamicObject) -> String {
    let mut notes = Vec::new();
    if let Some(created) = &obj.metadata.creation_timestamp {
        let at = created.0.strftime("%H:%M:%S UTC");
        notes.push(match creator(obj) {
            Some(manager) => format!("created {at} by {manager}"),
            None => format!("created {at}"),
        });
    } else if let Some(manager) = creator(obj) {
        notes.push(format!("by {manager}"));
    }
    if obj.metadata.deletion_timestamp.is_some() {
        notes.push("being deleted".to_owned());
    }
    if notes.is_empty() {
        format!("{name} exists again")
    } else {
        format!("{name} exists again ({})", notes.join(", "))
    }
}

/// The manager that wrote the object first: the oldest managedFields entry that is
/// not of a subresource (status writes come from controllers, later).
fn creator(obj: &DynamicObject) -> Option<String> {
    let entries = obj.managed_fields();
    entries
        .iter()
        .filter(|e| e.subresource.as_deref().is_none_or(str::is_empty))
        .min_by_key(|e| e.time.as_ref().map(|t| t.0))
        .and_then(|e| e.manager.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_reason_names_when_and_by_whom_the_object_came_back() {
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {
                "name": "flux-system",
                "creationTimestamp": "2026-11-30T12:03:14Z",
                "managedFields": [
                    {"manager": "kube-controller-manager", "operation": "Update",
                     "subresource": "status", "time": "2026-11-30T12:03:10Z"},
                    {"manager": "kubectl-client-side-apply", "operation": "Update",
                     "time": "2026-11-30T12:05:00Z"},
                    {"manager": "pulumi-kubernetes", "operation": "Update",
                     "time": "2026-11-30T12:03:14Z"}
                ]
            }
        }))
        .unwrap();
        assert_eq!(
            back_again("flux-system", &obj),
            "flux-system exists again (created 12:03:14 UTC by pulumi-kubernetes)"
        );
        let bare: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "x", "deletionTimestamp": "2026-11-30T12:03:14Z"}
        }))
        .unwrap();
        assert_eq!(back_again("x", &bare), "x exists again (being deleted)");
    }
}
