//! Writes and who owns what: server-side apply by two managers, conflicts and force,
//! updates by other managers, client-side `kubectl apply`, optimistic concurrency,
//! generation and the status subresource.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::{Obs, Side, apply, cm_uri, configmap, crd, create, establish, expect_ok, send};

/// `alpha` applies a ConfigMap that does not exist: the server creates it (201), owned
/// by `alpha` through `Apply`.
pub async fn ssa_create(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let obj = configmap(&ns, "ssa", json!({"team": "a"}), json!({"a": "1"}));
    let raw = apply(&s, &cm_uri(&ns, Some("ssa")), "alpha", false, &obj).await;
    o.put("apply", raw.seen());
    // The same apply again changes nothing: same resourceVersion, 200.
    let again = apply(&s, &cm_uri(&ns, Some("ssa")), "alpha", false, &obj).await;
    o.put("again_status", again.status);
    o.put(
        "again_same_rv",
        again.body["metadata"]["resourceVersion"] == raw.body["metadata"]["resourceVersion"],
    );
    o.done()
}

/// A second manager applies another field: both own their own fields; kube-rs sees the
/// merged object.
pub async fn ssa_second_manager(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let uri = cm_uri(&ns, Some("two"));
    let raw = apply(
        &s,
        &uri,
        "alpha",
        false,
        &configmap(&ns, "two", json!({}), json!({"a": "1"})),
    )
    .await;
    expect_ok(&s, "alpha's apply", &raw);
    let api: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    let beta = serde_json::to_value(
        api.patch(
            "two",
            &PatchParams::apply("beta"),
            &Patch::Apply(configmap(
                &ns,
                "two",
                json!({"by": "beta"}),
                json!({"b": "2"}),
            )),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    o.put("after_beta", beta);
    // alpha applies again without its field `a`: the field goes (alpha owned it alone).
    let raw = apply(
        &s,
        &uri,
        "alpha",
        false,
        &configmap(&ns, "two", json!({}), json!({"c": "3"})),
    )
    .await;
    o.put("alpha_drops_a", raw.seen());
    o.done()
}

/// A second manager applies a field the first owns, without force: 409 with the
/// conflicts listed.
pub async fn ssa_conflict(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let uri = cm_uri(&ns, Some("clash"));
    let raw = apply(
        &s,
        &uri,
        "alpha",
        false,
        &configmap(&ns, "clash", json!({"x": "1"}), json!({"a": "1", "b": "1"})),
    )
    .await;
    expect_ok(&s, "alpha's apply", &raw);
    let raw = apply(
        &s,
        &uri,
        "beta",
        false,
        &configmap(&ns, "clash", json!({"x": "2"}), json!({"a": "9", "b": "9"})),
    )
    .await;
    o.put("conflict", raw.seen());
    // kube-rs reports it as an API error with the same reason.
    let api: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    let err = api
        .patch(
            "clash",
            &PatchParams::apply("beta"),
            &Patch::Apply(configmap(&ns, "clash", json!({}), json!({"a": "9"}))),
        )
        .await
        .unwrap_err();
    o.put("kube_error", kube_error(&err));
    o.done()
}

/// With force, the second manager takes the field over: the first loses it.
pub async fn ssa_force(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let uri = cm_uri(&ns, Some("forced"));
    let raw = apply(
        &s,
        &uri,
        "alpha",
        false,
        &configmap(&ns, "forced", json!({}), json!({"a": "1", "b": "1"})),
    )
    .await;
    expect_ok(&s, "alpha's apply", &raw);
    let raw = apply(
        &s,
        &uri,
        "beta",
        true,
        &configmap(&ns, "forced", json!({}), json!({"a": "9"})),
    )
    .await;
    o.put("forced", raw.seen());
    o.done()
}

/// An apply that sets an empty map (`labels: {}`, `data: {}`): the stored ConfigMap
/// leaves them out (its Go type's `omitempty`); does the manager own them, and does
/// another manager's label then conflict?
pub async fn ssa_empty_map(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let uri = cm_uri(&ns, Some("empty"));
    let mut obj = configmap(&ns, "empty", json!({}), json!({}));
    obj["metadata"]["labels"] = json!({});
    obj["data"] = json!({});
    let raw = apply(&s, &uri, "alpha", false, &obj).await;
    o.put("apply", raw.seen());
    let raw = apply(
        &s,
        &uri,
        "beta",
        false,
        &configmap(&ns, "empty", json!({"by": "beta"}), json!({"b": "2"})),
    )
    .await;
    o.put("other_manager", raw.seen());
    o.done()
}

/// A merge patch and a PUT by other managers: `Update` entries beside the `Apply` one;
/// a PUT without fieldManager is recorded under the client's user agent.
pub async fn update_manager(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let uri = cm_uri(&ns, Some("upd"));
    let raw = apply(
        &s,
        &uri,
        "alpha",
        false,
        &configmap(&ns, "upd", json!({}), json!({"a": "1"})),
    )
    .await;
    expect_ok(&s, "alpha's apply", &raw);
    let api: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    let params = PatchParams {
        field_manager: Some("gamma".into()),
        ..PatchParams::default()
    };
    let merged = api
        .patch("upd", &params, &Patch::Merge(json!({"data": {"g": "1"}})))
        .await
        .unwrap();
    o.put("merge", serde_json::to_value(&merged).unwrap());
    // The same merge patch again: no change, no new resourceVersion.
    let again = api
        .patch("upd", &params, &Patch::Merge(json!({"data": {"g": "1"}})))
        .await
        .unwrap();
    o.put(
        "noop_keeps_rv",
        again.metadata.resource_version == merged.metadata.resource_version,
    );
    let mut cm = again;
    cm.data
        .get_or_insert_with(Default::default)
        .insert("p".into(), "1".into());
    cm.metadata.managed_fields = None;
    let put = api
        .replace(
            "upd",
            &PostParams {
                field_manager: Some("delta".into()),
                ..PostParams::default()
            },
            &cm,
        )
        .await
        .unwrap();
    o.put("put", serde_json::to_value(&put).unwrap());
    // A JSON patch removing alpha's field.
    let jp = s
        .raw(
            "PATCH",
            &format!("{}?fieldManager=epsilon", cm_uri(&ns, Some("upd"))),
            Some("application/json-patch+json"),
            Some(br#"[{"op": "remove", "path": "/data/a"}]"#.to_vec()),
        )
        .await;
    o.put("json_patch", jp.seen());
    o.done()
}

/// A PUT with a stale resourceVersion: 409 Conflict, the object unchanged.
pub async fn stale_update(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let raw = create(
        &s,
        &cm_uri(&ns, None),
        &configmap(&ns, "stale", json!({}), json!({"a": "1"})),
    )
    .await;
    o.put("create", raw.seen());
    let first = raw.body.clone();
    let raw = s
        .raw(
            "PATCH",
            &cm_uri(&ns, Some("stale")),
            Some("application/merge-patch+json"),
            Some(br#"{"data":{"a":"2"}}"#.to_vec()),
        )
        .await;
    expect_ok(&s, "the merge patch", &raw);
    let mut old = first.clone();
    old["data"]["a"] = json!("3");
    let raw = send(
        &s,
        "PUT",
        &cm_uri(&ns, Some("stale")),
        "application/json",
        &old,
    )
    .await;
    o.put("stale_put", raw.seen());
    // A PUT without a resourceVersion is unconditional.
    let mut blind = first;
    blind["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    blind["data"]["a"] = json!("4");
    let raw = send(
        &s,
        "PUT",
        &cm_uri(&ns, Some("stale")),
        "application/json",
        &blind,
    )
    .await;
    o.put("blind_put", raw.seen());
    o.done()
}

/// `kubectl apply` (client-side) creates with the last-applied annotation under
/// `kubectl-client-side-apply` (Update); a later `kubectl apply --server-side` of the
/// same object: what the managers become.
pub async fn client_side_apply(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let manifest = serde_json::to_string(&configmap(
        &ns,
        "csa",
        json!({"app": "csa"}),
        json!({"a": "1"}),
    ))
    .unwrap();
    let out = s
        .kubectl
        .run_with_stdin(&["apply", "-f", "-"], Some(&manifest))
        .await;
    o.put("csa_stdout", String::from_utf8_lossy(&out.stdout).trim());
    o.put("csa_exit", out.status.code());
    let got = s.get_json(&cm_uri(&ns, Some("csa"))).await;
    o.put("after_csa", got);
    let manifest = serde_json::to_string(&configmap(
        &ns,
        "csa",
        json!({"app": "csa"}),
        json!({"a": "2"}),
    ))
    .unwrap();
    let out = s
        .kubectl
        .run_with_stdin(&["apply", "--server-side", "-f", "-"], Some(&manifest))
        .await;
    o.put("ssa_stdout", String::from_utf8_lossy(&out.stdout).trim());
    o.put("ssa_stderr", String::from_utf8_lossy(&out.stderr).trim());
    o.put("ssa_exit", out.status.code());
    let got = s.get_json(&cm_uri(&ns, Some("csa"))).await;
    o.put("after_ssa", got);
    o.done()
}

/// A custom resource with a status subresource: spec changes bump metadata.generation,
/// metadata changes do not; status written through the main resource is dropped, and
/// through /status it is kept.
pub async fn generation_and_status(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let group = "generation.diff.example";
    establish(&s, &crd(group, "Gadget", "gadgets")).await;
    let uri = format!("/apis/{group}/v1/namespaces/{ns}/gadgets");
    let raw = create(
        &s,
        &uri,
        &json!({"apiVersion": format!("{group}/v1"), "kind": "Gadget",
                "metadata": {"name": "g"}, "spec": {"size": 1},
                "status": {"phase": "ignored"}}),
    )
    .await;
    o.put("create", raw.seen());
    let merge = |body: Value, sub: &'static str| {
        let s = s.clone();
        let uri = format!("{uri}/g{sub}");
        async move { send(&s, "PATCH", &uri, "application/merge-patch+json", &body).await }
    };
    let spec = merge(json!({"spec": {"size": 2}}), "").await;
    o.put(
        "spec_change_generation",
        spec.body["metadata"]["generation"].clone(),
    );
    let label = merge(json!({"metadata": {"labels": {"l": "1"}}}), "").await;
    o.put(
        "label_change_generation",
        label.body["metadata"]["generation"].clone(),
    );
    let status_main = merge(json!({"status": {"phase": "main"}}), "").await;
    o.put("status_through_main", status_main.body["status"].clone());
    let status_sub = merge(
        json!({"status": {"phase": "sub"}, "spec": {"size": 5}}),
        "/status",
    )
    .await;
    o.put("status_through_subresource", status_sub.seen());
    o.done()
}

/// A kube-rs error, as the caller sees it.
pub fn kube_error(e: &kube::Error) -> Value {
    match e {
        kube::Error::Api(s) => {
            json!({"api": {"code": s.code, "reason": s.reason, "message": s.message, "status": s.status}})
        }
        other => json!({"other": other.to_string()}),
    }
}

/// The managedFields entries of `body` by managers in `only` (all when empty), as
/// manager, operation and fieldsV1, by manager: the API server orders entries by
/// their time, to the second, which the two sides do not share.
fn managers_of(body: &Value, only: &[&str]) -> Vec<Value> {
    let mut managers: Vec<Value> = body["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| only.is_empty() || only.contains(&e["manager"].as_str().unwrap_or("")))
        .map(|e| {
            json!({"manager": e["manager"], "operation": e["operation"],
                        "fieldsV1": e["fieldsV1"]})
        })
        .collect();
    managers.sort_by_key(|e| e["manager"].as_str().unwrap_or("").to_owned());
    managers
}

/// Takes the finalizers off the object at `uri`: nothing is to hold the session's
/// namespace.
async fn clear_finalizers(s: &Side, uri: &str) {
    let raw = send(
        s,
        "PATCH",
        uri,
        "application/merge-patch+json",
        &json!({"metadata": {"finalizers": null}}),
    )
    .await;
    expect_ok(s, "clear the finalizers", &raw);
}

/// A refusal's status, message and details, or `None` for a success.
fn refusal(raw: &super::Raw) -> Option<Value> {
    (!(200..300).contains(&raw.status)).then(|| {
        json!({"status": raw.status, "message": raw.body["message"],
               "details": raw.body["details"]})
    })
}

/// Lists merged item by item: a Deployment's containers by name (their env by name,
/// their ports by port and protocol, which defaults to TCP), its finalizers by value.
/// Two managers apply their own items and both stay; taking another's container image
/// conflicts, named by the item's key; an Update (strategic merge patch) of one
/// container's image owns that field alone; an apply that drops its items removes
/// them, the other manager's stay.
pub async fn ssa_keyed_lists(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let uri = format!("/apis/apps/v1/namespaces/{ns}/deployments/keyed");
    let deployment = |containers: Value, finalizers: &[&str]| {
        let mut d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "keyed", "namespace": ns},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "keyed"}},
                "template": {
                    "metadata": {"labels": {"app": "keyed"}},
                    "spec": {"containers": containers}
                }
            }
        });
        if !finalizers.is_empty() {
            d["metadata"]["finalizers"] = json!(finalizers);
        }
        d
    };
    // What a step shows: a refusal, or the lists and who owns what (the controller's
    // status writes left out: their timing is its own; the containers by what the
    // managers set, the real server's defaults for the rest being no ownership matter).
    let shown = |raw: &super::Raw| -> Value {
        refusal(raw).unwrap_or_else(|| {
            let containers: Vec<Value> = raw.body["spec"]["template"]["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| json!({"name": c["name"], "image": c["image"], "env": c["env"]}))
                .collect();
            json!({"status": raw.status, "finalizers": raw.body["metadata"]["finalizers"],
                   "containers": containers,
                   "managers": managers_of(&raw.body, &["alpha", "beta", "gamma"])})
        })
    };
    let web = |tag: &str| json!({"name": "web", "image": format!("registry.example/web:{tag}")});
    let mut alpha_web = web("v1");
    alpha_web["env"] = json!([{"name": "A", "value": "1"}]);
    alpha_web["ports"] = json!([{"containerPort": 80}]);
    let side = json!({"name": "side", "image": "registry.example/side:v1"});
    let other = json!({"name": "other", "image": "registry.example/other:v1"});
    let alpha = deployment(json!([alpha_web]), &["example.com/alpha"]);

    let raw = apply(&s, &uri, "alpha", false, &alpha).await;
    expect_ok(&s, "alpha's apply", &raw);
    o.put("alpha", shown(&raw));
    for (step, manager, object) in [
        (
            "beta",
            "beta",
            deployment(json!([side]), &["example.com/beta"]),
        ),
        (
            "beta_takes_web",
            "beta",
            deployment(json!([side, web("v2")]), &["example.com/beta"]),
        ),
    ] {
        o.put(step, shown(&apply(&s, &uri, manager, false, &object).await));
    }
    let gamma = json!({"spec": {"template": {"spec": {"containers": [web("v3")]}}}});
    let raw = send(
        &s,
        "PATCH",
        &format!("{uri}?fieldManager=gamma"),
        "application/strategic-merge-patch+json",
        &gamma,
    )
    .await;
    o.put("gamma_patch", shown(&raw));
    for (step, object) in [
        ("alpha_again", alpha.clone()),
        ("alpha_drops_its_items", deployment(json!([other]), &[])),
    ] {
        o.put(step, shown(&apply(&s, &uri, "alpha", false, &object).await));
    }
    clear_finalizers(&s, &uri).await;
    o.done()
}

/// A custom resource whose CRD schema says how its lists and maps merge: a list keyed
/// by name, a set, an atomic map, and a free-form map (preserve-unknown-fields) whose
/// entries are owned themselves as well as what is in them. Two managers apply their
/// own parts and both stay; the atomic map conflicts as a whole; an apply that drops
/// its parts removes them, the other's stay.
pub async fn ssa_custom_lists(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let group = "lists.diff.example";
    let mut def = crd(group, "Router", "routers");
    def["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {
            "routes": {"type": "array", "x-kubernetes-list-type": "map",
                       "x-kubernetes-list-map-keys": ["name"],
                       "items": {"type": "object", "required": ["name"], "properties": {
                           "name": {"type": "string"}, "target": {"type": "string"}}}},
            "tags": {"type": "array", "x-kubernetes-list-type": "set",
                     "items": {"type": "string"}},
            "ref": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
                "name": {"type": "string"}, "kind": {"type": "string"}}},
            "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }}}
    });
    establish(&s, &def).await;
    let uri = format!("/apis/{group}/v1/namespaces/{ns}/routers/r");
    let router = |spec: Value| {
        json!({"apiVersion": format!("{group}/v1"), "kind": "Router",
               "metadata": {"name": "r", "namespace": ns}, "spec": spec})
    };
    let beta = json!({"routes": [{"name": "b", "target": "y"}], "tags": ["t2"],
                      "values": {"extra": {"on": true}}});
    let mut beta_ref = beta.clone();
    beta_ref["ref"] = json!({"name": "r2"});
    for (step, manager, spec) in [
        (
            "alpha",
            "alpha",
            json!({"routes": [{"name": "a", "target": "x"}], "tags": ["t1"],
                   "ref": {"name": "r1", "kind": "K"},
                   "values": {"image": {"tag": "v1"}, "replicas": 1}}),
        ),
        ("beta", "beta", beta),
        ("beta_takes_ref", "beta", beta_ref),
        (
            "alpha_drops_its_parts",
            "alpha",
            json!({"tags": ["t1"], "ref": {"name": "r1", "kind": "K"},
                   "values": {"replicas": 1}}),
        ),
    ] {
        let raw = apply(&s, &uri, manager, false, &router(spec)).await;
        let seen = refusal(&raw).unwrap_or_else(|| {
            json!({"status": raw.status, "spec": raw.body["spec"],
                   "managers": managers_of(&raw.body, &[])})
        });
        o.put(step, seen);
    }
    o.done()
}

/// A CRD's defaults, as Flux's GitRepository has them (`spec.timeout: 60s`, a status of
/// `observedGeneration: -1`): a create (an Update) and an apply get them, a null where
/// the schema has a default is replaced, list items are defaulted by their schema, and
/// who owns the defaulted fields; then a default added to the CRD shows on the next
/// read of an existing object, at the resourceVersion it had.
pub async fn crd_defaults(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let group = "defaults.diff.example";
    let mut def = crd(group, "Gadget", "gadgets");
    let spec_properties = json!({
        "timeout": {"type": "string", "default": "60s"},
        "ref": {"type": "object", "default": {},
                "properties": {"branch": {"type": "string", "default": "main"},
                               "tag": {"type": "string"}}},
        "ports": {"type": "array", "items": {"type": "object", "properties": {
            "port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}}}},
        "suspend": {"type": "boolean", "default": false, "nullable": true},
    });
    let schema = |spec_properties: &Value| {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": spec_properties},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                       "default": {"observedGeneration": -1}},
        }})
    };
    def["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = schema(&spec_properties);
    establish(&s, &def).await;
    let collection = format!("/apis/{group}/v1/namespaces/{ns}/gadgets");
    let gadget = |name: &str, spec: Value| {
        json!({"apiVersion": format!("{group}/v1"), "kind": "Gadget",
               "metadata": {"name": name, "namespace": ns}, "spec": spec,
               "status": {"phase": "set by the client"}})
    };
    let seen = |raw: &super::Raw| {
        json!({"status": raw.status, "spec": raw.body["spec"], "status_field": raw.body["status"],
               "managers": managers_of(&raw.body, &[])})
    };
    let made = create(
        &s,
        &format!("{collection}?fieldManager=maker"),
        &gadget("made", json!({"ports": [{"port": 80}], "suspend": null})),
    )
    .await;
    o.put("create", seen(&made));
    let got = s
        .raw("GET", &format!("{collection}/made"), None, None)
        .await;
    o.put("get", seen(&got));
    let applied = apply(
        &s,
        &format!("{collection}/applied"),
        "applier",
        false,
        &gadget("applied", json!({"ref": {"tag": "v1"}, "timeout": "5s"})),
    )
    .await;
    o.put("apply", seen(&applied));
    let mut body = got.body.clone();
    body["spec"]["timeout"] = Value::Null;
    let put = send(
        &s,
        "PUT",
        &format!("{collection}/made?fieldManager=putter"),
        "application/json",
        &body,
    )
    .await;
    o.put("put_null_timeout", seen(&put));
    // A new default in the CRD: the object reads with it, at the same resourceVersion.
    let mut more = spec_properties.clone();
    more["interval"] = json!({"type": "string", "default": "1m"});
    let crd_uri =
        format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.{group}");
    let patch = json!([{"op": "replace", "path": "/spec/versions/0/schema/openAPIV3Schema",
                        "value": schema(&more)}]);
    let raw = send(&s, "PATCH", &crd_uri, "application/json-patch+json", &patch).await;
    expect_ok(&s, "add a default to the CRD", &raw);
    let before = super::rv(&put.body);
    let after = super::poll_until(&s, &format!("{collection}/made"), |r| {
        r.body["spec"].get("interval").is_some()
    })
    .await;
    o.put(
        "after_the_crd_changed",
        json!({"spec": after.body["spec"], "same_resource_version": super::rv(&after.body) == before}),
    );
    o.done()
}

/// Strategic merge patch of a Deployment's lists: client-side `kubectl apply` twice (a
/// container added before the one it had, an env var dropped, ports reordered: kubectl
/// sends `$setElementOrder`), then patches by hand: a container added (it comes first),
/// a finalizer added to the one there (a set: both stay), a port merged by its number.
pub async fn strategic_lists(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let deployment = |containers: Value| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "smp", "namespace": ns, "finalizers": ["example.com/a"]},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "smp"}},
                     "template": {"metadata": {"labels": {"app": "smp"}},
                                  "spec": {"containers": containers}}}
        })
    };
    // The containers by what the clients set (a port's protocol is defaulted, which is
    // no patch matter).
    let seen = |body: &Value| -> Value {
        let containers: Vec<Value> = body["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let ports: Option<Vec<Value>> = c["ports"].as_array().map(|ps| {
                    ps.iter()
                        .map(|p| json!({"containerPort": p["containerPort"], "name": p["name"]}))
                        .collect()
                });
                json!({"name": c["name"], "image": c["image"], "env": c["env"], "ports": ports})
            })
            .collect();
        json!({"finalizers": body["metadata"]["finalizers"], "containers": containers})
    };
    let uri = format!("/apis/apps/v1/namespaces/{ns}/deployments/smp");
    for (step, containers) in [
        (
            "first",
            json!([{"name": "web", "image": "registry.example/web:v1",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 80}, {"containerPort": 81}]}]),
        ),
        (
            "second",
            json!([{"name": "side", "image": "registry.example/side:v1"},
                   {"name": "web", "image": "registry.example/web:v2",
                    "env": [{"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 81}, {"containerPort": 80}]}]),
        ),
    ] {
        let manifest = serde_json::to_string(&deployment(containers)).unwrap();
        let out = s
            .kubectl
            .run_with_stdin(&["apply", "-f", "-"], Some(&manifest))
            .await;
        o.put(&format!("{step}_exit"), out.status.code());
        o.put(step, seen(&s.get_json(&uri).await));
    }
    for (step, patch) in [
        (
            "add_container",
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "late", "image": "registry.example/late:v1"}]}}}}),
        ),
        (
            "add_finalizer",
            json!({"metadata": {"finalizers": ["example.com/b"]}}),
        ),
        (
            "port_by_number",
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "ports": [{"containerPort": 80, "name": "http"}]}]}}}}),
        ),
    ] {
        let raw = send(
            &s,
            "PATCH",
            &uri,
            "application/strategic-merge-patch+json",
            &patch,
        )
        .await;
        o.put(
            step,
            if (200..300).contains(&raw.status) {
                seen(&raw.body)
            } else {
                raw.seen()
            },
        );
    }
    clear_finalizers(&s, &uri).await;
    o.done()
}
