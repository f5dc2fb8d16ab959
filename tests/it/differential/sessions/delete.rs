//! Deletes: preconditions, `dryRun=All`, what each kind answers, finalizers and
//! foreground deletion, and collections.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Preconditions};
use serde_json::{Value, json};

use super::apply::kube_error;
use super::{Obs, Side, cm_uri, configmap, crd, create, establish, expect_ok, poll_until, send};

async fn delete_with(s: &Side, uri: &str, options: Value) -> super::Raw {
    send(s, "DELETE", uri, "application/json", &options).await
}

/// Preconditions on uid and resourceVersion: a mismatch is 409 and deletes nothing; a
/// match deletes. kube-rs's DeleteParams send the same.
pub async fn delete_preconditions(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let raw = create(
        &s,
        &cm_uri(&ns, None),
        &configmap(&ns, "pre", json!({}), json!({})),
    )
    .await;
    expect_ok(&s, "create", &raw);
    let uid = raw.body["metadata"]["uid"].as_str().unwrap().to_owned();
    let rv = raw.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let uri = cm_uri(&ns, Some("pre"));
    let wrong_uid = delete_with(
        &s,
        &uri,
        json!({"preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}}),
    )
    .await;
    o.put("wrong_uid", wrong_uid.seen());
    let stale_rv = delete_with(&s, &uri, json!({"preconditions": {"resourceVersion": "1"}})).await;
    o.put("stale_rv", stale_rv.seen());
    o.put("still_there", s.raw("GET", &uri, None, None).await.status);
    let api: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    let err = api
        .delete(
            "pre",
            &DeleteParams {
                preconditions: Some(Preconditions {
                    uid: Some("00000000-0000-0000-0000-000000000000".into()),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap_err();
    o.put("kube_wrong_uid", kube_error(&err));
    let matched = delete_with(
        &s,
        &uri,
        json!({"preconditions": {"uid": uid, "resourceVersion": rv}}),
    )
    .await;
    o.put("matching", matched.seen());
    o.put("gone", s.raw("GET", &uri, None, None).await.status);
    o.done()
}

/// `dryRun=All` (query and body): the answer of a real delete, nothing deleted; a
/// namespace stays Active.
pub async fn delete_dry_run(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let raw = create(
        &s,
        &cm_uri(&ns, None),
        &configmap(&ns, "dry", json!({}), json!({})),
    )
    .await;
    expect_ok(&s, "create", &raw);
    let uri = cm_uri(&ns, Some("dry"));
    let q = s
        .raw("DELETE", &format!("{uri}?dryRun=All"), None, None)
        .await;
    o.put("query", q.seen());
    let b = delete_with(&s, &uri, json!({"dryRun": ["All"]})).await;
    o.put("body", b.seen());
    o.put("still_there", s.raw("GET", &uri, None, None).await.status);
    let api: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    let kube = api
        .delete(
            "dry",
            &DeleteParams {
                dry_run: true,
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    o.put("kube_is_status", kube.is_right());
    let ns_dry = s
        .raw(
            "DELETE",
            &format!("/api/v1/namespaces/{ns}?dryRun=All"),
            None,
            None,
        )
        .await;
    o.put("namespace", ns_dry.seen());
    let after = s.get_json(&format!("/api/v1/namespaces/{ns}")).await;
    o.put("namespace_after", after["status"].clone());
    o.put(
        "namespace_after_deleting",
        after["metadata"].get("deletionTimestamp").is_some(),
    );
    o.done()
}

/// What a delete answers, kind by kind: a Status for objects that go at once (the
/// object from the registries that return it), the object for those that linger
/// (finalizers, foreground deletion), and a second delete of a lingering object.
pub async fn delete_responses(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    for name in ["plain", "held", "fg"] {
        let mut obj = configmap(&ns, name, json!({}), json!({}));
        if name == "held" {
            obj["metadata"]["finalizers"] = json!(["example.com/hold"]);
        }
        expect_ok(&s, "create", &create(&s, &cm_uri(&ns, None), &obj).await);
    }
    let plain = s
        .raw("DELETE", &cm_uri(&ns, Some("plain")), None, None)
        .await;
    o.put("configmap", plain.seen());
    let held = s
        .raw("DELETE", &cm_uri(&ns, Some("held")), None, None)
        .await;
    o.put("with_finalizer", held.seen());
    let again = s
        .raw("DELETE", &cm_uri(&ns, Some("held")), None, None)
        .await;
    o.put("with_finalizer_again", again.seen());
    let fg = delete_with(
        &s,
        &cm_uri(&ns, Some("fg")),
        json!({"propagationPolicy": "Foreground"}),
    )
    .await;
    o.put("foreground", fg.seen());
    // The garbage collector finishes a foreground deletion without dependents.
    let gone = poll_until(&s, &cm_uri(&ns, Some("fg")), |r| r.status == 404).await;
    o.put("foreground_then", gone.status);
    // Custom resources, and a Deployment.
    let group = "responses.diff.example";
    establish(&s, &crd(group, "Thing", "things")).await;
    let uri = format!("/apis/{group}/v1/namespaces/{ns}/things");
    expect_ok(
        &s,
        "create",
        &create(
            &s,
            &uri,
            &json!({"apiVersion": format!("{group}/v1"), "kind": "Thing", "metadata": {"name": "t"}}),
        )
        .await,
    );
    let cr = s.raw("DELETE", &format!("{uri}/t"), None, None).await;
    o.put("custom_resource", cr.seen());
    let dep_uri = format!("/apis/apps/v1/namespaces/{ns}/deployments");
    expect_ok(
        &s,
        "create",
        &create(
            &s,
            &dep_uri,
            &super::lifecycle::deployment(&ns, "d", 0, "v1"),
        )
        .await,
    );
    let dep = s.raw("DELETE", &format!("{dep_uri}/d"), None, None).await;
    o.put("deployment", pick_status_or_kind(&dep.body));
    o.put("deployment_status", dep.status);
    // A registry that returns what it deleted: a ServiceAccount.
    let sa_uri = format!("/api/v1/namespaces/{ns}/serviceaccounts");
    expect_ok(
        &s,
        "create",
        &create(
            &s,
            &sa_uri,
            &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}}),
        )
        .await,
    );
    let sa = s.raw("DELETE", &format!("{sa_uri}/sa"), None, None).await;
    o.put("serviceaccount", sa.seen());
    // Removing the finalizer lets the held object go.
    let raw = s
        .raw(
            "PATCH",
            &cm_uri(&ns, Some("held")),
            Some("application/merge-patch+json"),
            Some(br#"{"metadata":{"finalizers":null}}"#.to_vec()),
        )
        .await;
    o.put("finalizer_removed", raw.seen());
    o.put(
        "held_then",
        s.raw("GET", &cm_uri(&ns, Some("held")), None, None)
            .await
            .status,
    );
    o.done()
}

/// A Deployment's delete answer: its kind and, for a Status, the whole body (a
/// Deployment object has defaults and status the sandbox need not match here).
fn pick_status_or_kind(body: &Value) -> Value {
    if body["kind"] == "Status" {
        body.clone()
    } else {
        json!({"kind": body["kind"], "deletionTimestamp": body["metadata"].get("deletionTimestamp").is_some(),
               "finalizers": body["metadata"]["finalizers"]})
    }
}

/// DELETE on a collection, by label selector: the deleted objects come back as a list;
/// namespaces cannot be deleted as a collection.
pub async fn delete_collection(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    for (name, set) in [("c1", "x"), ("c2", "x"), ("c3", "y")] {
        expect_ok(
            &s,
            "create",
            &create(
                &s,
                &cm_uri(&ns, None),
                &configmap(&ns, name, json!({"set": set}), json!({})),
            )
            .await,
        );
    }
    let raw = s
        .raw(
            "DELETE",
            &format!("{}?labelSelector=set%3Dx", cm_uri(&ns, None)),
            None,
            None,
        )
        .await;
    o.put("deleted", raw.seen());
    let left = s
        .get_json(&format!("{}?labelSelector=set", cm_uri(&ns, None)))
        .await;
    o.put("left", left["items"].clone());
    let raw = s
        .raw(
            "DELETE",
            "/api/v1/namespaces?labelSelector=none%3Dnone",
            None,
            None,
        )
        .await;
    o.put("namespaces", raw.seen());
    o.done()
}
