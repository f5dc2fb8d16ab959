//! The scripted sessions: each runs the same requests (kube-rs, raw HTTP, kubectl)
//! against one side in a namespace of its own (`diff-<session>`, created beforehand)
//! and returns what it saw as JSON, which [`super::compare`] normalises and compares.
//! Cluster-scoped names (CRDs) carry the session's name too.

mod apply;
mod delete;
mod errors;
mod finalizers;
mod kubectl;
mod lifecycle;
mod schema;
mod select;
mod watch;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::side::{Raw, Side};

/// How long a session waits for the cluster to get somewhere: generous, the real
/// control plane shares two loaded cores.
pub const WAIT: Duration = Duration::from_secs(90);

type Run = fn(Arc<Side>, String) -> Pin<Box<dyn Future<Output = Value> + Send>>;

/// One behaviour, scripted.
pub struct Session {
    /// The behaviour's name (the table's first column, the known-differences key).
    pub name: &'static str,
    pub run: Run,
}

macro_rules! sessions {
    ($($module:ident :: $f:ident),* $(,)?) => {
        &[$(Session {
            name: stringify!($f),
            run: |side, ns| Box::pin($module::$f(side, ns)),
        }),*]
    };
}

/// Every session, in the table's order.
pub const ALL: &[Session] = sessions![
    apply::ssa_create,
    apply::ssa_second_manager,
    apply::ssa_conflict,
    apply::ssa_force,
    apply::ssa_empty_map,
    apply::ssa_keyed_lists,
    apply::ssa_custom_lists,
    apply::crd_defaults,
    schema::unknown_fields,
    apply::strategic_lists,
    apply::update_manager,
    apply::stale_update,
    apply::client_side_apply,
    apply::generation_and_status,
    select::list_resource_version,
    select::list_pages,
    select::label_selectors,
    select::field_selectors,
    watch::watch_from_list,
    watch::watch_from_zero,
    watch::watch_too_old,
    watch::watch_bookmarks,
    watch::watch_initial_events,
    watch::watch_selector_transitions,
    delete::delete_preconditions,
    delete::delete_dry_run,
    delete::delete_responses,
    delete::delete_collection,
    lifecycle::namespace_with_content,
    lifecycle::namespace_stuck_finalizer,
    lifecycle::namespace_pods_first,
    lifecycle::crd_established,
    lifecycle::crd_with_resources,
    lifecycle::deployment_rollout,
    finalizers::namespace_create_finalizers,
    finalizers::namespace_write_again,
    finalizers::namespace_finalize,
    finalizers::namespace_finalized_early,
    finalizers::crd_finalizer,
    errors::not_found,
    errors::already_exists,
    errors::invalid,
    errors::unserved,
    errors::patch_errors,
    kubectl::kubectl_get,
    kubectl::kubectl_wait,
    kubectl::discovery,
];

/// An observation: named steps in order.
#[derive(Default)]
pub struct Obs(Map<String, Value>);

impl Obs {
    pub fn put(&mut self, step: &str, v: impl Into<Value>) {
        self.0.insert(step.to_owned(), v.into());
    }

    pub fn done(self) -> Value {
        Value::Object(self.0)
    }
}

/// `/api/v1/namespaces/<ns>/configmaps[/<name>]`.
pub fn cm_uri(ns: &str, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("/api/v1/namespaces/{ns}/configmaps/{n}"),
        None => format!("/api/v1/namespaces/{ns}/configmaps"),
    }
}

/// A ConfigMap manifest (empty labels or data left out).
pub fn configmap(ns: &str, name: &str, labels: Value, data: Value) -> Value {
    let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name, "namespace": ns}});
    if labels.as_object().is_some_and(|l| !l.is_empty()) {
        cm["metadata"]["labels"] = labels;
    }
    if data.as_object().is_some_and(|d| !d.is_empty()) {
        cm["data"] = data;
    }
    cm
}

/// Server-side apply of `object` to `uri` by `manager`.
pub async fn apply(side: &Side, uri: &str, manager: &str, force: bool, object: &Value) -> Raw {
    let force = if force { "&force=true" } else { "" };
    send(
        side,
        "PATCH",
        &format!("{uri}?fieldManager={manager}{force}"),
        "application/apply-patch+yaml",
        object,
    )
    .await
}

/// POST of `object` to the collection `uri`.
pub async fn create(side: &Side, uri: &str, object: &Value) -> Raw {
    send(side, "POST", uri, "application/json", object).await
}

/// A `method` request to `uri` with `body` as JSON, sent as `content_type`.
pub async fn send(side: &Side, method: &str, uri: &str, content_type: &str, body: &Value) -> Raw {
    side.raw(
        method,
        uri,
        Some(content_type),
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

/// Fails the session unless the answer is a success.
pub fn expect_ok(side: &Side, what: &str, raw: &Raw) {
    assert!(
        (200..300).contains(&raw.status),
        "{}: {what}: {} {}",
        side.name,
        raw.status,
        raw.body
    );
}

/// Polls `uri` (GET) until `done` holds for the answer or [`WAIT`] passes; the last
/// answer either way.
pub async fn poll_until(side: &Side, uri: &str, done: impl Fn(&Raw) -> bool) -> Raw {
    poll_until_with(side, uri, &[], done).await
}

/// As [`poll_until`], with extra request headers.
pub async fn poll_until_with(
    side: &Side,
    uri: &str,
    headers: &[(&str, &str)],
    done: impl Fn(&Raw) -> bool,
) -> Raw {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let raw = side.raw_with("GET", uri, headers, None, None).await;
        if done(&raw) || tokio::time::Instant::now() >= deadline {
            return raw;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `accept` header of kubectl's aggregated discovery (`/api`, `/apis`).
pub const AGGREGATED_DISCOVERY: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

/// A namespaced test CRD `<plural>.<group>` (kind `kind`, versions v1, status
/// subresource), its group named after the session so sessions never share one.
pub fn crd(group: &str, kind: &str, plural: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {
            "group": group,
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural,
                      "singular": kind.to_lowercase()},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object",
                                               "x-kubernetes-preserve-unknown-fields": true}}
            }]
        }
    })
}

/// Creates `crd` and waits until it is Established and its resources are served (a
/// list answers 200).
pub async fn establish(side: &Side, crd: &Value) {
    let raw = create(
        side,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        crd,
    )
    .await;
    expect_ok(side, "create the CRD", &raw);
    let name = crd["metadata"]["name"].as_str().unwrap();
    let group = crd["spec"]["group"].as_str().unwrap();
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap();
    poll_until(
        side,
        &format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"),
        |r| has_condition(&r.body, "Established", "True"),
    )
    .await;
    poll_until(side, &format!("/apis/{group}/v1/{plural}"), |r| {
        r.status == 200
    })
    .await;
}

/// Whether `object` has the condition `ty` at `status`.
pub fn has_condition(object: &Value, ty: &str, status: &str) -> bool {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == ty && c["status"] == status))
}

/// A resourceVersion as a number (they are opaque, but both servers use etcd-like
/// integers, and sessions compare them with each other).
pub fn rv(object: &Value) -> u64 {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
