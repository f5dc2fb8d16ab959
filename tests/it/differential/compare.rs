//! What legitimately differs between two API servers is normalised away; what is left
//! is compared leaf by leaf.
//!
//! Normalised: uids (and any UUID in a string), timestamps (`creationTimestamp`,
//! managedFields' `time`, conditions' times, any RFC 3339 time in a string),
//! `resourceVersion` values (sessions that care compare them with each other and record
//! the relation instead), the kube-root-ca.crt ConfigMap the real controller manager
//! puts into every namespace (dropped from lists and watches), and the pod-template hash
//! in ReplicaSet names, and the order of managedFields entries (by write time, in whole
//! seconds, before manager name). Server version strings are normalised by the session
//! that reads them.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap()
});
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})").unwrap()
});
/// A resourceVersion quoted in a message: `... in record (388). ...`.
static RECORD_RV: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"ResourceVersion in record \(\d+\)").unwrap());
/// `ReplicaSet "web-5d8f9c7b6d"` and pod names: the hash of the pod template.
static REPLICASET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"ReplicaSet "([a-z0-9-]+?)-[a-z0-9]{6,10}""#).unwrap());

const TIME_KEYS: &[&str] = &[
    "creationTimestamp",
    "deletionTimestamp",
    "time",
    "lastTransitionTime",
    "lastUpdateTime",
    "lastHeartbeatTime",
    "lastProbeTime",
];

/// The namespace's CA bundle the real controller manager adds to every namespace.
const ROOT_CA: &str = "kube-root-ca.crt";

/// Normalises `v` in place (see the module doc).
pub fn normalise(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match key.as_str() {
                    "uid" if value.is_string() => *value = Value::from("<uid>"),
                    "resourceVersion" if value.as_str().is_some_and(|s| !s.is_empty()) => {
                        *value = Value::from("<rv>");
                    }
                    k if TIME_KEYS.contains(&k) && value.is_string() => {
                        *value = Value::from("<time>");
                    }
                    _ => normalise(value),
                }
            }
        }
        Value::Array(items) => {
            items.retain(|item| !is_root_ca(item));
            items.iter_mut().for_each(normalise);
            if items.iter().all(is_managed_fields_entry) {
                // Entries are ordered by write time (whole seconds) before manager name:
                // with times masked, the order says nothing.
                items.sort_by_key(|e| {
                    ["operation", "manager", "subresource"]
                        .map(|k| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned())
                });
            }
        }
        Value::String(s) => *s = normalise_text(s),
        _ => {}
    }
}

fn is_managed_fields_entry(v: &Value) -> bool {
    v.get("manager").is_some() && v.get("fieldsType").is_some()
}

/// The kube-root-ca.crt ConfigMap, or a watch event of it.
fn is_root_ca(item: &Value) -> bool {
    let object = item.get("object").unwrap_or(item);
    object.get("kind").and_then(Value::as_str) == Some("ConfigMap")
        && object.pointer("/metadata/name").and_then(Value::as_str) == Some(ROOT_CA)
}

/// UUIDs, times and ReplicaSet hashes inside a string.
pub fn normalise_text(s: &str) -> String {
    let s = UUID.replace_all(s, "<uid>");
    let s = TIME.replace_all(&s, "<time>");
    let s = RECORD_RV.replace_all(&s, "ResourceVersion in record (<rv>)");
    REPLICASET
        .replace_all(&s, "ReplicaSet \"$1-<hash>\"")
        .into_owned()
}

/// One leaf that differs: its JSON pointer and both sides' values (`None`: absent).
#[derive(Debug, Clone)]
pub struct Difference {
    pub path: String,
    pub sandbox: Option<Value>,
    pub real: Option<Value>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| match v {
            None => "absent".to_owned(),
            Some(v) => {
                let s = v.to_string();
                if s.chars().count() > 160 {
                    format!("{}…", s.chars().take(160).collect::<String>())
                } else {
                    s
                }
            }
        };
        write!(
            f,
            "{}: sandbox {} / real {}",
            self.path,
            show(&self.sandbox),
            show(&self.real)
        )
    }
}

/// The leaves where `sandbox` and `real` differ.
pub fn differences(sandbox: &Value, real: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    diff(String::new(), Some(sandbox), Some(real), &mut out);
    out
}

fn diff(path: String, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<Difference>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                diff(
                    format!("{path}/{}", escape(k)),
                    x.get(k.as_str()),
                    y.get(k.as_str()),
                    out,
                );
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            for i in 0..x.len().max(y.len()) {
                diff(format!("{path}/{i}"), x.get(i), y.get(i), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(Difference {
            path,
            sandbox: a.cloned(),
            real: b.cloned(),
        }),
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn normalises_what_legitimately_differs() {
        let mut v = json!({
            "metadata": {"uid": "d0e601e8-fa3e-40d1-9c9d-c587ee1c874a", "resourceVersion": "293",
                         "creationTimestamp": "2026-11-30T07:29:39Z"},
            "items": [{"kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"}}, {"kind": "ConfigMap", "metadata": {"name": "x"}}],
            "message": "ReplicaSet \"web-5d8f9c7b6d\" has successfully progressed. at 2026-11-30T07:29:39.123Z"
        });
        normalise(&mut v);
        assert_eq!(
            v,
            json!({
                "metadata": {"uid": "<uid>", "resourceVersion": "<rv>", "creationTimestamp": "<time>"},
                "items": [{"kind": "ConfigMap", "metadata": {"name": "x"}}],
                "message": "ReplicaSet \"web-<hash>\" has successfully progressed. at <time>"
            })
        );
    }

    #[test]
    fn finds_every_differing_leaf() {
        let d = differences(
            &json!({"a": 1, "b": [1, 2], "c": {"d": "x"}}),
            &json!({"a": 1, "b": [1], "c": {"d": "y", "e/f": true}}),
        );
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["/b/1", "/c/d", "/c/e~1f"]);
        assert!(d[0].real.is_none());
    }
}
