//! What the controllers of a real cluster would do: kind defaults, namespace and CRD
//! finalization, deployment rollout status and scenario conditions on custom resources.

use std::time::Duration;

use serde_json::{Value, json};

use super::fields::Scope;
use super::resources::{self, ResKey, ResourceDef};
use super::scenario::Delay;
use super::status::ApiError;
use super::store::{Deleted, Propagation, Scheduled, Store, finalizers, is_deleting, now, str_at};
use super::workloads::pods;

const NAMESPACE_FINALIZER: &str = "kubernetes";
const CRD_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Upsert a condition by type, keeping lastTransitionTime when the status is unchanged.
pub fn upsert_condition(status: &mut Value, mut cond: Value) {
    if !status.is_object() {
        *status = json!({});
    }
    if !status.get("conditions").is_some_and(Value::is_array) {
        status["conditions"] = json!([]);
    }
    let list = status["conditions"]
        .as_array_mut()
        .expect("conditions was made an array above");
    let ty = cond.get("type").cloned();
    match list.iter_mut().find(|c| c.get("type") == ty.as_ref()) {
        Some(existing) => {
            if existing.get("status") == cond.get("status")
                && let Some(t) = existing.get("lastTransitionTime")
            {
                cond["lastTransitionTime"] = t.clone();
            }
            *existing = cond;
        }
        None => list.push(cond),
    }
}

pub(super) fn condition(ty: &str, status: &str, reason: &str, message: &str) -> Value {
    let t = now();
    json!({"type": ty, "status": status, "lastUpdateTime": t, "lastTransitionTime": t,
        "reason": reason, "message": message})
}

impl Store {
    /// What the registry sets on a new object after its fields are recorded, so no
    /// manager owns it. A namespace: its status is `{phase: Active}` whatever the
    /// client sent, and its `spec.finalizers` are the client's with `kubernetes`
    /// added at the end unless already there (k8s.io/kubernetes v1.36.3
    /// `pkg/registry/core/namespace/strategy.go`, namespaceStrategy.PrepareForCreate).
    pub(super) fn prepare_for_create(def: &ResourceDef, obj: &mut Value) {
        if !def.is_namespaces() {
            return;
        }
        let Some(obj) = obj.as_object_mut() else {
            return;
        };
        obj.insert("status".to_owned(), json!({"phase": "Active"}));
        let spec = obj.entry("spec").or_insert(Value::Null);
        if spec.is_null() {
            *spec = json!({});
        }
        // A spec that is no object was refused before (its type is checked).
        let Some(spec) = spec.as_object_mut() else {
            return;
        };
        let mut fins = resources::strings(spec.get("finalizers"));
        if !fins.iter().any(|f| f == NAMESPACE_FINALIZER) {
            fins.push(NAMESPACE_FINALIZER.to_owned());
        }
        spec.insert("finalizers".to_owned(), json!(fins));
    }

    /// What the registry keeps of the stored object on a write to the main resource:
    /// a namespace's `spec.finalizers`, which only its `finalize` subresource
    /// changes (k8s.io/kubernetes v1.36.3 pkg/registry/core/namespace/strategy.go,
    /// namespaceStrategy.PrepareForUpdate). A namespace replaced without its spec
    /// (`kubectl replace`, a seed written again) keeps its `kubernetes` finalizer, so
    /// its deletion still goes through the namespace controller, which deletes its
    /// content.
    pub(super) fn prepare_for_update(def: &ResourceDef, old: &Value, new: &mut Value) {
        if !def.is_namespaces() {
            return;
        }
        // A body that is no object, or whose spec is no object, is refused further on.
        let Some(new) = new.as_object_mut() else {
            return;
        };
        match old.pointer("/spec/finalizers") {
            Some(kept) => {
                let spec = new.entry("spec").or_insert(Value::Null);
                if spec.is_null() {
                    *spec = json!({});
                }
                if let Some(spec) = spec.as_object_mut() {
                    spec.insert("finalizers".to_owned(), kept.clone());
                }
            }
            None => {
                if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("finalizers");
                }
            }
        }
    }

    /// Kind-specific defaults and validation for a new object.
    pub(super) fn default_kind(
        &mut self,
        def: &ResourceDef,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        let name = str_at(obj, "/metadata/name").to_owned();
        default_on_write(def, obj);
        match (def.group.as_str(), def.plural.as_str()) {
            ("", "secrets") => {
                if obj.get("type").is_none() {
                    obj["type"] = json!("Opaque");
                }
                if let Some(Value::Object(sd)) =
                    obj.as_object_mut().and_then(|m| m.remove("stringData"))
                {
                    if !obj.get("data").is_some_and(Value::is_object) {
                        obj["data"] = json!({});
                    }
                    for (k, v) in sd {
                        let text = v.as_str().unwrap_or("").as_bytes().to_vec();
                        obj["data"][k] = json!(base64(&text));
                    }
                }
            }
            ("apps", "deployments") => {
                let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
                for (field, why) in [("selector", "spec.selector"), ("template", "spec.template")] {
                    if spec.get(field).is_none() {
                        return Err(ApiError::invalid(
                            &def.kind,
                            &def.group,
                            &name,
                            why,
                            "Required value",
                        ));
                    }
                }
                let spec = &mut obj["spec"];
                for (k, v) in [
                    ("replicas", json!(1)),
                    ("revisionHistoryLimit", json!(10)),
                    ("progressDeadlineSeconds", json!(600)),
                    (
                        "strategy",
                        json!({"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}}),
                    ),
                ] {
                    if spec.get(k).is_none() {
                        spec[k] = v;
                    }
                }
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                // No cleanup finalizer yet: the registry adds it when the CRD is deleted
                // (`delete_crd`).
                self.validate_crd(def, obj, &name)?;
                let mut names = obj["spec"]["names"].clone();
                let kind = str_at(obj, "/spec/names/kind").to_owned();
                if names.get("singular").is_none() {
                    names["singular"] = json!(kind.to_lowercase());
                }
                if names.get("listKind").is_none() {
                    names["listKind"] = json!(format!("{kind}List"));
                }
                obj["spec"]["names"] = names.clone();
                let storage: Vec<Value> = obj["spec"]["versions"]
                    .as_array()
                    .map(|vs| {
                        vs.iter()
                            .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                            .filter_map(|v| v.get("name").cloned())
                            .collect()
                    })
                    .unwrap_or_default();
                let mut status = json!({"acceptedNames": names, "storedVersions": storage});
                upsert_condition(
                    &mut status,
                    condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
                );
                upsert_condition(
                    &mut status,
                    condition(
                        "Established",
                        "True",
                        "InitialNamesAccepted",
                        "the initial names have been accepted",
                    ),
                );
                for c in status["conditions"].as_array_mut().into_iter().flatten() {
                    if let Some(m) = c.as_object_mut() {
                        m.remove("lastUpdateTime");
                    }
                }
                obj["status"] = status;
            }
            _ => {}
        }
        Ok(())
    }

    fn validate_crd(&self, def: &ResourceDef, obj: &Value, name: &str) -> Result<(), ApiError> {
        let invalid =
            |field: &str, why: &str| ApiError::invalid(&def.kind, &def.group, name, field, why);
        let group = str_at(obj, "/spec/group");
        let plural = str_at(obj, "/spec/names/plural");
        if group.is_empty() {
            return Err(invalid("spec.group", "Required value"));
        }
        if plural.is_empty() {
            return Err(invalid("spec.names.plural", "Required value"));
        }
        if str_at(obj, "/spec/names/kind").is_empty() {
            return Err(invalid("spec.names.kind", "Required value"));
        }
        if !matches!(str_at(obj, "/spec/scope"), "Namespaced" | "Cluster") {
            return Err(invalid(
                "spec.scope",
                "Unsupported value: supported values: \"Cluster\", \"Namespaced\"",
            ));
        }
        if name != format!("{plural}.{group}") {
            return Err(invalid(
                "metadata.name",
                &format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
            ));
        }
        let versions = obj.pointer("/spec/versions").and_then(Value::as_array);
        let storage = versions
            .map(|v| {
                v.iter()
                    .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                    .count()
            })
            .unwrap_or(0);
        if versions.is_none_or(|v| v.is_empty()) {
            return Err(invalid(
                "spec.versions",
                "Invalid value: must have exactly one version marked as storage version",
            ));
        }
        if storage != 1 {
            return Err(invalid(
                "spec.versions",
                "Invalid value: must have exactly one version marked as storage version",
            ));
        }
        Ok(())
    }

    /// Checks on updates that the kind enforces.
    pub(super) fn validate_update(
        &self,
        def: &ResourceDef,
        old: &Value,
        new: &Value,
    ) -> Result<(), ApiError> {
        if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
            let name = str_at(old, "/metadata/name");
            if str_at(old, "/spec/group") != str_at(new, "/spec/group") {
                return Err(ApiError::invalid(
                    &def.kind,
                    &def.group,
                    name,
                    "spec.group",
                    "Invalid value: field is immutable",
                ));
            }
            if str_at(old, "/spec/names/plural") != str_at(new, "/spec/names/plural") {
                return Err(ApiError::invalid(
                    &def.kind,
                    &def.group,
                    name,
                    "spec.names.plural",
                    "Invalid value: field is immutable",
                ));
            }
        }
        Ok(())
    }

    /// Controller reactions to a committed create or update; returns the stored object.
    pub(super) fn after_write(
        &mut self,
        def: &ResourceDef,
        old: Option<&Value>,
        stored: &Value,
    ) -> Value {
        let new_generation = old.is_none_or(|o| generation(o) != generation(stored));
        if is_deleting(stored) || !new_generation {
            return stored.clone();
        }
        let ns = str_at(stored, "/metadata/namespace").to_owned();
        let name = str_at(stored, "/metadata/name").to_owned();
        let uid = str_at(stored, "/metadata/uid").to_owned();
        // Seeded workloads are reconciled once every seed is stored
        // (`reconcile_workloads`), as a cluster that has been running.
        if def.group == "apps" && def.plural == "deployments" {
            if !self.seeding {
                self.sync_deployment(&ns, &name, false);
            }
        } else if def.group == "apps" && def.plural == "replicasets" {
            if !self.seeding {
                self.sync_replica_set(&ns, &name, false);
            }
        } else if def.custom {
            let matching: Vec<(usize, Delay)> = self
                .scenario
                .conditions
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    r.kind == def.kind
                        && r.group.as_ref().is_none_or(|g| *g == def.group)
                        && r.namespace.as_ref().is_none_or(|n| *n == ns)
                        && r.name.as_ref().is_none_or(|re| {
                            regex::Regex::new(re).is_ok_and(|re| re.is_match(&name))
                        })
                })
                .map(|(i, r)| (i, r.after))
                .collect();
            for (rule, after) in matching {
                if let Some(after) = after.duration() {
                    self.schedule(Scheduled::Condition {
                        res: def.key(),
                        ns: ns.clone(),
                        name: name.clone(),
                        uid: uid.clone(),
                        generation: generation(stored),
                        rule,
                        after,
                    });
                }
            }
        }
        stored.clone()
    }

    /// Replace an object's status as a controller would (status subresource, own manager).
    pub(super) fn write_status(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        status: Value,
        manager: &str,
    ) -> Option<Value> {
        let old = self.get_opt(&def.key(), ns, name)?.clone();
        let mut new = old.clone();
        new["status"] = status;
        if new == old {
            return Some(old);
        }
        let version = def.preferred_version().to_owned();
        self.record_update(
            def,
            &version,
            manager,
            Scope::StatusOnly,
            Some(&old),
            &mut new,
        );
        Some(self.put(&def.key(), new))
    }

    /// Set one condition on an object's status (what a scenario rule or a test does).
    pub fn set_condition(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        mut cond: Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let obj = self.get(def, ns, name)?;
        let mut status = obj.get("status").cloned().unwrap_or_else(|| json!({}));
        let g = generation(&obj);
        if cond.get("lastTransitionTime").is_none() {
            cond["lastTransitionTime"] = json!(now());
        }
        if g > 0 {
            cond["observedGeneration"] = json!(g);
            status["observedGeneration"] = json!(g);
        }
        upsert_condition(&mut status, cond);
        Ok(self
            .write_status(def, ns, name, status, manager)
            .expect("the object was just read"))
    }

    pub(super) fn delete_namespace(
        &mut self,
        def: &ResourceDef,
        old: Value,
        dry_run: bool,
    ) -> Result<Deleted, ApiError> {
        let name = str_at(&old, "/metadata/name").to_owned();
        let spec_fins = resources::strings(old.pointer("/spec/finalizers"));
        // kubernetes/kubernetes v1.36.3 `pkg/registry/core/namespace/storage/storage.go`,
        // `REST.Delete`: the first delete only sets the deletion timestamp (no grace
        // period) and the phase, whatever the finalizers. A later one answers the
        // namespace as it is (200) while spec finalizers remain; without them it is the
        // generic delete, which removes a namespace that has no metadata finalizers
        // either (answered with the namespace: `ReturnDeletedObject`).
        if is_deleting(&old) {
            if !spec_fins.is_empty() {
                return Ok(Deleted::Pending(old));
            }
            if finalizers(&old).is_empty() {
                if dry_run {
                    return Ok(Deleted::Gone(old));
                }
                let gone = self
                    .remove(&def.key(), "", &name)
                    .expect("the namespace was just read");
                return Ok(Deleted::Gone(gone));
            }
            return self.delete_object(def, old, dry_run, Propagation::Background);
        }
        // The namespace controller works on a namespace with spec finalizers, its own
        // `kubernetes` or not, and leaves one without them alone: nothing deletes its
        // content or reports on it, and it stays Terminating until deleted again
        // (`pkg/controller/namespace/deletion/namespaced_resources_deleter.go`,
        // `Delete` returns when `finalized`).
        let controlled = !spec_fins.is_empty();
        let mut new = old.clone();
        new["metadata"]["deletionTimestamp"] = json!(now());
        new["status"]["phase"] = json!("Terminating");
        if controlled {
            for cond in self.namespace_deletion_conditions(&name) {
                upsert_condition(&mut new["status"], cond);
            }
        }
        if dry_run {
            return Ok(Deleted::Pending(new));
        }
        let stored = self.put(&def.key(), new);
        if !controlled {
            return Ok(Deleted::Pending(stored));
        }
        let knob = self
            .scenario
            .namespaces
            .get(&name)
            .cloned()
            .unwrap_or_default();
        let delay = if knob.stuck {
            Delay::Never
        } else {
            knob.finalize_delay
                .unwrap_or(self.scenario.namespace_finalize_delay)
        };
        if let Some(after) = delay.duration() {
            self.schedule(Scheduled::FinalizeNamespace {
                name,
                uid: str_at(&stored, "/metadata/uid").to_owned(),
                after,
            });
        }
        Ok(Deleted::Pending(stored))
    }

    pub(super) fn delete_crd(
        &mut self,
        def: &ResourceDef,
        old: Value,
        dry_run: bool,
    ) -> Result<Deleted, ApiError> {
        if is_deleting(&old) {
            return self.delete_object(def, old, dry_run, Propagation::Background);
        }
        let mut new = old.clone();
        // The first delete sets the deletion timestamp (no grace period) and adds the
        // cleanup finalizer after the CRD's own, which a CRD never has before (its
        // create leaves `metadata.finalizers` as the client sent them), so its custom
        // resources always go before it (k8s.io/apiextensions-apiserver v0.36.3
        // `pkg/registry/customresourcedefinition/etcd.go`, `REST.Delete`).
        let mut fins = finalizers(&old);
        if !fins.iter().any(|f| f == CRD_FINALIZER) {
            fins.push(CRD_FINALIZER.to_owned());
        }
        new["metadata"]["finalizers"] = json!(fins);
        new["metadata"]["deletionTimestamp"] = json!(now());
        // The registry marks it pending; the finalizer controller, once it starts,
        // in progress (k8s.io/apiextensions-apiserver v0.36.3
        // `pkg/registry/customresourcedefinition/etcd.go`, `pkg/controller/finalizer/
        // crd_finalizer.go`).
        upsert_condition(
            &mut new["status"],
            crd_terminating(
                "InstanceDeletionPending",
                "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
            ),
        );
        if dry_run {
            return Ok(Deleted::Pending(new));
        }
        let stored = self.put(&def.key(), new);
        if let Some(after) = self.scenario.crd_finalize_delay.duration() {
            self.schedule(Scheduled::FinalizeCrd {
                name: str_at(&stored, "/metadata/name").to_owned(),
                uid: str_at(&stored, "/metadata/uid").to_owned(),
                after,
            });
        }
        Ok(Deleted::Pending(stored))
    }

    pub(super) fn def_of(&self, res: &ResKey) -> Option<ResourceDef> {
        self.resources().into_iter().find(|d| d.key() == *res)
    }

    /// Run a scheduled effect (called by its timer).
    pub fn fire(&mut self, effect: Scheduled) {
        match effect {
            Scheduled::FinalizeNamespace { name, uid, .. } => {
                let ns_key = ResKey::new("", "namespaces");
                let Some(ns) = self.get_opt(&ns_key, "", &name) else {
                    return;
                };
                if str_at(ns, "/metadata/uid") != uid {
                    return;
                }
                self.mark_finalizing_namespace(&name);
                self.delete_namespace_content(&name);
                self.try_complete_namespace(&name);
            }
            Scheduled::FinalizeCrd { name, uid, .. } => {
                let crd_key = ResKey::new("apiextensions.k8s.io", "customresourcedefinitions");
                let Some(crd) = self.get_opt(&crd_key, "", &name).cloned() else {
                    return;
                };
                if str_at(&crd, "/metadata/uid") != uid {
                    return;
                }
                self.mark_finalizing_crd(&name);
                let mut marked = crd.clone();
                upsert_condition(
                    &mut marked["status"],
                    crd_terminating(
                        "InstanceDeletionInProgress",
                        "CustomResource deletion is in progress",
                    ),
                );
                let crd = self.put(&crd_key, marked);
                if let Some(def) = resources::from_crd(&crd) {
                    let key = def.key();
                    let all = self.list(&def, None, &Default::default());
                    for obj in all {
                        if !is_deleting(&obj) {
                            let _ = self.delete_object(&def, obj, false, Propagation::Background);
                        }
                    }
                    let _ = key;
                }
                self.try_complete_crd(&name);
            }
            Scheduled::PodReady { ns, name, uid, .. } => self.pod_ready(&ns, &name, &uid),
            Scheduled::PodGone { ns, name, uid, .. } => self.pod_gone(&ns, &name, &uid),
            Scheduled::SyncReplicaSet { ns, name, .. } => self.sync_replica_set(&ns, &name, false),
            Scheduled::RetryReplicaSet { ns, name, after } => {
                self.retry_replica_set(&ns, &name, after);
            }
            Scheduled::CollectGarbage { .. } => self.collect_garbage(),
            Scheduled::FluxControllers { .. } => self.run_flux_controllers(),
            Scheduled::Condition {
                res,
                ns,
                name,
                uid,
                generation: g,
                rule,
                ..
            } => {
                let Some(def) = self.def_of(&res) else { return };
                let Some(obj) = self.get_opt(&res, &ns, &name).cloned() else {
                    return;
                };
                let Some(rule) = self.scenario.conditions.get(rule).cloned() else {
                    return;
                };
                if str_at(&obj, "/metadata/uid") == uid
                    && generation(&obj) == g
                    && !is_deleting(&obj)
                {
                    let cond = json!({"type": rule.condition_type, "status": rule.status,
                        "reason": rule.reason, "message": rule.message});
                    let _ = self.set_condition(&def, &ns, &name, cond, &rule.manager);
                }
            }
            Scheduled::ClearFinalizers {
                res, ns, name, uid, ..
            } => {
                let Some(def) = self.def_of(&res) else { return };
                let Some(obj) = self.get_opt(&res, &ns, &name).cloned() else {
                    return;
                };
                if str_at(&obj, "/metadata/uid") != uid || !is_deleting(&obj) {
                    return;
                }
                // The garbage collector's own finalizers are its business.
                let keep: Vec<String> = finalizers(&obj)
                    .into_iter()
                    .filter(|f| {
                        self.scenario.stuck_finalizers.contains(f)
                            || f == super::gc::FOREGROUND
                            || f == super::gc::ORPHAN
                    })
                    .collect();
                let mut new = obj.clone();
                new["metadata"]["finalizers"] = json!(keep);
                if keep.is_empty()
                    && let Some(m) = new["metadata"].as_object_mut()
                {
                    m.remove("finalizers");
                }
                let stored = self.put(&def.key(), new);
                if keep.is_empty() {
                    let _ = stored;
                    self.remove(&res, &ns, &name);
                }
            }
        }
    }

    /// The namespace controller's pass over a deleted namespace's content: its Pods
    /// first, and the rest only once no Pod is left, so that nothing a running Pod
    /// relies on goes before it (OrderedNamespaceDeletion, on by default since 1.33 and
    /// locked on since 1.34: kubernetes/kubernetes v1.36.3
    /// `pkg/controller/namespace/deletion/namespaced_resources_deleter.go`,
    /// `deleteAllContent`). A Flux controller in the namespace is stopped before its
    /// objects are deleted. The pass is run again when the last Pod goes
    /// ([`Store::last_pod_gone`]). Before 1.33 ([`crate::Scenario::pods_first`]) the
    /// gate is off by default and every kind is deleted in the same pass.
    fn delete_namespace_content(&mut self, name: &str) {
        let pods = pods();
        self.delete_all_in(&pods, name);
        if self.scenario.pods_first() && !self.names_in(&pods, name).is_empty() {
            return;
        }
        for res in self.collections().into_iter().filter(|r| *r != pods) {
            self.delete_all_in(&res, name);
        }
    }

    /// The last Pod of the finalizing namespace `name` is gone: the namespace
    /// controller's next pass deletes the rest (see `delete_namespace_content`; before
    /// 1.33 nothing waited for the Pods).
    pub(super) fn last_pod_gone(&mut self, name: &str) {
        if !self.scenario.pods_first() {
            return;
        }
        let Some(uid) = self
            .get_opt(&ResKey::new("", "namespaces"), "", name)
            .map(|ns| str_at(ns, "/metadata/uid").to_owned())
        else {
            return;
        };
        self.schedule(Scheduled::FinalizeNamespace {
            name: name.to_owned(),
            uid,
            after: Duration::ZERO,
        });
    }

    /// Deletes every object of `res` in the namespace `ns` that is not being deleted.
    fn delete_all_in(&mut self, res: &ResKey, ns: &str) {
        let Some(def) = self.def_of(res).filter(|d| d.namespaced) else {
            return;
        };
        for obj_name in self.names_in(res, ns) {
            if let Some(obj) = self.get_opt(res, ns, &obj_name).cloned()
                && !is_deleting(&obj)
            {
                let _ = self.delete_object(&def, obj, false, Propagation::Background);
            }
        }
    }

    /// The conditions the namespace controller reports on a Terminating namespace:
    /// what content remains and which finalizers hold it, in the real server's words.
    fn namespace_deletion_conditions(&self, name: &str) -> Vec<Value> {
        let mut remaining = Vec::new();
        let mut held: std::collections::BTreeMap<String, usize> = Default::default();
        // While Pods remain, the controller's pass ends once it has deleted them and
        // reports every condition as fine: it has counted nothing yet
        // (`deleteAllContent` returns before `ProcessContentTotals`).
        let counted = if !self.scenario.pods_first() || self.names_in(&pods(), name).is_empty() {
            self.collections()
        } else {
            Vec::new()
        };
        for res in counted {
            if res.is_namespaces() {
                continue;
            }
            let names = self.names_in(&res, name);
            if names.is_empty() {
                continue;
            }
            // `resource.group`, the core group's too (`configmaps.`): kubernetes/kubernetes
            // v1.36.3 `pkg/controller/namespace/deletion/status_condition_utils.go`.
            let resource = format!("{}.{}", res.plural, res.group);
            remaining.push(format!("{resource} has {} resource instances", names.len()));
            for object in names.iter().filter_map(|n| self.get_opt(&res, name, n)) {
                for finalizer in finalizers(object) {
                    *held.entry(finalizer).or_default() += 1;
                }
            }
        }
        let (content, content_reason, content_message) = if remaining.is_empty() {
            (
                "False",
                "ContentRemoved",
                "All content successfully removed".to_owned(),
            )
        } else {
            (
                "True",
                "SomeResourcesRemain",
                format!("Some resources are remaining: {}", remaining.join(", ")),
            )
        };
        let (fins, fins_reason, fins_message) = if held.is_empty() {
            (
                "False",
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished".to_owned(),
            )
        } else {
            let list: Vec<String> = held
                .iter()
                .map(|(f, n)| format!("{f} in {n} resource instances"))
                .collect();
            (
                "True",
                "SomeFinalizersRemain",
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    list.join(", ")
                ),
            )
        };
        [
            (
                "NamespaceDeletionDiscoveryFailure",
                "False",
                "ResourcesDiscovered",
                "All resources successfully discovered".to_owned(),
            ),
            (
                "NamespaceDeletionGroupVersionParsingFailure",
                "False",
                "ParsedGroupVersions",
                "All legacy kube types successfully parsed".to_owned(),
            ),
            (
                "NamespaceDeletionContentFailure",
                "False",
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization".to_owned(),
            ),
            (
                "NamespaceContentRemaining",
                content,
                content_reason,
                content_message,
            ),
            (
                "NamespaceFinalizersRemaining",
                fins,
                fins_reason,
                fins_message,
            ),
        ]
        .into_iter()
        .map(|(ty, status, reason, message)| {
            let mut cond = condition(ty, status, reason, &message);
            if let Some(m) = cond.as_object_mut() {
                m.remove("lastUpdateTime");
            }
            cond
        })
        .collect()
    }

    pub(super) fn try_complete_namespace(&mut self, name: &str) {
        if !self.is_finalizing_namespace(name) {
            return;
        }
        let remaining = self
            .collections()
            .iter()
            .filter(|r| !r.is_namespaces())
            .any(|res| !self.names_in(res, name).is_empty());
        let key = ResKey::new("", "namespaces");
        let Some(ns) = self.get_opt(&key, "", name).cloned() else {
            return;
        };
        if remaining {
            // The namespace controller reports what is left as content goes.
            let mut new = ns.clone();
            for cond in self
                .namespace_deletion_conditions(name)
                .into_iter()
                .filter(|c| {
                    matches!(
                        str_at(c, "/type"),
                        "NamespaceContentRemaining" | "NamespaceFinalizersRemaining"
                    )
                })
            {
                upsert_condition(&mut new["status"], cond);
            }
            if new["status"]["conditions"] != ns["status"]["conditions"] {
                self.put(&key, new);
            }
            return;
        }
        self.unmark_finalizing_namespace(name);
        // The controller takes its own `kubernetes` finalizer off and leaves the others,
        // sorted (`namespaced_resources_deleter.go`, `finalizeNamespace`); the namespace
        // goes once no finalizer of either list remains (`storage.go`,
        // `ShouldDeleteNamespaceDuringUpdate`).
        let mut rest: Vec<String> = resources::strings(ns.pointer("/spec/finalizers"))
            .into_iter()
            .filter(|f| f != NAMESPACE_FINALIZER)
            .collect();
        rest.sort();
        rest.dedup();
        let mut new = ns.clone();
        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
            if rest.is_empty() {
                spec.remove("finalizers");
            } else {
                spec.insert("finalizers".to_owned(), json!(rest));
            }
        }
        if new != ns {
            self.put(&key, new);
        }
        if rest.is_empty() && finalizers(&ns).is_empty() {
            self.remove(&key, "", name);
        }
    }

    pub(super) fn try_complete_crd(&mut self, name: &str) {
        if !self.is_finalizing_crd(name) {
            return;
        }
        let key = ResKey::new("apiextensions.k8s.io", "customresourcedefinitions");
        let Some(crd) = self.get_opt(&key, "", name).cloned() else {
            return;
        };
        if let Some(def) = resources::from_crd(&crd)
            && !self.list(&def, None, &Default::default()).is_empty()
        {
            return;
        }
        self.unmark_finalizing_crd(name);
        let fins: Vec<String> = finalizers(&crd)
            .into_iter()
            .filter(|f| f != CRD_FINALIZER)
            .collect();
        let mut new = crd.clone();
        new["metadata"]["finalizers"] = json!(fins);
        if fins.is_empty() {
            if let Some(m) = new["metadata"].as_object_mut() {
                m.remove("finalizers");
            }
            self.put(&key, new);
            self.remove(&key, "", name);
        } else {
            self.put(&key, new);
        }
    }
}

/// A CRD's `Terminating` condition (no `lastUpdateTime`: CRD conditions have none).
fn crd_terminating(reason: &str, message: &str) -> Value {
    let mut cond = condition("Terminating", "True", reason, message);
    if let Some(m) = cond.as_object_mut() {
        m.remove("lastUpdateTime");
    }
    cond
}

/// The defaults the API server gives on every write, as it decodes the object (a
/// patch's result too): a pod spec's ([`default_pod_spec`]) and a namespace's
/// `kubernetes.io/metadata.name` label (k8s.io/kubernetes v1.36.3
/// `pkg/apis/core/v1/defaults.go`, SetDefaults_Namespace).
pub(super) fn default_on_write(def: &ResourceDef, obj: &mut Value) {
    default_pod_spec(def, obj);
    if def.is_namespaces() {
        let name = str_at(obj, "/metadata/name").to_owned();
        let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
            return;
        };
        if name.is_empty() {
            return;
        }
        let labels = meta.entry("labels").or_insert(Value::Null);
        if !labels.is_object() {
            *labels = json!({});
        }
        labels["kubernetes.io/metadata.name"] = json!(name);
    }
}

/// The zero value of a built-in kind as the API server's field manager sees it before
/// a create (`Creater.New` of the type, k8s.io/apiserver v0.36.3
/// `pkg/endpoints/handlers/create.go`): a struct field is never omitted
/// (k8s.io/apimachinery v0.36.3 `pkg/runtime/converter.go`, isEmpty), so a create
/// does not bring such a map into being. Only the namespace's `spec` and `status` are
/// given here.
pub(super) fn zero_object(def: &ResourceDef) -> Option<Value> {
    def.is_namespaces()
        .then(|| json!({"metadata": {}, "spec": {}, "status": {}}))
}

/// The defaults the API server gives a pod spec, a Deployment's or ReplicaSet's
/// template's or a Pod's own, on every write (k8s.io/kubernetes v1.36.3
/// `pkg/apis/core/v1/defaults.go`: SetDefaults_PodSpec, SetDefaults_Container,
/// SetDefaults_ContainerPort; a container's `resources` is a struct the API always
/// writes, `{}` when empty).
pub(super) fn default_pod_spec(def: &ResourceDef, obj: &mut Value) {
    let pointer = match (def.group.as_str(), def.plural.as_str()) {
        ("apps", "deployments" | "replicasets") => "/spec/template/spec",
        ("", "pods") => "/spec",
        _ => return,
    };
    let Some(Value::Object(spec)) = obj.pointer_mut(pointer) else {
        return;
    };
    for (field, default) in [
        ("dnsPolicy", json!("ClusterFirst")),
        ("restartPolicy", json!("Always")),
        ("securityContext", json!({})),
        ("terminationGracePeriodSeconds", json!(30)),
        ("schedulerName", json!("default-scheduler")),
    ] {
        spec.entry(field).or_insert(default);
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let Some(Value::Array(containers)) = spec.get_mut(list) else {
            continue;
        };
        for c in containers.iter_mut().filter_map(Value::as_object_mut) {
            let policy = match kubelet_tag(c.get("image").and_then(Value::as_str).unwrap_or("")) {
                Some("latest") => "Always",
                _ => "IfNotPresent",
            };
            c.entry("imagePullPolicy").or_insert(json!(policy));
            c.entry("terminationMessagePath")
                .or_insert(json!("/dev/termination-log"));
            c.entry("terminationMessagePolicy").or_insert(json!("File"));
            c.entry("resources").or_insert(json!({}));
            if let Some(Value::Array(ports)) = c.get_mut("ports") {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    p.entry("protocol").or_insert(json!("TCP"));
                }
            }
        }
    }
}

/// An image reference's tag as the kubelet's parser reads it: its own tag, `latest`
/// when there is neither tag nor digest, none for a digest alone (k8s.io/kubernetes
/// v1.36.3 `pkg/util/parsers/parsers.go`).
fn kubelet_tag(image: &str) -> Option<&str> {
    planrun_text::image_tag(image).or((!image.contains('@')).then_some("latest"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn a_pod_template_gets_the_api_servers_defaults() {
        assert_eq!(kubelet_tag("registry.example:5000/web:v1"), Some("v1"));
        assert_eq!(kubelet_tag("registry.example:5000/web"), Some("latest"));
        assert_eq!(kubelet_tag("web@sha256:abc"), None);
        assert_eq!(kubelet_tag("web:v2@sha256:abc"), Some("v2"));
        let def = super::super::resources::builtins()
            .into_iter()
            .find(|d| d.plural == "deployments")
            .unwrap();
        let mut d = json!({"spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "a", "image": "web", "ports": [{"containerPort": 80}]},
                           {"name": "b", "image": "web:v1", "imagePullPolicy": "Never"}]}}}});
        default_pod_spec(&def, &mut d);
        let spec = &d["spec"]["template"]["spec"];
        assert_eq!(spec["restartPolicy"], "Never");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(spec["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(spec["containers"][0]["resources"], json!({}));
        assert_eq!(spec["containers"][1]["imagePullPolicy"], "Never");
        assert_eq!(spec["containers"][1]["terminationMessagePolicy"], "File");
    }
}
