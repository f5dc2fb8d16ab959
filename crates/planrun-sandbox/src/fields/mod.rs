//! `managedFields`: field ownership per manager, and server-side apply on top of it,
//! after kube-apiserver's field manager (k8s.io/apimachinery v0.36.3
//! `pkg/util/managedfields/internal`) and sigs.k8s.io/structured-merge-diff v6 `merge/update.go`.
//!
//! - A manager owns paths ([`path`]): scalars, atomic lists and maps, empty maps, and
//!   the items of sets and keyed lists one by one ([`schema`]); a map or item a write
//!   brought into being is owned as a whole too (fieldsV1 `"."`).
//! - An Update (create, replace, patch) by a manager: what it added or modified becomes
//!   its own and leaves every other manager; what it removed leaves everyone.
//! - An Apply: the configuration is merged onto the object; what the manager applied
//!   last time and no longer does is removed unless someone else owns it; it then
//!   owns exactly what it applied. A field another manager owns that the apply adds or
//!   changes is a conflict (409) unless forced, which takes it over.
//! - The object's identity (`apiVersion`, `kind`, `metadata.name`, `uid`, ...) is
//!   never owned; `status` only through the status subresource where a kind has one.

// Generated (see the file), kept as generated.
#[rustfmt::skip]
mod builtin;
mod path;
mod schema;
mod typed;

use std::collections::BTreeSet;

use serde_json::{Value, json};

pub use path::{FieldPath, FieldSet, PathElement, dotted, from_fields_v1, to_fields_v1};
pub use schema::{
    FieldType, ListType, PatchMerges, Types, child as type_path_child, item_element,
    property_schema,
};
use typed::{compare, field_set, merge, remove_items, value_at, with_named_fields};

/// The metadata the field manager never records (stripmeta.go), with the deletion
/// fields the registry sets outside it.
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
    /// Everything but `status`, through a namespace's `finalize` subresource, whose
    /// reset fields are `status` (k8s.io/kubernetes v1.36.3
    /// `pkg/registry/core/namespace/strategy.go`, namespaceFinalizeStrategy).
    Finalize,
}

impl Scope {
    fn includes_top(self, key: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::NoStatus | Scope::Finalize => key != "status",
            Scope::StatusOnly => key == "status",
        }
    }

    fn subresource(self) -> Option<&'static str> {
        match self {
            Scope::All | Scope::NoStatus => None,
            Scope::StatusOnly => Some("status"),
            Scope::Finalize => Some("finalize"),
        }
    }

    /// Whether the field manager records `path` for a write in this scope: not the
    /// object's identity, and within the scope.
    fn records(self, path: &FieldPath) -> bool {
        let field = |i: usize| match path.get(i) {
            Some(PathElement::Field(f)) => Some(f.as_str()),
            _ => None,
        };
        match (field(0), field(1)) {
            (Some("apiVersion" | "kind"), None) => false,
            (Some("metadata"), None) => false,
            (Some("metadata"), Some(m)) => {
                !IGNORED_METADATA.contains(&m) && self.includes_top("metadata")
            }
            (Some(top), _) => self.includes_top(top),
            (None, _) => false,
        }
    }
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
    /// The manager as the API server names it in conflicts: `"m"`, `"m" using v1` for an
    /// Update, `"m" with subresource "status"` (k8s.io/apimachinery v0.36.3
    /// `pkg/util/managedfields/internal/conflict.go`, printManager).
    pub shown: String,
    /// The field, dotted.
    pub field: String,
}

impl ManagedEntry {
    /// How the API server names this manager in a conflict (see [`Conflict::shown`]).
    pub fn shown(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
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

/// Write `managedFields` back onto an object (dropping managers that own nothing), in
/// the API server's order: Apply before Update, then by time, manager, apiVersion and
/// subresource (k8s.io/apimachinery v0.36.3
/// `pkg/util/managedfields/internal/managedfields.go`, sortEncodedManagedFields).
pub fn write_managers(obj: &mut Value, managers: &[ManagedEntry]) {
    let mut sorted: Vec<&ManagedEntry> = managers.iter().collect();
    sorted.sort_by(|p, q| {
        (
            &p.operation,
            &p.time,
            &p.manager,
            &p.api_version,
            &p.subresource,
        )
            .cmp(&(
                &q.operation,
                &q.time,
                &q.manager,
                &q.api_version,
                &q.subresource,
            ))
    });
    let list: Vec<Value> = sorted
        .into_iter()
        .filter(|m| !m.fields.is_empty())
        .map(|m| {
            let mut e = json!({
                "manager": m.manager,
                "operation": m.operation,
                "apiVersion": m.api_version,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&m.fields),
            });
            if !m.time.is_empty() {
                e["time"] = json!(m.time);
            }
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

/// `w`'s entry for `operation`, made if it has none.
fn entry_mut<'a>(
    managers: &'a mut Vec<ManagedEntry>,
    w: &Writer<'_>,
    operation: &str,
) -> &'a mut ManagedEntry {
    let i = match managers.iter().position(|m| w.owns(m, operation)) {
        Some(i) => i,
        None => {
            managers.push(ManagedEntry {
                manager: w.manager.to_owned(),
                operation: operation.to_owned(),
                api_version: w.api_version.to_owned(),
                time: String::new(),
                subresource: w.scope.subresource().map(str::to_owned),
                fields: FieldSet::new(),
            });
            managers.len() - 1
        }
    };
    &mut managers[i]
}

/// Who writes and how: what every write the field manager records carries.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    /// How the object's kind merges.
    pub types: &'a Types<'a>,
    /// The field manager.
    pub manager: &'a str,
    /// The apiVersion it writes with.
    pub api_version: &'a str,
    /// Which part of the object it may touch.
    pub scope: Scope,
    /// The write's time (RFC 3339, seconds).
    pub now: &'a str,
}

impl<'a> Writer<'a> {
    pub fn new(
        types: &'a Types<'a>,
        manager: &'a str,
        api_version: &'a str,
        scope: Scope,
        now: &'a str,
    ) -> Self {
        Writer {
            types,
            manager,
            api_version,
            scope,
            now,
        }
    }

    /// Whether `m` is this writer's entry for `operation`: the same manager and
    /// subresource, and for an Update the same apiVersion (an applier keeps one entry
    /// whatever version it applies through: k8s.io/apimachinery v0.36.3
    /// `pkg/util/managedfields/internal/managedfields.go`, BuildManagerIdentifier).
    fn owns(&self, m: &ManagedEntry, operation: &str) -> bool {
        m.manager == self.manager
            && m.operation == operation
            && m.subresource.as_deref() == self.scope.subresource()
            && (operation == "Apply" || m.api_version == self.api_version)
    }
}

/// An object without its managedFields.
fn without_managed(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

/// Record an `Update` (create, replace, merge/json/strategic patch) by `manager`
/// (structured-merge-diff `merge/update.go`, Update): what it added or modified
/// becomes its own and leaves every other manager, what it removed leaves everyone.
///
/// A write that sets `managedFields` itself (a JSON patch replacing them, as
/// fluxcd/pkg `ssa/patch.go` `PatchReplaceFieldsManagers` sends) is honoured, as the
/// API server honours it (kubernetes/kubernetes, staging k8s.io/apimachinery
/// `pkg/util/managedfields/internal/fieldmanager.go`, `decodeLiveOrNew`); an empty
/// list leaves them as they were, `[{}]` clears them.
pub fn record_update(w: &Writer<'_>, old: Option<&Value>, new: &mut Value) {
    let live = old.and_then(|o| o.pointer("/metadata/managedFields"));
    let requested = new
        .pointer("/metadata/managedFields")
        .filter(|mf| mf.as_array().is_some_and(|a| !a.is_empty()) && Some(*mf) != live);
    let mut managers = match requested {
        Some(_) => read_managers(new),
        None => old.map(read_managers).unwrap_or_default(),
    };
    let mut diff = compare(
        old.map(without_managed).as_ref(),
        Some(&without_managed(new)),
        w.types,
    );
    diff.retain(|p| w.scope.records(p));
    if !diff.is_empty() {
        let changed = diff.changed();
        for m in managers.iter_mut().filter(|m| !w.owns(m, "Update")) {
            m.fields
                .retain(|p| !changed.contains(p) && !diff.removed.contains(p));
        }
        let e = entry_mut(&mut managers, w, "Update");
        e.fields.retain(|p| !diff.removed.contains(p));
        e.fields.extend(changed);
        e.api_version = w.api_version.to_owned();
        e.time = w.now.to_owned();
    }
    write_managers(new, &managers);
}

/// Server-side apply of `applied` by `manager` onto `live` (onto nothing: a create).
/// Returns the merged object with updated `managedFields`, or the conflicts when
/// another manager owns a field the apply adds or changes and `force` is false
/// (structured-merge-diff `merge/update.go`, Apply).
pub fn apply(
    w: &Writer<'_>,
    live: Option<&Value>,
    applied: &Value,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    apply_config(w, live, applied, applied, force)
}

/// [`apply`] of a create, where what is stored (`object`: defaulted, with its uid)
/// differs from what the client sent (`config`), which alone says what it owns.
pub fn apply_create(w: &Writer<'_>, object: &Value, config: &Value) -> Value {
    apply_config(w, None, object, config, true).expect("applying onto nothing cannot conflict")
}

fn apply_config(
    w: &Writer<'_>,
    live: Option<&Value>,
    applied: &Value,
    config: &Value,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    let mut managers = live.map(read_managers).unwrap_or_default();
    let is_self = |m: &ManagedEntry| w.owns(m, "Apply");
    // What the configuration sets within the scope; identity fields included while
    // the apply runs (they keep `metadata` in place), left out of what is recorded.
    let applying: FieldSet = field_set(config, w.types)
        .into_iter()
        .filter(|p| match p.first() {
            Some(PathElement::Field(top)) => {
                w.scope.includes_top(top)
                    || ["apiVersion", "kind", "metadata"].contains(&top.as_str())
            }
            _ => false,
        })
        .collect();
    let last = managers
        .iter()
        .find(|m| is_self(m))
        .map(|m| m.fields.clone())
        .unwrap_or_default();
    let base = live.map(without_managed);
    let mut applied_scoped = applied.clone();
    if let Some(m) = applied_scoped.as_object_mut()
        && live.is_some()
    {
        m.retain(|k, _| {
            k == "apiVersion" || k == "kind" || k == "metadata" || w.scope.includes_top(k)
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
    let merged = merge(base.as_ref(), Some(&applied_scoped), w.types).unwrap_or_else(|| json!({}));
    let others: FieldSet = managers
        .iter()
        .filter(|m| !is_self(m))
        .flat_map(|m| m.fields.iter().cloned())
        .collect();
    let mut merged = prune(merged, &last, &applying, &others, w.types);
    let mut diff = compare(base.as_ref(), Some(&merged), w.types);
    diff.retain(|p| w.scope.records(p));
    let changed = diff.changed();
    let mut conflicts = Vec::new();
    for m in managers.iter().filter(|m| !is_self(m)) {
        for p in m.fields.intersection(&changed) {
            conflicts.push(Conflict {
                manager: m.manager.clone(),
                shown: m.shown(),
                field: dotted(p),
            });
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    for m in managers.iter_mut().filter(|m| !is_self(m)) {
        m.fields
            .retain(|p| !changed.contains(p) && !diff.removed.contains(p));
    }
    // An apply that changes nothing leaves the time alone (a new entry gets none): the
    // API server stamps only writes that changed the object (k8s.io/apimachinery v0.36.3
    // pkg/util/managedfields/internal/managedfieldsupdater.go).
    let object_changed = base.as_ref() != Some(&merged);
    let e = entry_mut(&mut managers, w, "Apply");
    e.fields = applying
        .into_iter()
        .filter(|p| w.scope.records(p))
        .collect();
    e.api_version = w.api_version.to_owned();
    if object_changed {
        e.time = w.now.to_owned();
    }
    write_managers(&mut merged, &managers);
    Ok(merged)
}

/// What the applier applied last time (`last`) and no longer applies goes from `merged`,
/// unless another manager owns it or something in it (structured-merge-diff
/// `merge/update.go`, prune with addBackOwnedItems and addBackDanglingItems).
fn prune(
    merged: Value,
    last: &FieldSet,
    applying: &FieldSet,
    others: &FieldSet,
    types: &Types<'_>,
) -> Value {
    if last.is_empty() {
        return merged;
    }
    let last = with_named_fields(last, types);
    let merged_set = with_named_fields(&field_set(&merged, types), types);
    let managed = with_named_fields(&others.union(applying).cloned().collect(), types);
    let pruned = remove_items(&merged, &last, types);
    let keep: FieldSet = with_named_fields(&field_set(&pruned, types), types)
        .union(&managed)
        .cloned()
        .collect();
    let pruned = remove_items(
        &merged,
        &merged_set.difference(&keep).cloned().collect(),
        types,
    );
    let pruned_set = with_named_fields(&field_set(&pruned, types), types);
    let gone: FieldSet = merged_set
        .difference(&pruned_set)
        .filter(|p| last.contains(*p))
        .cloned()
        .collect();
    remove_items(&merged, &gone, types)
}

/// The annotation client-side `kubectl apply` keeps the applied configuration in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Whether every conflict of an apply by `kubectl` is a field its client-side apply
/// set and nobody changed since: the last-applied annotation has it, at the live value
/// (k8s.io/apimachinery v0.36.3 `pkg/util/managedfields/internal/lastappliedmanager.go`,
/// allowedConflictsFromLastApplied). Those the API server lets kubectl take over.
pub fn allowed_by_last_applied(
    types: &Types<'_>,
    live: &Value,
    conflicts: &[Conflict],
    scope: Scope,
) -> bool {
    let Some(last) = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    else {
        return false;
    };
    if last.get("apiVersion") != live.get("apiVersion") {
        return false;
    }
    let allowed: BTreeSet<String> = field_set(&last, types)
        .into_iter()
        .filter(|p| scope.records(p))
        .filter(|p| value_at(&last, p, types) == value_at(live, p, types))
        .map(|p| dotted(&p))
        .collect();
    conflicts.iter().all(|c| allowed.contains(&c.field))
}

/// After an apply by `kubectl`, the API server keeps a last-applied annotation up to
/// date: the applied configuration, without the annotation itself, as JSON with a
/// newline (k8s.io/apimachinery v0.36.3 `.../internal/lastappliedupdater.go`).
pub fn update_last_applied(merged: &mut Value, applied: &Value) {
    let has = merged
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if !has {
        return;
    }
    let mut config = applied.clone();
    if let Some(annotations) = config
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED);
    }
    let mut text = config.to_string();
    text.push('\n');
    merged["metadata"]["annotations"][LAST_APPLIED] = Value::String(text);
}

/// The Status message for apply conflicts, worded like the API server's (one line for
/// one conflict; else the fields under each manager, managers in order).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.shown, c.field
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.shown.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        for c in conflicts.iter().filter(|c| c.shown == m) {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // The writes as the store makes them, the kind's types read from the object.
    fn writing<R>(
        obj: &Value,
        (manager, api_version, scope, now): (&str, &str, Scope, &str),
        f: impl FnOnce(&Writer<'_>) -> R,
    ) -> R {
        let types = Types::of(obj);
        f(&Writer::new(&types, manager, api_version, scope, now))
    }

    fn record_update(
        old: Option<&Value>,
        new: &mut Value,
        manager: &str,
        api_version: &str,
        scope: Scope,
        now: &str,
    ) {
        let obj = new.clone();
        writing(&obj, (manager, api_version, scope, now), |w| {
            super::record_update(w, old, new)
        });
    }

    fn apply(
        live: Option<&Value>,
        applied: &Value,
        manager: &str,
        api_version: &str,
        force: bool,
        scope: Scope,
        now: &str,
    ) -> Result<Value, Vec<Conflict>> {
        writing(applied, (manager, api_version, scope, now), |w| {
            super::apply(w, live, applied, force)
        })
    }

    fn apply_create(
        object: &Value,
        config: &Value,
        manager: &str,
        api_version: &str,
        scope: Scope,
        now: &str,
    ) -> Value {
        writing(object, (manager, api_version, scope, now), |w| {
            super::apply_create(w, object, config)
        })
    }

    /// ConfigMap `x` with `data.k` = `value`, created by client-side `kubectl apply`.
    fn created_by_client_side_apply(value: &str) -> Value {
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"},
            "data": {"k": value}});
        record_update(
            None,
            &mut cm,
            "kubectl-client-side-apply",
            "v1",
            Scope::All,
            "t0",
        );
        cm
    }

    #[test]
    fn fields_v1_round_trip() {
        let obj = json!({"apiVersion":"v1","kind":"ConfigMap",
            "metadata":{"name":"x","labels":{"a":"b"}},"data":{"k":"v","e":""}});
        let set: FieldSet = field_set(&obj, &Types::of(&obj))
            .into_iter()
            .filter(|p| Scope::All.records(p))
            .collect();
        let v1 = to_fields_v1(&set);
        assert_eq!(
            v1,
            json!({"f:data":{"f:e":{},"f:k":{}},"f:metadata":{"f:labels":{"f:a":{}}}})
        );
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn apply_conflicts_then_force_takes_ownership() {
        let live = created_by_client_side_apply("old");
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
        // Force moves the conflicting field only: the client-side manager keeps the map it
        // created (`"."`), as on a real API server; Apply entries come first.
        let managers = read_managers(&merged);
        assert_eq!(managers.len(), 2);
        assert_eq!(managers[0].manager, "pulumi-kubernetes");
        assert_eq!(managers[1].manager, "kubectl-client-side-apply");
        assert_eq!(to_fields_v1(&managers[1].fields), json!({"f:data": {}}));
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
        let live = created_by_client_side_apply("v");
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

    fn deployment(containers: Value, finalizers: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "finalizers": finalizers},
            "spec": {"template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn managers_apply_their_own_items_of_keyed_lists_and_sets() {
        let alpha = deployment(json!([{"name": "web", "image": "w:1"}]), json!(["a/hold"]));
        let live = apply(
            None,
            &alpha,
            "alpha",
            "apps/v1",
            false,
            Scope::NoStatus,
            "t0",
        )
        .unwrap();
        let beta = deployment(json!([{"name": "side", "image": "s:1"}]), json!(["b/hold"]));
        let live = apply(
            Some(&live),
            &beta,
            "beta",
            "apps/v1",
            false,
            Scope::NoStatus,
            "t1",
        )
        .unwrap();
        assert_eq!(live["metadata"]["finalizers"], json!(["a/hold", "b/hold"]));
        assert_eq!(
            live["spec"]["template"]["spec"]["containers"],
            json!([{"name": "web", "image": "w:1"}, {"name": "side", "image": "s:1"}])
        );
        // Taking alpha's image is a conflict on that field of that item alone.
        let grab = deployment(json!([{"name": "web", "image": "w:2"}]), json!(["b/hold"]));
        let err = apply(
            Some(&live),
            &grab,
            "beta",
            "apps/v1",
            false,
            Scope::NoStatus,
            "t2",
        )
        .unwrap_err();
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"alpha\": \
             .spec.template.spec.containers[name=\"web\"].image"
        );
        // alpha dropping its items removes them; beta's stay.
        let none =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}});
        let live = apply(
            Some(&live),
            &none,
            "alpha",
            "apps/v1",
            false,
            Scope::NoStatus,
            "t3",
        )
        .unwrap();
        assert_eq!(live["metadata"]["finalizers"], json!(["b/hold"]));
        assert_eq!(
            live["spec"]["template"]["spec"]["containers"],
            json!([{"name": "side", "image": "s:1"}])
        );
    }

    #[test]
    fn an_applied_empty_map_is_owned_though_the_stored_object_leaves_it_out() {
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "labels": {}}});
        let stored = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
        let live = apply_create(&stored, &config, "alpha", "v1", Scope::All, "t0");
        assert_eq!(
            live["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:metadata": {"f:labels": {}}})
        );
        let beta = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "labels": {"by": "beta"}}});
        let err = apply(Some(&live), &beta, "beta", "v1", false, Scope::All, "t1").unwrap_err();
        assert_eq!(err[0].field, ".metadata.labels");
    }

    #[test]
    fn an_updater_has_an_entry_per_api_version_an_applier_one() {
        let v1 = json!({"apiVersion": "example.com/v1", "kind": "Foo",
            "metadata": {"name": "f"}, "spec": {"a": 1}});
        let mut live = v1.clone();
        record_update(None, &mut live, "ctl", "example.com/v1", Scope::All, "t0");
        let mut next = live.clone();
        next["spec"]["b"] = json!(2);
        record_update(
            Some(&live),
            &mut next,
            "ctl",
            "example.com/v2",
            Scope::All,
            "t1",
        );
        let entries: Vec<(String, String)> = read_managers(&next)
            .into_iter()
            .map(|m| (m.manager, m.api_version))
            .collect();
        assert_eq!(
            entries,
            [
                ("ctl".into(), "example.com/v1".into()),
                ("ctl".into(), "example.com/v2".into())
            ]
        );
        let applied = apply(
            Some(&next),
            &v1,
            "app",
            "example.com/v1",
            true,
            Scope::All,
            "t2",
        )
        .unwrap();
        let mut again = v1.clone();
        again["apiVersion"] = json!("example.com/v2");
        let applied = apply(
            Some(&applied),
            &again,
            "app",
            "example.com/v2",
            true,
            Scope::All,
            "t3",
        )
        .unwrap();
        let appliers = read_managers(&applied)
            .into_iter()
            .filter(|m| m.manager == "app")
            .count();
        assert_eq!(appliers, 1);
    }
}
