//! Kinds resolved through discovery: `Namespace`, `CustomResourceDefinition`,
//! `GitRepository`... by kind alone when one API group serves it, with `api_version`
//! when several do. Discovery runs once per run and again only when a kind is not
//! found (a task may need a CRD an earlier task installed).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::Version;
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};

use super::env::TaskEnv;
use super::error::KubeError;
use super::retry;

/// A kind the server serves, at the version planrun uses.
#[derive(Debug, Clone)]
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

/// One served resource, flattened out of discovery.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) resource: ApiResource,
    pub(crate) namespaced: bool,
    /// The group's preferred version.
    pub(crate) preferred: bool,
}

/// Every served resource, searchable by kind.
#[derive(Debug, Clone, Default)]
pub(crate) struct Catalog {
    entries: Vec<Entry>,
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

impl Catalog {
    #[cfg(test)]
    pub(crate) fn new(entries: Vec<Entry>) -> Self {
        Self { entries }
    }

    fn from_discovery(discovery: &Discovery) -> Self {
        let mut entries = Vec::new();
        for group in discovery.groups() {
            let preferred = group.preferred_version_or_latest().to_string();
            for version in group.versions() {
                for (resource, caps) in group.versioned_resources(version) {
                    entries.push(Entry {
                        namespaced: is_namespaced(&caps),
                        preferred: version == preferred,
                        resource,
                    });
                }
            }
        }
        Self { entries }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
        // Per group: the preferred version if it serves the kind, else the most stable.
        let mut by_group: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
        for e in &same_kind {
            by_group
                .entry(e.resource.group.as_str())
                .or_default()
                .push(e);
        }
        match by_group.len() {
            0 => Lookup::Missing(self.close_matches(kind)),
            1 => {
                let mut versions = by_group.into_values().next().unwrap_or_default();
                versions.sort_by_cached_key(|e| {
                    (
                        std::cmp::Reverse(e.preferred),
                        std::cmp::Reverse(Version::parse(&e.resource.version).priority()),
                    )
                });
                match versions.first() {
                    Some(e) => Lookup::Found(resolved(e)),
                    None => Lookup::Missing(Vec::new()),
                }
            }
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

fn resolved(e: &Entry) -> ResolvedKind {
    ResolvedKind {
        resource: e.resource.clone(),
        namespaced: e.namespaced,
    }
}

fn is_namespaced(caps: &ApiCapabilities) -> bool {
    caps.scope == Scope::Namespaced
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
    /// Discovery runs so far; a lookup that missed refreshes at most once.
    generation: u64,
    resolved: HashMap<(String, Option<String>), ResolvedKind>,
}

impl Kinds {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            state: Arc::default(),
        }
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
        let Ok(mut state) = tokio::time::timeout_at(env.deadline, self.state.lock()).await else {
            return Err(KubeError::Exhausted {
                verb: "discover",
                resource: "API resources".into(),
                attempts: 0,
                last: "discovery for another task did not finish before the deadline".into(),
            });
        };
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
                    state.generation += 1;
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
                    });
                }
                Lookup::Missing(_) => state.catalog = None,
            }
        }
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
        if let Ok(Ok(d)) = tokio::time::timeout_at(
            env.deadline,
            Discovery::new(self.client.clone()).run_aggregated(),
        )
        .await
        {
            let catalog = Catalog::from_discovery(&d);
            if !catalog.is_empty() {
                return Ok(catalog);
            }
        }
        let client = self.client.clone();
        let d = retry::call(env, "discover", "API resources", || {
            Discovery::new(client.clone()).run()
        })
        .await?;
        Ok(Catalog::from_discovery(&d))
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
}
