//! The garbage collector, after kubernetes/kubernetes
//! `pkg/controller/garbagecollector/garbagecollector.go`, for what the sandbox needs:
//!
//! - an object none of whose owners (by uid in `ownerReferences`) exists any more is
//!   deleted (background propagation: a deleted Deployment's ReplicaSets go, then
//!   their Pods);
//! - an owner deleted with `propagationPolicy: Foreground` carries the
//!   `foregroundDeletion` finalizer: its dependents are deleted (in foreground when
//!   they have dependents of their own), and the finalizer is removed once no
//!   dependent with `blockOwnerDeletion` remains (a Terminating pod still counts);
//! - an owner deleted with `Orphan` carries the `orphan` finalizer: its dependents
//!   lose their owner reference to it, then the finalizer goes.
//!
//! It runs like the real one, apart from the writes that trigger it: a sweep is
//! scheduled when an object goes or is deleted with one of those finalizers.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::resources::ResKey;
use super::store::{Propagation, Scheduled, Store, finalizers, is_deleting, str_at};

/// The finalizer of a foreground deletion.
pub const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer of an orphaning deletion.
pub const ORPHAN: &str = "orphan";

/// `(uid, blockOwnerDeletion)` of each owner reference.
fn owners(obj: &Value) -> Vec<(String, bool)> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .map(|r| {
                    (
                        str_at(r, "/uid").to_owned(),
                        r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An object by where it is stored.
#[derive(Debug, Clone)]
struct Node {
    res: ResKey,
    ns: String,
    name: String,
    deleting: bool,
    finalizers: Vec<String>,
}

impl Store {
    /// Schedules a sweep unless one is pending.
    pub(super) fn schedule_gc(&mut self) {
        if !self.gc_scheduled {
            self.gc_scheduled = true;
            self.schedule(Scheduled::CollectGarbage {
                after: Duration::ZERO,
            });
        }
    }

    /// One sweep (see the module documentation).
    pub(super) fn collect_garbage(&mut self) {
        self.gc_scheduled = false;
        let mut by_uid: HashMap<String, Node> = HashMap::new();
        let mut dependents: Vec<(Node, Value)> = Vec::new();
        for res in self.collections() {
            for obj in self.objects_of(&res) {
                let node = Node {
                    res: res.clone(),
                    ns: str_at(obj, "/metadata/namespace").to_owned(),
                    name: str_at(obj, "/metadata/name").to_owned(),
                    deleting: is_deleting(obj),
                    finalizers: finalizers(obj),
                };
                if !owners(obj).is_empty() {
                    dependents.push((node.clone(), obj.clone()));
                }
                by_uid.insert(str_at(obj, "/metadata/uid").to_owned(), node);
            }
        }
        let has_dependents = |uid: &str, dependents: &[(Node, Value)]| {
            dependents
                .iter()
                .any(|(_, o)| owners(o).iter().any(|(u, _)| u == uid))
        };
        for (node, obj) in &dependents {
            let refs = owners(obj);
            let orphaning: Vec<&String> = refs
                .iter()
                .map(|(u, _)| u)
                .filter(|u| {
                    by_uid
                        .get(*u)
                        .is_some_and(|o| o.deleting && o.finalizers.iter().any(|f| f == ORPHAN))
                })
                .collect();
            if !orphaning.is_empty() {
                self.drop_owner_refs(node, obj, &orphaning);
                continue;
            }
            if node.deleting {
                continue;
            }
            let live: Vec<&Node> = refs.iter().filter_map(|(u, _)| by_uid.get(u)).collect();
            let owner_in_foreground = live
                .iter()
                .any(|o| o.deleting && o.finalizers.iter().any(|f| f == FOREGROUND));
            let policy = if live.is_empty() {
                Propagation::Background
            } else if owner_in_foreground {
                if has_dependents(str_at(obj, "/metadata/uid"), &dependents) {
                    Propagation::Foreground
                } else {
                    Propagation::Background
                }
            } else {
                continue;
            };
            if let Some(def) = self.def_of(&node.res) {
                let _ = self.delete_object(&def, obj.clone(), false, policy);
            }
        }
        // Owners waiting for their dependents, and owners done orphaning.
        for (uid, node) in &by_uid {
            if !node.deleting {
                continue;
            }
            let blocking = dependents.iter().any(|(d, o)| {
                owners(o).iter().any(|(u, block)| u == uid && *block)
                    && self.get_opt(&d.res, &d.ns, &d.name).is_some()
            });
            if node.finalizers.iter().any(|f| f == FOREGROUND) && !blocking {
                self.drop_finalizer(node, FOREGROUND);
            }
            if node.finalizers.iter().any(|f| f == ORPHAN) {
                self.drop_finalizer(node, ORPHAN);
            }
        }
    }

    fn drop_owner_refs(&mut self, node: &Node, obj: &Value, uids: &[&String]) {
        let mut new = obj.clone();
        let kept: Vec<Value> = new["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| !uids.iter().any(|u| str_at(r, "/uid") == u.as_str()))
            .collect();
        if kept.is_empty() {
            if let Some(m) = new["metadata"].as_object_mut() {
                m.remove("ownerReferences");
            }
        } else {
            new["metadata"]["ownerReferences"] = json!(kept);
        }
        self.put(&node.res, new);
    }

    /// Removes one finalizer; the object goes once it has none left.
    pub(super) fn drop_finalizer_of(
        &mut self,
        res: &ResKey,
        ns: &str,
        name: &str,
        finalizer: &str,
    ) {
        let Some(obj) = self.get_opt(res, ns, name).cloned() else {
            return;
        };
        let keep: Vec<String> = finalizers(&obj)
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        let mut new = obj.clone();
        if keep.is_empty() {
            if let Some(m) = new["metadata"].as_object_mut() {
                m.remove("finalizers");
            }
        } else {
            new["metadata"]["finalizers"] = json!(keep);
        }
        self.put(res, new);
        if keep.is_empty() && is_deleting(&obj) {
            self.remove(res, ns, name);
        }
    }

    fn drop_finalizer(&mut self, node: &Node, finalizer: &str) {
        self.drop_finalizer_of(&node.res, &node.ns, &node.name, finalizer);
    }
}
