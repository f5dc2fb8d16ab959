//! The scenario file: delays, stuck finalizers, condition rules, faults and seeds.
//!
//! Durations are seconds (`2`, `0.5`) or strings with a unit (`"250ms"`, `"2s"`, `"1m"`);
//! `never` means the event does not happen by itself. See the module documentation of
//! `sandbox` for a full example.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::discovery::Down;
use super::error::SandboxError;

/// When something happens: after a delay, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    /// After this long.
    After(Duration),
    /// Never (a stuck finalizer, a deployment that never becomes ready).
    Never,
}

impl Delay {
    /// A delay in milliseconds.
    pub fn millis(ms: u64) -> Self {
        Delay::After(Duration::from_millis(ms))
    }

    /// The duration, or `None` for never.
    pub fn duration(self) -> Option<Duration> {
        match self {
            Delay::After(d) => Some(d),
            Delay::Never => None,
        }
    }
}

/// Parse `2`, `0.5` (seconds), `"250ms"`, `"2s"`, `"1m30s"` (planrun's duration
/// grammar), `"never"`.
pub fn parse_delay(s: &str) -> Option<Delay> {
    let s = s.trim();
    if s == "never" {
        return Some(Delay::Never);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return seconds(secs).map(Delay::After);
    }
    planrun_text::parse_duration(s).ok().map(Delay::After)
}

/// A number of seconds as a duration, within planrun's bound on every duration.
fn seconds(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0 && secs <= planrun_text::MAX_DURATION.as_secs_f64())
        .then(|| Duration::from_secs_f64(secs))
}

impl<'de> Deserialize<'de> for Delay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Text(String),
        }
        let bad = || {
            serde::de::Error::custom(
                "expected seconds, a duration like \"250ms\" or \"2s\" (at most 30d), or \"never\"",
            )
        };
        match Raw::deserialize(d)? {
            Raw::Num(n) => seconds(n).map(Delay::After).ok_or_else(bad),
            Raw::Text(t) => parse_delay(&t).ok_or_else(bad),
        }
    }
}

/// Per-namespace lifecycle settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceKnob {
    /// The `kubernetes` finalizer never clears: the namespace stays Terminating.
    #[serde(default)]
    pub stuck: bool,
    /// Overrides `namespace_finalize_delay` for this namespace.
    pub finalize_delay: Option<Delay>,
}

/// Gives matching custom resources a status condition some time after each create or
/// spec change (what a controller such as Flux's would do).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionRule {
    /// Kind to match (`GitRepository`).
    pub kind: String,
    /// API group to match; any when absent.
    pub group: Option<String>,
    /// Namespace to match; any when absent.
    pub namespace: Option<String>,
    /// Regex on the object name; any when absent.
    pub name: Option<String>,
    /// Condition type (`Ready`).
    #[serde(rename = "type", default = "ready")]
    pub condition_type: String,
    /// Condition status (`"True"`).
    #[serde(default = "true_string")]
    pub status: String,
    /// Condition reason.
    #[serde(default = "succeeded")]
    pub reason: String,
    /// Condition message.
    #[serde(default)]
    pub message: String,
    /// Delay after the create or apply.
    #[serde(default = "zero_delay")]
    pub after: Delay,
    /// Field manager recorded for the status write.
    #[serde(default = "sandbox_controller")]
    pub manager: String,
}

fn ready() -> String {
    "Ready".to_owned()
}
fn true_string() -> String {
    "True".to_owned()
}
fn succeeded() -> String {
    "Succeeded".to_owned()
}
fn zero_delay() -> Delay {
    Delay::After(Duration::ZERO)
}
fn sandbox_controller() -> String {
    "sandbox-controller".to_owned()
}

/// The simulated Flux controllers (see `flux.rs`): each acts while a Pod of its
/// Deployment (`namespace/name`) exists, is Ready and is not terminating.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FluxControllers {
    /// kustomize-controller's Deployment, e.g. `flux-system/kustomize-controller`.
    pub kustomize: Option<String>,
    /// helm-controller's Deployment, e.g. `flux-system/helm-controller`.
    pub helm: Option<String>,
    /// source-controller's Deployment, e.g. `flux-system/source-controller`.
    pub source: Option<String>,
    /// How long a controller takes to act on a change it sees.
    pub delay: Delay,
}

impl Default for FluxControllers {
    fn default() -> Self {
        Self {
            kustomize: None,
            helm: None,
            source: None,
            delay: Delay::millis(100),
        }
    }
}

/// An injected fault. Every present matcher must match; every present effect applies.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Regex on the request path.
    pub path: Option<String>,
    /// HTTP method (`GET`, `DELETE`, ...).
    pub method: Option<String>,
    /// Kind or plural resource name (`Namespace` or `namespaces`).
    pub kind: Option<String>,
    /// Only watches (`true`) or only non-watch requests (`false`).
    pub watch: Option<bool>,
    /// Let this many matching requests through first.
    #[serde(default)]
    pub skip: u64,
    /// Fire this many times, then stop; unlimited when absent.
    pub count: Option<u64>,
    /// Answer with this error code (500, 503, 429, 410, ...).
    pub status: Option<u16>,
    /// `Retry-After` seconds for the error.
    pub retry_after: Option<u64>,
    /// Delay before handling.
    pub latency: Option<Delay>,
    /// Watches: end the stream abruptly after this many events.
    pub drop_after_events: Option<u64>,
    /// Watches: answer with an `ERROR` event carrying a 410 Expired Status.
    #[serde(default)]
    pub expire_watch: bool,
    /// Another writer merge-patches this into the object the request names just
    /// before the request is handled (under the field manager `concurrent-writer`),
    /// so the request's resourceVersion is stale: a read-modify-write race.
    pub concurrent_write: Option<serde_json::Value>,
}

/// Everything a sandbox run can be told, loadable from YAML.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// Reported server version, `1.<minor>` or `1.<minor>.<patch>` (kubectl's
    /// dispatcher needs 1.27–1.33; Flux 2.7 needs 1.32 or later).
    pub kubernetes_version: String,
    /// Delay from a namespace delete to its contents and itself being removed.
    pub namespace_finalize_delay: Delay,
    /// Per-namespace overrides (`stuck: true`, `finalize_delay`).
    pub namespaces: BTreeMap<String, NamespaceKnob>,
    /// Delay from a CRD delete to its custom resources and itself being removed.
    pub crd_finalize_delay: Delay,
    /// Delay from a pod's creation to its being Ready (so a deployment rollout takes
    /// this long; `never`: pods stay Pending).
    pub deployment_ready_delay: Delay,
    /// Delay from a pod's deletion (it is Terminating) to its removal.
    pub pod_termination_delay: Delay,
    /// Simulated Flux controllers and the Deployments they run as.
    pub controllers: FluxControllers,
    /// Delay after which a simulated controller removes the finalizers of a deleted object
    /// (`never` by default: objects linger until someone removes their finalizers).
    pub finalizer_clear_delay: Delay,
    /// Finalizers the simulated controller never removes.
    pub stuck_finalizers: BTreeSet<String>,
    /// Condition rules for custom resources.
    pub conditions: Vec<ConditionRule>,
    /// Injected faults.
    pub faults: Vec<FaultRule>,
    /// Manifest files to seed, relative to the scenario file.
    pub seeds: Vec<PathBuf>,
    /// Field manager recorded for seeded objects without `managedFields`.
    pub seed_field_manager: String,
    /// How often watches that allow bookmarks get one.
    pub bookmark_interval: Delay,
    /// How many events the watch log keeps (older resourceVersions answer 410 Expired).
    pub event_log_capacity: usize,
    /// Group-versions of aggregated API servers that are down (`metrics.k8s.io/v1beta1`):
    /// listed by discovery without resources, every request under them answers 503.
    pub unavailable_api_services: Vec<String>,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            kubernetes_version: "1.33".to_owned(),
            namespace_finalize_delay: Delay::millis(500),
            namespaces: BTreeMap::new(),
            crd_finalize_delay: Delay::millis(200),
            deployment_ready_delay: Delay::millis(500),
            pod_termination_delay: Delay::millis(500),
            controllers: FluxControllers::default(),
            finalizer_clear_delay: Delay::Never,
            stuck_finalizers: BTreeSet::new(),
            conditions: Vec::new(),
            faults: Vec::new(),
            seeds: Vec::new(),
            seed_field_manager: "kubectl-client-side-apply".to_owned(),
            // Roughly every minute, as the API server (k8s.io/apiserver v0.36.3
            // pkg/storage/cacher/cache_watcher.go, nextBookmarkTime).
            bookmark_interval: Delay::After(Duration::from_secs(60)),
            event_log_capacity: 1000,
            unavailable_api_services: Vec::new(),
        }
    }
}

impl Scenario {
    /// Parse scenario YAML; relative seed paths resolve against `base_dir`.
    pub fn from_yaml(text: &str, base_dir: &Path) -> Result<Self, SandboxError> {
        let mut s: Scenario = if text.trim().is_empty() {
            Scenario::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| SandboxError::Scenario {
                path: base_dir.display().to_string(),
                message: e.to_string(),
            })?
        };
        for seed in &mut s.seeds {
            if seed.is_relative() {
                *seed = base_dir.join(&*seed);
            }
        }
        s.validate()?;
        Ok(s)
    }

    /// Read a scenario file.
    pub fn load(path: &Path) -> Result<Self, SandboxError> {
        let text = std::fs::read_to_string(path).map_err(|e| SandboxError::Read {
            path: path.display().to_string(),
            source: e,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_yaml(&text, base).map_err(|e| match e {
            SandboxError::Scenario { message, .. } => SandboxError::Scenario {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    fn validate(&self) -> Result<(), SandboxError> {
        let bad = |message: String| SandboxError::Scenario {
            path: String::new(),
            message,
        };
        let parts: Option<Vec<u32>> = self
            .kubernetes_version
            .strip_prefix("1.")
            .map(|rest| rest.split('.').map(|p| p.parse::<u32>().ok()).collect())
            .and_then(|p: Option<Vec<u32>>| p.filter(|p| (1..=2).contains(&p.len())));
        if parts.is_none() {
            return Err(bad(format!(
                "kubernetes_version {:?} is not of the form 1.<minor> or 1.<minor>.<patch>",
                self.kubernetes_version
            )));
        }
        for f in &self.faults {
            if let Some(p) = &f.path {
                regex::Regex::new(p).map_err(|e| bad(format!("fault path regex {p:?}: {e}")))?;
            }
        }
        for deployment in [
            &self.controllers.kustomize,
            &self.controllers.helm,
            &self.controllers.source,
        ]
        .into_iter()
        .flatten()
        {
            if deployment
                .split_once('/')
                .is_none_or(|(ns, n)| ns.is_empty() || n.is_empty())
            {
                return Err(bad(format!(
                    "controllers: {deployment:?} is not of the form namespace/name"
                )));
            }
        }
        for gv in &self.unavailable_api_services {
            if Down::parse(gv).is_none() {
                return Err(bad(format!(
                    "unavailable_api_services: {gv:?} is not of the form group/version"
                )));
            }
        }
        for c in &self.conditions {
            if let Some(p) = &c.name {
                regex::Regex::new(p)
                    .map_err(|e| bad(format!("condition name regex {p:?}: {e}")))?;
            }
        }
        Ok(())
    }

    /// The group-versions that are down.
    pub fn down(&self) -> Vec<Down> {
        self.unavailable_api_services
            .iter()
            .filter_map(|gv| Down::parse(gv))
            .collect()
    }

    /// Whether the namespace controller deletes a namespace's Pods before its other
    /// content: the OrderedNamespaceDeletion gate, on by default from 1.33, locked on
    /// from 1.34, off by default before (kubernetes/kubernetes v1.36.3
    /// `pkg/features/kube_features.go`; v1.32.13 `pkg/features/versioned_kube_features.go`).
    pub fn pods_first(&self) -> bool {
        planrun_text::KubeVersion::parse(&self.kubernetes_version)
            .is_some_and(|v| v.at_least(1, 33))
    }

    /// The reported minor version.
    pub fn minor(&self) -> &str {
        let rest = self.kubernetes_version.strip_prefix("1.").unwrap_or("33");
        rest.split('.').next().unwrap_or(rest)
    }

    /// The reported `gitVersion`: `v1.<minor>.<patch>` (patch 0 unless given).
    pub fn git_version(&self) -> String {
        let rest = self.kubernetes_version.strip_prefix("1.").unwrap_or("33");
        match rest.split_once('.') {
            Some((minor, patch)) => format!("v1.{minor}.{patch}"),
            None => format!("v1.{rest}.0"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn delays_parse() {
        assert_eq!(parse_delay("250ms"), Some(Delay::millis(250)));
        assert_eq!(parse_delay("2s"), Some(Delay::millis(2000)));
        assert_eq!(parse_delay("1.5"), Some(Delay::millis(1500)));
        assert_eq!(parse_delay("never"), Some(Delay::Never));
        assert_eq!(parse_delay("-1"), None);
    }

    #[test]
    fn delays_are_bounded_like_every_duration() {
        assert_eq!(parse_delay("1e30"), None);
        assert_eq!(parse_delay("31d"), None);
        assert!(Scenario::from_yaml("deployment_ready_delay: 1e30", Path::new(".")).is_err());
        assert!(Scenario::from_yaml("deployment_ready_delay: 30d", Path::new(".")).is_ok());
    }

    #[test]
    fn scenario_yaml() {
        let s = Scenario::from_yaml(
            r#"
namespace_finalize_delay: 2s
namespaces:
  stuck-ns: { stuck: true }
deployment_ready_delay: 0.1
conditions:
  - kind: GitRepository
    after: 1s
    message: stored artifact
faults:
  - path: "^/api/v1/namespaces$"
    status: 503
    count: 2
seeds: [flux.yaml]
"#,
            Path::new("/base"),
        )
        .unwrap();
        assert_eq!(s.namespace_finalize_delay, Delay::millis(2000));
        assert!(s.namespaces["stuck-ns"].stuck);
        assert_eq!(s.conditions[0].condition_type, "Ready");
        assert_eq!(s.conditions[0].status, "True");
        assert_eq!(s.seeds[0], Path::new("/base/flux.yaml"));
        assert_eq!(s.faults[0].count, Some(2));
    }

    #[test]
    fn the_server_version_may_name_a_patch() {
        let s = Scenario::from_yaml("kubernetes_version: \"1.31.4\"", Path::new(".")).unwrap();
        assert_eq!((s.minor(), s.git_version().as_str()), ("31", "v1.31.4"));
        assert_eq!(Scenario::default().git_version(), "v1.33.0");
        assert!(Scenario::from_yaml("kubernetes_version: \"2.0\"", Path::new(".")).is_err());
        assert!(Scenario::from_yaml("kubernetes_version: \"1.31.x\"", Path::new(".")).is_err());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(Scenario::from_yaml("namespace_delay: 1", Path::new(".")).is_err());
    }
}
