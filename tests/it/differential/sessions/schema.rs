//! What a kind's schema does not declare: dropped and warned of, refused when the
//! client asks for strict validation, and always refused by a server-side apply.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{Obs, Side, cm_uri, crd, create, establish, expect_ok, send};

/// A CRD with a structural schema (a nullable field, a free-form map, one with declared
/// properties too, a map of strings, a list of objects, an embedded resource, a
/// status), then: a create with unknown fields under each `fieldValidation` (and an
/// unsupported one); a server-side apply of them; a merge patch, a JSON patch, a
/// replace and a status patch with unknown fields, warned and strict; a read after the
/// CRD stops declaring a field; a ConfigMap and a Deployment with unknown fields at
/// several depths, created and applied; a Secret whose data is not base64, created,
/// applied and patched.
pub async fn unknown_fields(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let group = "unknown.diff.example";
    let mut def = crd(group, "Dial", "dials");
    def["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = json!({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {
                "size": {"type": "integer"},
                "name": {"type": "string"},
                "maybe": {"type": "string", "nullable": true},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                         "properties": {"known": {"type": "object",
                                                  "properties": {"a": {"type": "string"}}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "items": {"type": "array", "items": {"type": "object",
                          "properties": {"a": {"type": "string"}}}},
                "emb": {"type": "object", "x-kubernetes-embedded-resource": true,
                        "x-kubernetes-preserve-unknown-fields": true},
            }},
            "status": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
        },
    });
    establish(&s, &def).await;
    let collection = format!("/apis/{group}/v1/namespaces/{ns}/dials");
    let dial = |name: &str| {
        json!({"apiVersion": format!("{group}/v1"), "kind": "Dial",
               "metadata": {"name": name, "labels": {"a": "b"}, "typoMeta": 1},
               "spec": {"size": 1, "typo": "x", "free": {"any": {"deep": 1}},
                        "open": {"extra": {"deep": 1}, "known": {"a": "x", "b": "y"}},
                        "labels": {"k": "v"}, "items": [{"a": "x", "b": "y"}],
                        "name": null, "maybe": null,
                        "emb": {"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "inner", "bad": 1}, "data": {"k": "v"}}},
               "status": {"ok": true, "zz": 1},
               "top": 1})
    };
    let kept = |raw: &super::Raw| {
        json!({"status": raw.status, "warnings": raw.warnings,
               "spec": raw.body["spec"], "status_field": raw.body["status"],
               "labels": raw.body["metadata"]["labels"],
               "metadata_keys": keys(&raw.body["metadata"])})
    };
    let refused = |raw: &super::Raw| {
        json!({"status": raw.status, "reason": raw.body["reason"],
               "message": strict_part(raw.body["message"].as_str().unwrap_or("")),
               "causes": raw.body.pointer("/details/causes").map(|c| {
                   c.as_array().into_iter().flatten()
                       .map(|c| json!({"reason": c["reason"], "field": c["field"]}))
                       .collect::<Vec<_>>()
               }),
               "warnings": raw.warnings})
    };
    // What a write kept and warned of, or how it was refused.
    let seen = |raw: &super::Raw| {
        if (200..300).contains(&raw.status) {
            kept(raw)
        } else {
            refused(raw)
        }
    };
    o.put(
        "create",
        kept(&create(&s, &collection, &dial("warned")).await),
    );
    for (step, directive) in [("create_strict", "Strict"), ("create_ignored", "Ignore")] {
        let raw = create(
            &s,
            &format!("{collection}?fieldValidation={directive}"),
            &dial(&step.replace('_', "-")),
        )
        .await;
        o.put(step, seen(&raw));
    }
    let raw = create(
        &s,
        &format!("{collection}?fieldValidation=Bogus"),
        &dial("bogus"),
    )
    .await;
    o.put("create_unsupported_directive", raw.seen());

    // A server-side apply is refused whatever the directive; the real server names
    // the fields in no fixed order, and sometimes only some of them.
    let undeclared: BTreeSet<&str> = [
        ".metadata.typoMeta",
        ".spec.items[0].b",
        ".spec.open.known.b",
        ".spec.typo",
        ".status.zz",
        ".top",
        ".spec.emb.metadata.bad",
    ]
    .into();
    for (step, directive) in [("apply", ""), ("apply_ignored", "&fieldValidation=Ignore")] {
        let mut body = dial("applied");
        body["metadata"]["namespace"] = json!(ns);
        let raw = send(
            &s,
            "PATCH",
            &format!("{collection}/applied?fieldManager=applier{directive}"),
            "application/apply-patch+yaml",
            &body,
        )
        .await;
        o.put(step, apply_refused(&raw, &undeclared));
    }
    let absent = s
        .raw("GET", &format!("{collection}/applied"), None, None)
        .await;
    o.put("applied_absent", absent.status);

    // Patches and a replace of the object the first create made.
    let uri = format!("{collection}/warned");
    for (step, query, content_type, patch) in [
        (
            "merge",
            "",
            "application/merge-patch+json",
            json!({"spec": {"typo2": 1, "size": 3}, "metadata": {"labels": {"c": "d"}, "zz": 1}}),
        ),
        (
            "merge_strict",
            "?fieldValidation=Strict",
            "application/merge-patch+json",
            json!({"spec": {"typo2": 1, "size": 4}}),
        ),
        (
            "json_patch",
            "",
            "application/json-patch+json",
            json!([{"op": "add", "path": "/spec/typo3", "value": 1}]),
        ),
        (
            "json_patch_strict",
            "?fieldValidation=Strict",
            "application/json-patch+json",
            json!([{"op": "add", "path": "/spec/typo3", "value": 1}]),
        ),
    ] {
        let raw = send(&s, "PATCH", &format!("{uri}{query}"), content_type, &patch).await;
        o.put(step, seen(&raw));
    }
    for (step, query) in [("status", ""), ("status_strict", "?fieldValidation=Strict")] {
        let raw = send(
            &s,
            "PATCH",
            &format!("{uri}/status{query}"),
            "application/merge-patch+json",
            &json!({"status": {"ok": false, "zz": 2}}),
        )
        .await;
        o.put(step, seen(&raw));
    }
    for (step, query) in [
        ("replace", ""),
        ("replace_strict", "?fieldValidation=Strict"),
    ] {
        let got = s.get_json(&uri).await;
        let mut body = got.clone();
        body["spec"]["typo4"] = json!(1);
        body["spec"]["size"] = json!(5);
        let raw = send(
            &s,
            "PUT",
            &format!("{uri}{query}"),
            "application/json",
            &body,
        )
        .await;
        o.put(step, seen(&raw));
    }
    let raw = s.raw("GET", &uri, None, None).await;
    expect_ok(&s, "read the object", &raw);
    o.put("last", kept(&raw));
    // A field the CRD no longer declares is gone from the next read of an existing
    // object, at the resourceVersion it had (the storage codec prunes).
    let crd_uri = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/dials.{group}");
    let patch = json!([{"op": "remove",
                        "path": "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/labels"}]);
    let changed = send(&s, "PATCH", &crd_uri, "application/json-patch+json", &patch).await;
    expect_ok(&s, "take a property out of the CRD", &changed);
    let after = super::poll_until(&s, &uri, |r| r.body["spec"].get("labels").is_none()).await;
    o.put(
        "after_the_crd_changed",
        json!({"spec": after.body["spec"],
               "same_resource_version": super::rv(&after.body) == super::rv(&raw.body)}),
    );

    // Built-in kinds are decoded into their types as strictly. The real server warns
    // in the body's order, the sandbox by path: compared sorted.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "meta", "typoMeta": 1}, "data": {"k": "v"}, "typo": 1});
    let raw = create(&s, &cm_uri(&ns, None), &cm).await;
    o.put(
        "configmap",
        json!({"status": raw.status, "warnings": sorted(&raw.warnings),
               "metadata_keys": keys(&raw.body["metadata"]), "typo": raw.body.get("typo")}),
    );
    let deployment = |name: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": name, "namespace": ns},
               "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                        "strategyy": {},
                        "template": {"metadata": {"labels": {"app": name}, "zz": 1},
                                     "spec": {"containers": [{
                                         "name": "web", "image": "registry.example/web:v1",
                                         "imagePullPolicyy": "Always",
                                         "resources": {"limits": {"cpu": "1"}},
                                         "ports": [{"containerPort": 80, "bad": 1}]}]}}}})
    };
    let deployments = format!("/apis/apps/v1/namespaces/{ns}/deployments");
    let raw = create(&s, &deployments, &deployment("typed")).await;
    o.put(
        "deployment",
        json!({"status": raw.status, "warnings": sorted(&raw.warnings),
               "container": raw.body.pointer("/spec/template/spec/containers/0")
                   .map(|c| json!({"imagePullPolicyy": c.get("imagePullPolicyy"),
                                   "ports": c["ports"]}))}),
    );
    let raw = send(
        &s,
        "PATCH",
        &format!("{deployments}/applied?fieldManager=applier"),
        "application/apply-patch+yaml",
        &deployment("applied"),
    )
    .await;
    let typed: BTreeSet<&str> = [
        ".spec.strategyy",
        ".spec.template.metadata.zz",
        ".spec.template.spec.containers[name=\"web\"].imagePullPolicyy",
        ".spec.template.spec.containers[name=\"web\"].ports[containerPort=80,protocol=\"TCP\"].bad",
    ]
    .into();
    o.put("deployment_apply", apply_refused(&raw, &typed));
    let raw = create(
        &s,
        &format!("{}?fieldValidation=Strict", cm_uri(&ns, None)),
        &{
            let mut strict = cm.clone();
            strict["metadata"]["name"] = json!("meta-strict");
            strict
        },
    )
    .await;
    o.put("configmap_strict", refused(&raw));
    // Bytes that are not base64 (a Secret's data written as plain text) fail the
    // decoding whatever the directive: a create, a server-side apply, a patch.
    let secrets = format!("/api/v1/namespaces/{ns}/secrets");
    let secret = |name: &str, value: &str| {
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": name, "namespace": ns},
               "data": {"identity": "c2VjcmV0LWtleQ==", "password": value}})
    };
    let tail = |raw: &super::Raw| {
        let message = raw.body["message"].as_str().unwrap_or("");
        json!({"status": raw.status, "reason": raw.body.get("reason"),
               "message": message.rsplit_once("\": ").map_or(message, |(_, why)| why),
               "whole": message.starts_with("Secret in version") || message.starts_with("failed to convert")})
    };
    let raw = create(&s, &secrets, &secret("plain", "not base64!")).await;
    o.put("secret_create", tail(&raw));
    let raw = send(
        &s,
        "PATCH",
        &format!("{secrets}/applied?fieldManager=applier"),
        "application/apply-patch+yaml",
        &secret("applied", "not base64!"),
    )
    .await;
    o.put(
        "secret_apply",
        json!({"status": raw.status, "message": raw.body["message"]}),
    );
    let raw = create(&s, &secrets, &secret("patched", "c2VjcmV0")).await;
    expect_ok(&s, "create a Secret", &raw);
    let raw = send(
        &s,
        "PATCH",
        &format!("{secrets}/patched"),
        "application/merge-patch+json",
        &json!({"data": {"password": "not base64!"}}),
    )
    .await;
    o.put("secret_patch", tail(&raw));
    o.done()
}

/// A server-side apply's refusal of undeclared fields: its status and the message's
/// head, and whether it names some fields and only `undeclared` ones (the real server
/// names them in no fixed order, and sometimes only some).
fn apply_refused(raw: &super::Raw, undeclared: &BTreeSet<&str>) -> Value {
    let message = raw.body["message"].as_str().unwrap_or("");
    let (head, named) = message.split_once("): ").unwrap_or((message, ""));
    let paths: Vec<&str> = named
        .trim_start_matches("errors:\n")
        .lines()
        .filter_map(|l| l.trim().strip_suffix(": field not declared in schema"))
        .collect();
    json!({"status": raw.status, "reason": raw.body.get("reason"), "head": head,
           "names_some": !paths.is_empty(),
           "names_only_undeclared": paths.iter().all(|p| undeclared.contains(p))})
}

fn sorted(warnings: &[String]) -> Vec<String> {
    let mut out = warnings.to_vec();
    out.sort();
    out
}

/// An object's keys, sorted, without those every write changes.
fn keys(metadata: &Value) -> Vec<String> {
    metadata
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .filter(|k| {
            !matches!(
                k.as_str(),
                "creationTimestamp" | "resourceVersion" | "uid" | "managedFields" | "generation"
            )
        })
        .cloned()
        .collect()
}

/// A refusal's message from `strict decoding error:` on (a strict patch's quotes the
/// whole patched object before it, timestamps and all).
fn strict_part(message: &str) -> String {
    match message.split_once("strict decoding error: ") {
        Some((head, rest)) if head.contains("Invalid value: ") => {
            format!("... strict decoding error: {rest}")
        }
        _ => message.to_owned(),
    }
}
