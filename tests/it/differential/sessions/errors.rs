//! Error bodies: 404, 409, 422, 400, 405, 415, and what kube-rs makes of them.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use super::apply::kube_error;
use super::{Obs, Side, apply, cm_uri, configmap, crd, create, establish, expect_ok};

/// 404s: an absent object, an object in an absent namespace, an absent namespace, a
/// delete of an absent object; kube-rs's `get_opt` gives `None`.
pub async fn not_found(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    for (step, method, uri) in [
        ("get", "GET", cm_uri(&ns, Some("absent"))),
        (
            "in_absent_namespace",
            "GET",
            cm_uri("diff-absent", Some("x")),
        ),
        (
            "namespace",
            "GET",
            "/api/v1/namespaces/diff-absent".to_owned(),
        ),
        ("delete", "DELETE", cm_uri(&ns, Some("absent"))),
        (
            "deployment",
            "GET",
            format!("/apis/apps/v1/namespaces/{ns}/deployments/absent"),
        ),
        (
            "crd",
            "GET",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/absents.diff.example"
                .to_owned(),
        ),
    ] {
        o.put(step, s.raw(method, &uri, None, None).await.seen());
    }
    let api: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    o.put(
        "kube_get_opt",
        api.get_opt("absent").await.unwrap().is_none(),
    );
    o.put(
        "kube_get",
        kube_error(&api.get("absent").await.unwrap_err()),
    );
    // A merge patch and an apply into an absent namespace.
    let raw = s
        .raw(
            "PATCH",
            &cm_uri(&ns, Some("absent")),
            Some("application/merge-patch+json"),
            Some(b"{}".to_vec()),
        )
        .await;
    o.put("merge_patch", raw.seen());
    let raw = apply(
        &s,
        &cm_uri("diff-absent", Some("x")),
        "alpha",
        false,
        &configmap("diff-absent", "x", json!({}), json!({})),
    )
    .await;
    o.put("apply_in_absent_namespace", raw.seen());
    o.done()
}

/// 409 AlreadyExists for a ConfigMap, a namespace and a custom resource; kube-rs's
/// error.
pub async fn already_exists(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let obj = configmap(&ns, "dup", json!({}), json!({}));
    expect_ok(&s, "create", &create(&s, &cm_uri(&ns, None), &obj).await);
    o.put(
        "configmap",
        create(&s, &cm_uri(&ns, None), &obj).await.seen(),
    );
    o.put(
        "namespace",
        create(
            &s,
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await
        .seen(),
    );
    let group = "exists.diff.example";
    establish(&s, &crd(group, "Doodad", "doodads")).await;
    let uri = format!("/apis/{group}/v1/namespaces/{ns}/doodads");
    let cr =
        json!({"apiVersion": format!("{group}/v1"), "kind": "Doodad", "metadata": {"name": "d"}});
    expect_ok(&s, "create", &create(&s, &uri, &cr).await);
    o.put("custom_resource", create(&s, &uri, &cr).await.seen());
    let api: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    let err = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(obj).unwrap(),
        )
        .await
        .unwrap_err();
    o.put("kube", kube_error(&err));
    o.done()
}

/// 422 Invalid and 400 BadRequest: a bad name, no name, a namespace that contradicts the
/// URL, a bad label value; generateName fills a name in.
pub async fn invalid(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let post = |body: Value| {
        let s = s.clone();
        let ns = ns.clone();
        async move { create(&s, &cm_uri(&ns, None), &body).await.seen() }
    };
    o.put(
        "bad_name",
        post(configmap(&ns, "Bad_Name", json!({}), json!({}))).await,
    );
    o.put(
        "no_name",
        post(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})).await,
    );
    o.put(
        "other_namespace",
        post(configmap("elsewhere", "x", json!({}), json!({}))).await,
    );
    o.put(
        "bad_label",
        post(configmap(&ns, "l", json!({"a": "not valid!"}), json!({}))).await,
    );
    o.put(
        "wrong_kind",
        post(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k"}})).await,
    );
    let generated = create(
        &s,
        &cm_uri(&ns, None),
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}),
    )
    .await;
    let name = generated.body["metadata"]["name"].as_str().unwrap_or("");
    o.put("generate_status", generated.status);
    o.put(
        "generated_name",
        json!({"prefix": name.starts_with("gen-"), "len": name.len()}),
    );
    o.done()
}

/// What is not served: unknown groups and resources (a plain 404 page), methods a
/// resource does not allow (405), a named POST.
pub async fn unserved(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    for (step, method, uri) in [
        (
            "unknown_group",
            "GET",
            "/apis/nope.example/v1/things".to_owned(),
        ),
        ("unknown_resource", "GET", "/api/v1/nopes".to_owned()),
        ("unknown_version", "GET", "/apis/apps/v9".to_owned()),
        (
            "unknown_subresource",
            "GET",
            format!("{}/nope", cm_uri(&ns, Some("x"))),
        ),
        ("post_named", "POST", cm_uri(&ns, Some("x"))),
        ("put_collection", "PUT", cm_uri(&ns, None)),
        ("unknown_path", "GET", "/nope".to_owned()),
    ] {
        let raw = s
            .raw(method, &uri, Some("application/json"), Some(b"{}".to_vec()))
            .await;
        o.put(step, raw.seen());
    }
    o.done()
}

/// Patch errors: a strategic merge patch on a custom resource and an unknown patch type
/// (415), a failing JSON-patch test, a malformed body.
pub async fn patch_errors(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    expect_ok(
        &s,
        "create",
        &create(
            &s,
            &cm_uri(&ns, None),
            &configmap(&ns, "p", json!({}), json!({"a": "1"})),
        )
        .await,
    );
    let group = "patch.diff.example";
    establish(&s, &crd(group, "Sprocket", "sprockets")).await;
    let uri = format!("/apis/{group}/v1/namespaces/{ns}/sprockets");
    expect_ok(
        &s,
        "create",
        &create(
            &s,
            &uri,
            &json!({"apiVersion": format!("{group}/v1"), "kind": "Sprocket", "metadata": {"name": "s"}}),
        )
        .await,
    );
    let patch = |uri: String, ct: &'static str, body: &'static [u8]| {
        let s = s.clone();
        async move {
            s.raw("PATCH", &uri, Some(ct), Some(body.to_vec()))
                .await
                .seen()
        }
    };
    o.put(
        "strategic_on_custom",
        patch(
            format!("{uri}/s"),
            "application/strategic-merge-patch+json",
            b"{}",
        )
        .await,
    );
    o.put(
        "unknown_type",
        patch(cm_uri(&ns, Some("p")), "text/plain", b"{}").await,
    );
    o.put(
        "json_patch_test_fails",
        patch(
            cm_uri(&ns, Some("p")),
            "application/json-patch+json",
            br#"[{"op": "test", "path": "/data/a", "value": "2"}]"#,
        )
        .await,
    );
    o.put(
        "json_patch_bad_path",
        patch(
            cm_uri(&ns, Some("p")),
            "application/json-patch+json",
            br#"[{"op": "replace", "path": "/data/zz", "value": "2"}]"#,
        )
        .await,
    );
    o.put(
        "malformed_merge",
        patch(
            cm_uri(&ns, Some("p")),
            "application/merge-patch+json",
            b"{not json",
        )
        .await,
    );
    o.put(
        "apply_without_field_manager",
        s.raw(
            "PATCH",
            &cm_uri(&ns, Some("p")),
            Some("application/apply-patch+yaml"),
            Some(br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"p"}}"#.to_vec()),
        )
        .await
        .seen(),
    );
    o.done()
}
