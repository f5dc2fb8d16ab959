//! Rehearsal on a cluster the user names (`--kubeconfig FILE --context NAME`) instead of
//! the embedded sandbox: kind, k3d, a staging cluster, `scripts/realcluster up`.
//!
//! - The context must be named, must exist, and must be neither the plan's production
//!   context (`[plan] context`) nor another name for its API server: a rehearsal
//!   deletes and recreates things.
//! - The run gets its own kubeconfig (0600, in the rehearsal's directory) holding only
//!   that context, under the name the plan's guard expects, so the run path stays
//!   `planrun run` unchanged; the simulated tools act on the cluster through it.
//! - The scenario's `seeds` are applied the way the seed says they were made: created
//!   by `seed_field_manager` (`kubectl-client-side-apply` writes the last-applied
//!   annotation too, as client-side `kubectl apply` does), in the sandbox's order
//!   (Namespaces, CRDs, the rest); CRDs are waited for until Established before their
//!   custom resources.
//! - What the sandbox simulates that a real cluster does by itself (namespace and CRD
//!   finalization, Deployment readiness, finalizers, watch bookmarks, injected API
//!   faults, the server version) is the cluster's job: those scenario keys
//!   ([`CLUSTER_DECIDES`]) are ignored with a warning, and a fault that changes them
//!   cannot be rehearsed here. The scenario's `conditions` (what controllers such as
//!   Flux's would report) and the rehearsal's `reactions` are enacted by the rehearsal
//!   through the API, as the sandbox does, since nothing else would.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig, NamedContext};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope, pinned_kind};
use kube::{Client, ResourceExt};
use planrun::exec::kube::cause;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::error::RehearseError;
use super::spec::Reaction;
use planrun_sandbox::{ConditionRule, Manifest, SandboxError, Scenario};

/// The scenario keys a real cluster decides by itself.
pub const CLUSTER_DECIDES: &[(&str, &str)] = &[
    ("kubernetes_version", "the cluster reports its own version"),
    (
        "namespace_finalize_delay",
        "the namespace controller finalizes namespaces",
    ),
    (
        "namespaces",
        "the namespace controller decides when a namespace goes",
    ),
    (
        "crd_finalize_delay",
        "the API server removes custom resources of a deleted CRD",
    ),
    (
        "deployment_ready_delay",
        "the cluster's controllers and nodes make Deployments ready",
    ),
    (
        "finalizer_clear_delay",
        "the cluster's controllers remove their finalizers",
    ),
    (
        "stuck_finalizers",
        "the cluster's controllers remove their finalizers",
    ),
    ("faults", "the API server does not fail on request"),
    (
        "bookmark_interval",
        "the API server sends its own bookmarks",
    ),
    (
        "event_log_capacity",
        "the API server keeps its own event window",
    ),
];

/// How long seeding waits for a CRD to be Established and served.
const ESTABLISH_WITHIN: Duration = Duration::from_secs(60);
/// How often conditions and reactions look at the cluster.
pub const LOOK_EVERY: Duration = Duration::from_millis(250);

/// The cluster a rehearsal runs on.
#[derive(Debug, Clone)]
pub struct Target {
    /// The kubeconfig the user named.
    pub file: PathBuf,
    /// The context the user named.
    pub context: String,
    /// Its API server.
    pub server: String,
}

/// Checks the user's choice of cluster and returns the kubeconfig and the target; a
/// refusal names what was wrong and what would be right.
pub fn choose(
    file: &Path,
    context: Option<&str>,
    production: Option<&str>,
) -> Result<(Kubeconfig, Target), RehearseError> {
    let kubeconfig = Kubeconfig::read_from(file).map_err(|e| RehearseError::Kubeconfig {
        path: file.to_path_buf(),
        message: e.to_string(),
    })?;
    let known = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.clone())
        .collect::<Vec<_>>();
    let Some(context) = context else {
        return Err(RehearseError::ContextRequired {
            path: file.to_path_buf(),
            known: known.join(", "),
        });
    };
    if !known.iter().any(|k| k == context) {
        return Err(RehearseError::UnknownContext {
            context: context.to_owned(),
            path: file.to_path_buf(),
            known: known.join(", "),
        });
    }
    if production == Some(context) {
        return Err(RehearseError::ProductionContext {
            context: context.to_owned(),
        });
    }
    let server = server_of(&kubeconfig, context).unwrap_or_default();
    if let Some(production) = production
        && let Some(production_server) = server_of(&kubeconfig, production)
        && !server.is_empty()
        && normalise_server(&production_server) == normalise_server(&server)
    {
        return Err(RehearseError::SameServer {
            context: context.to_owned(),
            production: production.to_owned(),
            server,
        });
    }
    Ok((
        kubeconfig,
        Target {
            file: file.to_path_buf(),
            context: context.to_owned(),
            server,
        },
    ))
}

fn named_context<'a>(kubeconfig: &'a Kubeconfig, name: &str) -> Option<&'a NamedContext> {
    kubeconfig.contexts.iter().find(|c| c.name == name)
}

fn server_of(kubeconfig: &Kubeconfig, context: &str) -> Option<String> {
    let cluster = named_context(kubeconfig, context)?
        .context
        .as_ref()?
        .cluster
        .clone();
    kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == cluster)?
        .cluster
        .as_ref()?
        .server
        .clone()
}

fn normalise_server(server: &str) -> String {
    server
        .trim_end_matches('/')
        .replace("://localhost", "://127.0.0.1")
        .to_ascii_lowercase()
}

/// Writes the run's kubeconfig (0600): the target's context, cluster and user only,
/// the context named `run_context` (what the plan's guard expects) and current.
pub fn write_run_kubeconfig(
    kubeconfig: &Kubeconfig,
    target: &Target,
    run_context: &str,
    path: &Path,
) -> Result<(), RehearseError> {
    let mut context = named_context(kubeconfig, &target.context)
        .cloned()
        .expect("choose checked that the context exists");
    let (cluster, user) = context
        .context
        .as_ref()
        .map(|c| (c.cluster.clone(), c.user.clone().unwrap_or_default()))
        .unwrap_or_default();
    context.name = run_context.to_owned();
    let only = Kubeconfig {
        clusters: kubeconfig
            .clusters
            .iter()
            .filter(|c| c.name == cluster)
            .cloned()
            .collect(),
        auth_infos: kubeconfig
            .auth_infos
            .iter()
            .filter(|a| a.name == user)
            .cloned()
            .collect(),
        contexts: vec![context],
        current_context: Some(run_context.to_owned()),
        ..Kubeconfig::default()
    };
    let text = serde_yaml::to_string(&only).map_err(|e| RehearseError::Kubeconfig {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    planrun::layout::replace_private(path, text.as_bytes()).map_err(|source| {
        RehearseError::Prepare {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// The scenario keys in `scenario` a real cluster decides, with why.
pub fn cluster_decides(scenario: &serde_yaml::Value) -> Vec<(&'static str, &'static str)> {
    CLUSTER_DECIDES
        .iter()
        .filter(|(key, _)| {
            scenario
                .get(*key)
                .is_some_and(|v| !v.is_null() && v != &serde_yaml::Value::Sequence(vec![]))
        })
        .copied()
        .collect()
}

/// A client for the run's kubeconfig.
pub async fn connect(run_kubeconfig: &Path, context: &str) -> Result<Client, RehearseError> {
    let fail = |message: String| RehearseError::Kubeconfig {
        path: run_kubeconfig.to_path_buf(),
        message,
    };
    let kubeconfig = Kubeconfig::read_from(run_kubeconfig).map_err(|e| fail(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &KubeConfigOptions {
            context: Some(context.to_owned()),
            ..KubeConfigOptions::default()
        },
    )
    .await
    .map_err(|e| fail(e.to_string()))?;
    Client::try_from(config).map_err(|e| fail(cause(&e)))
}

/// The annotation client-side `kubectl apply` keeps the applied configuration in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The field manager of client-side `kubectl apply`.
const CLIENT_SIDE_APPLY: &str = "kubectl-client-side-apply";

/// The objects of multi-document YAML files, in order, read as the sandbox reads
/// its seeds ([`Manifest::objects`]).
pub fn read_manifests(paths: &[PathBuf]) -> Result<Vec<Value>, RehearseError> {
    let mut out = Vec::new();
    for path in paths {
        let objects = Manifest::from_file(path)
            .and_then(|m| m.objects())
            .map_err(|e| match e {
                SandboxError::Read { source, .. } => RehearseError::Read {
                    path: path.clone(),
                    source,
                },
                SandboxError::Seed { message, .. } => RehearseError::Spec {
                    path: path.clone(),
                    message,
                },
                other => RehearseError::Spec {
                    path: path.clone(),
                    message: other.to_string(),
                },
            })?;
        out.extend(objects);
    }
    Ok(out)
}

/// A manifest as a client writes it: no status, no server-set metadata; under
/// `kubectl-client-side-apply`, the last-applied annotation as kubectl writes it
/// (k8s.io/kubectl v0.36.3 pkg/util/apply.go: the configuration itself, compact JSON
/// with sorted keys and a newline, its annotations present even when empty).
fn as_written(manifest: &Value, manager: &str) -> Value {
    let mut obj = manifest.clone();
    if let Some(m) = obj.as_object_mut() {
        m.remove("status");
    }
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "selfLink",
        ] {
            meta.remove(key);
        }
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove(LAST_APPLIED);
        }
    }
    if manager == CLIENT_SIDE_APPLY {
        let mut config = obj.clone();
        if config.pointer("/metadata/annotations").is_none() {
            config["metadata"]["annotations"] = json!({});
        }
        let mut text = config.to_string();
        text.push('\n');
        obj["metadata"]["annotations"][LAST_APPLIED] = Value::String(text);
    }
    obj
}

/// The API resource of an object's apiVersion and kind, looked up now.
async fn resource_of(
    client: &Client,
    obj: &Value,
) -> Result<(ApiResource, ApiCapabilities), kube::Error> {
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    pinned_kind(client, &GroupVersionKind::gvk(group, version, kind)).await
}

fn api_for(
    client: &Client,
    res: &ApiResource,
    caps: &ApiCapabilities,
    ns: &str,
) -> Api<DynamicObject> {
    match caps.scope {
        Scope::Namespaced => Api::namespaced_with(client.clone(), ns, res),
        Scope::Cluster => Api::all_with(client.clone(), res),
    }
}

fn shown(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("?");
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Writes `manifest` as `manager` would: created when absent, else replaced by it
/// (what a repeated `kubectl apply` leaves); a custom resource whose CRD is still
/// being set up is retried until [`ESTABLISH_WITHIN`]. Says what it did.
pub async fn write_object(
    client: &Client,
    manifest: &Value,
    manager: &str,
    say: &dyn Fn(String),
) -> Result<(), RehearseError> {
    let fail = |message: String| RehearseError::Seed {
        what: shown(manifest),
        message,
    };
    let obj = as_written(manifest, manager);
    let deadline = Instant::now() + ESTABLISH_WITHIN;
    let (res, caps) = loop {
        match resource_of(client, &obj).await {
            Ok(found) => break found,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!("waiting for {} to be served: {e}", shown(&obj));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(fail(cause(&e))),
        }
    };
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_owned();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| fail("no metadata.name".to_owned()))?
        .to_owned();
    let api = api_for(client, &res, &caps, &ns);
    let dynamic: DynamicObject =
        serde_json::from_value(obj.clone()).map_err(|e| fail(e.to_string()))?;
    let post = PostParams {
        field_manager: Some(manager.to_owned()),
        ..PostParams::default()
    };
    loop {
        let existing = api.get_opt(&name).await.map_err(|e| fail(cause(&e)))?;
        let written = match existing {
            None => api.create(&post, &dynamic).await.map(|_| "created"),
            Some(live) => {
                let mut replacement = dynamic.clone();
                replacement.metadata.resource_version = live.resource_version();
                api.replace(&name, &post, &replacement)
                    .await
                    .map(|_| "replaced")
            }
        };
        match written {
            Ok(how) => {
                say(format!("{how} {} as {manager}", shown(&obj)));
                return Ok(());
            }
            // A conflict (someone else wrote it meanwhile) or a kind not served yet:
            // again, within the deadline.
            Err(kube::Error::Api(s))
                if (s.code == 409 || s.code == 404) && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(fail(cause(&e))),
        }
    }
}

/// Seeds the cluster with the scenario's manifests in the sandbox's order
/// ([`planrun_sandbox::seed_order`]: Namespaces, CRDs, the rest, each in the order
/// written); a CRD is waited for until Established before what follows.
pub async fn seed(
    client: &Client,
    scenario: &Scenario,
    say: &dyn Fn(String),
) -> Result<(), RehearseError> {
    let manager = if scenario.seed_field_manager.is_empty() {
        CLIENT_SIDE_APPLY
    } else {
        scenario.seed_field_manager.as_str()
    };
    let mut manifests = read_manifests(&scenario.seeds)?;
    manifests.sort_by_key(planrun_sandbox::seed_order);
    for manifest in manifests {
        write_object(client, &manifest, manager, say).await?;
        if manifest["kind"] == "CustomResourceDefinition" {
            wait_established(client, &manifest).await?;
        }
    }
    Ok(())
}

async fn wait_established(client: &Client, crd: &Value) -> Result<(), RehearseError> {
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let api: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
        )),
    );
    let deadline = Instant::now() + ESTABLISH_WITHIN;
    loop {
        let established = api
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .is_some_and(|c| condition_is(&c.data, "Established", "True"));
        if established {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(RehearseError::Seed {
                what: format!("CustomResourceDefinition {name}"),
                message: format!("not Established within {} s", ESTABLISH_WITHIN.as_secs()),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn condition_is(data: &Value, ty: &str, status: &str) -> bool {
    data.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == ty && c["status"] == status))
}

/// The scenario's condition rules and the rehearsal's reactions, enacted on a real
/// cluster by looking at it every [`LOOK_EVERY`]: a custom resource a rule matches gets
/// the rule's condition `after` its generation was first seen (written as the rule's
/// manager through the status subresource); a reaction fires once, as soon as its
/// object is in the awaited state.
pub struct Enactor {
    rules: Vec<ConditionRule>,
    reactions: Vec<Reaction>,
    fired: Vec<bool>,
    /// (rule, uid, generation) -> when the condition is due.
    due: BTreeMap<(usize, String, i64), Instant>,
    done: BTreeSet<(usize, String, i64)>,
}

impl Enactor {
    pub fn new(rules: Vec<ConditionRule>, reactions: Vec<Reaction>) -> Self {
        let fired = vec![false; reactions.len()];
        Self {
            rules,
            reactions,
            fired,
            due: BTreeMap::new(),
            done: BTreeSet::new(),
        }
    }

    /// Looks once; what went wrong is said, never fatal (the run decides).
    pub async fn look(&mut self, client: &Client, say: &dyn Fn(String)) {
        for i in 0..self.rules.len() {
            if let Err(e) = self.rule(client, i).await {
                tracing::debug!("condition rule {i}: {e}");
            }
        }
        for i in 0..self.reactions.len() {
            if !self.fired[i] {
                self.reaction(client, i, say).await;
            }
        }
    }

    async fn rule(&mut self, client: &Client, i: usize) -> Result<(), kube::Error> {
        let rule = self.rules[i].clone();
        let Some((res, caps)) = find_kind(client, &rule.kind, rule.group.as_deref()).await else {
            return Ok(());
        };
        let api: Api<DynamicObject> = match (&rule.namespace, caps.scope.clone()) {
            (Some(ns), Scope::Namespaced) => Api::namespaced_with(client.clone(), ns, &res),
            _ => Api::all_with(client.clone(), &res),
        };
        let name_re = rule.name.as_deref().and_then(|p| regex::Regex::new(p).ok());
        for obj in api.list(&ListParams::default()).await? {
            if obj.metadata.deletion_timestamp.is_some()
                || name_re
                    .as_ref()
                    .is_some_and(|re| !re.is_match(&obj.name_any()))
            {
                continue;
            }
            let key = (
                i,
                obj.uid().unwrap_or_default(),
                obj.metadata.generation.unwrap_or(0),
            );
            if self.done.contains(&key) {
                continue;
            }
            let after = rule.after.duration().unwrap_or(Duration::MAX);
            let due = *self
                .due
                .entry(key.clone())
                .or_insert_with(|| Instant::now() + after.min(Duration::from_secs(86_400)));
            if Instant::now() < due {
                continue;
            }
            let ns = obj.namespace().unwrap_or_default();
            let api = api_for(client, &res, &caps, &ns);
            let mut condition = json!({
                "type": rule.condition_type, "status": rule.status,
                "reason": rule.reason, "message": rule.message,
                "lastTransitionTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            });
            if let Some(g) = obj.metadata.generation {
                condition["observedGeneration"] = json!(g);
            }
            let mut conditions: Vec<Value> = obj
                .data
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            conditions.retain(|c| c["type"] != rule.condition_type.as_str());
            conditions.push(condition);
            let patch = json!({"status": {"conditions": conditions,
                                          "observedGeneration": obj.metadata.generation}});
            let params = PatchParams {
                field_manager: Some(rule.manager.clone()),
                ..PatchParams::default()
            };
            let name = obj.name_any();
            let written = api
                .patch_status(&name, &params, &Patch::Merge(&patch))
                .await;
            let written = match written {
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    api.patch(&name, &params, &Patch::Merge(&patch)).await
                }
                other => other,
            };
            written?;
            self.done.insert(key);
        }
        Ok(())
    }

    async fn reaction(&mut self, client: &Client, i: usize, say: &dyn Fn(String)) {
        let reaction = self.reactions[i].clone();
        let w = &reaction.when;
        let probe = json!({"apiVersion": w.api_version, "kind": w.kind,
                           "metadata": {"name": w.name, "namespace": w.namespace}});
        let Ok((res, caps)) = resource_of(client, &probe).await else {
            return;
        };
        let api = api_for(client, &res, &caps, &w.namespace);
        let Ok(Some(obj)) = api.get_opt(&w.name).await else {
            return;
        };
        let value = serde_json::to_value(&obj).unwrap_or(Value::Null);
        if !w.holds(Some(&value)) {
            return;
        }
        self.fired[i] = true;
        let mut problems = Vec::new();
        if let Some(path) = &reaction.apply {
            match read_manifests(std::slice::from_ref(path)) {
                Ok(manifests) => {
                    for m in manifests {
                        // As whoever the manifest says wrote it.
                        let manager = m
                            .pointer("/metadata/managedFields/0/manager")
                            .and_then(Value::as_str)
                            .unwrap_or(CLIENT_SIDE_APPLY)
                            .to_owned();
                        if let Err(e) = write_object(client, &m, &manager, &|_| {}).await {
                            problems.push(e.to_string());
                        }
                    }
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        if !reaction.conditions.is_empty() {
            let mut conditions: Vec<Value> = value
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for c in &reaction.conditions {
                conditions.retain(|x| x["type"] != c.type_.as_str());
                conditions.push(json!({"type": c.type_, "status": c.status, "reason": c.reason,
                    "message": c.message,
                    "lastTransitionTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}));
            }
            let params = PatchParams {
                field_manager: Some("planrun-rehearsal".to_owned()),
                ..PatchParams::default()
            };
            let patch = json!({"status": {"conditions": conditions}});
            if let Err(e) = api
                .patch_status(&w.name, &params, &Patch::Merge(&patch))
                .await
            {
                problems.push(format!("cannot set conditions: {e}"));
            }
        }
        let what = reaction
            .say
            .clone()
            .unwrap_or_else(|| format!("reaction on {} {}", w.kind, w.name));
        if problems.is_empty() {
            say(format!("{what} ({} {})", w.kind, w.name));
        } else {
            say(format!("{what}: {}", problems.join("; ")));
        }
    }
}

/// The served resource of `kind` (in `group` if given), from discovery.
async fn find_kind(
    client: &Client,
    kind: &str,
    group: Option<&str>,
) -> Option<(ApiResource, ApiCapabilities)> {
    let discovery = kube::Discovery::new(client.clone()).run().await.ok()?;
    discovery.groups().find_map(|g| {
        if group.is_some_and(|want| g.name() != want) {
            return None;
        }
        g.recommended_resources()
            .into_iter()
            .find(|(r, _)| r.kind == kind)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(dir: &Path) -> PathBuf {
        let path = dir.join("config");
        std::fs::write(
            &path,
            r"apiVersion: v1
kind: Config
clusters:
- {name: prod, cluster: {server: 'https://prod.example:6443'}}
- {name: staging, cluster: {server: 'https://staging.example:6443'}}
users:
- {name: admin, user: {token: t}}
contexts:
- {name: oceanid, context: {cluster: prod, user: admin}}
- {name: oceanid-admin, context: {cluster: prod, user: admin}}
- {name: staging, context: {cluster: staging, user: admin}}
current-context: oceanid
",
        )
        .unwrap();
        path
    }

    #[test]
    fn only_a_named_context_that_is_not_production_is_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let file = kubeconfig(dir.path());
        let prod = Some("oceanid");
        assert!(matches!(
            choose(&file, None, prod),
            Err(RehearseError::ContextRequired { .. })
        ));
        assert!(matches!(
            choose(&file, Some("oceanid"), prod),
            Err(RehearseError::ProductionContext { .. })
        ));
        assert!(matches!(
            choose(&file, Some("oceanid-admin"), prod),
            Err(RehearseError::SameServer { .. })
        ));
        assert!(matches!(
            choose(&file, Some("nope"), prod),
            Err(RehearseError::UnknownContext { .. })
        ));
        let (kc, target) = choose(&file, Some("staging"), prod).unwrap();
        assert_eq!(target.server, "https://staging.example:6443");
        let run = dir.path().join("run");
        write_run_kubeconfig(&kc, &target, "oceanid", &run).unwrap();
        let written = Kubeconfig::read_from(&run).unwrap();
        assert_eq!(written.current_context.as_deref(), Some("oceanid"));
        assert_eq!(written.clusters.len(), 1);
        assert_eq!(written.clusters[0].name, "staging");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&run).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn client_side_apply_writes_the_last_applied_annotation_as_kubectl() {
        let m = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "n", "managedFields": [{"manager": "x"}]},
            "data": {"a": "1"}, "status": {}});
        let written = as_written(&m, CLIENT_SIDE_APPLY);
        assert_eq!(
            written["metadata"]["annotations"][LAST_APPLIED],
            "{\"apiVersion\":\"v1\",\"data\":{\"a\":\"1\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"name\":\"c\",\"namespace\":\"n\"}}\n"
        );
        assert!(written.pointer("/metadata/managedFields").is_none());
        assert!(written.get("status").is_none());
        assert!(
            as_written(&m, "other")
                .pointer("/metadata/annotations")
                .is_none()
        );
    }

    #[test]
    fn the_keys_a_cluster_decides_are_named() {
        let scenario: serde_yaml::Value = serde_yaml::from_str(
            "seeds: [a.yaml]\nnamespaces: {x: {stuck: true}}\ndeployment_ready_delay: 2s\nconditions: []\n",
        )
        .unwrap();
        let keys: Vec<&str> = cluster_decides(&scenario).iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["namespaces", "deployment_ready_delay"]);
    }
}
