//! A custom resource's defaults, from its CRD's structural schema, as the API server
//! gives them (k8s.io/apiextensions-apiserver v0.36.3
//! `pkg/apiserver/schema/defaulting/algorithm.go`, `Default`):
//! - in an object, each property that has a `default` and is absent (or null where the
//!   schema is not `nullable`) gets a copy of it; then every property present, those
//!   just defaulted included, is defaulted by its own schema, and so is every other
//!   entry by `additionalProperties` (a non-nullable null entry first replaced by its
//!   default, or null);
//! - in a list, each item by `items`, a non-nullable null item replaced the same way;
//! - anything else is left as it is.
//!
//! The API server defaults an object where it decodes a request and where it reads one
//! from storage (`pkg/apiserver/customresource_handler.go`, `unstructuredDefaulter`,
//! in the request codec and the storage codec): so a write stores the defaults, and a
//! default added to a CRD later shows on every read of its existing objects at once,
//! with no new resourceVersion. The sandbox defaults on each write and, when a CRD is
//! written, its stored objects in place (`Store::put`).

use serde_json::Value;

/// Defaults `value` by `schema` (an `openAPIV3Schema` or a part of one).
pub(crate) fn default(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = schema.get("properties") {
                for (name, property) in properties {
                    let Some(default) = property.get("default") else {
                        continue;
                    };
                    if map
                        .get(name)
                        .is_none_or(|v| v.is_null() && !nullable(property))
                    {
                        map.insert(name.clone(), default.clone());
                    }
                }
            }
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (name, entry) in map.iter_mut() {
                if let Some(property) = schema.get("properties").and_then(|p| p.get(name)) {
                    default(entry, property);
                } else if let Some(additional) = additional {
                    replace_null(entry, additional);
                    default(entry, additional);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|i| i.is_object()) {
                for item in items {
                    replace_null(item, item_schema);
                    default(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

fn nullable(schema: &Value) -> bool {
    schema.get("nullable").and_then(Value::as_bool) == Some(true)
}

/// A non-nullable null takes the schema's default (null when it has none).
fn replace_null(value: &mut Value, schema: &Value) {
    if value.is_null() && !nullable(schema) {
        *value = schema.get("default").cloned().unwrap_or(Value::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaulted(mut value: Value, schema: Value) -> Value {
        default(&mut value, &schema);
        value
    }

    #[test]
    fn absent_properties_get_their_defaults_and_defaults_are_defaulted_in_turn() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "timeout": {"type": "string", "default": "60s"},
                "ref": {"type": "object", "default": {},
                        "properties": {"branch": {"type": "string", "default": "main"}}},
                "interval": {"type": "string"},
            }},
            "status": {"type": "object", "default": {"observedGeneration": -1}},
        }});
        assert_eq!(
            defaulted(json!({"spec": {"interval": "1m"}}), schema.clone()),
            json!({"spec": {"interval": "1m", "timeout": "60s", "ref": {"branch": "main"}},
                   "status": {"observedGeneration": -1}})
        );
        // What is there stays; an object without `spec` gets none (spec has no default).
        assert_eq!(
            defaulted(
                json!({"spec": {"timeout": "5s", "ref": {"tag": "v1"}}}),
                schema.clone()
            ),
            json!({"spec": {"timeout": "5s", "ref": {"tag": "v1", "branch": "main"}},
                   "status": {"observedGeneration": -1}})
        );
        assert_eq!(
            defaulted(json!({"metadata": {"name": "a"}}), schema),
            json!({"metadata": {"name": "a"}, "status": {"observedGeneration": -1}})
        );
    }

    #[test]
    fn nulls_are_defaulted_unless_nullable() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "string", "default": "x"},
            "b": {"type": "string", "default": "y", "nullable": true},
        }});
        assert_eq!(
            defaulted(json!({"a": null, "b": null}), schema),
            json!({"a": "x", "b": null})
        );
    }

    #[test]
    fn list_items_and_map_entries_are_defaulted_by_their_schemas() {
        let port = json!({"type": "object", "properties": {
            "protocol": {"type": "string", "default": "TCP"}}});
        let schema = json!({"type": "object", "properties": {
            "ports": {"type": "array", "items": port.clone()},
            "byName": {"type": "object", "additionalProperties": port},
        }});
        assert_eq!(
            defaulted(
                json!({"ports": [{"port": 80}, null], "byName": {"web": {}, "gone": null}}),
                schema
            ),
            json!({"ports": [{"port": 80, "protocol": "TCP"}, null],
                   "byName": {"web": {"protocol": "TCP"}, "gone": null}})
        );
    }
}
