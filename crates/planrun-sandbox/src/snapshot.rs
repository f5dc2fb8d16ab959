//! The sandbox's objects saved to a file and stored back: a rehearsal's cluster
//! survives an interruption, so `rehearse --resume` continues against the cluster the
//! interrupted run left.
//!
//! A sandbox told to persist ([`SandboxState::persist_to`](super::SandboxState))
//! saves its snapshot in the same store transaction as every change, before the
//! request that made it is answered, atomically (a temporary file, synced, renamed):
//! whatever a client saw done is in the file, so the file never lags a journal that
//! recorded a task as done. A rehearsal cluster is small: the Flux rehearsal saves
//! 40 KB of JSON 65 times, about 0.1 s in a 6 s rehearsal (measured side by side
//! with saving every 250 ms: 6.15 s against 6.09 s, medians of 3).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::SandboxError;
use super::seed::{self, Manifest};
use super::store::Store;

/// Every object of a sandbox at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub resource_version: u64,
    pub objects: Vec<Value>,
}

impl Snapshot {
    /// Everything `store` holds now.
    pub(crate) fn of(store: &Store) -> Self {
        Self {
            resource_version: store.resource_version(),
            objects: store.all_objects(),
        }
    }

    /// Objects of `kind`.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .iter()
            .filter(move |o| o.get("kind").and_then(Value::as_str) == Some(kind))
    }

    /// Writes the snapshot atomically and durably, mode 0600 (a Secret's data is in
    /// it): see [`replace_private`](crate::private_file::replace_private).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        super::private_file::replace_private(path, &text)
    }

    /// Reads a saved snapshot; the error says why it cannot be used.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read(path).map_err(|e| e.to_string())?;
        serde_json::from_slice(&text).map_err(|e| e.to_string())
    }

    /// Stores every object back, then deletes again what was being deleted (a
    /// Terminating namespace resumes its countdown): one store transaction.
    pub(crate) fn restore_into(&self, store: &mut Store) -> Result<(), SandboxError> {
        let mut terminating = Vec::new();
        let mut docs = String::new();
        for obj in &self.objects {
            let mut obj = obj.clone();
            let mut deleting = false;
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                deleting = meta.remove("deletionTimestamp").is_some();
                meta.remove("deletionGracePeriodSeconds");
                meta.remove("resourceVersion");
            }
            if deleting {
                terminating.push(obj.clone());
            }
            docs.push_str("---\n");
            docs.push_str(
                &serde_json::to_string(&obj).map_err(|e| SandboxError::Seed {
                    source_name: "snapshot".into(),
                    message: e.to_string(),
                })?,
            );
            docs.push('\n');
        }
        let manager = store.scenario.seed_field_manager.clone();
        seed::seed(store, &[Manifest::inline(docs)], &manager)?;
        for obj in terminating {
            let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
            // Already gone (its namespace went first) is fine.
            let _ = store.delete_as(
                text("/apiVersion"),
                text("/kind"),
                text("/metadata/namespace"),
                text("/metadata/name"),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Manifest, Sandbox, SandboxConfig};

    const SEED: &str = r#"
apiVersion: v1
kind: Namespace
metadata: { name: flux-system }
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: gitrepositories.source.toolkit.fluxcd.io }
spec:
  group: source.toolkit.fluxcd.io
  scope: Namespaced
  names: { kind: GitRepository, plural: gitrepositories, singular: gitrepository, listKind: GitRepositoryList }
  versions:
  - name: v1
    served: true
    storage: true
    schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: { name: flux-system, namespace: flux-system }
spec: { url: "ssh://git@example.com/x" }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: flux-system }
data: { a: "1" }
"#;

    #[tokio::test]
    async fn a_snapshot_restores_objects_custom_resources_and_managers() {
        let first = Sandbox::start(SandboxConfig {
            seeds: vec![Manifest::inline(SEED)],
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        let snap = first.state().snapshot();
        assert_eq!(snap.of_kind("GitRepository").count(), 1);
        first.shutdown().await;

        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cluster.json");
        snap.save(&path).unwrap();
        let loaded = Snapshot::load(&path).unwrap();

        let second = Sandbox::start(SandboxConfig::default()).await.unwrap();
        second.state().restore(&loaded).unwrap();
        let state = second.state();
        let repo = state
            .get(
                "source.toolkit.fluxcd.io/v1",
                "GitRepository",
                "flux-system",
                "flux-system",
            )
            .unwrap();
        assert_eq!(repo["spec"]["url"], "ssh://git@example.com/x");
        let cm = state
            .get("v1", "ConfigMap", "flux-system", "settings")
            .unwrap();
        assert_eq!(
            cm["metadata"]["managedFields"][0]["manager"],
            "kubectl-client-side-apply"
        );
        second.shutdown().await;
    }

    #[tokio::test]
    async fn a_terminating_namespace_resumes_its_countdown_after_a_restore() {
        use crate::{Delay, NamespaceKnob, Scenario};
        // Interrupted while the namespace was Terminating (stuck, so it stays).
        let mut stuck = Scenario::default();
        stuck.namespaces.insert(
            "flux-system".into(),
            NamespaceKnob {
                stuck: true,
                finalize_delay: None,
            },
        );
        let first = Sandbox::start(SandboxConfig {
            seeds: vec![Manifest::inline(SEED)],
            scenario: stuck,
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        first
            .state()
            .delete("v1", "Namespace", "", "flux-system")
            .unwrap();
        let snap = first.state().snapshot();
        first.shutdown().await;
        let ns = snap
            .of_kind("Namespace")
            .find(|n| n["metadata"]["name"] == "flux-system")
            .unwrap();
        assert!(ns["metadata"]["deletionTimestamp"].is_string());

        // Restored where the cause is gone: the deletion goes on and completes.
        let quick = Scenario {
            namespace_finalize_delay: Delay::After(std::time::Duration::from_millis(50)),
            ..Scenario::default()
        };
        let second = Sandbox::start(SandboxConfig::with_scenario(quick))
            .await
            .unwrap();
        second.state().restore(&snap).unwrap();
        let state = second.state();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while state.get("v1", "Namespace", "", "flux-system").is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the namespace never went"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        second.shutdown().await;
    }
}
