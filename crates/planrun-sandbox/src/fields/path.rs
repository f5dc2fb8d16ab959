//! Field paths as the API server's field manager writes them: a field of a map, an
//! item of a keyed list, an item of a set (sigs.k8s.io/structured-merge-diff v6
//! `fieldpath/element.go`), and their two renderings, `fieldsV1` keys (`f:name`,
//! `k:{"name":"a"}`, `v:"x"`, `fieldpath/serialize-pe.go`) and the dotted form of
//! conflict messages (`.spec.containers[name="a"].image`, `PathElement.String`).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of a map.
    Field(String),
    /// An item of a keyed list, named by its key fields: their JSON object, keys sorted.
    Key(String),
    /// An item of a set: its JSON value.
    Value(String),
}

/// A path from the object's root.
pub type FieldPath = Vec<PathElement>;
/// A set of owned paths.
pub type FieldSet = BTreeSet<FieldPath>;

impl PathElement {
    /// A field named `name`.
    pub fn field(name: &str) -> Self {
        PathElement::Field(name.to_owned())
    }

    /// The `fieldsV1` key of this element.
    pub fn fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(keys) => format!("k:{keys}"),
            PathElement::Value(v) => format!("v:{v}"),
        }
    }

    /// Reads a `fieldsV1` key; `None` for `.` and for list indexes (`i:`), which no
    /// list the sandbox knows uses.
    pub fn from_fields_v1_key(key: &str) -> Option<Self> {
        let (kind, rest) = key.split_at_checked(2)?;
        match kind {
            "f:" => Some(PathElement::Field(rest.to_owned())),
            "k:" => canonical_object(rest).map(PathElement::Key),
            "v:" => serde_json::from_str::<Value>(rest)
                .ok()
                .map(|v| PathElement::Value(v.to_string())),
            _ => None,
        }
    }

    /// How a conflict message shows this element.
    fn dotted(&self) -> String {
        match self {
            PathElement::Field(name) => format!(".{name}"),
            PathElement::Key(keys) => {
                let keys: Map<String, Value> = serde_json::from_str(keys).unwrap_or_default();
                let parts: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("[{}]", parts.join(","))
            }
            PathElement::Value(v) => format!("[={v}]"),
        }
    }
}

/// A JSON object's compact text with its keys sorted (serde_json's map is ordered by
/// key), as the field manager writes a key; `None` if `text` is no object.
fn canonical_object(text: &str) -> Option<String> {
    let v: Map<String, Value> = serde_json::from_str(text).ok()?;
    Some(Value::Object(v).to_string())
}

/// Render a path as the API server does in conflict messages.
pub fn dotted(path: &[PathElement]) -> String {
    path.iter().map(PathElement::dotted).collect()
}

/// A path of fields only (`["metadata", "labels"]`).
#[cfg(test)]
pub fn fields(names: &[&str]) -> FieldPath {
    names.iter().map(|n| PathElement::field(n)).collect()
}

/// Render a field set as `fieldsV1`; a path owned as a whole and through some of its
/// children gets a `"."` member.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for pe in path {
            cur = cur
                .entry(pe.fields_v1_key())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("fieldsV1 nodes are objects");
        }
    }
    for path in set {
        let node = path.iter().try_fold(&mut root, |cur, pe| {
            cur.get_mut(&pe.fields_v1_key())
                .and_then(Value::as_object_mut)
        });
        if let Some(node) = node
            && !node.is_empty()
        {
            node.insert(".".to_owned(), json!({}));
        }
    }
    Value::Object(root)
}

/// Read `fieldsV1`: a node is a member when it has no children or a `"."`.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn go(node: &Map<String, Value>, path: &mut FieldPath, out: &mut FieldSet) {
        let children: Vec<_> = node.iter().filter(|(k, _)| k.as_str() != ".").collect();
        if !path.is_empty() && (children.is_empty() || node.contains_key(".")) {
            out.insert(path.clone());
        }
        for (k, child) in children {
            let Some(pe) = PathElement::from_fields_v1_key(k) else {
                continue;
            };
            path.push(pe);
            match child.as_object() {
                Some(m) => go(m, path, out),
                None => {
                    out.insert(path.clone());
                }
            }
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    if let Some(m) = v.as_object() {
        go(m, &mut Vec::new(), &mut out);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keyed_and_set_items_round_trip_through_fields_v1() {
        let v1 = json!({
            "f:metadata": {"f:finalizers": {".": {}, "v:\"example.com/hold\"": {}}},
            "f:spec": {"f:ports": {
                "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:protocol": {}}
            }}
        });
        let set = from_fields_v1(&v1);
        assert!(set.contains(&vec![
            PathElement::field("metadata"),
            PathElement::field("finalizers"),
            PathElement::Value("\"example.com/hold\"".into()),
        ]));
        assert_eq!(to_fields_v1(&set), v1);
        let port = set
            .iter()
            .find(|p| p.len() == 4 && p[3] == PathElement::field("protocol"))
            .unwrap();
        assert_eq!(
            dotted(port),
            ".spec.ports[port=80,protocol=\"TCP\"].protocol"
        );
    }
}
