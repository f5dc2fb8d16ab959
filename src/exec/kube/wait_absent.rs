//! `wait-absent`: wait, by watch, until no matching object exists; on timeout say
//! what remains and why (finalizers, deletion state, a namespace's conditions and the
//! Pods it still has, custom resources a CRD still has).

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams, ResourceExt};
use planrun_text::plural;
use serde_json::Value;

use crate::validate::WaitAbsent;

use super::env::TaskEnv;
use super::error::KubeError;
use super::kinds::crd_kind;
use super::namespace_order::NamespaceOrder;
use super::select::{Access, Selected, object_name};
use super::status::why_present;
use super::task::{KubeTask, KubeWork};
use super::watch::{Unserved, WatchEnd};

/// How long a timeout message may spend looking up what holds a stuck object (a CRD's
/// custom resources, a namespace's Pods).
const EXPLAIN_BUDGET: Duration = Duration::from_secs(3);
/// How many of those a timeout message names (the rest are counted).
const EXPLAIN_NAMED: usize = 5;

/// Waits until nothing matches `spec.selection`. Returns a one-line summary.
pub async fn wait_absent(env: &TaskEnv<'_>, spec: &WaitAbsent) -> Result<String, KubeError> {
    let sel = Selected::resolve(env, &spec.selection, Access::WATCH).await?;
    sel.say_notes(env);
    if env.dry_run {
        // The wait is checked against the cluster as it is now: nothing was deleted.
        let now = sel.list(env).await?;
        return if now.is_empty() {
            Ok(format!("{} already absent", sel.description))
        } else {
            Err(KubeError::Assertion {
                summary: format!("{} present now", sel.description),
                details: vec![left(|o| sel.short_ref(o), now.iter())],
            })
        };
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let end = sel
        .watch_until(env, Unserved::Empty, |objects| {
            seen.extend(objects.keys().cloned());
            if !objects.is_empty() {
                env.detail(&left(|o| sel.short_ref(o), objects.values()));
            }
            objects.is_empty()
        })
        .await?;
    match end {
        WatchEnd::Done(_) | WatchEnd::NotServed(_) => Ok(sel.noted(if seen.is_empty() {
            format!("{} already absent", sel.description)
        } else {
            format!(
                "{} gone ({} deleted while waiting)",
                sel.description,
                seen.len()
            )
        })),
        WatchEnd::TimedOut {
            objects,
            synced,
            last_error,
        } => {
            let mut details = Vec::new();
            if !synced {
                details.push(format!(
                    "could not list {}: {}",
                    sel.resource_names(),
                    last_error.unwrap_or_else(|| "no answer from the server".into())
                ));
            }
            for obj in objects.values() {
                details.push(format!("{}:", sel.object_ref(obj)));
                for line in why_present(obj) {
                    details.push(format!("  {line}"));
                }
                let inside = match sel.kind_of(obj).map(|k| k.resource.kind.as_str()) {
                    Some("CustomResourceDefinition") => remaining_custom_resources(env, obj).await,
                    Some("Namespace") if obj.metadata.deletion_timestamp.is_some() => {
                        remaining_pods(env, obj).await
                    }
                    _ => Vec::new(),
                };
                for line in inside {
                    details.push(format!("  {line}"));
                }
            }
            Err(KubeError::TimedOut {
                what: format!("{} to be gone", sel.description),
                after: env.budget(),
                details,
            })
        }
    }
}

/// Most objects a wait's live detail names; the rest are counted.
const DETAIL_OBJECTS: usize = 3;

/// What a wait still waits for, in one line: "1 object left:
/// cert-manager/cert-manager-webhook, finalizer example.com/hold".
fn left<'a>(
    name: impl Fn(&DynamicObject) -> String,
    objects: impl ExactSizeIterator<Item = &'a DynamicObject>,
) -> String {
    let n = objects.len();
    let mut named: Vec<String> = objects
        .take(DETAIL_OBJECTS)
        .map(|o| {
            let mut held: Vec<String> = o.finalizers().to_vec();
            // A namespace's own finalizer (`kubernetes`) is in its spec.
            if let Some(spec) = o
                .data
                .get("spec")
                .and_then(|s| s.get("finalizers"))
                .and_then(Value::as_array)
            {
                held.extend(spec.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            let why = match (held.len(), o.metadata.deletion_timestamp.is_some()) {
                (_, false) => "not being deleted".to_owned(),
                (0, true) => "being deleted".to_owned(),
                (1, true) => format!("finalizer {}", held[0]),
                (_, true) => format!("finalizers {}", held.join(", ")),
            };
            format!("{}, {why}", name(o))
        })
        .collect();
    if n > DETAIL_OBJECTS {
        named.push(format!("and {} more", n - DETAIL_OBJECTS));
    }
    format!(
        "{} left: {}",
        plural(n, "object", "objects"),
        named.join("; ")
    )
}

/// Everything `api` lists, within [`EXPLAIN_BUDGET`]; nothing when the server does not
/// answer in time or refuses (the explanation is best effort).
async fn list_briefly<K>(api: Api<K>) -> Vec<K>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match tokio::time::timeout(EXPLAIN_BUDGET, api.list(&ListParams::default())).await {
        Ok(Ok(list)) => list.items,
        _ => Vec::new(),
    }
}

/// For a CRD that is stuck: how many of its custom resources remain, and the first few
/// with their finalizers. Best effort, on a short budget of its own.
async fn remaining_custom_resources(env: &TaskEnv<'_>, crd: &DynamicObject) -> Vec<String> {
    let Some(kind) = crd_kind(crd) else {
        return Vec::new();
    };
    let resource = kind.resource;
    let items = list_briefly(Api::<DynamicObject>::all_with(env.client(), &resource)).await;
    if items.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![plural(
        items.len(),
        "custom resource remains",
        "custom resources remain",
    )];
    for obj in items.iter().take(EXPLAIN_NAMED) {
        let name = object_name(obj);
        let finalizers = obj.finalizers();
        lines.push(if finalizers.is_empty() {
            format!("- {}/{name}", resource.plural)
        } else {
            format!(
                "- {}/{name}: finalizers [{}]",
                resource.plural,
                finalizers.join(", ")
            )
        });
    }
    lines
}

/// For a namespace being deleted: the Pods still in it, the first few with what holds
/// them. From 1.33 (`namespace_order.rs`) the namespace controller deletes a
/// namespace's Pods first and nothing else until they are gone, and meanwhile its
/// conditions report all content removed (kubernetes/kubernetes v1.36.3
/// `pkg/controller/namespace/deletion/namespaced_resources_deleter.go`,
/// `deleteAllContent`, returning before `ProcessContentTotals`): a Pod whose node is
/// gone, or held by a finalizer, keeps the whole namespace. Best effort, on a short
/// budget of its own; the order is said only when the server's version tells it.
async fn remaining_pods(env: &TaskEnv<'_>, namespace: &DynamicObject) -> Vec<String> {
    let items = list_briefly(Api::<Pod>::namespaced(env.client(), &namespace.name_any())).await;
    if items.is_empty() {
        return Vec::new();
    }
    let pods_first = tokio::time::timeout(EXPLAIN_BUDGET, NamespaceOrder::of_server(env))
        .await
        .is_ok_and(|order| order.is_ok_and(|o| o.pods_first()));
    let mut lines = vec![format!(
        "{} in it{}",
        plural(items.len(), "pod remains", "pods remain"),
        if pods_first {
            " (its other content is deleted only once they are gone)"
        } else {
            ""
        }
    )];
    for pod in items.iter().take(EXPLAIN_NAMED) {
        let mut about = vec![match &pod.metadata.deletion_timestamp {
            Some(ts) => format!("being deleted since {}", ts.0),
            None => "not being deleted".to_owned(),
        }];
        if !pod.finalizers().is_empty() {
            about.push(format!("finalizers [{}]", pod.finalizers().join(", ")));
        }
        if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            about.push(format!("on node {node}"));
        }
        lines.push(format!("- pods/{}: {}", pod.name_any(), about.join(", ")));
    }
    lines
}

impl KubeWork for WaitAbsent {
    async fn run(&self, env: &TaskEnv<'_>, _task: &KubeTask<'_>) -> Result<String, KubeError> {
        wait_absent(env, self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::kube::select::object_name;

    fn object(name: &str, deleting: bool, finalizers: &[&str], spec: &[&str]) -> DynamicObject {
        let mut meta = serde_json::json!({"name": name, "finalizers": finalizers});
        if deleting {
            meta["deletionTimestamp"] = "2025-01-01T00:00:00Z".into();
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": meta,
            "spec": {"finalizers": spec}
        }))
        .unwrap()
    }

    #[test]
    fn the_detail_names_what_is_left_and_what_holds_it() {
        let one = [object("cert-manager", true, &["example.com/hold"], &[])];
        assert_eq!(
            left(object_name, one.iter()),
            "1 object left: cert-manager, finalizer example.com/hold"
        );
        let many = [
            object("a", true, &[], &["kubernetes"]),
            object("b", false, &[], &[]),
            object("c", true, &["x", "y"], &[]),
            object("d", true, &[], &[]),
            object("e", true, &[], &[]),
        ];
        assert_eq!(
            left(object_name, many.iter()),
            "5 objects left: a, finalizer kubernetes; b, not being deleted; c, finalizers x, y; and 2 more"
        );
    }
}
