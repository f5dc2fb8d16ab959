//! The kinds the sandbox serves: built-ins plus the served versions of stored CRDs.

use serde_json::Value;

/// Identifies a stored collection independently of the version used to reach it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResKey {
    /// API group, `""` for core.
    pub group: String,
    /// Plural resource name, e.g. `deployments`.
    pub plural: String,
}

impl ResKey {
    /// Whether this is the core group's `namespaces`.
    pub fn is_namespaces(&self) -> bool {
        self.group.is_empty() && self.plural == "namespaces"
    }

    /// A key from group and plural.
    pub fn new(group: &str, plural: &str) -> Self {
        Self {
            group: group.to_owned(),
            plural: plural.to_owned(),
        }
    }
}

/// One servable resource (at every version listed in `versions`).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDef {
    /// API group, `""` for core.
    pub group: String,
    /// Served versions, preferred (storage) version first.
    pub versions: Vec<String>,
    /// Plural name used in URLs.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names (`ns`, `deploy`, ...).
    pub short_names: Vec<String>,
    /// Categories (`all`, ...).
    pub categories: Vec<String>,
    /// Whether a `/status` subresource exists (then the main resource ignores status).
    pub status_subresource: bool,
    /// Whether the kind tracks `metadata.generation`.
    pub tracks_generation: bool,
    /// True for kinds defined by a CRD.
    pub custom: bool,
    /// Whether a delete that removes an object at once answers with the object
    /// rather than a Status: the registries with `ReturnDeletedObject` (k8s.io/kubernetes
    /// v1.36.3 `pkg/registry/core/{namespace,pod,service,serviceaccount}/storage/storage.go`).
    pub returns_deleted: bool,
}

impl ResourceDef {
    /// Whether this is the core group's `namespaces`.
    pub fn is_namespaces(&self) -> bool {
        self.group.is_empty() && self.plural == "namespaces"
    }

    /// The storage key.
    pub fn key(&self) -> ResKey {
        ResKey::new(&self.group, &self.plural)
    }

    /// `group/version` or `version` for core.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// The preferred version.
    pub fn preferred_version(&self) -> &str {
        self.versions.first().map(String::as_str).unwrap_or("v1")
    }

    /// The verbs every sandbox resource supports.
    pub fn verbs() -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

fn builtin(
    group: &str,
    plural: &str,
    singular: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    status: bool,
) -> ResourceDef {
    ResourceDef {
        group: group.to_owned(),
        versions: vec!["v1".to_owned()],
        plural: plural.to_owned(),
        singular: singular.to_owned(),
        kind: kind.to_owned(),
        namespaced,
        short_names: short.iter().map(|s| (*s).to_owned()).collect(),
        categories: Vec::new(),
        status_subresource: status,
        tracks_generation: false,
        custom: false,
        returns_deleted: false,
    }
}

/// The built-in kinds the sandbox serves: namespaces first (the store relies on it),
/// then the kinds plans and the simulated controllers use.
pub fn builtins() -> Vec<ResourceDef> {
    let mut deploy = builtin(
        "apps",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
        true,
    );
    deploy.categories = vec!["all".to_owned()];
    deploy.tracks_generation = true;
    let mut crd = builtin(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        true,
    );
    crd.categories = vec!["api-extensions".to_owned()];
    crd.tracks_generation = true;
    let mut replica_set = builtin(
        "apps",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        &["rs"],
        true,
    );
    replica_set.categories = vec!["all".to_owned()];
    replica_set.tracks_generation = true;
    let mut pod = builtin("", "pods", "pod", "Pod", true, &["po"], true);
    pod.categories = vec!["all".to_owned()];
    pod.returns_deleted = true;
    let mut namespace = builtin(
        "",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        true,
    );
    namespace.returns_deleted = true;
    let mut service = builtin("", "services", "service", "Service", true, &["svc"], true);
    service.returns_deleted = true;
    let mut service_account = builtin(
        "",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
        false,
    );
    service_account.returns_deleted = true;
    vec![
        namespace,
        builtin(
            "",
            "configmaps",
            "configmap",
            "ConfigMap",
            true,
            &["cm"],
            false,
        ),
        builtin("", "secrets", "secret", "Secret", true, &[], false),
        deploy,
        crd,
        replica_set,
        pod,
        service,
        service_account,
        builtin(
            "networking.k8s.io",
            "networkpolicies",
            "networkpolicy",
            "NetworkPolicy",
            true,
            &["netpol"],
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "clusterroles",
            "clusterrole",
            "ClusterRole",
            false,
            &[],
            false,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            "clusterrolebinding",
            "ClusterRoleBinding",
            false,
            &[],
            false,
        ),
    ]
}

/// The resource a stored CRD object defines, if it is well formed.
pub fn from_crd(crd: &Value) -> Option<ResourceDef> {
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let group = spec.get("group")?.as_str()?;
    let plural = names.get("plural")?.as_str()?;
    let kind = names.get("kind")?.as_str()?;
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| kind.to_lowercase());
    let mut versions = Vec::new();
    let mut status_subresource = false;
    for v in spec.get("versions")?.as_array()? {
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let Some(name) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        if v.pointer("/subresources/status").is_some() {
            status_subresource = true;
        }
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            versions.insert(0, name.to_owned());
        } else {
            versions.push(name.to_owned());
        }
    }
    if versions.is_empty() {
        return None;
    }
    Some(ResourceDef {
        group: group.to_owned(),
        versions,
        plural: plural.to_owned(),
        singular,
        kind: kind.to_owned(),
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
        short_names: strings(names.get("shortNames")),
        categories: strings(names.get("categories")),
        status_subresource,
        tracks_generation: true,
        custom: true,
        // The custom resource handler answers an immediate delete with a Status
        // (k8s.io/apiextensions-apiserver v0.36.3 `pkg/registry/customresource/etcd.go`).
        returns_deleted: false,
    })
}

/// Sort API versions the way Kubernetes prefers them (v2 > v1 > v1beta2 > v1beta1 > v1alpha1).
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let rest = v.strip_prefix('v').unwrap_or(v);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, n) = if let Some(t) = tail.strip_prefix("beta") {
        (1, t.parse().unwrap_or(0))
    } else if let Some(t) = tail.strip_prefix("alpha") {
        (0, t.parse().unwrap_or(0))
    } else if tail.is_empty() {
        (2, 0)
    } else {
        return (0, 0, 0);
    };
    (stage, major, n)
}

/// The strings of a JSON array (none when it is not one).
pub fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crd_versions_put_storage_first() {
        let crd = json!({"spec":{"group":"x.io","scope":"Namespaced",
            "names":{"plural":"foos","kind":"Foo"},
            "versions":[{"name":"v1beta1","served":true,"storage":false},
                        {"name":"v1","served":true,"storage":true,"subresources":{"status":{}}},
                        {"name":"v0","served":false,"storage":false}]}});
        let def = from_crd(&crd).unwrap();
        assert_eq!(def.versions, vec!["v1", "v1beta1"]);
        assert!(def.status_subresource);
        assert_eq!(def.singular, "foo");
    }

    #[test]
    fn version_order() {
        let mut v = vec!["v1beta1", "v1", "v2", "v1alpha1", "v1beta2"];
        v.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(v, vec!["v2", "v1", "v1beta2", "v1beta1", "v1alpha1"]);
    }
}
