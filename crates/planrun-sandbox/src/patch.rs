//! Patch bodies: JSON merge patch, strategic merge patch and JSON patch.

use serde_json::{Map, Value};

use super::fields::{PatchMerges, type_path_child};
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

/// Strategic merge patch as the API server applies it to a built-in kind
/// (kubernetes/kubernetes `staging/src/k8s.io/apimachinery/pkg/util/strategicpatch/patch.go`,
/// mergeMap and mergeSlice, with the server's options: parallel lists merged, unmatched
/// nulls ignored). Maps merge key by key, `null` deletes; a list whose patch strategy is
/// `merge` (`merges`) merges item by item, maps by their merge key and scalars by value,
/// every other list is replaced. A merged list is ordered as the patch orders its items
/// (or `$setElementOrder/<list>` does), the object's other items slotted in by their old
/// order: a new item comes before them (normalizeElementOrder, mergeSortedSlice).
/// Directives: `$patch` in a map (`replace`, `delete`) and in a list item (`delete`,
/// `replace` for the whole list), `$deleteFromPrimitiveList/<list>`,
/// `$setElementOrder/<list>`, `$retainKeys`. An unknown `$patch` value fails the patch
/// with "unknown patch type: X in map: map[...]" (`.../util/mergepatch/errors.go`),
/// which the API server answers with a 500 (`interpretStrategicMergePatchError` passes
/// it on as it is).
pub fn strategic_merge_patch(
    target: &mut Value,
    patch: &Value,
    merges: &PatchMerges,
) -> Result<(), ApiError> {
    merge_map(target, patch, "", merges)
}

fn merge_map(
    target: &mut Value,
    patch: &Value,
    tpath: &str,
    merges: &PatchMerges,
) -> Result<(), ApiError> {
    let Value::Object(p) = patch else {
        *target = without_directives(patch).unwrap_or(Value::Null);
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
    if let Some(Value::Array(keep)) = p.get("$retainKeys") {
        t.retain(|k, _| keep.iter().any(|x| x.as_str() == Some(k)));
    }
    let mut ordered = Vec::new();
    for (k, order) in p
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("$setElementOrder/")?, v)))
    {
        let Value::Array(order) = order else {
            continue;
        };
        let ct = type_path_child(tpath, k);
        let key = merges.at(&ct).flatten();
        let original = t.get(k).and_then(Value::as_array).cloned();
        let merged = match (&original, p.get(k).and_then(Value::as_array)) {
            (Some(o), None) => o.clone(),
            (None, Some(list)) => without_directives_in(list),
            (Some(o), Some(list)) => merge_slice(o.clone(), list, key, &ct, merges)?,
            (None, None) => continue,
        };
        let (in_order, server_only) = partition(merged, order, key);
        let server_order = original.unwrap_or_default();
        t.insert(
            k.to_owned(),
            Value::Array(normalize(in_order, server_only, order, &server_order, key)),
        );
        ordered.push(k);
    }
    for (k, v) in p {
        if let Some(list) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(cur)), Value::Array(gone)) = (t.get_mut(list), v) {
                cur.retain(|x| !gone.contains(x));
            }
            continue;
        }
        if k.starts_with('$') || ordered.contains(&k.as_str()) {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        let ct = type_path_child(tpath, k);
        let replacement = match (t.get_mut(k), v) {
            (Some(cur @ Value::Object(_)), Value::Object(_)) => {
                merge_map(cur, v, &ct, merges)?;
                continue;
            }
            (Some(Value::Array(cur)), Value::Array(list)) => match merges.at(&ct) {
                Some(key) => {
                    *cur = merge_slice(std::mem::take(cur), list, key, &ct, merges)?;
                    continue;
                }
                None => without_directives(v),
            },
            _ => without_directives(v),
        };
        // A value that is a directive itself (`{"$patch": ...}`) leaves nothing.
        match replacement {
            Some(r) => t.insert(k.clone(), r),
            None => t.remove(k),
        };
    }
    Ok(())
}

/// mergeSlice: `patch` merged into `original`, in the order normalizeElementOrder
/// gives.
fn merge_slice(
    original: Vec<Value>,
    patch: &[Value],
    key: Option<&str>,
    tpath: &str,
    merges: &PatchMerges,
) -> Result<Vec<Value>, ApiError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    if !original.iter().chain(patch).any(Value::is_object) {
        let mut merged: Vec<Value> = Vec::new();
        for x in original.iter().chain(patch) {
            if !merged.contains(x) {
                merged.push(x.clone());
            }
        }
        let (in_patch, server_only) = partition(merged, patch, None);
        return Ok(normalize(in_patch, server_only, patch, &original, None));
    }
    let Some(key) = key else {
        return Err(ApiError::new(
            500,
            "",
            "cannot merge lists without merge key".to_owned(),
        ));
    };
    let mut original = original;
    let mut plain = Vec::new();
    let mut replace = false;
    for item in patch {
        match item.get("$patch") {
            None => plain.push(item.clone()),
            Some(Value::String(d)) if d == "delete" => {
                let value = item.get(key);
                original.retain(|o| o.get(key) != value);
            }
            Some(Value::String(d)) if d == "replace" => replace = true,
            Some(other) => return Err(bad_patch_type(other, item)),
        }
    }
    if replace {
        return Ok(without_directives_in(&plain));
    }
    let item_type = type_path_child(tpath, "[]");
    let mut merged = original.clone();
    for item in &plain {
        match position(&merged, item, Some(key)) {
            Some(i) => merge_map(&mut merged[i], item, &item_type, merges)?,
            None => merged.extend(without_directives(item)),
        }
    }
    let (in_patch, server_only) = partition(merged, &plain, Some(key));
    Ok(normalize(
        in_patch,
        server_only,
        &plain,
        &original,
        Some(key),
    ))
}

/// Where `item` is in `list`: by its merge key's value for maps, by itself otherwise
/// (patch.go, index).
fn position(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    let of = |v: &Value| match key {
        Some(k) => v.get(k).cloned(),
        None => Some(v.clone()),
    };
    let wanted = of(item);
    list.iter().position(|v| of(v) == wanted)
}

/// The items of `merged` that `by` has, and the others, each in `merged`'s order.
fn partition(merged: Vec<Value>, by: &[Value], key: Option<&str>) -> (Vec<Value>, Vec<Value>) {
    merged
        .into_iter()
        .partition(|item| position(by, item, key).is_some())
}

/// normalizeElementOrder: the patch's items in the patch's order, the object's own in
/// their old order, the two interleaved by the old order where both have a place in it
/// (mergeSortedSlice).
fn normalize(
    mut in_patch: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let at = |order: &[Value], v: &Value| position(order, v, key).unwrap_or(usize::MAX);
    in_patch.sort_by_key(|v| at(patch_order, v));
    server_only.sort_by_key(|v| at(server_order, v));
    let mut out = Vec::with_capacity(in_patch.len() + server_only.len());
    let (mut left, mut right) = (
        server_only.into_iter().peekable(),
        in_patch.into_iter().peekable(),
    );
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                matches!((position(server_order, l, key), position(server_order, r, key)),
                    (Some(li), Some(ri)) if li < ri)
            }
        };
        out.extend(if take_left { left.next() } else { right.next() });
    }
    out
}

/// removeDirectives with discardNullValuesFromPatch: a value from a patch as stored,
/// without `$` directives and null members; `None` for a map that is a directive.
fn without_directives(v: &Value) -> Option<Value> {
    match v {
        Value::Object(m) if m.contains_key("$patch") => None,
        Value::Object(m) => Some(Value::Object(
            m.iter()
                .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
                .filter_map(|(k, v)| Some((k.clone(), without_directives(v)?)))
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(without_directives_in(items))),
        other => Some(other.clone()),
    }
}

fn without_directives_in(items: &[Value]) -> Vec<Value> {
    items.iter().filter_map(without_directives).collect()
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
        // `replace` of a missing member adds it: the API server's json-patch (evanphx
        // json-patch v4, partialDoc.get) finds no error in an absent key.
        Value::Object(m) => {
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
                    // A failed test is a 422 the handler builds without the library's words
                    // (k8s.io/apiserver v0.36.3 pkg/endpoints/handlers/patch.go, applyPatch
                    // -> errors.NewGenericServerResponse(422, ...), whose message
                    // k8s.io/apimachinery pkg/api/errors/errors.go sets).
                    let mut e = ApiError::new(
                        422,
                        "Invalid",
                        "the server rejected our request due to an error in our request",
                    );
                    e.details = Some(serde_json::json!({}));
                    return Err(e);
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
        let merges = PatchMerges::builtin("apps", "Deployment");
        let deploy = |containers: Value, finalizers: Value| {
            json!({"metadata": {"finalizers": finalizers},
                   "spec": {"template": {"spec": {"containers": containers}}}})
        };
        let mut d = deploy(
            json!([{"name":"a","image":"x","ports":[{"containerPort":80},{"containerPort":81}]},
                   {"name":"b","image":"y"}]),
            json!(["f/a"]),
        );
        // An item of both merges where it was; a new one comes before the object's
        // own; a port merges by its number; a finalizer is added, not replaced.
        strategic_merge_patch(
            &mut d,
            &deploy(
                json!([{"name":"b","image":"z"},{"name":"n","image":"w"},
                       {"name":"a","ports":[{"containerPort":80,"name":"http"}]}]),
                json!(["f/b"]),
            ),
            &merges,
        )
        .unwrap();
        assert_eq!(
            d,
            deploy(
                json!([{"name":"b","image":"z"},{"name":"n","image":"w"},
                       {"name":"a","image":"x",
                        "ports":[{"containerPort":80,"name":"http"},{"containerPort":81}]}]),
                json!(["f/b", "f/a"]),
            )
        );
        // The order a client sets, a scalar taken out, an item deleted.
        strategic_merge_patch(
            &mut d,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["f/a"]},
                    "spec": {"template": {"spec": {
                        "$setElementOrder/containers": [{"name":"a"},{"name":"b"}],
                        "containers": [{"name":"n","$patch":"delete"}]}}}}),
            &merges,
        )
        .unwrap();
        let names: Vec<&str> = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(d["metadata"]["finalizers"], json!(["f/b"]));
        // A list with no merge strategy is replaced.
        let mut args = deploy(json!([{"name":"a","args":["1","2"]}]), json!([]));
        strategic_merge_patch(
            &mut args,
            &deploy(json!([{"name":"a","args":["3"]}]), json!([])),
            &merges,
        )
        .unwrap();
        assert_eq!(
            args["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["3"])
        );
    }

    #[test]
    fn patch_directives_as_the_real_server_reads_them() {
        let mut d = json!({"data":{"a":"1"},"keep":1});
        let merges = PatchMerges::builtin("", "ConfigMap");
        strategic_merge_patch(
            &mut d,
            &json!({"data":{"$patch":"replace","b":"2"}}),
            &merges,
        )
        .unwrap();
        assert_eq!(d, json!({"data":{"b":"2"},"keep":1}));
        strategic_merge_patch(&mut d, &json!({"data":{"$patch":"delete"}}), &merges).unwrap();
        assert_eq!(d, json!({"data":{},"keep":1}));
        // A directive standing for a value that is no map takes the value away.
        strategic_merge_patch(&mut d, &json!({"keep":{"$patch":"delete"}}), &merges).unwrap();
        assert_eq!(d, json!({"data":{}}));
        let e = strategic_merge_patch(&mut d, &json!({"data":{"$patch":"garbage","x":1}}), &merges)
            .unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                500,
                "unknown patch type: garbage in map: map[$patch:garbage x:1]"
            )
        );
        let mut l = json!({"metadata":{"ownerReferences":[{"uid":"a"}]}});
        let e = strategic_merge_patch(
            &mut l,
            &json!({"metadata":{"ownerReferences":[{"uid":"a","$patch":"merge"}]}}),
            &merges,
        )
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
