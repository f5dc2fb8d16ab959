//! How server-side apply merges each part of an object: which lists item by item, and
//! by what, and which maps as a whole.
//!
//! kube-apiserver's field manager reads each list's type from the OpenAPI schema
//! (k8s.io/kube-openapi `pkg/schemaconv/smd.go`, getListElementRelationship):
//! `x-kubernetes-list-type: set` owns items by value, `map` by its key fields, a
//! `merge` patch strategy the same way (by its merge key, or by value without one);
//! every other list is atomic, owned and replaced as a whole. A map is merged field by
//! field unless `x-kubernetes-map-type: atomic` (a label selector, an owner
//! reference). The built-in kinds' are in [`super::builtin`], generated from the
//! definitions compiled into kube-apiserver; any other kind gets ObjectMeta's (its
//! CRD's schema could declare more; the CRDs of the plans the sandbox rehearses
//! declare none).

use serde_json::Value;

use super::builtin::BUILTIN;
use super::path::PathElement;

/// A list merged item by item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// Items are scalars, owned by value.
    Set,
    /// Items are maps, owned by these key fields.
    Map(&'static [ListKey]),
}

/// How a part of an object merges, where it is not the default (a list atomic, a map
/// field by field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// A list of scalars, owned by value.
    Set,
    /// A list of maps, owned by these key fields.
    Map(&'static [ListKey]),
    /// A map owned and replaced as a whole.
    AtomicMap,
}

/// A key field of a keyed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListKey {
    pub name: &'static str,
    /// The field's default (JSON), standing in for it when an item leaves it out
    /// (structured-merge-diff `typed/helpers.go`, keyedAssociativeListItemToPathElement).
    pub default: Option<&'static str>,
}

impl ListKey {
    pub const fn new(name: &'static str) -> Self {
        ListKey {
            name,
            default: None,
        }
    }

    pub const fn with_default(name: &'static str, default: &'static str) -> Self {
        ListKey {
            name,
            default: Some(default),
        }
    }
}

/// How the parts of one object's kind merge, by type path: field names joined by `.`,
/// with `[]` for a list's items (`spec.template.spec.containers.[].env`).
#[derive(Debug, Clone)]
pub struct Types {
    rows: Vec<(&'static str, Granularity)>,
}

impl Types {
    /// The types of `obj`'s kind (read from its `apiVersion` and `kind`).
    pub fn of(obj: &Value) -> Self {
        let group = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|av| av.rsplit_once('/'))
            .map_or("", |(group, _)| group);
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let rows_of = |g: &str, k: &str| -> Vec<(&'static str, Granularity)> {
            BUILTIN
                .iter()
                .filter(|(rg, rk, _, _)| *rg == g && *rk == k)
                .map(|(_, _, path, t)| (*path, *t))
                .collect()
        };
        let mut rows = rows_of(group, kind);
        if rows.is_empty() {
            rows = rows_of("*", "*");
        }
        Types { rows }
    }

    fn at(&self, type_path: &str) -> Option<Granularity> {
        self.rows
            .iter()
            .find(|(p, _)| *p == type_path)
            .map(|(_, t)| *t)
    }

    /// The type of the list at `type_path`; `None` for an atomic list.
    pub fn list(&self, type_path: &str) -> Option<ListType> {
        match self.at(type_path)? {
            Granularity::Set => Some(ListType::Set),
            Granularity::Map(keys) => Some(ListType::Map(keys)),
            Granularity::AtomicMap => None,
        }
    }

    /// Whether the map at `type_path` is owned and replaced as a whole.
    pub fn atomic_map(&self, type_path: &str) -> bool {
        self.at(type_path) == Some(Granularity::AtomicMap)
    }
}

/// The path element of a list item, or `None` when the item cannot be one (a set
/// item that is no scalar, a keyed item that is no map or has none of the keys: the
/// API server rejects those).
pub fn item_element(item: &Value, list: ListType) -> Option<PathElement> {
    match list {
        ListType::Set => match item {
            Value::Object(_) | Value::Array(_) | Value::Null => None,
            v => Some(PathElement::Value(v.to_string())),
        },
        ListType::Map(keys) => {
            let m = item.as_object()?;
            let mut found = serde_json::Map::new();
            for k in keys {
                let v = match (m.get(k.name), k.default) {
                    (Some(v), _) => v.clone(),
                    (None, Some(d)) => serde_json::from_str(d).ok()?,
                    (None, None) => continue,
                };
                found.insert(k.name.to_owned(), v);
            }
            (!found.is_empty()).then(|| PathElement::Key(Value::Object(found).to_string()))
        }
    }
}

/// The type path of `path`'s child `step` (a field name, or `[]` for an item).
pub fn child(type_path: &str, step: &str) -> String {
    if type_path.is_empty() {
        step.to_owned()
    } else {
        format!("{type_path}.{step}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_kind_gets_its_lists_and_others_get_object_metas() {
        let deploy = Types::of(&json!({"apiVersion": "apps/v1", "kind": "Deployment"}));
        let containers = deploy.list("spec.template.spec.containers").unwrap();
        assert_eq!(
            item_element(&json!({"name": "app", "image": "x"}), containers),
            Some(PathElement::Key(r#"{"name":"app"}"#.into()))
        );
        let ports = deploy
            .list("spec.template.spec.containers.[].ports")
            .unwrap();
        // The protocol's default stands in for a port that leaves it out.
        assert_eq!(
            item_element(&json!({"containerPort": 80}), ports),
            Some(PathElement::Key(
                r#"{"containerPort":80,"protocol":"TCP"}"#.into()
            ))
        );
        assert_eq!(deploy.list("spec.template.spec.containers.[].args"), None);
        let custom = Types::of(&json!({"apiVersion": "example.com/v1", "kind": "Foo"}));
        assert_eq!(custom.list("metadata.finalizers"), Some(ListType::Set));
        assert_eq!(custom.list("spec.items"), None);
        assert!(deploy.atomic_map("spec.selector"));
        assert!(!deploy.atomic_map("spec.template"));
        assert_eq!(
            item_element(&json!("example.com/hold"), ListType::Set),
            Some(PathElement::Value(r#""example.com/hold""#.into()))
        );
        assert_eq!(item_element(&json!({"a": 1}), ListType::Set), None);
    }
}
