//! `/version` and discovery documents (plain and aggregated v2), derived from the served
//! resources.

use serde_json::{Value, json};

use super::resources::{ResourceDef, version_priority};

/// The Content-Type of an aggregated discovery answer.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the Accept header asks for aggregated discovery v2.
pub fn wants_aggregated(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|part| {
            let p = part.replace(' ', "");
            p.contains("g=apidiscovery.k8s.io")
                && p.contains("v=v2;")
                && p.contains("as=APIGroupDiscoveryList")
                || p.contains("g=apidiscovery.k8s.io")
                    && p.ends_with("v=v2")
                    && p.contains("as=APIGroupDiscoveryList")
        })
    })
}

/// `/version`.
pub fn version(minor: &str, git_version: &str) -> Value {
    json!({
        "major": "1",
        "minor": minor,
        "emulationMajor": "1",
        "emulationMinor": minor,
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": minor,
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// The verbs a resource answers.
pub fn verbs(def: &ResourceDef) -> Vec<&'static str> {
    let mut v = ResourceDef::verbs();
    if def.group.is_empty() && def.plural == "namespaces" {
        v.retain(|v| *v != "deletecollection");
    }
    v
}

fn groups(resources: &[ResourceDef]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for def in resources.iter().filter(|d| !d.group.is_empty()) {
        let entry = match out.iter_mut().find(|(g, _)| *g == def.group) {
            Some(e) => e,
            None => {
                out.push((def.group.clone(), Vec::new()));
                out.last_mut().expect("just pushed")
            }
        };
        for v in &def.versions {
            if !entry.1.contains(v) {
                entry.1.push(v.clone());
            }
        }
    }
    for (_, vs) in &mut out {
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    }
    out
}

/// `/api` (plain).
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_json(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis` (plain).
pub fn group_list(resources: &[ResourceDef]) -> Value {
    let items: Vec<Value> = groups(resources)
        .iter()
        .map(|(g, vs)| group_json(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": items})
}

/// `/apis/<group>`, if the group is served.
pub fn group(resources: &[ResourceDef], name: &str) -> Option<Value> {
    groups(resources)
        .into_iter()
        .find(|(g, _)| g == name)
        .map(|(g, vs)| {
            let mut v = group_json(&g, &vs);
            v["kind"] = json!("APIGroup");
            v["apiVersion"] = json!("v1");
            v
        })
}

/// `/api/v1` or `/apis/<group>/<version>`, if served.
pub fn resource_list(resources: &[ResourceDef], group: &str, version: &str) -> Option<Value> {
    let defs: Vec<&ResourceDef> = resources
        .iter()
        .filter(|d| d.group == group && d.versions.iter().any(|v| v == version))
        .collect();
    if defs.is_empty() {
        return None;
    }
    let mut items = Vec::new();
    for d in defs {
        let mut r = json!({
            "name": d.plural,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": verbs(d),
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        items.push(r);
        if d.status_subresource {
            items.push(json!({
                "name": format!("{}/status", d.plural),
                "singularName": "",
                "namespaced": d.namespaced,
                "kind": d.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": items,
    }))
}

fn resource_discovery(d: &ResourceDef, version: &str) -> Value {
    let kind = json!({"group": d.group, "version": version, "kind": d.kind});
    let mut r = json!({
        "resource": d.plural,
        "responseKind": kind,
        "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": d.singular,
        "verbs": verbs(d),
    });
    if !d.short_names.is_empty() {
        r["shortNames"] = json!(d.short_names);
    }
    if !d.categories.is_empty() {
        r["categories"] = json!(d.categories);
    }
    if d.status_subresource {
        r["subresources"] = json!([{
            "subresource": "status",
            "responseKind": kind,
            "verbs": ["get", "patch", "update"],
        }]);
    }
    r
}

/// Aggregated discovery v2: the core group for `/api`, the named groups for `/apis`.
pub fn aggregated(resources: &[ResourceDef], core: bool) -> Value {
    let items: Vec<Value> = if core {
        let rs: Vec<Value> = resources
            .iter()
            .filter(|d| d.group.is_empty())
            .map(|d| resource_discovery(d, "v1"))
            .collect();
        vec![json!({"metadata": {"creationTimestamp": null},
            "versions": [{"version": "v1", "resources": rs, "freshness": "Current"}]})]
    } else {
        groups(resources)
            .iter()
            .map(|(g, vs)| {
                let versions: Vec<Value> = vs
                    .iter()
                    .map(|v| {
                        let rs: Vec<Value> = resources
                            .iter()
                            .filter(|d| d.group == *g && d.versions.contains(v))
                            .map(|d| resource_discovery(d, v))
                            .collect();
                        json!({"version": v, "resources": rs, "freshness": "Current"})
                    })
                    .collect();
                json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
            })
            .collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::resources::builtins;

    #[test]
    fn accept_detection() {
        assert!(wants_aggregated(Some(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(!wants_aggregated(Some("application/json")));
        assert!(!wants_aggregated(None));
    }

    #[test]
    fn plain_groups() {
        let v = group_list(&builtins());
        let names: Vec<&str> = v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["apps", "apiextensions.k8s.io"]);
        assert!(resource_list(&builtins(), "", "v1").is_some());
        assert!(resource_list(&builtins(), "apps", "v2").is_none());
    }
}
