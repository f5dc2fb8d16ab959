//! What the simulated `pulumi up` does to a cluster: server-side apply of manifest
//! objects, in order, forced, under the field manager the real pulumi-kubernetes
//! provider uses in server-side apply mode.

use std::path::Path;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};
use serde::Deserialize;

/// One object that was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Pulumi type token, e.g. `kubernetes:apps/v1:Deployment`.
    pub type_token: String,
    /// Resource name as Pulumi shows it: `namespace/name` or `name`.
    pub name: String,
    /// Whether the object existed before (an update rather than a create).
    pub existed: bool,
}

/// The objects of multi-document YAML files, in order (empty documents skipped).
pub fn read_manifests(paths: &[impl AsRef<Path>]) -> Result<Vec<DynamicObject>, String> {
    let mut objects = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read manifest {}: {e}", path.display()))?;
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(doc)
                .map_err(|e| format!("invalid YAML in {}: {e}", path.display()))?;
            if value.is_null() {
                continue;
            }
            let object: DynamicObject = serde_yaml::from_value(value)
                .map_err(|e| format!("invalid object in {}: {e}", path.display()))?;
            if object.types.is_none() {
                return Err(format!(
                    "an object in {} has no apiVersion/kind",
                    path.display()
                ));
            }
            objects.push(object);
        }
    }
    Ok(objects)
}

/// The Pulumi type token of an object: `kubernetes:<group or core>/<version>:<Kind>`.
pub fn type_token(object: &DynamicObject) -> String {
    let Some(types) = &object.types else {
        return "kubernetes:unknown".into();
    };
    let (group, version) = match types.api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("core", types.api_version.as_str()),
    };
    format!("kubernetes:{group}/{version}:{}", types.kind)
}

/// Applies `objects` in order to the cluster of the current kubeconfig (`KUBECONFIG`).
pub async fn apply_all(
    objects: &[DynamicObject],
    field_manager: &str,
) -> Result<Vec<Applied>, String> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("cannot reach the cluster: {e}"))?;
    let params = PatchParams::apply(field_manager).force();
    let mut applied = Vec::with_capacity(objects.len());
    for object in objects {
        let types = object
            .types
            .as_ref()
            .ok_or("object without apiVersion/kind")?;
        let gvk = GroupVersionKind::try_from(types).map_err(|e| e.to_string())?;
        let (resource, caps) = pinned_kind(&client, &gvk)
            .await
            .map_err(|e| format!("cannot resolve {}/{}: {e}", types.api_version, types.kind))?;
        let name = object
            .metadata
            .name
            .clone()
            .ok_or_else(|| format!("a {} has no metadata.name", types.kind))?;
        let (api, shown): (Api<DynamicObject>, String) = match caps.scope {
            Scope::Namespaced => {
                let ns = object
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".into());
                let shown = format!("{ns}/{name}");
                (Api::namespaced_with(client.clone(), &ns, &resource), shown)
            }
            Scope::Cluster => (Api::all_with(client.clone(), &resource), name.clone()),
        };
        let existed = api
            .get_opt(&name)
            .await
            .map_err(|e| format!("cannot read {} {shown}: {e}", types.kind))?
            .is_some();
        api.patch(&name, &params, &Patch::Apply(object))
            .await
            .map_err(|e| format!("cannot apply {} {shown}: {e}", types.kind))?;
        applied.push(Applied {
            type_token: type_token(object),
            name: shown,
            existed,
        });
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_multi_document_manifests_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("m.yaml");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: flux-system}\n---\n---\n\
             apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: source-controller, namespace: flux-system}\nspec: {}\n",
        )
        .unwrap();
        let objects = read_manifests(&[&path]).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(type_token(&objects[0]), "kubernetes:core/v1:Namespace");
        assert_eq!(type_token(&objects[1]), "kubernetes:apps/v1:Deployment");
        std::fs::write(&path, "metadata: {name: x}\n").unwrap();
        assert!(
            read_manifests(&[&path])
                .unwrap_err()
                .contains("no apiVersion")
        );
    }
}
