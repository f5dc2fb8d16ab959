//! What the registries do with the finalizers of namespaces and CRDs: a namespace's
//! `spec.finalizers` and status at create, kept on every write but its `finalize`
//! subresource (and which verbs that serves), a namespace deleted with finalizers other
//! than `kubernetes` or none; a CRD's cleanup finalizer, put on by its delete.
//! Cluster-scoped names carry the session's namespace.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::lifecycle::{gone, state, states};
use super::{Obs, Side, apply, crd, create, establish, expect_ok, poll_until, send};

const NAMESPACES: &str = "/api/v1/namespaces";

fn ns_uri(name: &str) -> String {
    format!("{NAMESPACES}/{name}")
}

/// A watch of the namespace `name` from resourceVersion `from`.
fn ns_watch(name: &str, from: &str) -> String {
    format!("{NAMESPACES}?watch=true&fieldSelector=metadata.name%3D{name}&resourceVersion={from}")
}

/// The resourceVersion of `object`.
fn rv_of(object: &Value) -> String {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// Namespaces created with finalizers and a status of their own (POST and
/// server-side apply): the registry adds `kubernetes` to the client's finalizers and
/// makes the status `Active` (kubernetes v1.36.3
/// `pkg/registry/core/namespace/strategy.go`, PrepareForCreate).
pub async fn namespace_create_finalizers(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let cases = [
        (
            "given",
            json!({"finalizers": ["example.com/hold"]}),
            json!({"phase": "Terminating", "conditions": [{"type": "NamespaceContentRemaining",
                   "status": "True", "reason": "SomeResourcesRemain", "message": "made up"}]}),
        ),
        ("empty", json!({"finalizers": []}), json!({})),
        ("no-spec", Value::Null, json!({"phase": "Active"})),
        (
            "ordered",
            json!({"finalizers": ["example.com/b", "kubernetes", "example.com/a"]}),
            Value::Null,
        ),
    ];
    for (case, spec, status) in cases {
        let mut body = json!({"apiVersion": "v1", "kind": "Namespace",
                              "metadata": {"name": format!("{ns}-{case}")}});
        if !spec.is_null() {
            body["spec"] = spec;
        }
        if !status.is_null() {
            body["status"] = status;
        }
        o.put(case, create(&s, NAMESPACES, &body).await.seen());
    }
    let applied_name = format!("{ns}-applied");
    let applied = apply(
        &s,
        &ns_uri(&applied_name),
        "diff",
        false,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": applied_name},
                "spec": {"finalizers": ["example.com/hold"]}}),
    )
    .await;
    o.put("applied", applied.seen());
    o.done()
}

/// A namespace written again through the main resource (PUT, merge patch, server-side
/// apply) keeps its `spec.finalizers` and status, whatever the body says
/// (`strategy.go`, PrepareForUpdate).
pub async fn namespace_write_again(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let uri = ns_uri(&ns);
    let live = s.get_json(&uri).await;
    let put = send(
        &s,
        "PUT",
        &uri,
        "application/json",
        &json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "resourceVersion": rv_of(&live), "labels": {"team": "a"}},
                "spec": {"finalizers": ["example.com/put"]},
                "status": {"phase": "Terminating"}}),
    )
    .await;
    o.put("put", put.seen());
    let merge = send(
        &s,
        "PATCH",
        &uri,
        "application/merge-patch+json",
        &json!({"spec": {"finalizers": null}, "status": {"phase": "Terminating"}}),
    )
    .await;
    o.put("merge_patch", merge.seen());
    let json_patch = send(
        &s,
        "PATCH",
        &uri,
        "application/json-patch+json",
        &json!([{"op": "replace", "path": "/spec/finalizers", "value": ["example.com/json"]}]),
    )
    .await;
    o.put("json_patch", json_patch.seen());
    let applied = apply(
        &s,
        &uri,
        "diff",
        false,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns},
                "spec": {"finalizers": ["example.com/applied"]}}),
    )
    .await;
    o.put("apply", applied.seen());
    o.put("after", s.get_json(&uri).await);
    o.done()
}

/// The `finalize` subresource: only PUT is served there (kubernetes v1.36.3
/// `pkg/registry/core/namespace/storage/storage.go`, FinalizeREST is an Updater
/// alone); the PUT replaces all but the status, `spec.finalizers` included. Deleted
/// with a finalizer of its own left, the namespace stays Terminating until that goes
/// through `finalize` too.
pub async fn namespace_finalize(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let name = format!("{ns}-fin");
    let uri = ns_uri(&name);
    let finalize = format!("{uri}/finalize");
    expect_ok(
        &s,
        "create",
        &create(
            &s,
            NAMESPACES,
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        )
        .await,
    );
    o.put("get", s.raw("GET", &finalize, None, None).await.seen());
    let merge = json!({"spec": {"finalizers": []}});
    o.put(
        "merge_patch",
        send(
            &s,
            "PATCH",
            &finalize,
            "application/merge-patch+json",
            &merge,
        )
        .await
        .seen(),
    );
    o.put(
        "strategic_patch",
        send(
            &s,
            "PATCH",
            &finalize,
            "application/strategic-merge-patch+json",
            &merge,
        )
        .await
        .seen(),
    );
    o.put(
        "apply",
        apply(
            &s,
            &finalize,
            "diff",
            false,
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
                    "spec": {"finalizers": []}}),
        )
        .await
        .seen(),
    );
    o.put(
        "patch_missing",
        send(
            &s,
            "PATCH",
            &ns_uri(&format!("{ns}-missing/finalize")),
            "application/merge-patch+json",
            &merge,
        )
        .await
        .seen(),
    );
    o.put(
        "post",
        send(&s, "POST", &finalize, "application/json", &json!({}))
            .await
            .seen(),
    );
    o.put(
        "delete",
        s.raw("DELETE", &finalize, None, None).await.seen(),
    );
    o.put("still_there", s.get_json(&uri).await);

    // PUT: the body's metadata and spec, the stored status.
    let mut body = s.get_json(&uri).await;
    body["metadata"]["labels"]["finalized"] = json!("yes");
    body["spec"]["finalizers"] = json!(["example.com/b", "example.com/a"]);
    body["status"] = json!({"phase": "Terminating"});
    if let Some(m) = body["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    let put = send(
        &s,
        "PUT",
        &format!("{finalize}?fieldManager=diff"),
        "application/json",
        &body,
    )
    .await;
    o.put("put", put.seen());

    // Deleted: Terminating, content none; the namespace controller leaves the others'
    // finalizers, which hold it.
    let del = s.raw("DELETE", &uri, None, None).await;
    let mut deleted = state("DELETE", &del.body);
    // What the answer says of conditions is the known timing model of delete_dry_run.
    deleted["conditions"] = Value::Null;
    o.put("deleted", json!({"status": del.status, "state": deleted}));
    // Until the namespace controller's pass is done: it reports on the content, then
    // puts the finalizers other than its own back, sorted (kubernetes v1.36.3
    // `pkg/controller/namespace/deletion/namespaced_resources_deleter.go`,
    // `finalizeNamespace`).
    let reported = poll_until(&s, &uri, |r| {
        super::has_condition(&r.body, "NamespaceContentRemaining", "False")
            && r.body["spec"]["finalizers"] == json!(["example.com/a", "example.com/b"])
    })
    .await;
    o.put("reported", state("GET", &reported.body));
    let again = s.raw("DELETE", &uri, None, None).await;
    o.put(
        "delete_again",
        json!({"status": again.status, "state": state("DELETE", &again.body)}),
    );
    let create_inside = create(
        &s,
        &format!("{uri}/configmaps"),
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}}),
    )
    .await;
    o.put("create_inside_status", create_inside.status);

    // While it is deleted, a finalize PUT may still add a spec finalizer (only
    // metadata.finalizers are closed then); one that leaves none removes the namespace
    // and answers with it. The bodies have no resourceVersion: the namespace
    // controller may write in between.
    let mut unconditional = reported.body.clone();
    if let Some(m) = unconditional["metadata"].as_object_mut() {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    let mut more = unconditional.clone();
    more["spec"]["finalizers"] = json!(["example.com/a", "example.com/b", "example.com/c"]);
    let added = send(&s, "PUT", &finalize, "application/json", &more).await;
    o.put(
        "add_while_deleting",
        json!({"status": added.status, "spec": added.body["spec"]}),
    );
    let mut none = unconditional;
    none["spec"]["finalizers"] = json!([]);
    let released = send(&s, "PUT", &finalize, "application/json", &none).await;
    o.put(
        "released",
        json!({"status": released.status, "state": state("PUT", &released.body)}),
    );
    let after = poll_until(&s, &uri, |r| r.status == 404).await;
    o.put("after", after.status);
    o.done()
}

/// A namespace whose `spec.finalizers` were emptied (`finalize`) before its delete:
/// the registry marks it Terminating, the namespace controller leaves it alone (it is
/// `finalized`: kubernetes v1.36.3
/// `pkg/controller/namespace/deletion/namespaced_resources_deleter.go`, `Delete`), and
/// a second delete removes it, answered with the namespace (`storage.go`, `Delete`
/// and `ReturnDeletedObject`).
pub async fn namespace_finalized_early(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let name = format!("{ns}-early");
    let uri = ns_uri(&name);
    let created = create(
        &s,
        NAMESPACES,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    )
    .await;
    expect_ok(&s, "create", &created);
    let mut body = created.body.clone();
    body["spec"] = json!({});
    if let Some(m) = body["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    let put = send(
        &s,
        "PUT",
        &format!("{uri}/finalize"),
        "application/json",
        &body,
    )
    .await;
    o.put(
        "finalized",
        json!({"status": put.status, "state": state("PUT", &put.body)}),
    );
    let from = rv_of(&put.body);
    let del = s.raw("DELETE", &uri, None, None).await;
    o.put(
        "deleted",
        json!({"status": del.status, "state": state("DELETE", &del.body)}),
    );
    // Nothing more happens to it.
    let log = s
        .watch(&ns_watch(&name, &from), Duration::from_secs(5), |_| false)
        .await;
    o.put("states", states(&log));
    let again = s.raw("DELETE", &uri, None, None).await;
    o.put(
        "delete_again",
        json!({"status": again.status, "kind": again.body["kind"],
               "state": state("DELETE", &again.body)}),
    );
    o.put("after", s.raw("GET", &uri, None, None).await.status);
    o.done()
}

/// A CRD's cleanup finalizer: none after its create or once established; its delete
/// adds it with the deletion timestamp (no grace period) and the Terminating condition
/// (apiextensions-apiserver v0.36.3 `pkg/registry/customresourcedefinition/etcd.go`,
/// `REST.Delete`); the finalizer controller then removes it and the CRD goes.
pub async fn crd_finalizer(s: Arc<Side>, _ns: String) -> Value {
    let mut o = Obs::default();
    let group = "finalizer.diff.example";
    let def = crd(group, "Doohickey", "doohickeys");
    let name = format!("doohickeys.{group}");
    let uri = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}");
    establish(&s, &def).await;
    let live = s.get_json(&uri).await;
    o.put(
        "finalizers_when_established",
        live["metadata"]["finalizers"].clone(),
    );
    let del = s.raw("DELETE", &uri, None, None).await;
    o.put(
        "delete",
        json!({"status": del.status, "state": state("DELETE", &del.body),
               "grace": del.body["metadata"]["deletionGracePeriodSeconds"]}),
    );
    let log = s
        .watch(
            &format!(
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?watch=true&fieldSelector=metadata.name%3D{name}&resourceVersion={}",
                rv_of(&live)
            ),
            super::WAIT,
            gone,
        )
        .await;
    o.put("gone", gone(&log.events));
    o.put("after", s.raw("GET", &uri, None, None).await.status);
    // A CRD created with a finalizer of its own keeps it, and gets the cleanup one
    // after it at its delete.
    let own_group = "own.finalizer.diff.example";
    let mut own = crd(own_group, "Doohickey", "doohickeys");
    own["metadata"]["finalizers"] = json!(["example.com/hold"]);
    let created = create(
        &s,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &own,
    )
    .await;
    o.put(
        "own_create_finalizers",
        created.body["metadata"]["finalizers"].clone(),
    );
    let own_uri =
        format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/doohickeys.{own_group}");
    let del = s.raw("DELETE", &own_uri, None, None).await;
    o.put(
        "own_delete_finalizers",
        del.body["metadata"]["finalizers"].clone(),
    );
    // The cleanup finalizer goes, the CRD's own holds it.
    let held = poll_until(&s, &own_uri, |r| {
        r.body["metadata"]["finalizers"] == json!(["example.com/hold"])
    })
    .await;
    o.put(
        "own_held",
        json!({"status": held.status, "finalizers": held.body["metadata"]["finalizers"]}),
    );
    let released = send(
        &s,
        "PATCH",
        &own_uri,
        "application/merge-patch+json",
        &json!({"metadata": {"finalizers": null}}),
    )
    .await;
    expect_ok(&s, "release", &released);
    let after = poll_until(&s, &own_uri, |r| r.status == 404).await;
    o.put("own_after", after.status);
    o.done()
}
