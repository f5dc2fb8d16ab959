//! Patch bodies: JSON merge patch, strategic merge patch (approximated) and JSON patch.

use serde_json::{Map, Value};

use super::status::ApiError;

/// RFC 7386 merge patch: maps merge, `null` deletes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Strategic merge patch, approximated: like a merge patch, except lists of objects that
/// all carry a `name` merge item by item on that key (as containers, env and ports do).
/// The `$patch` directive is read as the real server reads it (kubernetes/kubernetes
/// `staging/src/k8s.io/apimachinery/pkg/util/strategicpatch/patch.go`): in a map,
/// `replace` replaces the map with the patch's, `delete` empties it; in a list item,
/// `delete` removes the item with that name; any other value fails the patch with
/// "unknown patch type: X in map: map[...]" (`.../util/mergepatch/errors.go`), which
/// the API server answers with a 500 (`interpretStrategicMergePatchError` passes it
/// on as it is).
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match p.get("$patch") {
        None => {}
        Some(Value::String(d)) if d == "replace" => {
            let mut p = p.clone();
            p.remove("$patch");
            *target = Value::Object(p);
            return Ok(());
        }
        Some(Value::String(d)) if d == "delete" => {
            *target = Value::Object(Map::new());
            return Ok(());
        }
        Some(other) => return Err(bad_patch_type(other, patch)),
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Array(items) if keyed_by_name(items) => {
                let existing = t.get(k).and_then(Value::as_array).cloned();
                match existing {
                    Some(mut cur) if keyed_by_name(&cur) => {
                        for item in items {
                            let name = item.get("name").cloned();
                            let delete = match item.get("$patch") {
                                None => false,
                                Some(Value::String(d)) if d == "delete" => true,
                                Some(other) => return Err(bad_patch_type(other, item)),
                            };
                            match cur.iter().position(|c| c.get("name") == name.as_ref()) {
                                Some(i) if delete => {
                                    cur.remove(i);
                                }
                                Some(i) => strategic_merge_patch(&mut cur[i], item)?,
                                None if delete => {}
                                None => cur.push(item.clone()),
                            }
                        }
                        t.insert(k.clone(), Value::Array(cur));
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
            _ => strategic_merge_patch(t.entry(k.clone()).or_insert(Value::Null), v)?,
        }
    }
    Ok(())
}

/// The real server's answer to an unknown `$patch` value.
fn bad_patch_type(directive: &Value, map: &Value) -> ApiError {
    ApiError::new(
        500,
        "",
        format!(
            "unknown patch type: {} in map: {}",
            go_format(directive),
            go_format(map)
        ),
    )
}

/// A JSON value as Go's `%v` prints its decoded form: `map[a:1 b:[x y]]`, keys
/// sorted.
fn go_format(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_format).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", go_format(v)))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}

fn keyed_by_name(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").is_some_and(Value::is_string))
}

fn pointer_parts(path: &str) -> Result<Vec<String>, ApiError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| ApiError::bad_request(format!("invalid json pointer {path:?}")))?;
    Ok(rest
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent_mut<'a>(doc: &'a mut Value, parts: &[String]) -> Result<&'a mut Value, ApiError> {
    let mut cur = doc;
    for p in parts {
        cur = match cur {
            Value::Object(m) => m.get_mut(p),
            Value::Array(a) => p.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| ApiError::new(422, "Invalid", format!("doc is missing path: {p}")))?;
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &str, value: Value, replace: bool) -> Result<(), ApiError> {
    let parts = pointer_parts(path)?;
    let Some((last, parents)) = parts.split_last() else {
        *doc = value;
        return Ok(());
    };
    let missing = || ApiError::new(422, "Invalid", format!("doc is missing path: {path}"));
    match parent_mut(doc, parents)? {
        Value::Object(m) => {
            if replace && !m.contains_key(last) {
                return Err(missing());
            }
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last.parse().map_err(|_| missing())?;
                if replace {
                    *a.get_mut(i).ok_or_else(missing)? = value;
                } else if i <= a.len() {
                    a.insert(i, value);
                } else {
                    return Err(missing());
                }
            }
        }
        _ => return Err(missing()),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, ApiError> {
    let parts = pointer_parts(path)?;
    let missing = || ApiError::new(422, "Invalid", format!("doc is missing path: {path}"));
    let (last, parents) = parts.split_last().ok_or_else(missing)?;
    match parent_mut(doc, parents)? {
        Value::Object(m) => m.remove(last).ok_or_else(missing),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing())?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(missing())
            }
        }
        _ => Err(missing()),
    }
}

/// RFC 6902 JSON patch.
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), ApiError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array of operations"))?;
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op.get("path").and_then(Value::as_str).unwrap_or("");
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| ApiError::bad_request(format!("json patch {kind} needs a value")))
        };
        match kind {
            "add" => add(doc, path, value()?, false)?,
            "replace" => add(doc, path, value()?, true)?,
            "remove" => {
                remove(doc, path)?;
            }
            "test" => {
                let actual = doc.pointer(path);
                if actual != Some(&value()?) {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        format!(
                            "the server rejected our request due to an error in our request: testing value {path} failed"
                        ),
                    ));
                }
            }
            "move" | "copy" => {
                let from = op.get("from").and_then(Value::as_str).unwrap_or("");
                let v = if kind == "move" {
                    remove(doc, from)?
                } else {
                    doc.pointer(from).cloned().ok_or_else(|| {
                        ApiError::new(422, "Invalid", format!("doc is missing path: {from}"))
                    })?
                };
                add(doc, path, v, false)?;
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unexpected json patch operation {other:?}"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_deletes_with_null() {
        let mut d = json!({"a":{"b":1,"c":2},"l":[1,2]});
        merge_patch(&mut d, &json!({"a":{"b":null,"d":3},"l":[3]}));
        assert_eq!(d, json!({"a":{"c":2,"d":3},"l":[3]}));
    }

    #[test]
    fn strategic_merges_named_lists() {
        let mut d = json!({"c":[{"name":"a","image":"x"},{"name":"b","image":"y"}]});
        strategic_merge_patch(
            &mut d,
            &json!({"c":[{"name":"b","image":"z"},{"name":"n","image":"w"}]}),
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"c":[{"name":"a","image":"x"},{"name":"b","image":"z"},{"name":"n","image":"w"}]})
        );
    }

    #[test]
    fn patch_directives_as_the_real_server_reads_them() {
        let mut d = json!({"data":{"a":"1"},"keep":1});
        strategic_merge_patch(&mut d, &json!({"data":{"$patch":"replace","b":"2"}})).unwrap();
        assert_eq!(d, json!({"data":{"b":"2"},"keep":1}));
        strategic_merge_patch(&mut d, &json!({"data":{"$patch":"delete"}})).unwrap();
        assert_eq!(d, json!({"data":{},"keep":1}));
        let e =
            strategic_merge_patch(&mut d, &json!({"data":{"$patch":"garbage","x":1}})).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                500,
                "unknown patch type: garbage in map: map[$patch:garbage x:1]"
            )
        );
        let mut l = json!({"c":[{"name":"a"}]});
        let e = strategic_merge_patch(&mut l, &json!({"c":[{"name":"a","$patch":"merge"}]}))
            .unwrap_err();
        assert_eq!(e.code, 500);
    }

    #[test]
    fn json_patch_ops() {
        let mut d = json!({"metadata":{"finalizers":["a","b"]}});
        json_patch(
            &mut d,
            &json!([{"op":"remove","path":"/metadata/finalizers/0"},
            {"op":"add","path":"/metadata/labels","value":{"x":"y"}}]),
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"metadata":{"finalizers":["b"],"labels":{"x":"y"}}})
        );
    }
}
