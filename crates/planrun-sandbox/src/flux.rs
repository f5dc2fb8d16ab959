//! Simulated kustomize-controller, helm-controller and source-controller: what Flux's controllers do
//! when their objects are deleted, while they run (the scenario's `controllers` name
//! their Deployments; a controller runs while a Pod of its Deployment exists, is
//! Ready and is not terminating). Without a running controller the object keeps
//! `finalizers.fluxcd.io` and hangs in Terminating, and so does the namespace or CRD
//! being deleted around it.
//!
//! - kustomize-controller (fluxcd/kustomize-controller v1.7.0
//!   `internal/controller/kustomization_controller.go`, `finalize` and
//!   `finalizerShouldDeleteResources`): a Kustomization being deleted that is not
//!   suspended, has a non-empty `status.inventory` and whose deletion policy says so
//!   (`spec.deletionPolicy`, default `MirrorPrune`, which follows `spec.prune`;
//!   `Delete` and `WaitForTermination` always; `Orphan` never) has every object of its
//!   inventory deleted (background propagation) that carries the owner labels
//!   `kustomize.toolkit.fluxcd.io/name` and `.../namespace` of the Kustomization and
//!   is not labelled or annotated `kustomize.toolkit.fluxcd.io/prune: disabled` (or
//!   `.../reconcile: disabled`); then its finalizer goes. Inventory entries are
//!   `{id: "<namespace>_<name>_<group>_<kind>", v: "<version>"}`
//!   (`api/v1/inventory_types.go`).
//! - helm-controller (fluxcd/helm-controller v1.4.0
//!   `internal/controller/helmrelease_controller.go`, `reconcileDelete` and
//!   `reconcileReleaseDeletion`): a HelmRelease being deleted that is not suspended
//!   and has `status.storageNamespace` has its release uninstalled, then its
//!   finalizer goes. The release is `spec.releaseName`, else
//!   `<spec.targetNamespace>-<name>` with a target namespace, else the HelmRelease's
//!   name (`api/v2/helmrelease_types.go`, `GetReleaseName`), in `spec.targetNamespace`
//!   or the HelmRelease's namespace. The sandbox has no Helm release records to read
//!   a manifest from, so it finds the release's objects as Helm labels what it
//!   installs: the annotations `meta.helm.sh/release-name` and
//!   `meta.helm.sh/release-namespace`. Uninstalling deletes them and the release's
//!   storage Secrets, `sh.helm.release.v1.<release>.v<N>` labelled `owner=helm`,
//!   `name=<release>`, in the storage namespace (Helm's default Secret storage;
//!   `KeepHistory` false).
//! - source-controller (fluxcd/source-controller `internal/controller/gitrepository_controller.go`,
//!   `reconcileDelete`, and likewise for its other kinds): a source being deleted has
//!   its artifacts garbage collected from the controller's own storage (nothing in
//!   the cluster), then its finalizer goes.
//!
//! Everything they do goes to the sandbox's activity log.

use serde_json::Value;

use super::resources::ResKey;
use super::store::{Propagation, Scheduled, Store, finalizers, is_deleting, str_at};
use super::workloads::{controller_uid, pod_is_ready, pods};

/// The finalizer both controllers own.
pub const FLUX_FINALIZER: &str = "finalizers.fluxcd.io";
const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";
const HELM_GROUP: &str = "helm.toolkit.fluxcd.io";
const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";

fn flag(obj: &Value, pointer: &str) -> bool {
    obj.pointer(pointer).and_then(Value::as_bool) == Some(true)
}

/// A label or annotation value.
fn meta_value<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    ["labels", "annotations"].iter().find_map(|field| {
        obj.pointer(&format!("/metadata/{field}"))
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
    })
}

/// One inventory entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryEntry {
    pub namespace: String,
    pub name: String,
    pub group: String,
    pub kind: String,
    pub version: String,
}

impl InventoryEntry {
    /// From `{id: "<namespace>_<name>_<group>_<kind>", v: "<version>"}`.
    pub fn parse(entry: &Value) -> Option<Self> {
        let id = entry.get("id")?.as_str()?;
        let parts: Vec<&str> = id.split('_').collect();
        let [namespace, name, group, kind] = parts.as_slice() else {
            return None;
        };
        Some(Self {
            namespace: (*namespace).to_owned(),
            name: (*name).to_owned(),
            group: (*group).to_owned(),
            kind: (*kind).to_owned(),
            version: entry.get("v")?.as_str()?.to_owned(),
        })
    }

    /// `apps/Deployment/podinfo`, as the activity log names it.
    fn describe(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.namespace, self.kind, self.name)
        }
    }
}

impl Store {
    /// Asks the simulated controllers to look at the cluster soon (a Flux object was
    /// deleted, or a pod changed: a controller may have started).
    pub(super) fn schedule_flux_controllers(&mut self) {
        let c = &self.scenario.controllers;
        if (c.kustomize.is_none() && c.helm.is_none() && c.source.is_none()) || self.flux_scheduled
        {
            return;
        }
        if let Some(after) = c.delay.duration() {
            self.flux_scheduled = true;
            self.schedule(Scheduled::FluxControllers { after });
        }
    }

    /// Whether the Deployment `namespace/name` has a Ready pod that is not terminating.
    fn is_running(&self, deployment: &str) -> bool {
        let Some((ns, name)) = deployment.split_once('/') else {
            return false;
        };
        let Some(d) = self.get_opt(&ResKey::new("apps", "deployments"), ns, name) else {
            return false;
        };
        let uid = str_at(d, "/metadata/uid");
        let rs_key = ResKey::new("apps", "replicasets");
        let replica_sets: Vec<String> = self
            .objects_of(&rs_key)
            .filter(|rs| str_at(rs, "/metadata/namespace") == ns && controller_uid(rs) == Some(uid))
            .map(|rs| str_at(rs, "/metadata/uid").to_owned())
            .collect();
        self.objects_of(&pods()).any(|p| {
            str_at(p, "/metadata/namespace") == ns
                && controller_uid(p).is_some_and(|o| replica_sets.iter().any(|r| r == o))
                && pod_is_ready(p)
        })
    }

    /// What the simulated controllers do now.
    pub(super) fn run_flux_controllers(&mut self) {
        self.flux_scheduled = false;
        let kustomize = self.scenario.controllers.kustomize.clone();
        let helm = self.scenario.controllers.helm.clone();
        if let Some(deployment) = kustomize {
            let running = self.is_running(&deployment);
            for ks in self.deleting_with_finalizer(KUSTOMIZE_GROUP, "kustomizations") {
                if running {
                    self.finalize_kustomization(&ks);
                } else {
                    self.note_held("Kustomization", &ks, "kustomize-controller", &deployment);
                }
            }
        }
        if let Some(deployment) = helm {
            let running = self.is_running(&deployment);
            for hr in self.deleting_with_finalizer(HELM_GROUP, "helmreleases") {
                if running {
                    self.finalize_helm_release(&hr);
                } else {
                    self.note_held("HelmRelease", &hr, "helm-controller", &deployment);
                }
            }
        }
        if let Some(deployment) = self.scenario.controllers.source.clone() {
            let running = self.is_running(&deployment);
            let kinds: Vec<(String, String)> = self
                .resources()
                .into_iter()
                .filter(|d| d.group == SOURCE_GROUP)
                .map(|d| (d.plural, d.kind))
                .collect();
            for (plural, kind) in kinds {
                for obj in self.deleting_with_finalizer(SOURCE_GROUP, &plural) {
                    if !running {
                        self.note_held(&kind, &obj, "source-controller", &deployment);
                        continue;
                    }
                    let ns = str_at(&obj, "/metadata/namespace").to_owned();
                    let name = str_at(&obj, "/metadata/name").to_owned();
                    self.record_activity(format!(
                        "source-controller garbage collected the artifacts of {kind} {ns}/{name} and removed {FLUX_FINALIZER}"
                    ));
                    self.drop_finalizer_of(
                        &ResKey::new(SOURCE_GROUP, &plural),
                        &ns,
                        &name,
                        FLUX_FINALIZER,
                    );
                }
            }
        }
    }

    fn deleting_with_finalizer(&self, group: &str, plural: &str) -> Vec<Value> {
        self.objects_of(&ResKey::new(group, plural))
            .filter(|o| is_deleting(o) && finalizers(o).iter().any(|f| f == FLUX_FINALIZER))
            .cloned()
            .collect()
    }

    /// Says once per object that no controller will finalize it.
    fn note_held(&mut self, kind: &str, obj: &Value, controller: &str, deployment: &str) {
        let id = format!(
            "held {kind} {}/{} {}",
            str_at(obj, "/metadata/namespace"),
            str_at(obj, "/metadata/name"),
            str_at(obj, "/metadata/uid")
        );
        if self.noted.insert(id) {
            self.record_activity(format!(
                "{kind} {}/{} is being deleted but {controller} is not running ({deployment} has no ready pod): {FLUX_FINALIZER} stays, the {} hangs in Terminating",
                str_at(obj, "/metadata/namespace"),
                str_at(obj, "/metadata/name"),
                kind.to_lowercase()
            ));
        }
    }

    fn finalize_kustomization(&mut self, ks: &Value) {
        let ns = str_at(ks, "/metadata/namespace").to_owned();
        let name = str_at(ks, "/metadata/name").to_owned();
        let prune = flag(ks, "/spec/prune");
        let policy = match str_at(ks, "/spec/deletionPolicy") {
            "" => "MirrorPrune",
            other => other,
        };
        let entries: Vec<InventoryEntry> = ks
            .pointer("/status/inventory/entries")
            .and_then(Value::as_array)
            .map(|es| es.iter().filter_map(InventoryEntry::parse).collect())
            .unwrap_or_default();
        let should_prune = !flag(ks, "/spec/suspend")
            && !entries.is_empty()
            && match policy {
                "MirrorPrune" => prune,
                "Delete" | "WaitForTermination" => true,
                _ => false,
            };
        let mut pruned = Vec::new();
        if should_prune {
            for entry in &entries {
                let res = self.resources().into_iter().find(|d| {
                    d.group == entry.group
                        && d.kind == entry.kind
                        && d.versions.contains(&entry.version)
                });
                let Some(def) = res else { continue };
                let Some(obj) = self
                    .get_opt(&def.key(), &entry.namespace, &entry.name)
                    .cloned()
                else {
                    continue;
                };
                let owned = meta_value(&obj, "kustomize.toolkit.fluxcd.io/name")
                    == Some(name.as_str())
                    && meta_value(&obj, "kustomize.toolkit.fluxcd.io/namespace")
                        == Some(ns.as_str());
                let excluded = ["prune", "reconcile"].iter().any(|k| {
                    meta_value(&obj, &format!("kustomize.toolkit.fluxcd.io/{k}"))
                        == Some("disabled")
                });
                if !owned || excluded || is_deleting(&obj) {
                    continue;
                }
                if self
                    .delete_object(&def, obj, false, Propagation::Background)
                    .is_ok()
                {
                    pruned.push(entry.describe());
                }
            }
        }
        let why = format!(
            "Kustomization {ns}/{name} deleted, prune: {prune}{}",
            if policy == "MirrorPrune" {
                String::new()
            } else {
                format!(", deletionPolicy: {policy}")
            }
        );
        if pruned.is_empty() {
            let because = if flag(ks, "/spec/suspend") {
                "it is suspended"
            } else if entries.is_empty() {
                "its inventory is empty"
            } else if !should_prune {
                "its deletion policy keeps the inventory"
            } else {
                "no inventory object is there with its owner labels and pruning allowed"
            };
            self.record_activity(format!(
                "kustomize-controller removed {FLUX_FINALIZER} from Kustomization {ns}/{name} without pruning: {because} ({why})"
            ));
        } else {
            self.record_activity(format!(
                "kustomize-controller pruned {} ({why})",
                pruned.join(", ")
            ));
        }
        self.drop_finalizer_of(
            &ResKey::new(KUSTOMIZE_GROUP, "kustomizations"),
            &ns,
            &name,
            FLUX_FINALIZER,
        );
    }

    fn finalize_helm_release(&mut self, hr: &Value) {
        let ns = str_at(hr, "/metadata/namespace").to_owned();
        let name = str_at(hr, "/metadata/name").to_owned();
        let storage = str_at(hr, "/status/storageNamespace").to_owned();
        let target = str_at(hr, "/spec/targetNamespace").to_owned();
        let release = match (str_at(hr, "/spec/releaseName"), target.as_str()) {
            (r, _) if !r.is_empty() => r.to_owned(),
            ("", t) if !t.is_empty() => format!("{t}-{name}"),
            _ => name.clone(),
        };
        let release_ns = if target.is_empty() {
            ns.clone()
        } else {
            target
        };
        if flag(hr, "/spec/suspend") || storage.is_empty() {
            self.record_activity(format!(
                "helm-controller removed {FLUX_FINALIZER} from HelmRelease {ns}/{name} without uninstalling ({})",
                if storage.is_empty() { "no release installed: no status.storageNamespace" } else { "suspended" }
            ));
        } else {
            let mut deleted = Vec::new();
            for def in self.resources() {
                let members: Vec<Value> = self
                    .objects_of(&def.key())
                    .filter(|o| {
                        meta_value(o, "meta.helm.sh/release-name") == Some(release.as_str())
                            && meta_value(o, "meta.helm.sh/release-namespace")
                                == Some(release_ns.as_str())
                            && !is_deleting(o)
                    })
                    .cloned()
                    .collect();
                for obj in members {
                    let what = format!(
                        "{}/{}/{}",
                        str_at(&obj, "/metadata/namespace"),
                        def.kind,
                        str_at(&obj, "/metadata/name")
                    );
                    if self
                        .delete_object(&def, obj, false, Propagation::Background)
                        .is_ok()
                    {
                        deleted.push(what);
                    }
                }
            }
            let mut records = Vec::new();
            if let Some(def) = self
                .resources()
                .into_iter()
                .find(|d| d.group.is_empty() && d.plural == "secrets")
            {
                let prefix = format!("sh.helm.release.v1.{release}.v");
                let storage_secrets: Vec<Value> = self
                    .objects_of(&def.key())
                    .filter(|s| {
                        str_at(s, "/metadata/namespace") == storage
                            && str_at(s, "/metadata/name").starts_with(&prefix)
                            && meta_value(s, "owner") == Some("helm")
                            && meta_value(s, "name") == Some(release.as_str())
                    })
                    .cloned()
                    .collect();
                for secret in storage_secrets {
                    let what = format!("{storage}/{}", str_at(&secret, "/metadata/name"));
                    if self
                        .delete_object(&def, secret, false, Propagation::Background)
                        .is_ok()
                    {
                        records.push(what);
                    }
                }
            }
            self.record_activity(format!(
                "helm-controller uninstalled release {release_ns}/{release} (HelmRelease {ns}/{name} deleted): deleted {}; release records {}",
                if deleted.is_empty() { "no objects".to_string() } else { deleted.join(", ") },
                if records.is_empty() { "none".to_string() } else { records.join(", ") }
            ));
        }
        self.drop_finalizer_of(
            &ResKey::new(HELM_GROUP, "helmreleases"),
            &ns,
            &name,
            FLUX_FINALIZER,
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn inventory_ids_name_namespace_name_group_and_kind() {
        let e = InventoryEntry::parse(
            &serde_json::json!({"id": "apps_podinfo_apps_Deployment", "v": "v1"}),
        )
        .unwrap();
        assert_eq!(e.describe(), "apps/Deployment/podinfo");
        let core =
            InventoryEntry::parse(&serde_json::json!({"id": "apps_podinfo__Service", "v": "v1"}))
                .unwrap();
        assert_eq!((core.group.as_str(), core.kind.as_str()), ("", "Service"));
        let cluster =
            InventoryEntry::parse(&serde_json::json!({"id": "_apps__Namespace", "v": "v1"}))
                .unwrap();
        assert_eq!(cluster.describe(), "Namespace/apps");
        assert!(InventoryEntry::parse(&serde_json::json!({"id": "x_y", "v": "v1"})).is_none());
    }
}
