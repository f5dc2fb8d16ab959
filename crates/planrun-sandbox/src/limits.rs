//! The real API server's limits and input checks, as the sandbox enforces them, each
//! with the status code and message the real server answers:
//!
//! - a request body over 3 MiB: 413 `RequestEntityTooLarge`, "Request entity too
//!   large: limit is 3145728" (kubernetes/kubernetes
//!   `staging/src/k8s.io/apiserver/pkg/server/config.go`, `MaxRequestBodyBytes`;
//!   `staging/src/k8s.io/apiserver/pkg/endpoints/handlers/rest.go`, `limitedReadBody`;
//!   `staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go`,
//!   `NewRequestEntityTooLargeError`);
//! - an object over etcd's default request limit of 1.5 MiB: etcd refuses the write
//!   with "etcdserver: request is too large", which the API server passes on as a
//!   500 with no reason (`staging/src/k8s.io/apiserver/pkg/storage/errors/storage.go`
//!   returns the error as it is; `.../endpoints/handlers/responsewriters/status.go`,
//!   `ErrorToAPIStatus`, makes an unknown error a 500). The sandbox measures the
//!   object as it stores it, JSON; etcd measures the protobuf request, a little
//!   smaller for built-in kinds;
//! - a body in a format it cannot read (anything but JSON and YAML, and protobuf for
//!   the kinds [`super::protobuf`] reads): 415 `UnsupportedMediaType`, "the body of
//!   the request was in an unknown format - accepted media types include:
//!   application/json, application/yaml" (`.../endpoints/handlers/negotiation/errors.go`);
//! - ConfigMap and Secret data whose values are not strings: 400 `BadRequest`, "<Kind>
//!   in version "v1" cannot be handled as a <Kind>: json: cannot unmarshal ..."
//!   (`.../endpoints/handlers/rest.go`, `transformDecodeError`; the typed object
//!   holds `map[string]string`).

use serde_json::Value;

use super::resources::ResourceDef;
use super::status::ApiError;

/// The largest request body the API server reads.
pub const MAX_REQUEST_BODY: usize = 3 * 1024 * 1024;

/// The largest object etcd stores (its default `--max-request-bytes`).
pub const MAX_OBJECT_BYTES: usize = 1_572_864;

/// The media types request bodies may come in.
pub fn readable_body(content_type: &str) -> bool {
    matches!(
        content_type,
        "" | "application/json" | "application/yaml" | "*/*"
    )
}

/// 413 for a request body over [`MAX_REQUEST_BODY`].
pub fn body_too_large() -> ApiError {
    ApiError::new(
        413,
        "RequestEntityTooLarge",
        format!("Request entity too large: limit is {MAX_REQUEST_BODY}"),
    )
}

/// 415 for a body the sandbox cannot read.
pub fn unreadable_body() -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
    )
}

/// What etcd answers for an object over [`MAX_OBJECT_BYTES`].
pub fn check_size(obj: &Value) -> Result<(), ApiError> {
    let size = serde_json::to_vec(obj).map_or(0, |v| v.len());
    if size > MAX_OBJECT_BYTES {
        return Err(ApiError::new(500, "", "etcdserver: request is too large"));
    }
    Ok(())
}

/// ConfigMap and Secret data: every value a string, as the typed object holds it.
pub fn check_types(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let fields: &[&str] = match (def.group.as_str(), def.kind.as_str()) {
        ("", "ConfigMap") => &["data", "binaryData"],
        ("", "Secret") => &["data", "stringData"],
        _ => return Ok(()),
    };
    for field in fields {
        let Some(value) = obj.get(*field) else {
            continue;
        };
        let bad = match value {
            Value::Null => continue,
            Value::Object(map) => map.values().find(|v| !v.is_string()),
            other => Some(other),
        };
        if let Some(bad) = bad {
            let (what, of) = match value {
                Value::Object(_) => (json_kind(bad), "string"),
                _ => (json_kind(bad), "map[string]string"),
            };
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"v1\" cannot be handled as a {kind}: json: cannot unmarshal {what} into Go struct field {kind}.{field} of type {of}",
                kind = def.kind
            )));
        }
    }
    Ok(())
}

/// How Go's JSON decoder names a JSON value's type.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
