//! The handle tests (and the simulated tools) use to look at and change a running sandbox.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::error::SandboxError;
use super::faults::RequestRecord;
use super::reactions::Reaction;
use super::resources::ResourceDef;
use super::scenario::{FaultRule, Scenario};
use super::seed::{self, Manifest};
use super::shared::Shared;
use super::snapshot::Snapshot;
use super::status::ApiError;
use super::store::{Activity, Change, Store, finalizers};

/// Changes a running sandbox from outside the API (as a controller or a test would).
#[derive(Clone)]
pub struct SandboxState {
    shared: Arc<Shared>,
}

fn unknown_kind(api_version: &str, kind: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("the server could not find the requested resource ({kind} in {api_version})"),
    )
}

impl SandboxState {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn def(
        store: &Store,
        api_version: &str,
        kind: &str,
    ) -> Result<(ResourceDef, String), ApiError> {
        store
            .resolve_kind(api_version, kind)
            .ok_or_else(|| unknown_kind(api_version, kind))
    }

    /// Store the objects of multi-document YAML as seeds are stored (created or replaced,
    /// status and managedFields kept).
    pub fn apply_yaml(&self, yaml: &str) -> Result<Vec<Value>, SandboxError> {
        self.shared.with_store(|s| {
            let manager = s.scenario.seed_field_manager.clone();
            seed::seed(s, &[Manifest::inline(yaml)], &manager)
        })
    }

    /// One object, if present (`namespace` is `""` for cluster-scoped kinds).
    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        self.shared
            .with_store(|s| s.get_as(api_version, kind, namespace, name))
    }

    /// Objects of a kind, in one namespace or all.
    pub fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        self.shared.with_store(|s| {
            let Ok((def, version)) = Self::def(s, api_version, kind) else {
                return Vec::new();
            };
            s.list(&def, namespace, &Default::default())
                .into_iter()
                .map(|o| Store::present(&def, &version, o))
                .collect()
        })
    }

    /// Delete an object as a client would; `true` when it is gone at once.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<bool, ApiError> {
        self.shared
            .with_store(|s| s.delete_as(api_version, kind, namespace, name))
    }

    /// Every object now, as one snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.with_store(|s| Snapshot::of(s))
    }

    /// Stores a snapshot's objects back (one transaction, see [`Snapshot`]).
    pub fn restore(&self, snapshot: &Snapshot) -> Result<(), SandboxError> {
        self.shared.with_store(|s| snapshot.restore_into(s))
    }

    /// From now on, every change is saved to `path` in its transaction, before the
    /// request that made it is answered (see [`crate::snapshot`]).
    pub fn persist_to(&self, path: &std::path::Path) {
        self.shared.persist_to(path.to_path_buf());
    }

    /// The first failure to save the store where it persists, if any.
    pub fn persist_error(&self) -> Option<String> {
        self.shared.persist_error()
    }

    /// Arms reactions (see [`crate::reactions`]): each fires once, in the store
    /// transaction of the change that brings its object into its state. What each
    /// says when it fires arrives on the returned channel. A manifest that cannot
    /// be read is an error, nothing armed.
    pub fn arm_reactions(
        &self,
        reactions: Vec<Reaction>,
    ) -> Result<mpsc::UnboundedReceiver<String>, SandboxError> {
        let mut armed = Vec::new();
        for reaction in reactions {
            let manifest = match &reaction.apply {
                Some(path) => Some(Manifest::from_file(path)?.yaml),
                None => None,
            };
            armed.push((reaction, manifest));
        }
        let rx = self.shared.tell_reactions();
        self.shared.with_store(|s| {
            for (reaction, manifest) in armed {
                s.arm(reaction, manifest);
            }
            // Some may already hold.
            let said = s.run_reactions();
            (!said.is_empty()).then_some(said)
        });
        Ok(rx)
    }

    /// Remove one finalizer (what a controller does when its cleanup is done).
    pub fn remove_finalizer(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        finalizer: &str,
    ) -> Result<(), ApiError> {
        self.shared.with_store(|s| {
            let (def, version) = Self::def(s, api_version, kind)?;
            let obj = s.get(&def, namespace, name)?;
            let keep: Vec<String> = finalizers(&obj).into_iter().filter(|f| f != finalizer).collect();
            let patch = json!({"metadata": {"finalizers": if keep.is_empty() { Value::Null } else { json!(keep) }}});
            let body = serde_json::to_vec(&patch).expect("JSON values serialize");
            let opts = super::store::WriteOpts {
                field_manager: Some("sandbox-controller".to_owned()),
                ..Default::default()
            };
            s.patch(&def, &version, namespace, name, super::store::PatchKind::Merge, &body, false, &opts)?;
            Ok(())
        })
    }

    /// Set a status condition on an object (custom resources, deployments, ...).
    #[expect(clippy::too_many_arguments, reason = "a condition has this many parts")]
    pub fn set_condition(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        condition_type: &str,
        status: &str,
        reason: &str,
        message: &str,
    ) -> Result<Value, ApiError> {
        self.shared.with_store(|s| {
            let (def, _) = Self::def(s, api_version, kind)?;
            let cond = json!({"type": condition_type, "status": status, "reason": reason, "message": message});
            s.set_condition(&def, namespace, name, cond, "sandbox-controller")
        })
    }

    /// Mark a deployment's pods ready now.
    pub fn set_deployment_ready(&self, namespace: &str, name: &str) -> Result<(), ApiError> {
        self.shared.with_store(|s| {
            let (def, _) = Self::def(s, "apps/v1", "Deployment")?;
            s.get(&def, namespace, name)?;
            s.deployment_ready_now(namespace, name);
            Ok(())
        })
    }

    /// What the simulated controllers did so far (Flux's pruning and uninstalls,
    /// objects they could not finalize), oldest first.
    pub fn activity(&self) -> Vec<Activity> {
        self.shared.with_store(|s| s.activity().to_vec())
    }

    /// Every object stored now, at its preferred version: namespaces first, then
    /// CRDs, then the rest by kind.
    pub fn all_objects(&self) -> Vec<Value> {
        self.shared.with_store(|s| s.all_objects())
    }

    /// Change the scenario knobs (delays, stuck namespaces, condition rules...). Faults
    /// are armed with [`SandboxState::add_fault`].
    pub fn update_scenario(&self, f: impl FnOnce(&mut Scenario)) {
        self.shared.with_store(|s| f(&mut s.scenario));
    }

    /// Arm a fault rule.
    pub fn add_fault(&self, rule: FaultRule) {
        self.shared.faults().add(rule);
    }

    /// Disarm every fault rule.
    pub fn clear_faults(&self) {
        self.shared.faults().clear();
    }

    /// Forget the watch event log: watches from older resourceVersions get 410 Expired.
    pub fn compact(&self) {
        self.shared.with_store(Store::compact);
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.with_store(|s| s.resource_version())
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests()
    }

    /// Empty the request log.
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Notice of every change from now on, to react to the cluster at once.
    pub fn changes(&self) -> Changes {
        Changes(self.shared.with_store(|s| s.subscribe()))
    }
}

/// Notices of changes to a running sandbox (see [`SandboxState::changes`]).
pub struct Changes(broadcast::Receiver<Arc<Change>>);

impl Changes {
    /// Resolves at the next change (changes missed while away count as one);
    /// `false` once the sandbox is gone.
    pub async fn next(&mut self) -> bool {
        match self.0.recv().await {
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => true,
            Err(broadcast::error::RecvError::Closed) => false,
        }
    }
}
