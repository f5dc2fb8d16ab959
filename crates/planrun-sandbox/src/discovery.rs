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
    if def.custom {
        // In the order the CRD discovery controller lists them (k8s.io/apiextensions-
        // apiserver v0.36.3 `pkg/apiserver/customresource_discovery_controller.go`).
        return vec![
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "create",
            "update",
            "watch",
        ];
    }
    let mut v = ResourceDef::verbs();
    if def.is_namespaces() {
        v.retain(|v| *v != "deletecollection");
    }
    v
}

/// A group-version served by an aggregated API server that is not answering
/// (`unavailable_api_services` in the scenario): listed in discovery, without
/// resources, and every request under it answers 503, as kube-aggregator does
/// (kubernetes/kubernetes `staging/src/k8s.io/kube-aggregator/pkg/apiserver/handler_discovery.go`
/// lists such a group-version with no resources).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    /// API group.
    pub group: String,
    /// Version.
    pub version: String,
}

impl Down {
    /// From `group/version`; `None` for a core version or a malformed entry.
    pub fn parse(group_version: &str) -> Option<Self> {
        let (group, version) = group_version.split_once('/')?;
        (!group.is_empty() && !version.is_empty()).then(|| Self {
            group: group.to_owned(),
            version: version.to_owned(),
        })
    }
}

fn groups(resources: &[ResourceDef], down: &[Down]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let served = resources
        .iter()
        .filter(|d| !d.group.is_empty())
        .map(|d| (d.group.clone(), d.versions.clone()));
    let unanswered = down
        .iter()
        .map(|d| (d.group.clone(), vec![d.version.clone()]));
    for (group, versions) in served.chain(unanswered) {
        let entry = match out.iter_mut().find(|(g, _)| *g == group) {
            Some(e) => e,
            None => {
                out.push((group, Vec::new()));
                out.last_mut().expect("just pushed")
            }
        };
        for v in versions {
            if !entry.1.contains(&v) {
                entry.1.push(v);
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
pub fn group_list(resources: &[ResourceDef], down: &[Down]) -> Value {
    let items: Vec<Value> = groups(resources, down)
        .iter()
        .map(|(g, vs)| group_json(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": items})
}

/// `/apis/<group>`, if the group is served.
pub fn group(resources: &[ResourceDef], down: &[Down], name: &str) -> Option<Value> {
    groups(resources, down)
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
            "storageVersionHash": storage_version_hash(d),
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        items.push(r);
        if d.is_namespaces() {
            items.push(json!({
                "name": "namespaces/finalize",
                "singularName": "",
                "namespaced": false,
                "kind": d.kind,
                "verbs": FINALIZE_VERBS,
            }));
        }
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

/// The hash of a resource's storage group/version/kind that discovery carries:
/// base64 of the first 8 bytes of its SHA-256 (k8s.io/apiserver v0.36.3
/// `pkg/endpoints/discovery/storageversionhash.go`).
fn storage_version_hash(d: &ResourceDef) -> String {
    use base64::Engine;
    use sha2::Digest;
    // The API server still stores CustomResourceDefinitions as v1beta1 (measured: the
    // real hash is that of `apiextensions.k8s.io/v1beta1/CustomResourceDefinition`).
    let storage = if d.group == "apiextensions.k8s.io" && d.plural == "customresourcedefinitions" {
        "v1beta1"
    } else {
        d.preferred_version()
    };
    let gvk = format!("{}/{storage}/{}", d.group, d.kind);
    let digest = sha2::Sha256::digest(gvk.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

fn resource_discovery(d: &ResourceDef, version: &str) -> Value {
    // Built-in kinds' responseKind names the kind alone (they come from the legacy
    // APIResource, whose group and version are empty); custom resources' name all three
    // (`customresource_discovery_controller.go`).
    let kind = if d.custom {
        json!({"group": d.group, "version": version, "kind": d.kind})
    } else {
        json!({"group": "", "version": "", "kind": d.kind})
    };
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
    let mut subresources = Vec::new();
    if d.is_namespaces() {
        subresources.push(json!({
            "subresource": "finalize",
            "responseKind": kind,
            "verbs": FINALIZE_VERBS,
        }));
    }
    if d.status_subresource {
        subresources.push(json!({
            "subresource": "status",
            "responseKind": kind,
            "verbs": ["get", "patch", "update"],
        }));
    }
    if !subresources.is_empty() {
        r["subresources"] = json!(subresources);
    }
    r
}

/// The verbs of a namespace's `finalize` subresource, an updater alone (k8s.io/kubernetes
/// v1.36.3 `pkg/registry/core/namespace/storage/storage.go`, FinalizeREST); it is
/// listed before `status`, as the API server installs paths in order (k8s.io/apiserver
/// v0.36.3 `pkg/endpoints/installer.go`, Install).
const FINALIZE_VERBS: [&str; 1] = ["update"];

/// Aggregated discovery v2: the core group for `/api`, the named groups for `/apis`.
pub fn aggregated(resources: &[ResourceDef], down: &[Down], core: bool) -> Value {
    let items: Vec<Value> = if core {
        let rs: Vec<Value> = resources
            .iter()
            .filter(|d| d.group.is_empty())
            .map(|d| resource_discovery(d, "v1"))
            .collect();
        vec![json!({"metadata": {},
            "versions": [{"version": "v1", "resources": rs, "freshness": "Current"}]})]
    } else {
        groups(resources, down)
            .iter()
            .map(|(g, vs)| {
                let versions: Vec<Value> = vs
                    .iter()
                    .map(|v| {
                        if down.iter().any(|d| d.group == *g && d.version == *v) {
                            return json!({"version": v});
                        }
                        let rs: Vec<Value> = resources
                            .iter()
                            .filter(|d| d.group == *g && d.versions.contains(v))
                            .map(|d| resource_discovery(d, v))
                            .collect();
                        json!({"version": v, "resources": rs, "freshness": "Current"})
                    })
                    .collect();
                json!({"metadata": {"name": g}, "versions": versions})
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
        let v = group_list(&builtins(), &[]);
        let names: Vec<&str> = v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            vec![
                "apps",
                "apiextensions.k8s.io",
                "networking.k8s.io",
                "rbac.authorization.k8s.io"
            ]
        );
        assert!(resource_list(&builtins(), "", "v1").is_some());
        assert!(resource_list(&builtins(), "apps", "v2").is_none());
    }
}
