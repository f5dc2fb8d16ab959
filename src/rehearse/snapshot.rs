//! The sandbox's objects saved to a file and stored back: a rehearsal's cluster
//! survives an interruption, so `--resume` continues against the cluster the
//! interrupted run left, and tests inspect the cluster a rehearsal ended with.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::RehearseError;
use planrun_sandbox::SandboxState;

/// Every object of a sandbox at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub resource_version: u64,
    pub objects: Vec<Value>,
}

impl Snapshot {
    /// Everything the sandbox stores now.
    pub fn take(state: &SandboxState) -> Self {
        Self {
            resource_version: state.resource_version(),
            objects: state.all_objects(),
        }
    }

    /// Objects of `kind`.
    #[cfg(test)]
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .iter()
            .filter(move |o| o.get("kind").and_then(Value::as_str) == Some(kind))
    }

    /// Writes the snapshot (to a temporary file renamed over `path`, so a reader
    /// never sees half of one).
    pub fn save(&self, path: &Path) -> Result<(), RehearseError> {
        let err = |source| RehearseError::Prepare {
            path: path.to_path_buf(),
            source,
        };
        let text = serde_json::to_vec_pretty(self).expect("JSON values serialize");
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    pub fn load(path: &Path) -> Result<Self, RehearseError> {
        let text = std::fs::read(path).map_err(|source| RehearseError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|e| RehearseError::Snapshot {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Stores every object back into a fresh sandbox, then deletes again what was
    /// being deleted (a Terminating namespace resumes its countdown).
    pub fn restore(&self, state: &SandboxState) -> Result<(), RehearseError> {
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
            docs.push_str(&serde_json::to_string(&obj).expect("JSON values serialize"));
            docs.push('\n');
        }
        state.apply_yaml(&docs)?;
        for obj in terminating {
            let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
            // Already gone (its namespace went first) is fine.
            let _ = state.delete(
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
    use planrun_sandbox::{Manifest, Sandbox, SandboxConfig};

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
        let snap = Snapshot::take(&first.state());
        assert_eq!(snap.of_kind("GitRepository").count(), 1);
        first.shutdown().await;

        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cluster.json");
        snap.save(&path).unwrap();
        let loaded = Snapshot::load(&path).unwrap();

        let second = Sandbox::start(SandboxConfig::default()).await.unwrap();
        loaded.restore(&second.state()).unwrap();
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
        use planrun_sandbox::{Delay, NamespaceKnob, Scenario};
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
        let snap = Snapshot::take(&first.state());
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
        snap.restore(&second.state()).unwrap();
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
