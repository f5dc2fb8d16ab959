//! What a kind's schema does not declare, as the API server treats it.
//!
//! - A custom resource written by Update (create, replace, merge or JSON patch, the status subresource)
//!   is decoded by the CRD's codec, which drops what the structural schema does not
//!   declare and names it (k8s.io/apiextensions-apiserver v0.36.3
//!   `pkg/apiserver/customresource_handler.go`, `unstructuredSchemaCoercer.apply`):
//!   first unknown fields of `metadata` (ObjectMeta decoded strictly:
//!   `schema/objectmeta/coerce.go`, GetObjectMetaWithOptions), then, sorted, every
//!   field outside `properties` where neither `additionalProperties` nor
//!   `x-kubernetes-preserve-unknown-fields` lets it in (`schema/pruning/algorithm.go`;
//!   `apiVersion`, `kind` and `metadata` of the root and of every
//!   `x-kubernetes-embedded-resource` are left to ObjectMeta), then nulls where the
//!   schema is neither nullable nor defaulted (`schema/defaulting/prunenulls.go`, not
//!   named), then, sorted, unknown fields of an embedded resource's `metadata`
//!   (`schema/objectmeta/algorithm.go`, CoerceWithOptions). Paths read
//!   `spec.items[0].b`.
//! - What the request asked with `fieldValidation` (k8s.io/apiserver v0.36.3
//!   `pkg/endpoints/handlers/rest.go`, `fieldValidation`: `Warn` when absent) decides
//!   what the client hears of it: nothing (`Ignore`), a `Warning: 299 - "unknown
//!   field \"<path>\""` header each (`Warn`), or a refusal (`Strict`): 400 for a create
//!   or replace (`<Kind> in version "<v>" cannot be handled as a <Kind>: strict
//!   decoding error: unknown field "<path>", ...`), 422 on the field `patch` for a
//!   patch (`handlers/patch.go`, `applyPatch` of the JSON patcher, with the patched
//!   object in the message, as the real server sends it).
//! - A server-side apply never drops: the configuration is converted to the kind's
//!   type first, and a field the type does not declare fails the request with a 500
//!   whatever `fieldValidation` says (k8s.io/apimachinery v0.36.3
//!   `pkg/util/managedfields/internal/structuredmerge.go`, Apply: `failed to create
//!   typed patch object (<ns>/<name>; <group/version>, Kind=<kind>): ...`, each path
//!   as structured-merge-diff writes it: `.spec.items[0].b`, a keyed list's item as
//!   `[name="c"]`). The real server lists the paths in no fixed order (and sometimes
//!   fewer of them); the sandbox lists all, sorted.
//!
//! A built-in kind is decoded into its Go type, strictly: every field its OpenAPI
//! definition does not declare, at any depth, is dropped and named the same way
//! (k8s.io/apimachinery v0.36.3 `pkg/runtime/serializer/json`, strict decoding through
//! sigs.k8s.io/json), in the body's order on the real server and by path in the sandbox
//! (its JSON objects keep no key order). The types are generated from kube-apiserver's
//! OpenAPI definitions ([`FieldType`]); ObjectMeta's are every kind's `metadata`.

use serde_json::{Value, json};

use super::fields::{
    FieldType, ListType, Types, dotted, item_element, property_schema, type_path_child,
};
use super::status::{ApiError, Cause};

/// ObjectMeta, every kind's `metadata`.
const OBJECT_META: FieldType = FieldType::Def("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");

/// What declares an object's fields.
#[derive(Debug, Clone, Copy)]
pub enum Declared<'s> {
    /// A custom resource: its CRD's `openAPIV3Schema` at the object's version.
    Custom(&'s Value),
    /// A built-in kind: its type.
    Builtin(FieldType),
    /// Nothing but `metadata` (a kind the sandbox has no type of).
    MetadataOnly,
}

/// The server-side field validation a write asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop them and say so in `Warning` headers (the default).
    #[default]
    Warn,
    /// Refuse the write.
    Strict,
}

impl FieldValidation {
    /// The `fieldValidation` query parameter of a write whose options are `options`
    /// (`CreateOptions`, `UpdateOptions`, `PatchOptions`); an unsupported value is a
    /// 422 as the real server answers it.
    pub fn parse(value: Option<&str>, options: &str) -> Result<Self, ApiError> {
        match value.unwrap_or("") {
            "" | "Warn" => Ok(FieldValidation::Warn),
            "Ignore" => Ok(FieldValidation::Ignore),
            "Strict" => Ok(FieldValidation::Strict),
            other => Err(ApiError::invalid_causes(
                options,
                "meta.k8s.io",
                "",
                &[Cause {
                    reason: "FieldValueNotSupported",
                    field: "fieldValidation".to_owned(),
                    message: format!(
                        "Unsupported value: {other:?}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
                    ),
                }],
            )),
        }
    }
}

/// How a write was made, for the wording of a strict refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// A create or a replace: the body is decoded as it came.
    Decode,
    /// A merge or JSON patch: the patched object is decoded.
    Patch,
}

/// Drops from `obj` what `declared` does not declare, and returns the dropped fields'
/// paths in the API server's order.
pub fn prune(obj: &mut Value, declared: Declared<'_>) -> Vec<String> {
    let mut paths = Vec::new();
    if let Declared::Builtin(ty) = declared {
        prune_typed(obj, ty, "", &mut paths);
        return paths;
    }
    if let Some(meta) = obj.get_mut("metadata") {
        prune_typed(meta, OBJECT_META, "metadata", &mut paths);
    }
    let Declared::Custom(schema) = declared else {
        return paths;
    };
    let mut pruned = Vec::new();
    prune_at(obj, Some(schema), true, false, "", &mut pruned);
    pruned.sort();
    paths.extend(pruned);
    prune_nulls(obj, Some(schema));
    let mut embedded = Vec::new();
    embedded_metadata(obj, schema, "", &mut embedded);
    embedded.sort();
    paths.extend(embedded);
    paths
}

/// The first value of a built-in kind's object that should be base64 bytes and is not
/// (a Secret's `data`), with Go's error for it (`illegal base64 data at input byte N`,
/// N the first byte outside the alphabet): decoding the object fails, whatever
/// `fieldValidation` says.
pub fn undecodable_bytes(obj: &Value, declared: Declared<'_>) -> Option<String> {
    let Declared::Builtin(ty) = declared else {
        return None;
    };
    first_bad_bytes(obj, ty)
}

fn first_bad_bytes(x: &Value, ty: FieldType) -> Option<String> {
    match (x, ty) {
        (Value::String(text), FieldType::Bytes) => base64_error(text),
        (Value::Object(map), FieldType::Def(_) | FieldType::Map(_)) => map
            .iter()
            .find_map(|(key, value)| first_bad_bytes(value, ty.field(key)?)),
        (Value::Array(items), FieldType::List(item)) => {
            items.iter().find_map(|value| first_bad_bytes(value, *item))
        }
        _ => None,
    }
}

/// Go's error for text that standard base64 (padded; line breaks skipped) cannot decode.
fn base64_error(text: &str) -> Option<String> {
    use base64::Engine as _;
    let joined: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    if base64::engine::general_purpose::STANDARD
        .decode(&joined)
        .is_ok()
    {
        return None;
    }
    let at = text
        .bytes()
        .position(|b| {
            !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n'))
        })
        .unwrap_or(text.len());
    Some(format!("illegal base64 data at input byte {at}"))
}

/// The refusal of a write whose object cannot be decoded (`why`: Go's error): a create
/// or replace as the codec refuses it, a patch on its field `patch`, a server-side
/// apply with the field manager's 500.
pub fn undecodable(
    why: &str,
    write: Option<Write>,
    kind: &str,
    api_version: &str,
    obj: &Value,
) -> ApiError {
    let version = api_version.rsplit('/').next().unwrap_or(api_version);
    match write {
        Some(Write::Decode) => ApiError::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: {why}"
        )),
        Some(Write::Patch) => ApiError::invalid_causes(
            "",
            "",
            "",
            &[Cause::invalid(
                "patch",
                &format!("Invalid value: {:?}: {why}", obj.to_string()),
            )],
        ),
        None => {
            let gvk = format!("{}, Kind={kind}", group_version(api_version));
            ApiError::new(
                500,
                "",
                format!(
                    "failed to convert new object ({}; {gvk}) to proper version: unable to convert unstructured object to {gvk}: error decoding from json: {why}",
                    namespaced_name(obj)
                ),
            )
        }
    }
}

/// An object as the field manager's messages name it: `<namespace>/<name>`, either
/// empty when the object leaves it out.
fn namespaced_name(obj: &Value) -> String {
    let text = |key: &str| {
        obj.pointer(&format!("/metadata/{key}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    format!("{}/{}", text("namespace"), text("name"))
}

/// A group-version as the field manager's messages write it: `/v1` for the core group.
fn group_version(api_version: &str) -> String {
    if api_version.contains('/') {
        api_version.to_owned()
    } else {
        format!("/{api_version}")
    }
}

/// What the client hears of `paths` dropped from a write of `kind` at `version`:
/// warnings to send (`Ok`), or the refusal of a strict write.
pub fn judge(
    validation: FieldValidation,
    paths: &[String],
    write: Write,
    kind: &str,
    version: &str,
    patched: &Value,
) -> Result<Vec<String>, ApiError> {
    let named: Vec<String> = paths
        .iter()
        .map(|p| format!("unknown field {p:?}"))
        .collect();
    match validation {
        _ if paths.is_empty() => Ok(Vec::new()),
        FieldValidation::Ignore => Ok(Vec::new()),
        FieldValidation::Warn => Ok(named),
        FieldValidation::Strict => {
            let why = format!("strict decoding error: {}", named.join(", "));
            Err(undecodable(&why, Some(write), kind, version, patched))
        }
    }
}

/// The fields of a server-side apply configuration its kind does not declare, as
/// structured-merge-diff names them (`types`: the kind's, for the keys of its lists).
pub fn undeclared_in_apply(
    applied: &Value,
    declared: Declared<'_>,
    types: &Types<'_>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Declared::Builtin(ty) = declared {
        apply_typed(applied, ty, "", "", types, &mut out);
        out.sort();
        return out;
    }
    if let Some(meta) = applied.get("metadata") {
        apply_typed(meta, OBJECT_META, ".metadata", "metadata", types, &mut out);
    }
    if let (Declared::Custom(schema), Some(map)) = (declared, applied.as_object()) {
        for (key, value) in map {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            apply_walk(
                value,
                declaring(schema, key),
                &format!(".{key}"),
                key,
                types,
                &mut out,
            );
        }
    }
    out.sort();
    out
}

/// The 500 of an apply whose configuration has undeclared fields.
pub fn apply_refusal(applied: &Value, api_version: &str, kind: &str, paths: &[String]) -> ApiError {
    let group_version = group_version(api_version);
    let errors: Vec<String> = paths
        .iter()
        .map(|p| format!("{p}: field not declared in schema"))
        .collect();
    let listed = match errors.as_slice() {
        [one] => one.clone(),
        many => format!("errors:\n  {}", many.join("\n  ")),
    };
    ApiError::new(
        500,
        "",
        format!(
            "failed to create typed patch object ({}; {group_version}, Kind={kind}): {listed}",
            namespaced_name(applied)
        ),
    )
}

/// The part of a schema that declares `key` of an object: its property, else
/// `additionalProperties`; `Some(&Value::Bool(true))` where anything goes.
fn declaring<'s>(schema: &'s Value, key: &str) -> Option<&'s Value> {
    let anything =
        schema.get("additionalProperties") == Some(&Value::Bool(true)) || preserves(schema);
    property_schema(schema, key).or_else(|| anything.then_some(&ANYTHING))
}

/// A schema that lets anything in.
static ANYTHING: Value = Value::Bool(true);

fn preserves(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
}

fn embedded(schema: &Value) -> bool {
    schema.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true))
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The pruning walk (`schema/pruning/algorithm.go`): `skip` is skipPrune, below a
/// schema that preserves unknown fields, where only what a property or
/// `additionalProperties` declares is pruned further (and list items keep skipping);
/// a part no schema declares loses every field of its objects.
fn prune_at(
    x: &mut Value,
    schema: Option<&Value>,
    root: bool,
    skip: bool,
    at: &str,
    out: &mut Vec<String>,
) {
    let schema = schema.filter(|s| s.is_object());
    if !skip && schema.is_some_and(preserves) {
        return prune_at(x, schema, root, true, at, out);
    }
    if skip && schema.is_none() {
        return;
    }
    let embedded_here = root || schema.is_some_and(embedded);
    match x {
        Value::Object(map) => {
            let Some(schema) = schema else {
                out.extend(map.keys().map(|k| join(at, k)));
                map.clear();
                return;
            };
            let mut dropped = Vec::new();
            for (key, value) in map.iter_mut() {
                if embedded_here && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                match property_schema(schema, key) {
                    Some(s) => prune_at(value, Some(s), false, false, &join(at, key), out),
                    // `additionalProperties: true` gives the value no schema.
                    None if schema.get("additionalProperties") == Some(&Value::Bool(true)) => {
                        prune_at(value, None, false, false, &join(at, key), out);
                    }
                    None if skip => {}
                    None => {
                        out.push(join(at, key));
                        dropped.push(key.clone());
                    }
                }
            }
            for key in dropped {
                map.remove(&key);
            }
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.get("items"));
            for (i, item) in items.iter_mut().enumerate() {
                prune_at(item, item_schema, false, skip, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Removes nulls where the schema is neither nullable nor defaulted
/// (`PruneNonNullableNullsWithoutDefaults`).
fn prune_nulls(x: &mut Value, schema: Option<&Value>) {
    match x {
        Value::Object(map) => {
            let mut dropped = Vec::new();
            for (key, value) in map.iter_mut() {
                let field = schema.and_then(|s| property_schema(s, key));
                if value.is_null()
                    && field.is_some_and(|f| {
                        f.get("nullable") != Some(&Value::Bool(true)) && f.get("default").is_none()
                    })
                {
                    dropped.push(key.clone());
                } else {
                    prune_nulls(value, field);
                }
            }
            for key in dropped {
                map.remove(&key);
            }
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.get("items"));
            for item in items {
                prune_nulls(item, item_schema);
            }
        }
        _ => {}
    }
}

/// Unknown fields of every embedded resource's `metadata`, dropped.
fn embedded_metadata(x: &mut Value, schema: &Value, at: &str, out: &mut Vec<String>) {
    match x {
        Value::Object(map) => {
            if embedded(schema)
                && let Some(meta) = map.get_mut("metadata")
            {
                prune_typed(meta, OBJECT_META, &join(at, "metadata"), out);
            }
            for (key, value) in map.iter_mut() {
                if embedded(schema) && key == "metadata" {
                    continue;
                }
                if let Some(field) = property_schema(schema, key) {
                    embedded_metadata(value, field, &join(at, key), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    embedded_metadata(item, item_schema, &format!("{at}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Drops what `ty` does not declare from `x` at `at`, and names it.
fn prune_typed(x: &mut Value, ty: FieldType, at: &str, out: &mut Vec<String>) {
    match (x, ty) {
        (Value::Object(map), FieldType::Def(_) | FieldType::Map(_)) => {
            let mut dropped = Vec::new();
            for (key, value) in map.iter_mut() {
                match ty.field(key) {
                    Some(field) => prune_typed(value, field, &join(at, key), out),
                    None => {
                        out.push(join(at, key));
                        dropped.push(key.clone());
                    }
                }
            }
            for key in dropped {
                map.remove(&key);
            }
        }
        (Value::Array(items), FieldType::List(item)) => {
            for (i, value) in items.iter_mut().enumerate() {
                prune_typed(value, *item, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The fields of `x` (at `at`, of type path `type_path`) that `ty` does not declare,
/// as structured-merge-diff names them: a keyed list's item by its keys
/// (`[name="c"]`), any other item by its index.
fn apply_typed(
    x: &Value,
    ty: FieldType,
    at: &str,
    type_path: &str,
    types: &Types<'_>,
    out: &mut Vec<String>,
) {
    match (x, ty) {
        (Value::Object(map), FieldType::Def(_) | FieldType::Map(_)) => {
            for (key, value) in map {
                match ty.field(key) {
                    Some(field) => apply_typed(
                        value,
                        field,
                        &format!("{at}.{key}"),
                        &type_path_child(type_path, key),
                        types,
                        out,
                    ),
                    None => out.push(format!("{at}.{key}")),
                }
            }
        }
        (Value::Array(items), FieldType::List(item)) => {
            let list = types.list(type_path);
            for (i, value) in items.iter().enumerate() {
                apply_typed(
                    value,
                    *item,
                    &format!("{at}{}", element(value, i, list.as_ref())),
                    &type_path_child(type_path, "[]"),
                    types,
                    out,
                );
            }
        }
        _ => {}
    }
}

/// The walk of an apply configuration against a schema: `schema` is what declares
/// `x` (`None`: nothing does; [`ANYTHING`]: anything goes).
fn apply_walk(
    x: &Value,
    schema: Option<&Value>,
    at: &str,
    type_path: &str,
    types: &Types<'_>,
    out: &mut Vec<String>,
) {
    let Some(schema) = schema else {
        out.push(at.to_owned());
        return;
    };
    if !schema.is_object() {
        return;
    }
    match x {
        Value::Object(map) => {
            for (key, value) in map {
                if embedded(schema) && matches!(key.as_str(), "apiVersion" | "kind") {
                    continue;
                }
                let at = format!("{at}.{key}");
                if embedded(schema) && key == "metadata" {
                    let meta_types = Types::object_meta();
                    apply_typed(value, OBJECT_META, &at, "metadata", &meta_types, out);
                    continue;
                }
                let type_path = type_path_child(type_path, key);
                apply_walk(value, declaring(schema, key), &at, &type_path, types, out);
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = schema.get("items") else {
                return;
            };
            let list = types.list(type_path);
            let type_path = type_path_child(type_path, "[]");
            for (i, item) in items.iter().enumerate() {
                let at = format!("{at}{}", element(item, i, list.as_ref()));
                apply_walk(item, Some(item_schema), &at, &type_path, types, out);
            }
        }
        _ => {}
    }
}

/// How structured-merge-diff names a list's item: by its keys in a keyed list
/// (`[name="c"]`), else by its index.
fn element(item: &Value, index: usize, list: Option<&ListType>) -> String {
    list.and_then(|l| item_element(item, l))
        .map_or_else(|| format!("[{index}]"), |e| dotted(&[e]))
}

/// A `Warning` header's value for one warning (RFC 7234 warn-code 299, agent `-`).
pub fn warning_header(text: &str) -> String {
    format!("299 - {}", json!(text))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn widget_schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "size": {"type": "integer"},
                "name": {"type": "string"},
                "maybe": {"type": "string", "nullable": true},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "items": {"type": "array", "items": {"type": "object",
                          "properties": {"a": {"type": "string"}}}},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                "emb": {"type": "object", "x-kubernetes-embedded-resource": true,
                        "x-kubernetes-preserve-unknown-fields": true},
            }},
            "status": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
        }})
    }

    #[test]
    fn an_update_drops_and_names_what_the_schema_does_not_declare_in_the_servers_order() {
        let mut obj = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "typoMeta": 1, "labels": {"a": "b"},
                         "ownerReferences": [{"name": "o", "bogus": true}]},
            "spec": {"size": 1, "typo": "x", "free": {"any": 1}, "labels": {"k": "v"},
                     "items": [{"a": "x", "b": "y"}], "name": null, "maybe": null,
                     "emb": {"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "x", "bad": 1}, "data": {"k": "v"}}},
            "status": {"ok": true, "zz": 1}, "top": 1});
        let schema = widget_schema();
        let paths = prune(&mut obj, Declared::Custom(&schema));
        assert_eq!(
            paths,
            [
                "metadata.ownerReferences[0].bogus",
                "metadata.typoMeta",
                "spec.items[0].b",
                "spec.typo",
                "status.zz",
                "top",
                "spec.emb.metadata.bad",
            ]
        );
        assert_eq!(
            obj,
            json!({"apiVersion": "example.com/v1", "kind": "Widget",
                "metadata": {"name": "w", "labels": {"a": "b"}, "ownerReferences": [{"name": "o"}]},
                "spec": {"size": 1, "free": {"any": 1}, "labels": {"k": "v"},
                         "items": [{"a": "x"}], "maybe": null,
                         "emb": {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "x"}, "data": {"k": "v"}}},
                "status": {"ok": true}})
        );
    }

    fn builtin(group: &str, kind: &str) -> Declared<'static> {
        Declared::Builtin(FieldType::of_kind(group, kind).unwrap())
    }

    #[test]
    fn a_built_in_kind_is_checked_at_every_depth_by_its_type() {
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "nam": "x", "labels": {"any": "thing"}},
            "data": {"a": "b"}, "typo": 1});
        assert_eq!(
            prune(&mut obj, builtin("", "ConfigMap")),
            ["metadata.nam", "typo"]
        );
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "labels": {"any": "thing"}}, "data": {"a": "b"}})
        );
        let mut deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"replicas": 0, "strategyy": {}, "strategy": {"rollingUpdate": {"maxSurge": "25%"}},
                     "template": {"metadata": {"zz": 1}, "spec": {"containers": [
                         {"name": "c", "image": "i", "imagePullPolicyy": "Always",
                          "resources": {"limits": {"cpu": "1"}},
                          "ports": [{"containerPort": 80, "bad": 1}]}]}}}});
        assert_eq!(
            prune(&mut deployment, builtin("apps", "Deployment")),
            [
                "spec.strategyy",
                "spec.template.metadata.zz",
                "spec.template.spec.containers[0].imagePullPolicyy",
                "spec.template.spec.containers[0].ports[0].bad",
            ]
        );
        assert_eq!(
            deployment["spec"]["template"]["spec"]["containers"][0],
            json!({"name": "c", "image": "i", "resources": {"limits": {"cpu": "1"}},
                   "ports": [{"containerPort": 80}]})
        );
        let mut unknown = json!({"metadata": {"name": "x", "nam": 1}, "anything": 1});
        assert_eq!(
            prune(&mut unknown, Declared::MetadataOnly),
            ["metadata.nam"]
        );
    }

    #[test]
    fn the_directive_decides_between_silence_warnings_and_a_refusal() {
        let paths = vec!["spec.typo".to_owned()];
        let obj = json!({"spec": {"typo": 1}});
        assert!(
            judge(
                FieldValidation::Ignore,
                &paths,
                Write::Decode,
                "Widget",
                "v1",
                &obj
            )
            .unwrap()
            .is_empty()
        );
        assert_eq!(
            judge(
                FieldValidation::Warn,
                &paths,
                Write::Decode,
                "Widget",
                "v1",
                &obj
            )
            .unwrap(),
            ["unknown field \"spec.typo\""]
        );
        let e = judge(
            FieldValidation::Strict,
            &paths,
            Write::Decode,
            "Widget",
            "v1",
            &obj,
        )
        .unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
        assert_eq!(
            e.message,
            "Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: unknown field \"spec.typo\""
        );
        let e = judge(
            FieldValidation::Strict,
            &paths,
            Write::Patch,
            "Widget",
            "v1",
            &obj,
        )
        .unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
        assert!(
            e.message
                .starts_with(" \"\" is invalid: patch: Invalid value: \"{\\\"spec\\\"")
                && e.message
                    .ends_with("strict decoding error: unknown field \"spec.typo\""),
            "{}",
            e.message
        );
        assert!(
            judge(
                FieldValidation::Strict,
                &[],
                Write::Patch,
                "Widget",
                "v1",
                &obj
            )
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn an_unsupported_directive_is_refused_as_the_server_does() {
        let e = FieldValidation::parse(Some("Bogus"), "CreateOptions").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "CreateOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"Bogus\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
        );
        assert_eq!(
            FieldValidation::parse(None, "PatchOptions").unwrap(),
            FieldValidation::Warn
        );
    }

    #[test]
    fn an_apply_names_undeclared_fields_as_structured_merge_diff_does() {
        let applied = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "n", "typoMeta": 1,
                         "ownerReferences": [{"uid": "u", "bogus": 1}]},
            "spec": {"size": 1, "typo": "x", "items": [{"a": "x", "b": "y"}],
                     "ports": [{"name": "http", "proto": "TCP"}], "free": {"x": {"y": 1}},
                     "labels": {"k": "v"}, "emb": {"metadata": {"bad": 1}, "spec": {}}},
            "top": 1});
        let schema = widget_schema();
        let paths =
            undeclared_in_apply(&applied, Declared::Custom(&schema), &Types::custom(&schema));
        assert_eq!(
            paths,
            [
                ".metadata.ownerReferences[uid=\"u\"].bogus",
                ".metadata.typoMeta",
                ".spec.emb.metadata.bad",
                ".spec.items[0].b",
                ".spec.ports[name=\"http\"].proto",
                ".spec.typo",
                ".top",
            ]
        );
        let e = apply_refusal(&applied, "example.com/v1", "Widget", &paths[5..6]);
        assert_eq!(e.code, 500);
        assert_eq!(
            e.message,
            "failed to create typed patch object (n/w; example.com/v1, Kind=Widget): .spec.typo: field not declared in schema"
        );
        let e = apply_refusal(&applied, "v1", "ConfigMap", &paths[5..]);
        assert_eq!(
            e.message,
            "failed to create typed patch object (n/w; /v1, Kind=ConfigMap): errors:\n  .spec.typo: field not declared in schema\n  .top: field not declared in schema"
        );
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "c", "imagePullPolicyy": "Always", "ports": [{"containerPort": 80, "bad": 1}]}]}}}});
        assert_eq!(
            undeclared_in_apply(
                &deployment,
                builtin("apps", "Deployment"),
                &Types::builtin("apps", "Deployment")
            ),
            [
                ".spec.template.spec.containers[name=\"c\"].imagePullPolicyy",
                ".spec.template.spec.containers[name=\"c\"].ports[containerPort=80,protocol=\"TCP\"].bad",
            ]
        );
    }

    #[test]
    fn below_a_schema_that_preserves_unknown_fields_only_declared_parts_are_pruned() {
        let schema = json!({"type": "object", "properties": {"spec": {
            "type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}},
            "items": {"type": "object", "properties": {"a": {"type": "string"}}}}}});
        let mut obj = json!({"spec": {"extra": {"deep": 1}, "known": {"a": "x", "b": "y"}}});
        assert_eq!(prune(&mut obj, Declared::Custom(&schema)), ["spec.known.b"]);
        assert_eq!(
            obj,
            json!({"spec": {"extra": {"deep": 1}, "known": {"a": "x"}}})
        );
        // List items below it keep skipping: their own unknown fields stay.
        let mut list = json!([{"a": "x", "b": "y"}]);
        let mut out = Vec::new();
        prune_at(
            &mut list,
            schema.pointer("/properties/spec"),
            false,
            false,
            "spec",
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(list, json!([{"a": "x", "b": "y"}]));
    }

    #[test]
    fn bytes_that_are_not_base64_fail_the_decoding_as_go_says() {
        let secret = |data: Value| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data});
        let declared = builtin("", "Secret");
        assert_eq!(
            undecodable_bytes(
                &secret(json!({"a": "c2VjcmV0", "b": "c2Vj\ncmV0"})),
                declared
            ),
            None
        );
        assert_eq!(
            undecodable_bytes(
                &secret(json!({"a": "c2VjcmV0", "b": "not base64!"})),
                declared
            ),
            Some("illegal base64 data at input byte 3".to_owned())
        );
        let obj = secret(json!({"b": "not base64!"}));
        let e = undecodable(
            "illegal base64 data at input byte 3",
            Some(Write::Decode),
            "Secret",
            "v1",
            &obj,
        );
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                400,
                "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 3"
            )
        );
        let e = undecodable(
            "illegal base64 data at input byte 3",
            None,
            "Secret",
            "v1",
            &obj,
        );
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                500,
                "failed to convert new object (/s; /v1, Kind=Secret) to proper version: unable to convert unstructured object to /v1, Kind=Secret: error decoding from json: illegal base64 data at input byte 3"
            )
        );
        let custom = json!({"type": "object"});
        assert_eq!(
            undecodable_bytes(&secret(json!({"b": "?"})), Declared::Custom(&custom)),
            None
        );
    }

    #[test]
    fn a_warning_header_quotes_its_text() {
        assert_eq!(
            warning_header("unknown field \"spec.typo\""),
            "299 - \"unknown field \\\"spec.typo\\\"\""
        );
    }
}
