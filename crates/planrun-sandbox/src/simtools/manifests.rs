//! Manifests the simulated tools read: multi-document YAML files of Kubernetes
//! objects (what a Pulumi program declares, what its stack's state lists), and the
//! Pulumi type token of each object.

use std::path::Path;

use kube::api::DynamicObject;

use crate::error::SandboxError;
use crate::seed::Manifest;

/// The objects of multi-document YAML files, in order, read as seeds are
/// ([`Manifest::objects`]: empty documents skipped, `kind: List` expanded).
pub fn read_manifests(paths: &[impl AsRef<Path>]) -> Result<Vec<DynamicObject>, String> {
    let mut objects = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let values = Manifest::from_file(path)
            .and_then(|m| m.objects())
            .map_err(|e| match e {
                SandboxError::Read { source, .. } => {
                    format!("cannot read manifest {}: {source}", path.display())
                }
                other => other.to_string(),
            })?;
        for value in values {
            let object: DynamicObject = serde_json::from_value(value)
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
