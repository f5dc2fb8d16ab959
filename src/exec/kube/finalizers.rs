//! What a deletion will meet, said before `kube-delete` acts (and under `--dry-run`):
//! which selected objects carry finalizers, which objects inside them do (a CRD's
//! custom resources, a namespace's contents), and which Deployments still running in
//! the cluster may act on those finalizers when the deletion reaches them.
//!
//! "May act on them" is a heuristic, documented in the README: a finalizer's owner is
//! named by its domain (`finalizers.fluxcd.io` -> `fluxcd`, `example.com/hold` ->
//! `example`); a Deployment with ready replicas whose container images or label
//! values contain that name may be the controller that acts on the finalizer (Flux's
//! controllers run images `ghcr.io/fluxcd/...`). The API server's own finalizers
//! (`kubernetes`, `foregroundDeletion`, `orphan`,
//! `customresourcecleanup.apiextensions.k8s.io`, `kubernetes.io/...`) are left out:
//! the control plane always runs them.
//!
//! A Deployment running in a namespace this task deletes, when every object holding
//! the finalizers it matches is inside that namespace, is "stopped first" instead on a
//! server that deletes a namespace's Pods before its other objects
//! (`namespace_order.rs`): it stops before they are deleted, so they keep their
//! finalizers. On an older server it may act, and the log says why.
//!
//! The scan is best effort on a budget of its own: it informs, it never blocks the
//! delete.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DynamicObject, ListParams, ResourceExt};
use planrun_text::plural;
use regex::Regex;

use super::env::TaskEnv;
use super::kinds::{ResolvedKind, crd_kind};
use super::namespace_order::NamespaceOrder;
use super::select::{Selected, object_name};

/// The longest the scan may take.
const SCAN_BUDGET: Duration = Duration::from_secs(10);
/// How many objects a line names before it says "...".
const NAMED: usize = 5;

/// Finalizers the API server and the core controllers handle themselves.
fn is_system(finalizer: &str) -> bool {
    matches!(
        finalizer,
        "kubernetes"
            | "foregroundDeletion"
            | "orphan"
            | "customresourcecleanup.apiextensions.k8s.io"
    ) || finalizer.starts_with("kubernetes.io/")
}

/// The name a finalizer's owner goes by: the label before the domain's last one
/// (`finalizers.fluxcd.io` -> `fluxcd`, `example.com/hold` -> `example`).
pub(crate) fn owner_token(finalizer: &str) -> Option<String> {
    let domain = finalizer.split('/').next().unwrap_or(finalizer);
    let labels: Vec<&str> = domain.split('.').filter(|l| !l.is_empty()).collect();
    (labels.len() >= 2).then(|| labels[labels.len() - 2].to_lowercase())
}

/// The finalizers of an object the scan reports (system ones left out).
fn foreign(obj: &DynamicObject) -> Vec<String> {
    obj.finalizers()
        .iter()
        .filter(|f| !is_system(f))
        .cloned()
        .collect()
}

/// Objects holding finalizers, by where they were found.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// Lines for the task log, in order.
    pub(crate) lines: Vec<String>,
    /// Every object (selected or inside one) carrying a finalizer.
    held: usize,
    /// The finalizers seen.
    finalizers: BTreeSet<String>,
    /// Running Deployments that may act on them: `namespace/name`.
    acting: Vec<String>,
    /// Running Deployments that would act on them, but run in the namespace whose
    /// deletion reaches them, which loses its Pods first (`namespace_order.rs`).
    stopped_first: Vec<String>,
}

impl Findings {
    /// One clause for the task's result line, or `None` when nothing holds.
    pub(crate) fn summary(&self) -> Option<String> {
        if self.held == 0 {
            return None;
        }
        let finalizers = self
            .finalizers
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = format!(
            "{} {} finalizers ({finalizers})",
            plural(self.held, "object", "objects"),
            if self.held == 1 { "carries" } else { "carry" },
        );
        if !self.acting.is_empty() {
            out.push_str(&format!(
                "; running Deployments that may act on them: {}",
                self.acting.join(", ")
            ));
        }
        if !self.stopped_first.is_empty() {
            out.push_str(&format!(
                "; {} would act on them but {} stopped first (its namespace's Pods go first)",
                self.stopped_first.join(", "),
                if self.stopped_first.len() == 1 {
                    "is"
                } else {
                    "are"
                }
            ));
        }
        if self.acting.is_empty() {
            out.push_str(if self.stopped_first.is_empty() {
                "; no running Deployment seems to act on them, so they may stay until removed"
            } else {
                ", so they may stay until removed"
            });
        }
        Some(out)
    }
}

/// Scans the objects about to be deleted. Never fails: what it cannot learn it says.
pub(crate) async fn scan(env: &TaskEnv<'_>, sel: &Selected, objects: &[DynamicObject]) -> Findings {
    let mut findings = Findings::default();
    match tokio::time::timeout(SCAN_BUDGET, scan_inner(env, sel, objects, &mut findings)).await {
        Ok(()) => {}
        Err(_) => findings
            .lines
            .push("the finalizer check ran out of time; what it found so far is above".into()),
    }
    findings
}

async fn scan_inner(
    env: &TaskEnv<'_>,
    sel: &Selected,
    objects: &[DynamicObject],
    findings: &mut Findings,
) {
    // Each object holding finalizers: its finalizers, and the namespace whose deletion
    // reaches it (`None`: deleted by this task itself, or with its CRD).
    let mut holders: Vec<(Vec<String>, Option<String>)> = Vec::new();
    for obj in objects {
        let own = foreign(obj);
        if !own.is_empty() {
            findings.held += 1;
            findings.finalizers.extend(own.iter().cloned());
            findings.lines.push(format!(
                "{} carries finalizers [{}]",
                sel.object_ref(obj),
                own.join(", ")
            ));
            holders.push((own, None));
        }
        let kind = sel.kind_of(obj).map(|k| k.resource.kind.as_str());
        let (inside, namespace) = match kind {
            Some("CustomResourceDefinition") => (custom_resources(env, obj).await, None),
            Some("Namespace") if obj.namespace().is_none() => {
                let name = obj.name_any();
                (contents(env, &name).await, Some(name))
            }
            _ => continue,
        };
        let holding: Vec<&(String, Vec<String>)> =
            inside.iter().filter(|(_, f)| !f.is_empty()).collect();
        if holding.is_empty() {
            continue;
        }
        findings.held += holding.len();
        let mut seen = BTreeSet::new();
        for (_, f) in &holding {
            seen.extend(f.iter().cloned());
            holders.push((f.clone(), namespace.clone()));
        }
        findings.finalizers.extend(seen.iter().cloned());
        let names: Vec<&str> = holding
            .iter()
            .take(NAMED)
            .map(|(n, _)| n.as_str())
            .collect();
        findings.lines.push(format!(
            "{}: {} in it {} finalizers ({}): {}{}",
            sel.object_ref(obj),
            plural(
                holding.len(),
                if kind == Some("Namespace") {
                    "object"
                } else {
                    "custom resource"
                },
                if kind == Some("Namespace") {
                    "objects"
                } else {
                    "custom resources"
                }
            ),
            if holding.len() == 1 {
                "carries"
            } else {
                "carry"
            },
            seen.into_iter().collect::<Vec<_>>().join(", "),
            names.join(", "),
            if holding.len() > NAMED { ", ..." } else { "" }
        ));
    }
    if findings.finalizers.is_empty() {
        return;
    }
    let tokens: BTreeMap<String, Vec<&String>> =
        findings
            .finalizers
            .iter()
            .fold(BTreeMap::new(), |mut m, f| {
                if let Some(t) = owner_token(f) {
                    m.entry(t).or_default().push(f);
                }
                m
            });
    let deployments: Api<Deployment> = Api::all(env.client());
    let list = match deployments.list(&ListParams::default()).await {
        Ok(list) => list,
        Err(e) => {
            findings.lines.push(format!(
                "could not list Deployments to find controllers that may act on these finalizers: {}",
                super::retry::describe(&e)
            ));
            return;
        }
    };
    for (token, finalizers) in &tokens {
        let finalizers: Vec<&str> = finalizers.iter().map(|f| f.as_str()).collect();
        let within = reached_only_within(&holders, token);
        let mut acting = Vec::new();
        let mut inside = Vec::new();
        for d in &list.items {
            if let Some((ready, matched)) = may_act(token, d) {
                let name = format!("{}/{}", d.namespace().unwrap_or_default(), d.name_any());
                let line = format!("{name} ({ready} ready, {matched})");
                if within.is_some() && d.namespace().as_deref() == within {
                    inside.push((name, line));
                } else {
                    acting.push(line);
                    findings.acting.push(name);
                }
            }
        }
        let mut stopped = false;
        if let (Some(namespace), false) = (within, inside.is_empty()) {
            let lines = inside.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>();
            findings.lines.push(match &NamespaceOrder::of_server(env).await {
                Ok(order) if order.pods_first() => {
                    stopped = true;
                    format!(
                        "running Deployments that would act on {} but are stopped first: {}: \
                         they run in namespaces/{namespace}, and {}, so the objects keep \
                         their finalizers (and the namespace stays Terminating) until they are removed",
                        finalizers.join(", "),
                        lines.join(", "),
                        order.described()
                    )
                }
                Ok(order) => format!(
                    "{} run in namespaces/{namespace}, deleted with the objects they act on: {}, \
                     so they may act on them before their Pods go",
                    lines.join(", "),
                    order.described()
                ),
                Err(e) => format!(
                    "could not tell whether namespaces/{namespace} loses its Pods before its \
                     other objects (which would stop {} first): {e}",
                    lines.join(", ")
                ),
            });
        }
        for (name, line) in inside {
            if stopped {
                findings.stopped_first.push(name);
            } else {
                acting.push(line);
                findings.acting.push(name);
            }
        }
        if !acting.is_empty() {
            findings.lines.push(format!(
                "running Deployments that may act on {} (`{token}` in their images or label values): {}",
                finalizers.join(", "),
                acting.join(", ")
            ));
        } else if !stopped {
            findings.lines.push(format!(
                "no running Deployment names `{token}` in its images or label values: nothing seems to act on {} (objects keep it until it is removed)",
                finalizers.join(", ")
            ));
        }
    }
    findings.acting.sort();
    findings.acting.dedup();
    findings.stopped_first.sort();
    findings.stopped_first.dedup();
}

/// The namespace whose deletion reaches every object holding a finalizer owned by
/// `token`, when they are all in one namespace this task deletes (and none is deleted
/// directly or with its CRD); `None` otherwise.
fn reached_only_within<'a>(
    holders: &'a [(Vec<String>, Option<String>)],
    token: &str,
) -> Option<&'a str> {
    let mut places = holders
        .iter()
        .filter(|(finalizers, _)| {
            finalizers
                .iter()
                .any(|f| owner_token(f).as_deref() == Some(token))
        })
        .map(|(_, namespace)| namespace.as_deref());
    let first = places.next()??;
    places.all(|p| p == Some(first)).then_some(first)
}

/// Whether a Deployment may act on the finalizers owned by `token`: it has ready
/// replicas, and an image or a label value names the owner. Returns its ready count
/// and what matched. Label keys do not count: Flux labels what it deploys with keys
/// of its domain (`kustomize.toolkit.fluxcd.io/name`), which says nothing of who runs.
fn may_act(token: &str, d: &Deployment) -> Option<(i32, String)> {
    let ready = d
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    if ready == 0 {
        return None;
    }
    let images: Vec<String> = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| {
            p.containers
                .iter()
                .filter_map(|c| c.image.clone())
                .collect()
        })
        .unwrap_or_default();
    let labels = d
        .labels()
        .iter()
        .filter(|(_, v)| v.to_lowercase().contains(token))
        .map(|(k, v)| format!("{k}={v}"));
    let matched = images
        .into_iter()
        .filter(|i| i.to_lowercase().contains(token))
        .chain(labels)
        .next()?;
    Some((ready, matched))
}

/// Each custom resource of a CRD, named, with its finalizers.
async fn custom_resources(env: &TaskEnv<'_>, crd: &DynamicObject) -> Vec<(String, Vec<String>)> {
    let Some(kind) = crd_kind(crd) else {
        return Vec::new();
    };
    list_all(env, &kind, None).await
}

/// Each object of a namespace (every listable namespaced kind), with its finalizers.
async fn contents(env: &TaskEnv<'_>, namespace: &str) -> Vec<(String, Vec<String>)> {
    let everything = Regex::new("").expect("the empty regex is valid");
    let Ok(found) = env.conn.kinds().group(env, &everything, &["list"]).await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for kind in found.kinds.iter().filter(|k| k.namespaced) {
        out.extend(list_all(env, kind, Some(namespace)).await);
    }
    out
}

async fn list_all(
    env: &TaskEnv<'_>,
    kind: &ResolvedKind,
    namespace: Option<&str>,
) -> Vec<(String, Vec<String>)> {
    let api = kind.api(env.client(), namespace);
    match api.list(&ListParams::default()).await {
        Ok(list) => list
            .items
            .iter()
            .map(|o| {
                (
                    format!("{}/{}", kind.resource.plural, object_name(o)),
                    foreign(o),
                )
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finalizer_is_owned_by_its_domain_name() {
        assert_eq!(
            owner_token("finalizers.fluxcd.io").as_deref(),
            Some("fluxcd")
        );
        assert_eq!(owner_token("example.com/hold").as_deref(), Some("example"));
        assert_eq!(owner_token("kubernetes"), None);
        assert!(is_system("kubernetes.io/pvc-protection"));
        assert!(is_system("customresourcecleanup.apiextensions.k8s.io"));
        assert!(!is_system("finalizers.fluxcd.io"));
    }

    fn deployment(image: &str, labels: serde_json::Value, ready: i32) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "d", "namespace": "n", "labels": labels},
            "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}},
            "status": {"readyReplicas": ready}
        }))
        .unwrap()
    }

    #[test]
    fn a_controller_is_found_by_its_image_or_a_label_value_not_a_label_key() {
        let controller = deployment(
            "ghcr.io/fluxcd/kustomize-controller:v1.4.0",
            serde_json::json!({}),
            1,
        );
        assert_eq!(
            may_act("fluxcd", &controller),
            Some((1, "ghcr.io/fluxcd/kustomize-controller:v1.4.0".into()))
        );
        assert_eq!(
            may_act(
                "fluxcd",
                &deployment("ghcr.io/fluxcd/x:v1", serde_json::json!({}), 0)
            ),
            None,
            "not running"
        );
        let deployed_by_flux = deployment(
            "ghcr.io/stefanprodan/podinfo:6.7.1",
            serde_json::json!({"kustomize.toolkit.fluxcd.io/name": "apps"}),
            2,
        );
        assert_eq!(may_act("fluxcd", &deployed_by_flux), None);
        let labelled = deployment(
            "registry/x:v1",
            serde_json::json!({"app.kubernetes.io/part-of": "fluxcd"}),
            1,
        );
        assert_eq!(
            may_act("fluxcd", &labelled),
            Some((1, "app.kubernetes.io/part-of=fluxcd".into()))
        );
    }
}
