//! Minimal OpenAPI documents: enough for kubectl to learn that every kind supports
//! server-side field validation (so `kubectl apply` sends `fieldValidation=Strict`
//! instead of downloading schemas for client-side validation).

use serde_json::{Map, Value, json};

use super::resources::ResourceDef;

/// Group-version paths (`api/v1`, `apis/apps/v1`) of the served resources.
pub fn group_versions(resources: &[ResourceDef]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in resources {
        for v in &d.versions {
            let gv = if d.group.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{}/{v}", d.group)
            };
            if !out.contains(&gv) {
                out.push(gv);
            }
        }
    }
    out
}

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

/// The OpenAPI v3 document of one group-version (`api/v1`, `apis/<group>/<version>`).
pub fn v3_group_version(resources: &[ResourceDef], gv: &str, minor: &str) -> Option<Value> {
    let mut paths = Map::new();
    for d in resources {
        for v in &d.versions {
            let this = if d.group.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{}/{v}", d.group)
            };
            if this != gv {
                continue;
            }
            let item = if d.namespaced {
                format!("/{gv}/namespaces/{{namespace}}/{}/{{name}}", d.plural)
            } else {
                format!("/{gv}/{}/{{name}}", d.plural)
            };
            let gvk = json!({"group": d.group, "version": v, "kind": d.kind});
            let params: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "force"]
                .iter()
                .map(|p| query_param(p))
                .collect();
            paths.insert(
                item,
                json!({
                    "patch": {
                        "operationId": format!("patch{}", d.kind),
                        "x-kubernetes-action": "patch",
                        "x-kubernetes-group-version-kind": gvk,
                        "parameters": params,
                        "responses": {"200": {"description": "OK"}, "201": {"description": "Created"}},
                    }
                }),
            );
        }
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{minor}.0")},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

/// The OpenAPI v3 discovery root: one URL per group-version.
pub fn v3_root(resources: &[ResourceDef], minor: &str) -> Value {
    let mut paths = Map::new();
    for gv in group_versions(resources) {
        let doc = v3_group_version(resources, &gv, minor).unwrap_or(Value::Null);
        let hash = format!("{:08X}", crc32fast::hash(doc.to_string().as_bytes()));
        paths.insert(
            gv.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// A minimal OpenAPI v2 (swagger) document with no schemas.
pub fn v2(minor: &str) -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{minor}.0")},
        "paths": {},
        "definitions": {},
    })
}
