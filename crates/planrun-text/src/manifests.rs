//! Kubernetes objects read from a YAML manifest as kubectl reads one: its documents, a
//! `kind: List` expanded into its items, empty documents skipped, and a key given twice
//! in one map refused (kubectl: "key already set in map", sigs.k8s.io/yaml's strict
//! conversion). Read straight into JSON, the last of two keys would win without a word;
//! YAML's own value refuses the second, naming the map, the key and where the map
//! starts.

use serde::Deserialize;
use serde_json::Value;

/// The objects of one YAML text, in order; the error says what is wrong and where.
pub fn manifest_objects(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let yaml = serde_yaml::Value::deserialize(doc).map_err(|e| format!("invalid YAML: {e}"))?;
        let value = serde_json::to_value(&yaml)
            .map_err(|e| format!("not an object Kubernetes can read: {e}"))?;
        match value {
            Value::Null => {}
            Value::Object(_) if value.get("kind").and_then(Value::as_str) == Some("List") => {
                out.extend(value["items"].as_array().cloned().unwrap_or_default());
            }
            Value::Object(_) => out.push(value),
            _ => return Err("a document is not a mapping".to_owned()),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_documents_are_read_alike_and_empty_ones_skipped() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- {kind: Secret, metadata: {name: a}}\n---\n---\nkind: ConfigMap\nmetadata: {name: b}\n";
        let names: Vec<String> = manifest_objects(text)
            .unwrap()
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn a_key_given_twice_in_a_map_is_refused_naming_the_map_and_the_key() {
        assert_eq!(
            manifest_objects("kind: ConfigMap\ndata:\n  k: v\n  k: w\n").unwrap_err(),
            "invalid YAML: data: duplicate entry with key \"k\" at line 3 column 3"
        );
        assert_eq!(
            manifest_objects("- a\n").unwrap_err(),
            "a document is not a mapping"
        );
    }
}
