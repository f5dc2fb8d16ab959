//! Kubernetes `Status` failure bodies with the exact reasons a real API server uses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One cause of a `422 Invalid`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`...
    pub reason: &'static str,
    /// The field path, e.g. `metadata.labels`.
    pub field: String,
    /// `Invalid value: ...`, `Required value: ...`.
    pub message: String,
}

impl Cause {
    /// `Invalid value: ...` of `field`.
    pub fn invalid(field: &str, message: &str) -> Self {
        Self {
            reason: "FieldValueInvalid",
            field: field.to_owned(),
            message: message.to_owned(),
        }
    }

    /// `Required value: <why>` of `field`.
    pub fn required(field: &str, why: &str) -> Self {
        Self {
            reason: "FieldValueRequired",
            field: field.to_owned(),
            message: format!("Required value: {why}"),
        }
    }
}

/// An API failure, rendered as a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code, repeated in the body's `code`.
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, ...).
    pub reason: String,
    /// Human-readable message, worded like the real API server's.
    pub message: String,
    /// `details` of the Status, when the failure concerns one object.
    pub details: Option<Value>,
    /// `Retry-After` seconds, sent as a header and in `details.retryAfterSeconds`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A failure with no details.
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.to_owned(),
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn with_details(mut self, group: &str, kind: &str, name: &str) -> Self {
        let mut d = json!({ "name": name, "kind": kind });
        if !group.is_empty() {
            d["group"] = json!(group);
        }
        self.details = Some(d);
        self
    }

    /// `404 NotFound`: `<plural>[.group] "<name>" not found`.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, plural)),
        )
        .with_details(group, plural, name)
    }

    /// `409 AlreadyExists`.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, plural)),
        )
        .with_details(group, plural, name)
    }

    /// `409 Conflict` with the standard "Operation cannot be fulfilled" wording.
    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(group, plural)
            ),
        )
        .with_details(group, plural, name)
    }

    /// `409 Conflict` for a stale `metadata.resourceVersion`.
    pub fn stale(group: &str, plural: &str, name: &str) -> Self {
        Self::conflict(
            group,
            plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `403 Forbidden` about one object.
    pub fn forbidden(group: &str, plural: &str, name: &str, why: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!(
                "{} \"{name}\" is forbidden: {why}",
                qualified(group, plural)
            ),
        )
        .with_details(group, plural, name)
    }

    /// `422 Invalid` with one field cause (`why` is `"Required value: ..."` for a
    /// missing field, else an invalid value).
    pub fn invalid(kind: &str, group: &str, name: &str, field: &str, why: &str) -> Self {
        let cause = if why.starts_with("Required value") {
            Cause {
                reason: "FieldValueRequired",
                field: field.to_owned(),
                message: why.to_owned(),
            }
        } else {
            Cause::invalid(field, why)
        };
        Self::invalid_causes(kind, group, name, &[cause])
    }

    /// `422 Invalid`: `<Kind>[.group] "<name>" is invalid: <field>: <message>` (several
    /// causes in brackets), details without an empty group or name
    /// (k8s.io/apimachinery v0.36.3 `pkg/api/errors/errors.go`, NewInvalid).
    pub fn invalid_causes(kind: &str, group: &str, name: &str, causes: &[Cause]) -> Self {
        let qualified_kind = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let listed: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let what = match listed.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{qualified_kind} {name:?} is invalid: {what}"),
        );
        let mut details = json!({ "causes": causes.iter().map(|c| json!({
            "reason": c.reason, "message": c.message, "field": c.field,
        })).collect::<Vec<_>>() });
        if !kind.is_empty() {
            details["kind"] = json!(kind);
        }
        if !name.is_empty() {
            details["name"] = json!(name);
        }
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        e.details = Some(details);
        e
    }

    /// `409 Conflict` for a failed delete precondition on a kind served by the generic
    /// registry, which names the kind (not the resource) (k8s.io/apiserver v0.36.3
    /// `pkg/registry/rest/delete.go`, BeforeDelete).
    pub fn precondition_failed(group: &str, kind: &str, name: &str, why: &str) -> Self {
        Self::conflict(group, kind, name, why)
    }

    /// `400 BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// `405 MethodNotAllowed`.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        let mut e = Self::new(405, "MethodNotAllowed", message);
        e.details = Some(json!({}));
        e
    }

    /// `404 NotFound` for a resource a served group or version does not have (the
    /// group's handler answers with a Status, where an unknown group gets the plain
    /// "404 page not found").
    pub fn not_served() -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        e.details = Some(json!({}));
        e
    }

    /// `415 UnsupportedMediaType` for a patch type a custom resource does not take
    /// (k8s.io/apiserver v0.36.3 pkg/endpoints/handlers/negotiation/errors.go).
    pub fn unsupported_media_type() -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        )
    }

    /// `415` for a content type no route of a built-in kind consumes: the router's own
    /// words, wrapped in a Status.
    pub fn unsupported_media_type_route() -> Self {
        let mut e = Self::new(415, "UnsupportedMediaType", "415: Unsupported Media Type");
        e.details = Some(json!({}));
        e
    }

    /// `410 Expired` for a watch or list from a compacted resourceVersion.
    pub fn expired(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// The `Status` body.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        // A failure that is no API status of its own (a 500 of a Go error) has no
        // reason at all.
        if self.reason.is_empty()
            && let Some(s) = s.as_object_mut()
        {
            s.remove("reason");
        }
        let mut details = self.details.clone();
        if let Some(secs) = self.retry_after {
            let d = details.get_or_insert_with(|| json!({}));
            d["retryAfterSeconds"] = json!(secs);
        }
        if let Some(d) = details {
            s["details"] = d;
        }
        s
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (code, axum::Json(self.to_status())).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// A successful delete answered with a `Status` instead of the object.
pub fn delete_success(group: &str, plural: &str, name: &str, uid: &str) -> Value {
    let mut details = json!({ "name": name, "kind": plural, "uid": uid });
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}

fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn not_found_matches_the_real_body() {
        let e = ApiError::not_found("", "namespaces", "x");
        assert_eq!(
            e.to_status(),
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"namespaces \"x\" not found","reason":"NotFound",
                "details":{"name":"x","kind":"namespaces"},"code":404})
        );
    }

    #[test]
    fn grouped_kinds_are_qualified() {
        let e = ApiError::not_found("apps", "deployments", "web");
        assert_eq!(e.message, "deployments.apps \"web\" not found");
    }
}
