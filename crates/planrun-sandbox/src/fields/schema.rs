//! How server-side apply merges each part of an object: which lists item by item, and
//! by what, and which maps as a whole.
//!
//! kube-apiserver's field manager reads each list's type from the OpenAPI schema
//! (k8s.io/kube-openapi `pkg/schemaconv/smd.go`, getListElementRelationship):
//! `x-kubernetes-list-type: set` owns items by value, `map` by its key fields, a
//! `merge` patch strategy the same way (by its merge key, or by value without one);
//! every other list is atomic, owned and replaced as a whole. A map is merged field by
//! field unless `x-kubernetes-map-type: atomic` (a label selector, an owner
//! reference). A map's entries are its named fields, except in a free-form map
//! (`additionalProperties`, or what `x-kubernetes-preserve-unknown-fields` lets in),
//! whose entries are owned themselves too.
//!
//! The built-in kinds' types are in [`super::builtin`], generated from the definitions
//! compiled into kube-apiserver; a custom resource's come from its CRD's schema for
//! the version (k8s.io/apiextensions-apiserver v0.36.3
//! `pkg/apiserver/customresource_handler.go`: `managedfields.NewTypeConverter` over
//! the CRD's OpenAPI models), its `metadata` being ObjectMeta's as for every kind.

use serde_json::Value;

use super::builtin::{BUILTIN, BUILTIN_KINDS, BUILTIN_PATCH, BUILTIN_TYPES};
use super::path::PathElement;

/// A list merged item by item.
#[derive(Debug, Clone, PartialEq)]
pub enum ListType {
    /// Items are scalars, owned by value.
    Set,
    /// Items are maps, owned by these key fields, each with the default that stands
    /// in for it when an item leaves it out (structured-merge-diff `typed/helpers.go`,
    /// keyedAssociativeListItemToPathElement).
    Map(Vec<(String, Option<Value>)>),
}

/// How a part of a built-in kind merges, where it is not the default (a list atomic,
/// a map field by field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// A list of scalars, owned by value.
    Set,
    /// A list of maps, owned by these key fields.
    Map(&'static [ListKey]),
    /// A map owned and replaced as a whole.
    AtomicMap,
}

/// The type of a field of a built-in kind, as its OpenAPI definition declares it
/// (generated: [`BUILTIN_TYPES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A string, number or boolean (Time, Quantity and the like included).
    Scalar,
    /// Bytes, written as base64 (`format: byte`: a Secret's data, a CA bundle).
    Bytes,
    /// Anything: an object that declares no fields (RawExtension, FieldsV1), or an
    /// int-or-string.
    Any,
    /// An object of the named definition, which declares its fields.
    Def(&'static str),
    /// A list of items of a type.
    List(&'static FieldType),
    /// A map of values of a type (`additionalProperties`).
    Map(&'static FieldType),
}

impl FieldType {
    /// The type of a built-in kind's objects; `None` for a kind the table lacks.
    pub fn of_kind(group: &str, kind: &str) -> Option<FieldType> {
        BUILTIN_KINDS
            .iter()
            .find(|(g, k, _)| *g == group && *k == kind)
            .map(|(_, _, def)| FieldType::Def(def))
    }

    /// The fields the named definition declares, each with its type.
    pub fn fields(definition: &str) -> &'static [(&'static str, FieldType)] {
        BUILTIN_TYPES
            .binary_search_by(|(name, _)| (*name).cmp(definition))
            .map_or(&[], |i| BUILTIN_TYPES[i].1)
    }

    /// The type of the field `key` of an object of this type: `None` if it declares
    /// no such field; `Any` where this type takes anything.
    pub fn field(self, key: &str) -> Option<FieldType> {
        match self {
            FieldType::Def(definition) => Self::fields(definition)
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, t)| *t),
            FieldType::Map(values) => Some(*values),
            FieldType::Any => Some(FieldType::Any),
            FieldType::Scalar | FieldType::Bytes | FieldType::List(_) => Some(FieldType::Any),
        }
    }
}

/// A key field of a built-in kind's keyed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListKey {
    pub name: &'static str,
    /// The field's default (JSON).
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

/// How the parts of one kind merge, by type path: field names joined by `.`, with
/// `[]` for a list's items (`spec.template.spec.containers.[].env`). A built-in kind
/// reads the generated table; a custom resource its CRD's schema for the version
/// (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`;
/// its `metadata` is ObjectMeta's, as for every kind).
#[derive(Debug, Clone, PartialEq)]
pub struct Types<'s> {
    rows: Vec<(&'static str, Granularity)>,
    /// A custom kind's schema, borrowed from its stored CRD.
    schema: Option<&'s Value>,
}

impl<'s> Types<'s> {
    /// A built-in kind's types; a kind not in the table gets ObjectMeta's alone.
    pub fn builtin(group: &str, kind: &str) -> Self {
        let rows = rows_of(BUILTIN, group, kind);
        if rows.is_empty() {
            return Types::object_meta();
        }
        Types { rows, schema: None }
    }

    /// ObjectMeta's types alone (the generated table's `*` rows): what every kind has.
    pub fn object_meta() -> Self {
        Types {
            rows: rows_of(BUILTIN, "*", "*"),
            schema: None,
        }
    }

    /// A custom resource's types from its CRD's `openAPIV3Schema`.
    pub fn custom(schema: &'s Value) -> Self {
        Types {
            schema: Some(schema),
            ..Types::object_meta()
        }
    }

    /// The types of `obj`'s kind as a built-in one (read from its `apiVersion` and
    /// `kind`).
    #[cfg(test)]
    pub fn of(obj: &Value) -> Self {
        let group = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|av| av.rsplit_once('/'))
            .map_or("", |(group, _)| group);
        Types::builtin(group, obj.get("kind").and_then(Value::as_str).unwrap_or(""))
    }

    fn row(&self, type_path: &str) -> Option<Granularity> {
        self.rows
            .iter()
            .find(|(p, _)| *p == type_path)
            .map(|(_, t)| *t)
    }

    /// The CRD schema's node for `type_path`, if the schema has one: `None` for the
    /// built-ins, for metadata, and below what the schema leaves open.
    fn node(&self, type_path: &str) -> Option<&'s Value> {
        let schema = self.schema?;
        if in_metadata(type_path) {
            return None;
        }
        let mut node = schema;
        for step in type_path.split('.').filter(|s| !s.is_empty()) {
            node = if step == "[]" {
                node.get("items")?
            } else {
                property_schema(node, step)?
            };
        }
        Some(node)
    }

    /// The type of the list at `type_path`; `None` for an atomic list.
    pub fn list(&self, type_path: &str) -> Option<ListType> {
        if let Some(node) = self.node(type_path) {
            return match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => Some(ListType::Set),
                Some("map") => {
                    let keys = node.get("x-kubernetes-list-map-keys")?.as_array()?;
                    let keys = keys
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|k| {
                            let default = node
                                .pointer(&format!("/items/properties/{}/default", escape(k)))
                                .cloned();
                            (k.to_owned(), default)
                        })
                        .collect();
                    Some(ListType::Map(keys))
                }
                _ => None,
            };
        }
        match self.row(type_path)? {
            Granularity::Set => Some(ListType::Set),
            Granularity::Map(keys) => Some(ListType::Map(
                keys.iter()
                    .map(|k| {
                        let default = k.default.and_then(|d| serde_json::from_str(d).ok());
                        (k.name.to_owned(), default)
                    })
                    .collect(),
            )),
            Granularity::AtomicMap => None,
        }
    }

    /// Whether the map at `type_path` is owned and replaced as a whole.
    pub fn atomic_map(&self, type_path: &str) -> bool {
        match self.node(type_path) {
            Some(node) => {
                node.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
            }
            None => self.row(type_path) == Some(Granularity::AtomicMap),
        }
    }

    /// Whether `key` is a named field of the map at `type_path`, rather than an entry
    /// of a free-form map (`additionalProperties`, or what
    /// `x-kubernetes-preserve-unknown-fields` lets in): the field manager owns such an
    /// entry itself as well as what is in it (typed/tofieldset.go, visitMapItems).
    /// Every map of a built-in kind counts as named fields (its free-form maps, such
    /// as labels, hold scalars, where the two are the same).
    pub fn is_field(&self, type_path: &str, key: &str) -> bool {
        if self.schema.is_none() || in_metadata(type_path) {
            return true;
        }
        if type_path.is_empty() && ["apiVersion", "kind", "metadata"].contains(&key) {
            return true;
        }
        self.node(type_path)
            .and_then(|n| n.get("properties"))
            .and_then(|p| p.get(key))
            .is_some()
    }
}

/// Which lists of a built-in kind a strategic merge patch merges rather than replaces
/// (`x-kubernetes-patch-strategy: merge`), by type path: maps by their merge key,
/// scalars by value (k8s.io/apimachinery v0.36.3 `pkg/util/strategicpatch/patch.go`).
/// Custom resources take no strategic merge patch.
#[derive(Debug, Clone)]
pub struct PatchMerges {
    rows: Vec<(&'static str, Option<&'static str>)>,
}

impl PatchMerges {
    pub fn builtin(group: &str, kind: &str) -> Self {
        PatchMerges {
            rows: rows_of(BUILTIN_PATCH, group, kind),
        }
    }

    /// How the list at `type_path` merges: `None` when it is replaced, else its merge
    /// key (`None` inside for a list of scalars).
    pub fn at(&self, type_path: &str) -> Option<Option<&'static str>> {
        self.rows
            .iter()
            .find(|(p, _)| *p == type_path)
            .map(|(_, key)| *key)
    }
}

/// The rows of a generated table for one kind: (type path, what the table says).
fn rows_of<T: Copy>(
    table: &[(&str, &str, &'static str, T)],
    group: &str,
    kind: &str,
) -> Vec<(&'static str, T)> {
    table
        .iter()
        .filter(|(g, k, _, _)| *g == group && *k == kind)
        .map(|(_, _, path, t)| (*path, *t))
        .collect()
}

/// The part of a CRD schema that declares the field `key` of an object: its property,
/// else the schema of `additionalProperties`.
pub fn property_schema<'s>(schema: &'s Value, key: &str) -> Option<&'s Value> {
    schema
        .get("properties")
        .and_then(|p| p.get(key))
        .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
}

/// Whether a type path is in `metadata`, which is ObjectMeta for every kind.
fn in_metadata(type_path: &str) -> bool {
    type_path == "metadata" || type_path.starts_with("metadata.")
}

/// A JSON pointer token.
fn escape(step: &str) -> String {
    step.replace('~', "~0").replace('/', "~1")
}

/// The path element of a list item, or `None` when the item cannot be one (a set
/// item that is no scalar, a keyed item that is no map or has none of the keys: the
/// API server rejects those).
pub fn item_element(item: &Value, list: &ListType) -> Option<PathElement> {
    match list {
        ListType::Set => match item {
            Value::Object(_) | Value::Array(_) | Value::Null => None,
            v => Some(PathElement::Value(v.to_string())),
        },
        ListType::Map(keys) => {
            let m = item.as_object()?;
            let mut found = serde_json::Map::new();
            for (name, default) in keys {
                if let Some(v) = m.get(name).or(default.as_ref()) {
                    found.insert(name.clone(), v.clone());
                }
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
            item_element(&json!({"name": "app", "image": "x"}), &containers),
            Some(PathElement::Key(r#"{"name":"app"}"#.into()))
        );
        let ports = deploy
            .list("spec.template.spec.containers.[].ports")
            .unwrap();
        // The protocol's default stands in for a port that leaves it out.
        assert_eq!(
            item_element(&json!({"containerPort": 80}), &ports),
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
            item_element(&json!("example.com/hold"), &ListType::Set),
            Some(PathElement::Value(r#""example.com/hold""#.into()))
        );
        assert_eq!(item_element(&json!({"a": 1}), &ListType::Set), None);
    }

    #[test]
    fn a_custom_resource_reads_its_crd_schema() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "routes": {"type": "array", "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name", "port"],
                    "items": {"type": "object", "properties": {
                        "name": {"type": "string"},
                        "port": {"type": "integer", "default": 80}}}},
                "tags": {"type": "array", "x-kubernetes-list-type": "set",
                    "items": {"type": "string"}},
                "args": {"type": "array", "items": {"type": "string"}},
                "ref": {"type": "object", "x-kubernetes-map-type": "atomic",
                    "properties": {"name": {"type": "string"}}},
                "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}}});
        let t = Types::custom(&schema);
        let routes = t.list("spec.routes").unwrap();
        assert_eq!(
            item_element(&json!({"name": "a"}), &routes),
            Some(PathElement::Key(r#"{"name":"a","port":80}"#.into()))
        );
        assert_eq!(t.list("spec.tags"), Some(ListType::Set));
        assert_eq!(t.list("spec.args"), None);
        assert!(t.atomic_map("spec.ref"));
        assert!(t.is_field("spec", "values"));
        assert!(!t.is_field("spec.values", "image"));
        assert!(!t.is_field("spec.values.image", "tag"));
        assert!(!t.is_field("spec.labels", "team"));
        assert!(t.is_field("", "metadata"));
        // Metadata is ObjectMeta's whatever the schema says.
        assert_eq!(t.list("metadata.finalizers"), Some(ListType::Set));
        assert!(t.is_field("metadata.labels", "team"));
    }
}
