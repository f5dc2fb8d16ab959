//! Lifecycles the controllers drive: a namespace deleted with content, with a
//! finalizer that holds it (its phase and conditions over time) and with a Pod that
//! must go first, a CRD established and
//! deleted with custom resources (and discovery after), a Deployment rolling out.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{
    AGGREGATED_DISCOVERY, Obs, Side, WAIT, cm_uri, configmap, crd, create, establish, expect_ok,
    has_condition, poll_until, poll_until_with,
};
use crate::differential::side::{Raw, WatchLog};
use crate::realcluster::Kubectl;

/// A Deployment of `replicas` pods of `registry.example/web:<tag>`.
pub fn deployment(ns: &str, name: &str, replicas: u32, tag: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": format!("registry.example/web:{tag}")}]}
            }
        }
    })
}

/// The parts of an object's state a lifecycle session follows: phase, finalizers (spec
/// and metadata), whether it is being deleted, and its conditions (type, status,
/// reason, message).
pub(super) fn state(event_type: &str, object: &Value) -> Value {
    let conditions: Vec<Value> = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| json!([c["type"], c["status"], c["reason"], c["message"]]))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "type": event_type,
        "phase": object.pointer("/status/phase"),
        "spec_finalizers": object.pointer("/spec/finalizers"),
        "finalizers": object.pointer("/metadata/finalizers"),
        "deleting": object.pointer("/metadata/deletionTimestamp").is_some(),
        "conditions": conditions,
    })
}

/// The distinct states a watch showed, in order (a state repeated by an event that
/// changed nothing followed here is kept once).
pub(super) fn states(log: &WatchLog) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for e in &log.events {
        let st = state(e["type"].as_str().unwrap_or("?"), &e["object"]);
        let same = out.last().is_some_and(|last| {
            let mut a = last.clone();
            let mut b = st.clone();
            a["type"] = Value::Null;
            b["type"] = Value::Null;
            a == b && st["type"] != "DELETED"
        });
        if !same {
            out.push(st);
        }
    }
    out
}

pub(super) fn gone(evs: &[Value]) -> bool {
    evs.iter().any(|e| e["type"] == "DELETED")
}

/// Deletes the namespace `ns`: its resourceVersion just before, and the answer.
async fn delete_namespace(s: &Side, ns: &str) -> (String, Raw) {
    let before = s.get_json(&format!("/api/v1/namespaces/{ns}")).await;
    let from = before["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let del = s
        .raw("DELETE", &format!("/api/v1/namespaces/{ns}"), None, None)
        .await;
    (from, del)
}

/// Removes the finalizers of the object at `uri`, then watches the namespace `ns`
/// from resourceVersion `from` until it is gone.
async fn release_and_wait_gone(s: &Side, uri: &str, ns: &str, from: &str) -> WatchLog {
    let raw = s
        .raw(
            "PATCH",
            uri,
            Some("application/merge-patch+json"),
            Some(br#"{"metadata":{"finalizers":null}}"#.to_vec()),
        )
        .await;
    expect_ok(s, "remove the finalizer", &raw);
    s.watch(
        &format!(
            "/api/v1/namespaces?watch=true&fieldSelector=metadata.name%3D{ns}&resourceVersion={from}"
        ),
        WAIT,
        gone,
    )
    .await
}

/// A namespace with ConfigMaps and a Secret deleted by kubectl: Terminating with
/// the `kubernetes` finalizer, the namespace controller's conditions, the content
/// removed, then the namespace gone.
pub async fn namespace_with_content(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    for name in ["a", "b"] {
        expect_ok(
            &s,
            "create",
            &create(
                &s,
                &cm_uri(&ns, None),
                &configmap(&ns, name, json!({}), json!({})),
            )
            .await,
        );
    }
    expect_ok(
        &s,
        "create",
        &create(
            &s,
            &format!("/api/v1/namespaces/{ns}/secrets"),
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                    "stringData": {"k": "v"}}),
        )
        .await,
    );
    let before = s.get_json(&format!("/api/v1/namespaces/{ns}")).await;
    o.put("before", state("GET", &before));
    let from = before["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = s
        .kubectl
        .run(&["delete", "namespace", &ns, "--wait=false"])
        .await;
    o.put("kubectl", String::from_utf8_lossy(&out.stdout).trim());
    let log = s
        .watch(
            &format!(
                "/api/v1/namespaces?watch=true&fieldSelector=metadata.name%3D{ns}&resourceVersion={from}"
            ),
            WAIT,
            gone,
        )
        .await;
    o.put("states", states(&log));
    let left = s.raw("GET", &cm_uri(&ns, None), None, None).await;
    o.put("content_after", left.seen());
    o.done()
}

/// A namespace whose content holds a finalizer nobody removes: it stays Terminating and
/// says why; a second delete conflicts, creating in it is forbidden; once the finalizer
/// is removed it goes.
pub async fn namespace_stuck_finalizer(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let mut held = configmap(&ns, "held", json!({}), json!({}));
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    expect_ok(&s, "create", &create(&s, &cm_uri(&ns, None), &held).await);
    let (from, del) = delete_namespace(&s, &ns).await;
    o.put("delete", del.seen());
    let watch_uri = format!(
        "/api/v1/namespaces?watch=true&fieldSelector=metadata.name%3D{ns}&resourceVersion={from}"
    );
    let stuck = s
        .watch(&watch_uri, WAIT, |evs| {
            evs.iter()
                .any(|e| has_condition(&e["object"], "NamespaceFinalizersRemaining", "True"))
        })
        .await;
    o.put("until_stuck", states(&stuck));
    let again = s
        .raw("DELETE", &format!("/api/v1/namespaces/{ns}"), None, None)
        .await;
    o.put("second_delete", again.seen());
    let forbidden = create(
        &s,
        &cm_uri(&ns, None),
        &configmap(&ns, "late", json!({}), json!({})),
    )
    .await;
    o.put("create_inside", forbidden.seen());
    let resume_from = stuck
        .events
        .last()
        .map(|e| {
            e["object"]["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or(from);
    let log = release_and_wait_gone(&s, &cm_uri(&ns, Some("held")), &ns, &resume_from).await;
    o.put("then", states(&log));
    o.done()
}

/// A namespace whose Pod a finalizer holds: the namespace controller deletes the Pod
/// first and nothing else while it remains (OrderedNamespaceDeletion: kubernetes
/// v1.36.3 `pkg/controller/namespace/deletion/namespaced_resources_deleter.go`,
/// `deleteAllContent`); once the Pod goes, so do the rest and the namespace. The Pod
/// has a scheduling gate, so no node (no kwok) runs it: only its finalizer keeps it.
pub async fn namespace_pods_first(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let pods = format!("/api/v1/namespaces/{ns}/pods");
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "held", "namespace": ns, "finalizers": ["example.com/hold"]},
        "spec": {
            "schedulingGates": [{"name": "example.com/gate"}],
            "containers": [{"name": "web", "image": "registry.example/web:1"}],
        },
    });
    expect_ok(&s, "create the pod", &create(&s, &pods, &pod).await);
    let settings = configmap(&ns, "settings", json!({}), json!({}));
    expect_ok(
        &s,
        "create",
        &create(&s, &cm_uri(&ns, None), &settings).await,
    );
    let (from, del) = delete_namespace(&s, &ns).await;
    expect_ok(&s, "delete the namespace", &del);
    let held = poll_until(&s, &format!("{pods}/held"), |r| {
        r.body["metadata"].get("deletionTimestamp").is_some()
    })
    .await;
    o.put(
        "pod_held",
        json!({"status": held.status, "finalizers": held.body["metadata"]["finalizers"]}),
    );
    // What the namespace says meanwhile, once the controller has written it.
    let said = poll_until(&s, &format!("/api/v1/namespaces/{ns}"), |r| {
        r.body["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "NamespaceContentRemaining"))
    })
    .await;
    o.put("namespace_while_the_pod_is_held", state("GET", &said.body));
    let kept = s
        .raw("GET", &cm_uri(&ns, Some("settings")), None, None)
        .await;
    o.put(
        "configmap_while_the_pod_is_held",
        json!({"status": kept.status, "deleting": kept.body["metadata"].get("deletionTimestamp").is_some()}),
    );
    let log = release_and_wait_gone(&s, &format!("{pods}/held"), &ns, &from).await;
    o.put("namespace_gone", gone(&log.events));
    let left = s.raw("GET", &cm_uri(&ns, None), None, None).await;
    o.put("content_after", left.seen());
    o.done()
}

/// A new CRD: what the create answers, NamesAccepted and Established, and discovery
/// serving its group.
pub async fn crd_established(s: Arc<Side>, _ns: String) -> Value {
    let mut o = Obs::default();
    let group = "established.diff.example";
    let def = crd(group, "Widget", "widgets");
    let raw = create(
        &s,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &def,
    )
    .await;
    expect_ok(&s, "create the CRD", &raw);
    o.put("create_status", raw.body["status"].clone());
    o.put(
        "create_finalizers",
        raw.body["metadata"]["finalizers"].clone(),
    );
    let name = format!("widgets.{group}");
    let done = poll_until(
        &s,
        &format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"),
        |r| has_condition(&r.body, "Established", "True"),
    )
    .await;
    o.put("established", state("GET", &done.body));
    o.put(
        "accepted_names",
        done.body["status"]["acceptedNames"].clone(),
    );
    o.put(
        "stored_versions",
        done.body["status"]["storedVersions"].clone(),
    );
    let served = poll_until(&s, &format!("/apis/{group}/v1"), |r| r.status == 200).await;
    o.put("resource_list", served.seen());
    let g = s.raw("GET", &format!("/apis/{group}"), None, None).await;
    o.put("group", g.seen());
    o.done()
}

/// A CRD deleted while it has custom resources, one held by a finalizer: Terminating
/// with the cleanup finalizer, the free one deleted, the held one keeping the CRD; once
/// released, the CRD goes and discovery forgets the group.
pub async fn crd_with_resources(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let group = "cleanup.diff.example";
    let def = crd(group, "Gizmo", "gizmos");
    establish(&s, &def).await;
    let name = format!("gizmos.{group}");
    let crd_uri = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}");
    let uri = format!("/apis/{group}/v1/namespaces/{ns}/gizmos");
    for (n, fins) in [("free", json!([])), ("held", json!(["example.com/hold"]))] {
        expect_ok(
            &s,
            "create",
            &create(
                &s,
                &uri,
                &json!({"apiVersion": format!("{group}/v1"), "kind": "Gizmo",
                        "metadata": {"name": n, "finalizers": fins}}),
            )
            .await,
        );
    }
    let from = s.get_json(&crd_uri).await["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let del = s.raw("DELETE", &crd_uri, None, None).await;
    o.put("delete", state("DELETE", &del.body));
    o.put("delete_status", del.status);
    let watch_uri = format!(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?watch=true&fieldSelector=metadata.name%3D{name}&resourceVersion={from}"
    );
    // Until the free resource is gone and the CRD says what it waits for.
    let held = poll_until(&s, &format!("{uri}/free"), |r| r.status == 404).await;
    o.put("free_resource_then", held.status);
    let stuck = s.watch(&watch_uri, Duration::from_secs(5), |_| false).await;
    o.put("crd_states_while_held", states(&stuck));
    let list = s.get_json(&uri).await;
    o.put(
        "resources_left",
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                json!([
                    i["metadata"]["name"],
                    i["metadata"].get("deletionTimestamp").is_some()
                ])
            })
            .collect::<Vec<_>>(),
    );
    let raw = s
        .raw(
            "PATCH",
            &format!("{uri}/held"),
            Some("application/merge-patch+json"),
            Some(br#"{"metadata":{"finalizers":null}}"#.to_vec()),
        )
        .await;
    expect_ok(&s, "remove the finalizer", &raw);
    let log = s.watch(&watch_uri, WAIT, gone).await;
    o.put("crd_gone", gone(&log.events));
    // Discovery forgets the group (the real server's aggregated discovery follows a
    // moment later: poll).
    let groups = poll_until(&s, "/apis", |r| {
        !r.body.to_string().contains(&format!("\"{group}\""))
    })
    .await;
    o.put(
        "group_listed",
        groups.body.to_string().contains(&format!("\"{group}\"")),
    );
    // kubectl reads the aggregated discovery, which the real server updates on its own.
    let aggregated = poll_until_with(&s, "/apis", &[("accept", AGGREGATED_DISCOVERY)], |r| {
        !r.body.to_string().contains(&format!("\"{group}\""))
    })
    .await;
    o.put(
        "group_listed_aggregated",
        aggregated
            .body
            .to_string()
            .contains(&format!("\"{group}\"")),
    );
    for (step, path) in [
        ("group_after", format!("/apis/{group}")),
        ("version_after", format!("/apis/{group}/v1")),
        ("list_after", uri.clone()),
    ] {
        let r = poll_until(&s, &path, |r| r.status == 404).await;
        o.put(step, r.seen());
    }
    // With a discovery cache of its own: the side's shared one may hold the group
    // from another session's kubectl while the CRD was there.
    let kubectl = Kubectl {
        cache: s.kubectl.cache.join("crd_with_resources"),
        ..s.kubectl.clone()
    };
    let out = kubectl.run(&["get", "gizmos", "-n", &ns]).await;
    o.put("kubectl_exit", out.status.code());
    o.put(
        "kubectl_stderr",
        String::from_utf8_lossy(&out.stderr).trim(),
    );
    o.done()
}

/// A Deployment applied with kubectl rolls out (`kubectl rollout status`), then again
/// after an image change; its status as the controller leaves it.
pub async fn deployment_rollout(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let manifest = serde_json::to_string(&deployment(&ns, "web", 2, "v1")).unwrap();
    let out = s
        .kubectl
        .run_with_stdin(&["apply", "--server-side", "-f", "-"], Some(&manifest))
        .await;
    o.put("apply", String::from_utf8_lossy(&out.stdout).trim());
    let uri = format!("/apis/apps/v1/namespaces/{ns}/deployments/web");
    // The spec as stored: the API server's defaults, the pod template's included.
    o.put("spec", s.get_json(&uri).await["spec"].clone());
    let rollout = |s: Arc<Side>, ns: String| async move {
        let out = s
            .kubectl
            .run(&[
                "rollout",
                "status",
                "deployment/web",
                "-n",
                &ns,
                "--timeout=90s",
            ])
            .await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        json!({"exit": out.status.code(),
               "last_line": stdout.lines().last().unwrap_or("")})
    };
    o.put("rollout", rollout(s.clone(), ns.clone()).await);
    o.put("status", deployment_status(&s.get_json(&uri).await));
    let out = s
        .kubectl
        .run(&[
            "set",
            "image",
            "deployment/web",
            "web=registry.example/web:v2",
            "-n",
            &ns,
        ])
        .await;
    o.put("set_image", String::from_utf8_lossy(&out.stdout).trim());
    o.put("rollout_again", rollout(s.clone(), ns.clone()).await);
    let dep = s.get_json(&uri).await;
    o.put("status_again", deployment_status(&dep));
    o.put("generation", dep["metadata"]["generation"].clone());
    o.done()
}

fn deployment_status(dep: &Value) -> Value {
    let st = &dep["status"];
    let conditions: Vec<Value> = st["conditions"]
        .as_array()
        .map(|cs| {
            let mut v: Vec<Value> = cs
                .iter()
                .map(|c| json!([c["type"], c["status"], c["reason"], c["message"]]))
                .collect();
            v.sort_by_key(|c| c[0].as_str().unwrap_or("").to_owned());
            v
        })
        .unwrap_or_default();
    json!({
        "observedGeneration": st["observedGeneration"],
        "replicas": st["replicas"],
        "updatedReplicas": st["updatedReplicas"],
        "readyReplicas": st["readyReplicas"],
        "availableReplicas": st["availableReplicas"],
        "unavailableReplicas": st["unavailableReplicas"],
        "conditions": conditions,
    })
}
