//! Kinds resolved through discovery: `Namespace`, `CustomResourceDefinition`,
//! `GitRepository`... by kind alone when one API group serves it, with `api_version`
//! when several do; and every kind of the API groups matching a pattern. Discovery
//! runs once per run and again only when a kind is not found (a task may need a CRD
//! an earlier task installed); a group pattern always asks discovery afresh.
//!
//! Discovery uses the aggregated document (two requests) where the server offers
//! it, else one request per group-version. A group-version that cannot be listed (an
//! aggregated API server that is down: kube-aggregator lists its group-version
//! without resources in the aggregated document and the plain one answers 503, see
//! kubernetes/kubernetes `staging/src/k8s.io/kube-aggregator/pkg/apiserver/handler_discovery.go`)
//! does not fail discovery: it is remembered and reported by the tasks it concerns.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::future::join_all;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::Version;
use kube::core::discovery::v2::APIGroupDiscoveryList;
use kube::discovery::ApiResource;
use regex::Regex;

use super::env::TaskEnv;
use super::error::KubeError;
use super::retry;

/// A kind the server serves, at the version planrun uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKind {
    pub resource: ApiResource,
    pub namespaced: bool,
}

impl ResolvedKind {
    /// `plural` or `plural.group`, as kubectl names resources.
    pub fn resource_name(&self) -> String {
        if self.resource.group.is_empty() {
            self.resource.plural.clone()
        } else {
            format!("{}.{}", self.resource.plural, self.resource.group)
        }
    }

    /// An API for this kind in `namespace`, or across all namespaces (or cluster-wide)
    /// when `None`.
    pub fn api(&self, client: Client, namespace: Option<&str>) -> Api<DynamicObject> {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(client, ns, &self.resource),
            _ => Api::all_with(client, &self.resource),
        }
    }
}

/// The kind a CRD object defines, at its storage version.
pub(crate) fn crd_kind(crd: &DynamicObject) -> Option<ResolvedKind> {
    let spec = crd.data.get("spec")?;
    let group = spec.get("group")?.as_str()?.to_string();
    let names = spec.get("names")?;
    let versions = spec.get("versions")?.as_array()?;
    let version = versions
        .iter()
        .find(|v| v.get("storage").and_then(serde_json::Value::as_bool) == Some(true))
        .or(versions.first())?
        .get("name")?
        .as_str()?
        .to_string();
    Some(ResolvedKind {
        resource: ApiResource {
            api_version: format!("{group}/{version}"),
            group,
            version,
            kind: names.get("kind")?.as_str()?.to_string(),
            plural: names.get("plural")?.as_str()?.to_string(),
        },
        namespaced: spec.get("scope").and_then(serde_json::Value::as_str) != Some("Cluster"),
    })
}

/// One served resource, flattened out of discovery.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) resource: ApiResource,
    pub(crate) namespaced: bool,
    /// The group's preferred version.
    pub(crate) preferred: bool,
    /// What the resource answers: `list`, `patch`, `delete`...
    pub(crate) verbs: Vec<String>,
}

/// Every served resource, searchable by kind, and the group-versions discovery
/// could not list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Catalog {
    entries: Vec<Entry>,
    /// `group/version: why`, in discovery order.
    unavailable: Vec<String>,
}

/// What a search of the catalog found.
#[derive(Debug)]
pub(crate) enum Lookup {
    Found(ResolvedKind),
    /// Several groups serve the kind: their `group/version`s.
    Ambiguous(Vec<String>),
    /// Nothing by that kind: close matches, as `Kind (group/version)`.
    Missing(Vec<String>),
}

/// The kinds of the groups a pattern matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupKinds {
    /// Kinds with every verb asked for, each at its group's preferred version.
    pub kinds: Vec<ResolvedKind>,
    /// Kinds left out for want of a verb: `Kind (group/version): no patch`.
    pub lacking: Vec<String>,
    /// Matching group-versions discovery could not list: `group/version: why`.
    pub unavailable: Vec<String>,
}

fn api_version_of(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// `group` of a `group/version` (`""` for the core `v1`).
fn group_of(group_version: &str) -> &str {
    group_version
        .rsplit_once('/')
        .map_or("", |(group, _)| group)
}

impl Catalog {
    #[cfg(test)]
    pub(crate) fn new(entries: Vec<Entry>) -> Self {
        Self {
            entries,
            unavailable: Vec::new(),
        }
    }

    /// From plain discovery: each APIResourceList with whether its version is the
    /// group's preferred one, and the group-versions that failed.
    fn from_lists(
        lists: Vec<(
            bool,
            k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList,
        )>,
        unavailable: Vec<String>,
    ) -> Self {
        let mut entries = Vec::new();
        for (preferred, list) in lists {
            let (group, version) = match list.group_version.rsplit_once('/') {
                Some((g, v)) => (g.to_string(), v.to_string()),
                None => (String::new(), list.group_version.clone()),
            };
            for r in list.resources {
                // Subresources (`deployments/status`) are not kinds of their own.
                if r.name.contains('/') {
                    continue;
                }
                let group = r.group.clone().unwrap_or_else(|| group.clone());
                let version = r.version.clone().unwrap_or_else(|| version.clone());
                entries.push(Entry {
                    resource: ApiResource {
                        api_version: api_version_of(&group, &version),
                        group,
                        version,
                        kind: r.kind,
                        plural: r.name,
                    },
                    namespaced: r.namespaced,
                    preferred,
                    verbs: r.verbs,
                });
            }
        }
        Self {
            entries,
            unavailable,
        }
    }

    /// From aggregated discovery (`/api` and `/apis`): versions come preferred first;
    /// a version marked stale, or a group-version without resources (how
    /// kube-aggregator lists an API service it cannot reach), is unavailable.
    fn from_aggregated(lists: &[APIGroupDiscoveryList]) -> Self {
        let mut entries = Vec::new();
        let mut unavailable = Vec::new();
        for group in lists.iter().flat_map(|l| &l.items) {
            let name = group
                .metadata
                .as_ref()
                .and_then(|m| m.name.clone())
                .unwrap_or_default();
            for (i, version) in group.versions.iter().enumerate() {
                let Some(v) = version.version.clone() else {
                    continue;
                };
                let gv = api_version_of(&name, &v);
                if version.freshness.as_deref() == Some("Stale") {
                    unavailable.push(format!(
                        "{gv}: stale in discovery (its API server is not answering)"
                    ));
                    continue;
                }
                if version.resources.is_empty() {
                    unavailable.push(format!(
                        "{gv}: no resources in discovery (its API server is not answering)"
                    ));
                    continue;
                }
                for r in &version.resources {
                    let (Some(plural), Some(kind)) = (
                        r.resource.clone(),
                        r.response_kind.as_ref().and_then(|k| k.kind.clone()),
                    ) else {
                        continue;
                    };
                    entries.push(Entry {
                        resource: ApiResource {
                            group: name.clone(),
                            version: v.clone(),
                            api_version: gv.clone(),
                            kind,
                            plural,
                        },
                        namespaced: r.scope.as_deref() == Some("Namespaced"),
                        preferred: i == 0,
                        verbs: r.verbs.clone(),
                    });
                }
            }
        }
        Self {
            entries,
            unavailable,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The group-versions discovery could not list.
    pub(crate) fn unavailable(&self) -> &[String] {
        &self.unavailable
    }

    pub(crate) fn lookup(&self, kind: &str, api_version: Option<&str>) -> Lookup {
        let same_kind: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.resource.kind == kind)
            .collect();
        if let Some(av) = api_version {
            return match same_kind.iter().find(|e| e.resource.api_version == av) {
                Some(e) => Lookup::Found(resolved(e)),
                None => Lookup::Missing(self.close_matches(kind)),
            };
        }
        let by_group = by_group(same_kind);
        match by_group.len() {
            0 => Lookup::Missing(self.close_matches(kind)),
            1 => match by_group.into_values().next().and_then(best_version) {
                Some(e) => Lookup::Found(resolved(e)),
                None => Lookup::Missing(Vec::new()),
            },
            _ => {
                let mut candidates: Vec<String> = by_group
                    .into_values()
                    .filter_map(|v| {
                        v.iter()
                            .find(|e| e.preferred)
                            .or(v.first())
                            .map(|e| e.resource.api_version.clone())
                    })
                    .collect();
                candidates.sort();
                Lookup::Ambiguous(candidates)
            }
        }
    }

    /// Every kind of the groups whose name `pattern` matches, each at its group's
    /// preferred version (else its most stable one), in group then kind order;
    /// kinds without all of `verbs` are listed apart.
    pub(crate) fn group_kinds(&self, pattern: &Regex, verbs: &[&str]) -> GroupKinds {
        let mut by_kind: BTreeMap<(&str, &str), Vec<&Entry>> = BTreeMap::new();
        for e in self
            .entries
            .iter()
            .filter(|e| pattern.is_match(&e.resource.group))
        {
            by_kind
                .entry((e.resource.group.as_str(), e.resource.kind.as_str()))
                .or_default()
                .push(e);
        }
        let mut out = GroupKinds::default();
        for versions in by_kind.into_values() {
            let Some(e) = best_version(versions) else {
                continue;
            };
            let missing: Vec<&str> = verbs
                .iter()
                .copied()
                .filter(|v| !e.verbs.iter().any(|have| have == v))
                .collect();
            if missing.is_empty() {
                out.kinds.push(resolved(e));
            } else {
                out.lacking.push(format!(
                    "{} ({}): no {}",
                    e.resource.kind,
                    e.resource.api_version,
                    missing.join(", ")
                ));
            }
        }
        out.unavailable = self
            .unavailable
            .iter()
            .filter(|u| {
                let gv = u.split(':').next().unwrap_or_default();
                pattern.is_match(group_of(gv))
            })
            .cloned()
            .collect();
        out
    }

    /// Kinds spelled like `kind`: same letters in another case, a plural or short
    /// form, or a small edit away. Best first, at most five.
    fn close_matches(&self, kind: &str) -> Vec<String> {
        let wanted = kind.to_lowercase();
        let mut scored: HashMap<String, f64> = HashMap::new();
        for e in &self.entries {
            let r = &e.resource;
            let lower = r.kind.to_lowercase();
            let score = if lower == wanted || r.plural == wanted {
                2.0
            } else if r.kind == kind {
                // The kind exists, just not at the api_version asked for.
                1.5
            } else {
                strsim::jaro_winkler(&lower, &wanted)
            };
            if score >= 0.85 {
                let label = format!("{} ({})", r.kind, r.api_version);
                let best = scored.entry(label).or_insert(score);
                *best = best.max(score);
            }
        }
        let mut close: Vec<(String, f64)> = scored.into_iter().collect();
        close.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        close.into_iter().take(5).map(|(l, _)| l).collect()
    }
}

fn by_group(entries: Vec<&Entry>) -> BTreeMap<&str, Vec<&Entry>> {
    let mut by_group: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for e in entries {
        by_group
            .entry(e.resource.group.as_str())
            .or_default()
            .push(e);
    }
    by_group
}

/// Of one kind's versions in one group: the preferred one, else the most stable.
fn best_version(mut versions: Vec<&Entry>) -> Option<&Entry> {
    versions.sort_by_cached_key(|e| {
        (
            std::cmp::Reverse(e.preferred),
            std::cmp::Reverse(Version::parse(&e.resource.version).priority()),
        )
    });
    versions.first().copied()
}

fn resolved(e: &Entry) -> ResolvedKind {
    ResolvedKind {
        resource: e.resource.clone(),
        namespaced: e.namespaced,
    }
}

/// The run's kind cache. Cloning shares it.
#[derive(Clone)]
pub struct Kinds {
    client: Client,
    state: Arc<tokio::sync::Mutex<State>>,
}

#[derive(Default)]
struct State {
    catalog: Option<Arc<Catalog>>,
    resolved: HashMap<(String, Option<String>), ResolvedKind>,
}

impl Kinds {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            state: Arc::default(),
        }
    }

    async fn lock(
        &self,
        env: &TaskEnv<'_>,
    ) -> Result<tokio::sync::MutexGuard<'_, State>, KubeError> {
        tokio::time::timeout_at(env.deadline, self.state.lock())
            .await
            .map_err(|_| KubeError::Exhausted {
                verb: "discover",
                resource: "API resources".into(),
                attempts: 0,
                last: "discovery for another task did not finish before the deadline".into(),
            })
    }

    /// Resolves `kind` (at `api_version` if given), running discovery if this run has
    /// not yet, or again if the kind is not in what it found.
    pub async fn resolve(
        &self,
        env: &TaskEnv<'_>,
        kind: &str,
        api_version: Option<&str>,
    ) -> Result<ResolvedKind, KubeError> {
        let key = (kind.to_string(), api_version.map(str::to_string));
        let mut state = self.lock(env).await?;
        if let Some(hit) = state.resolved.get(&key) {
            return Ok(hit.clone());
        }
        let mut refreshed = false;
        loop {
            let catalog = match &state.catalog {
                Some(c) => c.clone(),
                None => {
                    let c = Arc::new(self.discover(env).await?);
                    state.catalog = Some(c.clone());
                    refreshed = true;
                    c
                }
            };
            match catalog.lookup(kind, api_version) {
                Lookup::Found(r) => {
                    state.resolved.insert(key, r.clone());
                    return Ok(r);
                }
                Lookup::Ambiguous(candidates) => {
                    return Err(KubeError::AmbiguousKind {
                        kind: kind.to_string(),
                        candidates,
                    });
                }
                Lookup::Missing(close) if refreshed => {
                    return Err(KubeError::UnknownKind {
                        kind: kind.to_string(),
                        api_version: api_version.map(str::to_string),
                        close,
                        unlisted: catalog.unavailable().to_vec(),
                    });
                }
                Lookup::Missing(_) => state.catalog = None,
            }
        }
    }

    /// The kinds of every API group `pattern` matches, from discovery run now (a
    /// group's kinds change as CRDs come and go).
    pub async fn group(
        &self,
        env: &TaskEnv<'_>,
        pattern: &Regex,
        verbs: &[&str],
    ) -> Result<GroupKinds, KubeError> {
        let mut state = self.lock(env).await?;
        let catalog = Arc::new(self.discover(env).await?);
        state.catalog = Some(catalog.clone());
        state.resolved.clear();
        Ok(catalog.group_kinds(pattern, verbs))
    }

    /// Forgets what discovery found, e.g. after a kind's URL answered 404.
    pub async fn forget(&self) {
        let mut state = self.state.lock().await;
        state.catalog = None;
        state.resolved.clear();
    }

    /// Aggregated discovery (two requests) where the server offers it, else one
    /// request per group-version.
    async fn discover(&self, env: &TaskEnv<'_>) -> Result<Catalog, KubeError> {
        let aggregated = tokio::time::timeout_at(env.deadline, async {
            let core = self.client.list_core_api_versions_aggregated().await?;
            let apis = self.client.list_api_groups_aggregated().await?;
            Ok::<_, kube::Error>([core, apis])
        })
        .await;
        if let Ok(Ok(lists)) = aggregated {
            let catalog = Catalog::from_aggregated(&lists);
            if !catalog.is_empty() {
                return Ok(catalog);
            }
        }
        let client = &self.client;
        let core = retry::call(env, "discover", "API versions", || {
            client.list_core_api_versions()
        })
        .await?;
        let groups =
            retry::call(env, "discover", "API groups", || client.list_api_groups()).await?;
        let mut wanted: Vec<(bool, String)> = core
            .versions
            .iter()
            .enumerate()
            .map(|(i, v)| (i == 0, v.clone()))
            .collect();
        for group in &groups.groups {
            let preferred = group
                .preferred_version
                .as_ref()
                .map(|p| p.group_version.clone())
                .or_else(|| group.versions.first().map(|v| v.group_version.clone()));
            for v in &group.versions {
                wanted.push((
                    Some(&v.group_version) == preferred.as_ref(),
                    v.group_version.clone(),
                ));
            }
        }
        let answers = join_all(wanted.iter().map(|(_, gv)| async move {
            let request = async {
                if gv.contains('/') {
                    client.list_api_group_resources(gv).await
                } else {
                    client.list_core_api_resources(gv).await
                }
            };
            tokio::time::timeout_at(env.deadline, request).await
        }))
        .await;
        let mut lists = Vec::new();
        let mut unavailable = Vec::new();
        for ((preferred, gv), answer) in wanted.into_iter().zip(answers) {
            match answer {
                Ok(Ok(list)) => lists.push((preferred, list)),
                // The group went (a CRD deleted meanwhile): nothing to list.
                Ok(Err(e)) if retry::is_404(&e) => {}
                Ok(Err(e)) => unavailable.push(format!("{gv}: {}", retry::describe(&e))),
                Err(_) => unavailable.push(format!("{gv}: no answer before the deadline")),
            }
        }
        Ok(Catalog::from_lists(lists, unavailable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(group: &str, version: &str, kind: &str, plural: &str, preferred: bool) -> Entry {
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Entry {
            resource: ApiResource {
                group: group.into(),
                version: version.into(),
                api_version,
                kind: kind.into(),
                plural: plural.into(),
            },
            namespaced: kind != "Namespace",
            preferred,
            verbs: ["list", "patch", "delete", "watch"]
                .map(String::from)
                .to_vec(),
        }
    }

    fn catalog() -> Catalog {
        Catalog::new(vec![
            entry("", "v1", "Namespace", "namespaces", true),
            entry("", "v1", "Secret", "secrets", true),
            entry("", "v1", "Event", "events", true),
            entry("events.k8s.io", "v1", "Event", "events", true),
            entry("apps", "v1", "Deployment", "deployments", true),
            entry(
                "source.toolkit.fluxcd.io",
                "v1beta2",
                "GitRepository",
                "gitrepositories",
                false,
            ),
            entry(
                "source.toolkit.fluxcd.io",
                "v1",
                "GitRepository",
                "gitrepositories",
                true,
            ),
        ])
    }

    #[test]
    fn kind_alone_resolves_to_the_preferred_version() {
        let Lookup::Found(r) = catalog().lookup("GitRepository", None) else {
            panic!("not found")
        };
        assert_eq!(r.resource.api_version, "source.toolkit.fluxcd.io/v1");
        assert!(r.namespaced);
        assert_eq!(
            r.resource_name(),
            "gitrepositories.source.toolkit.fluxcd.io"
        );
    }

    #[test]
    fn api_version_pins_a_version() {
        let Lookup::Found(r) =
            catalog().lookup("GitRepository", Some("source.toolkit.fluxcd.io/v1beta2"))
        else {
            panic!("not found")
        };
        assert_eq!(r.resource.version, "v1beta2");
    }

    #[test]
    fn kind_in_two_groups_is_ambiguous() {
        let Lookup::Ambiguous(c) = catalog().lookup("Event", None) else {
            panic!("not ambiguous")
        };
        assert_eq!(c, vec!["events.k8s.io/v1", "v1"]);
        assert!(matches!(
            catalog().lookup("Event", Some("v1")),
            Lookup::Found(_)
        ));
    }

    #[test]
    fn unknown_kind_suggests_close_spellings() {
        let Lookup::Missing(close) = catalog().lookup("Namespac", None) else {
            panic!("found")
        };
        assert_eq!(close, vec!["Namespace (v1)"]);
        let Lookup::Missing(close) = catalog().lookup("deployment", None) else {
            panic!("found")
        };
        assert_eq!(close, vec!["Deployment (apps/v1)"]);
        let Lookup::Missing(close) = catalog().lookup("Deployment", Some("apps/v2")) else {
            panic!("found")
        };
        assert_eq!(close, vec!["Deployment (apps/v1)"]);
        let Lookup::Missing(close) = catalog().lookup("Zebra", None) else {
            panic!("found")
        };
        assert!(close.is_empty());
    }

    #[test]
    fn a_group_pattern_takes_each_kind_once_at_its_preferred_version() {
        let mut entries = catalog().entries;
        let mut readonly = entry("metrics.fluxcd.io", "v1", "Usage", "usages", true);
        readonly.verbs = vec!["get".into(), "list".into()];
        entries.push(readonly);
        let catalog = Catalog {
            entries,
            unavailable: vec![
                "metrics.k8s.io/v1beta1: ServiceUnavailable (503)".into(),
                "events.fluxcd.io/v1: ServiceUnavailable (503)".into(),
            ],
        };
        let found = catalog.group_kinds(&Regex::new(r"fluxcd\.io$").unwrap(), &["list", "patch"]);
        let kinds: Vec<&str> = found
            .kinds
            .iter()
            .map(|k| k.resource.api_version.as_str())
            .collect();
        assert_eq!(kinds, vec!["source.toolkit.fluxcd.io/v1"]);
        assert_eq!(
            found.lacking,
            vec!["Usage (metrics.fluxcd.io/v1): no patch"]
        );
        assert_eq!(
            found.unavailable,
            vec!["events.fluxcd.io/v1: ServiceUnavailable (503)"]
        );
        let everything = catalog.group_kinds(&Regex::new("").unwrap(), &["list"]);
        assert_eq!(
            everything.kinds.len(),
            7,
            "core kinds match an empty group too"
        );
    }

    #[test]
    fn aggregated_discovery_without_resources_is_an_unlistable_group_version() {
        let list: APIGroupDiscoveryList = serde_json::from_value(serde_json::json!({
            "kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": [
                {"metadata": {"name": "apps"}, "versions": [{"version": "v1", "freshness": "Current",
                  "resources": [{"resource": "deployments", "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                                 "scope": "Namespaced", "verbs": ["list", "patch"],
                                 "subresources": [{"subresource": "status", "verbs": ["get"]}]}]}]},
                {"metadata": {"name": "metrics.k8s.io"}, "versions": [{"version": "v1beta1"}]},
                {"metadata": {"name": "custom.io"}, "versions": [{"version": "v1", "freshness": "Stale",
                  "resources": [{"resource": "things", "responseKind": {"kind": "Thing"}, "scope": "Cluster", "verbs": ["list"]}]}]}
            ]
        }))
        .unwrap();
        let catalog = Catalog::from_aggregated(&[list]);
        assert_eq!(catalog.entries.len(), 1, "subresources are not kinds");
        assert!(catalog.entries[0].namespaced);
        assert_eq!(
            catalog.unavailable(),
            [
                "metrics.k8s.io/v1beta1: no resources in discovery (its API server is not answering)",
                "custom.io/v1: stale in discovery (its API server is not answering)"
            ]
        );
    }
}
