//! Deployments, ReplicaSets and Pods, as the control plane and the kubelet run them,
//! as far as plans see them: following kubernetes/kubernetes
//! `pkg/controller/deployment` (a Deployment owns one ReplicaSet per pod template,
//! named `<deployment>-<pod-template-hash>`, the current one scaled to `replicas` and
//! the older ones to 0) and `pkg/controller/replicaset` (a ReplicaSet owns
//! `replicas` Pods named `<replicaset>-<suffix>`, each with the template's labels
//! and a controller owner reference with `blockOwnerDeletion`; a terminating pod no
//! longer counts, so a deleted pod is replaced). The kubelet's part: a pod is Ready
//! `deployment_ready_delay` after it is created, and a deleted pod stays Terminating
//! (its `deletionTimestamp` set) `pod_termination_delay`, then goes. A Deployment's
//! status counts its pods. Deleting a Deployment leaves its ReplicaSets and Pods to
//! the garbage collector (`gc.rs`).
//!
//! A seeded cluster is one that has been running: the Pods of seeded Deployments are
//! Ready at once.
//!
//! The API server refuses a pod whose ServiceAccount does not exist in its namespace
//! (k8s.io/kubernetes v1.36.3 `plugin/pkg/admission/serviceaccount/admission.go`,
//! `Admit`: `pods "<generateName>" is forbidden: error looking up service account
//! <ns>/<name>: serviceaccount "<name>" not found`). The replicaset controller then
//! writes `ReplicaFailure=True`, reason `FailedCreate`, with that message (kept while
//! it fails, removed once a pod is created: `pkg/controller/replicaset/
//! replica_set_utils.go`, `calculateStatus`), the deployment controller copies it onto
//! the Deployment (`pkg/controller/deployment/progress.go`, `getReplicaFailures`),
//! and the replicaset controller tries again with backoff (its queue's rate limiter:
//! 5 ms doubling up to 1000 s; here 100 ms doubling up to 30 s). The account
//! `default`, which the serviceaccount controller makes in every namespace, is taken
//! as there.

use serde_json::{Value, json};

use super::lifecycle::{condition, upsert_condition};
use super::resources::{ResKey, ResourceDef};
use super::scenario::Delay;
use super::store::{Deleted, Scheduled, Store, finalizers, is_deleting, now, str_at};

/// The replicaset controller's first retry of refused pods, and its longest wait.
const RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(100);
const RETRY_MOST: std::time::Duration = std::time::Duration::from_secs(30);

/// A ReplicaSet's `ReplicaFailure=True` condition, if any.
fn replica_failure(rs: &Value) -> Option<&Value> {
    rs.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "ReplicaFailure" && c["status"] == "True")
}

/// The label a Deployment's ReplicaSets and Pods carry with their template's hash.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The kubelet's default grace period (`terminationGracePeriodSeconds`).
const DEFAULT_GRACE_SECONDS: i64 = 30;
/// The manager the control plane writes under.
const CONTROL_PLANE: &str = "kube-controller-manager";

fn deployments() -> ResKey {
    ResKey::new("apps", "deployments")
}
fn replica_sets() -> ResKey {
    ResKey::new("apps", "replicasets")
}
/// The Pods' collection.
pub(super) fn pods() -> ResKey {
    ResKey::new("", "pods")
}

/// The uid of the object's controller owner.
pub fn controller_uid(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?
        .get("uid")?
        .as_str()
}

fn replicas(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// Whether a pod is Ready (and not terminating).
pub fn pod_is_ready(pod: &Value) -> bool {
    !is_deleting(pod)
        && pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
}

/// The hash of a pod template, as the `pod-template-hash` label spells it.
fn template_hash(template: &Value) -> String {
    format!(
        "{:x}",
        crc32fast::hash(template.to_string().as_bytes()) & 0xfff_ffff
    )
}

fn owner_ref(kind: &str, obj: &Value) -> Value {
    json!({
        "apiVersion": if kind == "ReplicaSet" || kind == "Deployment" { "apps/v1" } else { "v1" },
        "kind": kind,
        "name": str_at(obj, "/metadata/name"),
        "uid": str_at(obj, "/metadata/uid"),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

fn with_label(labels: &Value, key: &str, value: &str) -> Value {
    let mut labels = if labels.is_object() {
        labels.clone()
    } else {
        json!({})
    };
    labels[key] = json!(value);
    labels
}

impl Store {
    /// The objects of `res` in `ns` whose controller is the object with `uid`.
    fn controlled(&self, res: &ResKey, ns: &str, uid: &str) -> Vec<Value> {
        self.names_in(res, ns)
            .iter()
            .filter_map(|n| self.get_opt(res, ns, n))
            .filter(|o| controller_uid(o) == Some(uid))
            .cloned()
            .collect()
    }

    /// Stores a new object the control plane makes.
    fn create_owned(&mut self, def: &ResourceDef, ns: &str, obj: Value) -> Option<Value> {
        let version = def.preferred_version().to_owned();
        let mut obj = self.prepare_new(def, &version, ns, obj, None).ok()?;
        self.record_update(
            def,
            &version,
            CONTROL_PLANE,
            super::store::scope_of(def, false),
            None,
            &mut obj,
        );
        Some(self.put(&def.key(), obj))
    }

    /// The deployment controller for one Deployment: its current ReplicaSet exists
    /// and is scaled to `replicas`, the older ones to 0; then its status.
    pub(super) fn sync_deployment(&mut self, ns: &str, name: &str, ready_now: bool) {
        let Some(d) = self.get_opt(&deployments(), ns, name).cloned() else {
            return;
        };
        if is_deleting(&d) {
            return;
        }
        let (Some(rs_def), uid) = (self.def_of(&replica_sets()), str_at(&d, "/metadata/uid"))
        else {
            return;
        };
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = template_hash(&template);
        let desired = replicas(&d);
        let owned = self.controlled(&replica_sets(), ns, uid);
        let current = owned
            .iter()
            .find(|rs| str_at(rs, &format!("/metadata/labels/{POD_TEMPLATE_HASH}")) == hash)
            .cloned();
        let current_name = match current {
            Some(rs) => {
                if replicas(&rs) != desired {
                    let mut scaled = rs.clone();
                    scaled["spec"]["replicas"] = json!(desired);
                    self.put(&rs_def.key(), scaled);
                }
                str_at(&rs, "/metadata/name").to_owned()
            }
            None => {
                let rs_name = format!("{name}-{hash}");
                let labels = with_label(
                    template.pointer("/metadata/labels").unwrap_or(&Value::Null),
                    POD_TEMPLATE_HASH,
                    &hash,
                );
                let mut pod_template = template.clone();
                pod_template["metadata"]["labels"] = labels.clone();
                let selector = with_label(
                    d.pointer("/spec/selector/matchLabels")
                        .unwrap_or(&Value::Null),
                    POD_TEMPLATE_HASH,
                    &hash,
                );
                let rs = json!({
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {
                        "name": rs_name, "namespace": ns, "labels": labels,
                        "annotations": {"deployment.kubernetes.io/desired-replicas": desired.to_string()},
                        "ownerReferences": [owner_ref("Deployment", &d)],
                    },
                    "spec": {"replicas": desired, "selector": {"matchLabels": selector}, "template": pod_template},
                });
                if self.create_owned(&rs_def, ns, rs).is_none() {
                    return;
                }
                rs_name
            }
        };
        for old in owned
            .iter()
            .filter(|rs| str_at(rs, "/metadata/name") != current_name)
        {
            if replicas(old) != 0 && !is_deleting(old) {
                let mut scaled = old.clone();
                scaled["spec"]["replicas"] = json!(0);
                self.put(&rs_def.key(), scaled);
            }
            let old_name = str_at(old, "/metadata/name").to_owned();
            self.sync_replica_set(ns, &old_name, false);
        }
        self.sync_replica_set(ns, &current_name, ready_now);
    }

    /// The replicaset controller for one ReplicaSet: `replicas` active pods (new ones
    /// Pending until the rollout delay, or Ready at once when `ready_now`), its
    /// status, and its Deployment's.
    pub(super) fn sync_replica_set(&mut self, ns: &str, name: &str, ready_now: bool) {
        let Some(rs) = self.get_opt(&replica_sets(), ns, name).cloned() else {
            return;
        };
        let (Some(pod_def), Some(rs_def)) = (self.def_of(&pods()), self.def_of(&replica_sets()))
        else {
            return;
        };
        let uid = str_at(&rs, "/metadata/uid").to_owned();
        let mut refused = None;
        if !is_deleting(&rs) {
            let mut active: Vec<Value> = self
                .controlled(&pods(), ns, &uid)
                .into_iter()
                .filter(|p| !is_deleting(p))
                .collect();
            let desired = usize::try_from(replicas(&rs).max(0)).unwrap_or(0);
            refused = (active.len() < desired)
                .then(|| self.missing_service_account(&rs))
                .flatten();
            if refused.is_none() {
                for _ in active.len()..desired {
                    if let Some(pod) = self.create_pod(&pod_def, &rs, ready_now) {
                        active.push(pod);
                    }
                }
            }
            // Scale down: the newest pods go first.
            active.sort_by(|a, b| {
                str_at(b, "/metadata/creationTimestamp")
                    .cmp(str_at(a, "/metadata/creationTimestamp"))
            });
            for pod in active.iter().take(active.len().saturating_sub(desired)) {
                let _ = self.delete_pod(&pod_def, pod.clone(), false);
            }
        }
        let all = self.controlled(&pods(), ns, &uid);
        let active: Vec<&Value> = all.iter().filter(|p| !is_deleting(p)).collect();
        let ready = active.iter().filter(|p| pod_is_ready(p)).count();
        let mut status = json!({
            "replicas": active.len(),
            "fullyLabeledReplicas": active.len(),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        });
        let failure = replica_failure(&rs).cloned();
        match (refused, failure) {
            (Some(_), Some(kept)) => upsert_condition(&mut status, kept),
            (Some(message), None) => {
                upsert_condition(
                    &mut status,
                    condition("ReplicaFailure", "True", "FailedCreate", &message),
                );
                self.schedule(Scheduled::RetryReplicaSet {
                    ns: ns.to_owned(),
                    name: name.to_owned(),
                    after: RETRY_FIRST,
                });
            }
            (None, _) => {}
        }
        self.write_status(&rs_def, ns, name, status, CONTROL_PLANE);
        if let Some(owner) = controller_uid(&rs).map(str::to_owned) {
            self.refresh_deployment_status(ns, &owner);
        }
    }

    /// A try of the replicaset controller's backoff: the ReplicaSet synced again, and,
    /// while its pods are still refused, the next try after twice the delay.
    pub(super) fn retry_replica_set(&mut self, ns: &str, name: &str, after: std::time::Duration) {
        self.sync_replica_set(ns, name, false);
        if self
            .get_opt(&replica_sets(), ns, name)
            .and_then(replica_failure)
            .is_some()
        {
            self.schedule(Scheduled::RetryReplicaSet {
                ns: ns.to_owned(),
                name: name.to_owned(),
                after: (after * 2).min(RETRY_MOST),
            });
        }
    }

    /// The API server's refusal of the ReplicaSet's pods when the ServiceAccount they
    /// run as does not exist (see the module's doc).
    fn missing_service_account(&self, rs: &Value) -> Option<String> {
        let spec = rs.pointer("/spec/template/spec")?;
        let named = |key: &str| {
            spec.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        // `serviceAccount` is the field's deprecated name, read when the new one is empty.
        let account = named("serviceAccountName").or_else(|| named("serviceAccount"))?;
        let ns = str_at(rs, "/metadata/namespace");
        if account == "default"
            || self
                .get_opt(&ResKey::new("", "serviceaccounts"), ns, account)
                .is_some()
        {
            return None;
        }
        Some(format!(
            "pods \"{}-\" is forbidden: error looking up service account {ns}/{account}: serviceaccount \"{account}\" not found",
            str_at(rs, "/metadata/name")
        ))
    }

    fn create_pod(&mut self, def: &ResourceDef, rs: &Value, ready_now: bool) -> Option<Value> {
        let ns = str_at(rs, "/metadata/namespace").to_owned();
        let suffix = self.generate_suffix();
        let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
        spec["nodeName"] = json!("sandbox-node");
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": format!("{}-{suffix}", str_at(rs, "/metadata/name")),
                "namespace": ns,
                "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                "ownerReferences": [owner_ref("ReplicaSet", rs)],
            },
            "spec": spec,
        });
        let stored = self.create_owned(def, &ns, pod)?;
        let name = str_at(&stored, "/metadata/name").to_owned();
        let delay = self.scenario.deployment_ready_delay;
        let ready = ready_now || delay == Delay::After(std::time::Duration::ZERO);
        self.write_status(def, &ns, &name, pod_status(&stored, ready), "kubelet");
        if !ready && let Some(after) = delay.duration() {
            self.schedule(Scheduled::PodReady {
                ns,
                name,
                uid: str_at(&stored, "/metadata/uid").to_owned(),
                after,
            });
        }
        self.get_opt(
            &pods(),
            str_at(&stored, "/metadata/namespace"),
            str_at(&stored, "/metadata/name"),
        )
        .cloned()
    }

    /// A pod is deleted: Terminating for `pod_termination_delay`, then gone; its
    /// ReplicaSet sees it go at once (and replaces it if it still wants it).
    pub(super) fn delete_pod(
        &mut self,
        def: &ResourceDef,
        old: Value,
        dry_run: bool,
    ) -> Result<Deleted, super::status::ApiError> {
        if is_deleting(&old) {
            return Ok(Deleted::Pending(old));
        }
        let grace = old
            .pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(DEFAULT_GRACE_SECONDS);
        let mut new = old.clone();
        new["metadata"]["deletionTimestamp"] = json!(now());
        new["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
        if dry_run {
            return Ok(Deleted::Pending(new));
        }
        let stored = self.put(&def.key(), new);
        let ns = str_at(&stored, "/metadata/namespace").to_owned();
        let name = str_at(&stored, "/metadata/name").to_owned();
        if let Some(after) = self.scenario.pod_termination_delay.duration() {
            self.schedule(Scheduled::PodGone {
                ns: ns.clone(),
                name,
                uid: str_at(&stored, "/metadata/uid").to_owned(),
                after,
            });
        }
        if let Some(owner) = controller_uid(&stored)
            && let Some(rs) = self.by_uid(&replica_sets(), &ns, owner)
        {
            self.schedule(Scheduled::SyncReplicaSet {
                ns,
                name: rs,
                after: std::time::Duration::ZERO,
            });
        }
        Ok(Deleted::Pending(stored))
    }

    /// The name of the object of `res` in `ns` with `uid`.
    fn by_uid(&self, res: &ResKey, ns: &str, uid: &str) -> Option<String> {
        self.names_in(res, ns).into_iter().find(|n| {
            self.get_opt(res, ns, n)
                .is_some_and(|o| str_at(o, "/metadata/uid") == uid)
        })
    }

    /// A pod the kubelet started: Running and Ready.
    pub(super) fn pod_ready(&mut self, ns: &str, name: &str, uid: &str) {
        let Some(pod) = self.get_opt(&pods(), ns, name).cloned() else {
            return;
        };
        let Some(def) = self.def_of(&pods()) else {
            return;
        };
        if str_at(&pod, "/metadata/uid") != uid || is_deleting(&pod) {
            return;
        }
        self.write_status(&def, ns, name, pod_status(&pod, true), "kubelet");
        self.after_pod_change(ns, &pod);
    }

    /// A terminating pod the kubelet stopped: gone (unless a finalizer holds it).
    pub(super) fn pod_gone(&mut self, ns: &str, name: &str, uid: &str) {
        let Some(pod) = self.get_opt(&pods(), ns, name).cloned() else {
            return;
        };
        if str_at(&pod, "/metadata/uid") != uid || !is_deleting(&pod) {
            return;
        }
        if finalizers(&pod).is_empty() {
            self.remove(&pods(), ns, name);
        }
        self.after_pod_change(ns, &pod);
    }

    /// Its ReplicaSet's and Deployment's statuses follow a pod's change; a simulated
    /// controller may start or stop with it.
    fn after_pod_change(&mut self, ns: &str, pod: &Value) {
        if let Some(owner) = controller_uid(pod)
            && let Some(rs) = self.by_uid(&replica_sets(), ns, owner)
        {
            self.sync_replica_set(ns, &rs, false);
        }
        self.schedule_flux_controllers();
    }

    /// Recomputes the status of the Deployment with `uid` from its pods.
    fn refresh_deployment_status(&mut self, ns: &str, uid: &str) {
        let Some(name) = self.by_uid(&deployments(), ns, uid) else {
            return;
        };
        let Some(def) = self.def_of(&deployments()) else {
            return;
        };
        let Some(d) = self.get_opt(&deployments(), ns, &name).cloned() else {
            return;
        };
        let hash = template_hash(&d.pointer("/spec/template").cloned().unwrap_or(json!({})));
        let mut counts = Counts::default();
        let mut current = format!("{name}-{hash}");
        // The new ReplicaSet's failure first, else another's.
        let mut failure = None;
        for rs in self.controlled(&replica_sets(), ns, uid) {
            let is_current = str_at(&rs, &format!("/metadata/labels/{POD_TEMPLATE_HASH}")) == hash;
            if is_current {
                current = str_at(&rs, "/metadata/name").to_owned();
            }
            if let Some(f) = replica_failure(&rs)
                && (is_current || failure.is_none())
            {
                failure = Some(f.clone());
            }
            for pod in self.controlled(&pods(), ns, str_at(&rs, "/metadata/uid")) {
                if is_deleting(&pod) {
                    continue;
                }
                counts.replicas += 1;
                if is_current {
                    counts.updated += 1;
                }
                if pod_is_ready(&pod) {
                    counts.ready += 1;
                }
            }
        }
        let mut status = deployment_status(&d, counts, &current);
        if let Some(failure) = failure {
            upsert_condition(&mut status, failure);
        }
        self.write_status(&def, ns, &name, status, CONTROL_PLANE);
    }

    /// Every pod of a Deployment Ready now (what a test does to skip the delay).
    pub(super) fn deployment_ready_now(&mut self, ns: &str, name: &str) {
        let Some(d) = self.get_opt(&deployments(), ns, name).cloned() else {
            return;
        };
        let Some(def) = self.def_of(&pods()) else {
            return;
        };
        for rs in self.controlled(&replica_sets(), ns, str_at(&d, "/metadata/uid")) {
            for pod in self.controlled(&pods(), ns, str_at(&rs, "/metadata/uid")) {
                if !is_deleting(&pod) && !pod_is_ready(&pod) {
                    let pod_name = str_at(&pod, "/metadata/name").to_owned();
                    self.write_status(&def, ns, &pod_name, pod_status(&pod, true), "kubelet");
                }
            }
            let rs_name = str_at(&rs, "/metadata/name").to_owned();
            self.sync_replica_set(ns, &rs_name, false);
        }
    }

    /// After seeding: every Deployment and ReplicaSet reconciled, as if the cluster
    /// had been running (new pods Ready at once; pods saved Pending get ready again;
    /// a ReplicaSet saved with its pods refused tries again, its retries' timers not
    /// being saved).
    pub(super) fn reconcile_workloads(&mut self) {
        let refused_before: Vec<(String, String)> = self
            .keys_of(&replica_sets())
            .into_iter()
            .filter(|(ns, name)| {
                self.get_opt(&replica_sets(), ns, name)
                    .and_then(replica_failure)
                    .is_some()
            })
            .collect();
        let deployments: Vec<(String, String)> = self.keys_of(&deployments());
        for (ns, name) in deployments {
            self.sync_deployment(&ns, &name, true);
        }
        for (ns, name) in self.keys_of(&replica_sets()) {
            self.sync_replica_set(&ns, &name, true);
        }
        // Those refused anew scheduled their first try as they were refused.
        for (ns, name) in refused_before {
            self.schedule(Scheduled::RetryReplicaSet {
                ns,
                name,
                after: RETRY_FIRST,
            });
        }
        let delay = self.scenario.deployment_ready_delay.duration();
        for (ns, name) in self.keys_of(&pods()) {
            let Some(pod) = self.get_opt(&pods(), &ns, &name).cloned() else {
                continue;
            };
            if is_deleting(&pod) || pod_is_ready(&pod) {
                continue;
            }
            if let Some(after) = delay {
                self.schedule(Scheduled::PodReady {
                    ns,
                    name,
                    uid: str_at(&pod, "/metadata/uid").to_owned(),
                    after,
                });
            }
        }
    }

    fn keys_of(&self, res: &ResKey) -> Vec<(String, String)> {
        self.objects_of(res)
            .map(|o| {
                (
                    str_at(o, "/metadata/namespace").to_owned(),
                    str_at(o, "/metadata/name").to_owned(),
                )
            })
            .collect()
    }
}

/// A Deployment's pods, counted.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Active (not terminating) pods of every ReplicaSet.
    pub replicas: i64,
    /// Active pods of the current ReplicaSet.
    pub updated: i64,
    /// Active pods that are Ready.
    pub ready: i64,
}

/// A pod's status: Pending (scheduled, containers starting) or Running and Ready.
fn pod_status(pod: &Value, ready: bool) -> Value {
    let t = now();
    let containers: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let mut s = json!({
                        "name": c.get("name").cloned().unwrap_or(json!("")),
                        "image": c.get("image").cloned().unwrap_or(json!("")),
                        "ready": ready, "started": ready, "restartCount": 0,
                    });
                    s["state"] = if ready {
                        json!({"running": {"startedAt": t}})
                    } else {
                        json!({"waiting": {"reason": "ContainerCreating"}})
                    };
                    s
                })
                .collect()
        })
        .unwrap_or_default();
    let flag = if ready { "True" } else { "False" };
    let mut status = json!({
        "phase": if ready { "Running" } else { "Pending" },
        "hostIP": "10.0.0.1",
        "startTime": t,
        "containerStatuses": containers,
    });
    for (ty, st) in [
        ("PodScheduled", "True"),
        ("Initialized", "True"),
        ("ContainersReady", flag),
        ("Ready", flag),
    ] {
        upsert_condition(
            &mut status,
            json!({"type": ty, "status": st, "lastTransitionTime": t}),
        );
    }
    status
}

/// A Deployment's status from its pods.
pub fn deployment_status(obj: &Value, counts: Counts, rs: &str) -> Value {
    let desired = replicas(obj);
    let mut status = json!({"observedGeneration": obj.pointer("/metadata/generation").cloned().unwrap_or(json!(1))});
    if counts.replicas > 0 {
        status["replicas"] = json!(counts.replicas);
        status["updatedReplicas"] = json!(counts.updated);
        if counts.ready > 0 {
            status["readyReplicas"] = json!(counts.ready);
            status["availableReplicas"] = json!(counts.ready);
        }
        if counts.replicas > counts.ready {
            status["unavailableReplicas"] = json!(counts.replicas - counts.ready);
        }
    }
    let available = counts.ready >= desired;
    let complete = available && counts.updated >= desired && counts.replicas == desired;
    let condition = |ty: &str, st: &str, reason: &str, message: String| {
        let t = now();
        json!({"type": ty, "status": st, "lastUpdateTime": t, "lastTransitionTime": t,
            "reason": reason, "message": message})
    };
    upsert_condition(
        &mut status,
        if available {
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
            )
        } else {
            condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            )
        },
    );
    upsert_condition(
        &mut status,
        if complete {
            condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{rs}\" has successfully progressed."),
            )
        } else {
            condition(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{rs}\" is progressing."),
            )
        },
    );
    status
}
