//! `managedFields`: field ownership per manager, and server-side apply on top of it.
//!
//! Fields are tracked as leaf paths. Maps are walked into; lists and scalars are leaves
//! (every list is treated as atomic, which is what the API server does for lists without
//! merge keys). A field set is written as `fieldsV1` (`{"f:spec":{"f:replicas":{}}}`).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// A path of map keys from the object root.
pub type FieldPath = Vec<String>;
/// A set of owned leaf paths.
pub type FieldSet = BTreeSet<FieldPath>;

const IGNORED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

/// Which part of an object a write may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything (kinds without a status subresource).
    All,
    /// Everything but `status` (main resource of a kind with a status subresource).
    NoStatus,
    /// Only `status` (the status subresource).
    StatusOnly,
}

impl Scope {
    fn includes_top(self, key: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::NoStatus => key != "status",
            Scope::StatusOnly => key == "status",
        }
    }

    fn subresource(self) -> Option<&'static str> {
        (self == Scope::StatusOnly).then_some("status")
    }
}

/// The leaf paths an object sets, within `scope`.
pub fn leaves(obj: &Value, scope: Scope) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        if k == "apiVersion" || k == "kind" || !scope.includes_top(k) {
            continue;
        }
        if k == "metadata" {
            if let Some(meta) = v.as_object() {
                for (mk, mv) in meta {
                    if !IGNORED_METADATA.contains(&mk.as_str()) {
                        walk(mv, vec![k.clone(), mk.clone()], &mut out);
                    }
                }
            }
            continue;
        }
        walk(v, vec![k.clone()], &mut out);
    }
    out
}

fn walk(v: &Value, path: FieldPath, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let mut p = path.clone();
                p.push(k.clone());
                walk(child, p, out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// The value at a path, if present.
pub fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |cur, k| cur.as_object()?.get(k))
}

fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for k in parents {
        match cur.as_object_mut().and_then(|m| m.get_mut(k)) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

/// Render a field set as `fieldsV1`.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for k in path {
            cur = cur
                .entry(format!("f:{k}"))
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("fieldsV1 nodes are objects");
        }
    }
    Value::Object(root)
}

/// Read `fieldsV1`; keyed list items (`k:`, `v:`, `i:`) make their list a leaf.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn go(node: &Map<String, Value>, path: FieldPath, out: &mut FieldSet) {
        let children: Vec<_> = node.iter().filter(|(k, _)| k.as_str() != ".").collect();
        if children.is_empty() || children.iter().any(|(k, _)| !k.starts_with("f:")) {
            if !path.is_empty() {
                out.insert(path);
            }
            return;
        }
        for (k, child) in children {
            let mut p = path.clone();
            p.push(k[2..].to_owned());
            match child.as_object() {
                Some(m) => go(m, p, out),
                None => {
                    out.insert(p);
                }
            }
        }
    }
    let mut out = FieldSet::new();
    if let Some(m) = v.as_object() {
        go(m, Vec::new(), &mut out);
    }
    out
}

/// Render a path as the API server does in conflict messages (`.spec.replicas`).
pub fn dotted(path: &[String]) -> String {
    path.iter().map(|p| format!(".{p}")).collect()
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEntry {
    /// The field manager.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// apiVersion the manager used.
    pub api_version: String,
    /// Last write time.
    pub time: String,
    /// `status` for writes through the status subresource.
    pub subresource: Option<String>,
    /// Owned fields.
    pub fields: FieldSet,
}

/// A field conflict found by server-side apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The manager that owns the field.
    pub manager: String,
    /// The apiVersion that manager used.
    pub api_version: String,
    /// The field, dotted.
    pub field: String,
}

/// Read an object's `managedFields`.
pub fn read_managers(obj: &Value) -> Vec<ManagedEntry> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            ManagedEntry {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                time: s("time"),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
            }
        })
        .collect()
}

/// Write `managedFields` back onto an object (dropping managers that own nothing).
pub fn write_managers(obj: &mut Value, managers: &[ManagedEntry]) {
    let list: Vec<Value> = managers
        .iter()
        .filter(|m| !m.fields.is_empty())
        .map(|m| {
            let mut e = json!({
                "manager": m.manager,
                "operation": m.operation,
                "apiVersion": m.api_version,
                "time": m.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&m.fields),
            });
            if let Some(sub) = &m.subresource {
                e["subresource"] = json!(sub);
            }
            e
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".to_owned(), Value::Array(list));
        }
    }
}

fn drop_vanished(managers: &mut [ManagedEntry], obj: &Value) {
    for m in managers.iter_mut() {
        m.fields.retain(|p| value_at(obj, p).is_some());
    }
}

fn entry_mut<'a>(
    managers: &'a mut Vec<ManagedEntry>,
    manager: &str,
    operation: &str,
    scope: Scope,
) -> &'a mut ManagedEntry {
    let sub = scope.subresource().map(str::to_owned);
    let pos = managers
        .iter()
        .position(|m| m.manager == manager && m.operation == operation && m.subresource == sub);
    let i = match pos {
        Some(i) => i,
        None => {
            managers.push(ManagedEntry {
                manager: manager.to_owned(),
                operation: operation.to_owned(),
                api_version: String::new(),
                time: String::new(),
                subresource: sub,
                fields: FieldSet::new(),
            });
            managers.len() - 1
        }
    };
    &mut managers[i]
}

/// Record an `Update` (create, replace, merge/json/strategic patch) by `manager`: the fields it
/// changed become its own and leave every other manager.
///
/// A write that sets `managedFields` itself (a JSON patch replacing them, as
/// fluxcd/pkg `ssa/patch.go` `PatchReplaceFieldsManagers` sends) is honoured, as the
/// API server honours it (kubernetes/kubernetes, staging k8s.io/apimachinery
/// `pkg/util/managedfields/internal/fieldmanager.go`, `decodeLiveOrNew`); an empty
/// list leaves them as they were, `[{}]` clears them.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    scope: Scope,
    now: &str,
) {
    let live = old.and_then(|o| o.pointer("/metadata/managedFields"));
    let requested = new
        .pointer("/metadata/managedFields")
        .filter(|mf| mf.as_array().is_some_and(|a| !a.is_empty()) && Some(*mf) != live);
    let mut managers = match requested {
        Some(_) => read_managers(new),
        None => old.map(read_managers).unwrap_or_default(),
    };
    let changed: FieldSet = leaves(new, scope)
        .into_iter()
        .filter(|p| old.and_then(|o| value_at(o, p)) != value_at(new, p))
        .collect();
    drop_vanished(&mut managers, new);
    if !changed.is_empty() {
        for m in managers.iter_mut() {
            m.fields.retain(|p| !changed.contains(p));
        }
        let e = entry_mut(&mut managers, manager, "Update", scope);
        e.fields.extend(changed);
        e.api_version = api_version.to_owned();
        e.time = now.to_owned();
    }
    write_managers(new, &managers);
}

fn deep_merge(target: &mut Value, applied: &Value) {
    match (target, applied) {
        (Value::Object(t), Value::Object(a)) => {
            for (k, v) in a {
                match t.get_mut(k) {
                    Some(cur) if cur.is_object() && v.is_object() => deep_merge(cur, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, a) => *t = a.clone(),
    }
}

/// Server-side apply of `applied` by `manager` onto `live` (or onto nothing, for a create).
/// Returns the merged object with updated `managedFields`, or the conflicts when another
/// manager owns a field with a different value and `force` is false.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    api_version: &str,
    force: bool,
    scope: Scope,
    now: &str,
) -> Result<Value, Vec<Conflict>> {
    let mut managers = live.map(read_managers).unwrap_or_default();
    let new_set = leaves(applied, scope);
    let sub = scope.subresource().map(str::to_owned);
    let is_self =
        |m: &ManagedEntry| m.manager == manager && m.operation == "Apply" && m.subresource == sub;
    let mut conflicts = Vec::new();
    if let Some(live) = live {
        for m in managers.iter().filter(|m| !is_self(m)) {
            for p in m.fields.intersection(&new_set) {
                if value_at(live, p) != value_at(applied, p) {
                    conflicts.push(Conflict {
                        manager: m.manager.clone(),
                        api_version: m.api_version.clone(),
                        field: dotted(p),
                    });
                }
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    if force {
        for m in managers.iter_mut().filter(|m| !is_self(m)) {
            m.fields.retain(|p| {
                !(new_set.contains(p) && live.and_then(|l| value_at(l, p)) != value_at(applied, p))
            });
        }
    }
    let previous: FieldSet = managers
        .iter()
        .find(|m| is_self(m))
        .map(|m| m.fields.clone())
        .unwrap_or_default();
    let others: FieldSet = managers
        .iter()
        .filter(|m| !is_self(m))
        .flat_map(|m| m.fields.iter().cloned())
        .collect();
    let mut merged = live.cloned().unwrap_or_else(|| json!({}));
    let mut applied_scoped = applied.clone();
    if let Some(m) = applied_scoped.as_object_mut()
        && live.is_some()
    {
        m.retain(|k, _| {
            k == "apiVersion" || k == "kind" || k == "metadata" || scope.includes_top(k)
        });
        // Server-set metadata comes from the live object. (On a create the caller passes
        // a fully defaulted object, kept as it is.)
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
            meta.remove("resourceVersion");
            meta.remove("uid");
            meta.remove("creationTimestamp");
        }
    }
    deep_merge(&mut merged, &applied_scoped);
    for p in previous.difference(&new_set) {
        if !others.contains(p) {
            remove_at(&mut merged, p);
        }
    }
    drop_vanished(&mut managers, &merged);
    let e = entry_mut(&mut managers, manager, "Apply", scope);
    e.fields = new_set;
    e.api_version = api_version.to_owned();
    e.time = now.to_owned();
    write_managers(&mut merged, &managers);
    Ok(merged)
}

/// The Status message for apply conflicts, worded like the API server's.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    let n = conflicts.len();
    let plural = if n == 1 { "conflict" } else { "conflicts" };
    if n == 1 {
        let c = &conflicts[0];
        return format!(
            "Apply failed with 1 conflict: conflict with \"{}\" using {}: {}",
            c.manager, c.api_version, c.field
        );
    }
    let mut msg = format!("Apply failed with {n} {plural}:");
    let mut managers: Vec<(&str, &str)> = conflicts
        .iter()
        .map(|c| (c.manager.as_str(), c.api_version.as_str()))
        .collect();
    managers.dedup();
    for (m, v) in managers {
        msg.push_str(&format!(" conflicts with \"{m}\" using {v}:"));
        for c in conflicts.iter().filter(|c| c.manager == m) {
            msg.push_str(&format!("\n- {}", c.field));
        }
    }
    msg
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fields_v1_round_trip() {
        let obj = json!({"apiVersion":"v1","kind":"ConfigMap",
            "metadata":{"name":"x","labels":{"a":"b"}},"data":{"k":"v","e":""}});
        let set = leaves(&obj, Scope::All);
        let v1 = to_fields_v1(&set);
        assert_eq!(
            v1,
            json!({"f:data":{"f:e":{},"f:k":{}},"f:metadata":{"f:labels":{"f:a":{}}}})
        );
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn apply_conflicts_then_force_takes_ownership() {
        let mut live = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":"old"}});
        record_update(
            None,
            &mut live,
            "kubectl-client-side-apply",
            "v1",
            Scope::All,
            "t0",
        );
        let applied = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":"new"}});
        let err = apply(
            Some(&live),
            &applied,
            "pulumi-kubernetes",
            "v1",
            false,
            Scope::All,
            "t1",
        )
        .unwrap_err();
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.k"
        );
        let merged = apply(
            Some(&live),
            &applied,
            "pulumi-kubernetes",
            "v1",
            true,
            Scope::All,
            "t1",
        )
        .unwrap();
        let managers = read_managers(&merged);
        assert_eq!(managers.len(), 1);
        assert_eq!(managers[0].manager, "pulumi-kubernetes");
        assert_eq!(merged["data"]["k"], "new");
    }

    #[test]
    fn apply_removes_fields_it_no_longer_sets() {
        let a1 = json!({"metadata":{"name":"x"},"data":{"a":"1","b":"2"}});
        let live = apply(None, &a1, "m", "v1", false, Scope::All, "t").unwrap();
        let a2 = json!({"metadata":{"name":"x"},"data":{"a":"1"}});
        let live = apply(Some(&live), &a2, "m", "v1", false, Scope::All, "t").unwrap();
        assert_eq!(live["data"], json!({"a":"1"}));
    }

    #[test]
    fn a_write_that_sets_managed_fields_is_honoured() {
        let mut live =
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":"v"}});
        record_update(
            None,
            &mut live,
            "kubectl-client-side-apply",
            "v1",
            Scope::All,
            "t0",
        );
        // A JSON patch renaming the entry (what pulumi-kubernetes' fixCSAFieldManagers sends).
        let mut renamed = live.clone();
        renamed["metadata"]["managedFields"][0]["manager"] = json!("pulumi-kubernetes-1");
        renamed["metadata"]["managedFields"][0]["operation"] = json!("Apply");
        record_update(Some(&live), &mut renamed, "unknown", "v1", Scope::All, "t1");
        let managers = read_managers(&renamed);
        assert_eq!(managers.len(), 1);
        assert_eq!(
            (managers[0].manager.as_str(), managers[0].operation.as_str()),
            ("pulumi-kubernetes-1", "Apply")
        );
        // An empty list is not a request to clear them.
        let mut emptied = live.clone();
        emptied["metadata"]["managedFields"] = json!([]);
        record_update(Some(&live), &mut emptied, "unknown", "v1", Scope::All, "t1");
        assert_eq!(
            read_managers(&emptied)[0].manager,
            "kubectl-client-side-apply"
        );
    }
}
