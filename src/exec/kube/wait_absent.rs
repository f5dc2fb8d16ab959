//! `wait-absent`: wait, by watch, until no matching object exists; on timeout say
//! what remains and why (finalizers, deletion state, a namespace's conditions,
//! custom resources a CRD still has).

use std::collections::BTreeSet;
use std::time::Duration;

use kube::api::{Api, DynamicObject, ListParams, ResourceExt};

use crate::validate::WaitAbsent;

use super::env::TaskEnv;
use super::error::KubeError;
use super::kinds::crd_kind;
use super::select::{Access, Selected, plural};
use super::status::why_present;
use super::task::{KubeTask, KubeWork};
use super::watch::{Unserved, WatchEnd};

/// How long a timeout message may spend looking up a stuck CRD's custom resources.
const EXPLAIN_BUDGET: Duration = Duration::from_secs(3);

/// Waits until nothing matches `spec.selection`. Returns a one-line summary.
pub async fn wait_absent(env: &TaskEnv<'_>, spec: &WaitAbsent) -> Result<String, KubeError> {
    let sel = Selected::resolve(env, &spec.selection, Access::WATCH).await?;
    sel.say_notes(env);
    if env.dry_run {
        // Nothing was deleted: report what a real run would wait for, and move on.
        let now = sel.list(env).await?;
        return Ok(if now.is_empty() {
            format!(
                "would wait until {} is gone; already absent",
                sel.description
            )
        } else {
            format!(
                "would wait until {} is gone; present now: {}",
                sel.description,
                now.iter()
                    .map(|o| sel.short_ref(o))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut reported: Option<BTreeSet<String>> = None;
    let end = sel
        .watch_until(env, Unserved::Empty, |objects| {
            let now: BTreeSet<String> = objects.keys().cloned().collect();
            seen.extend(now.iter().cloned());
            if reported.as_ref() != Some(&now) && !now.is_empty() {
                env.say(&format!(
                    "waiting for {} to be gone: {}",
                    plural(now.len(), "object", "objects"),
                    now.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            reported = Some(now);
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
                if is_crd(obj) {
                    for line in remaining_custom_resources(env, obj).await {
                        details.push(format!("  {line}"));
                    }
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

/// For a CRD that is stuck: how many of its custom resources remain, and the first few
/// with their finalizers. Best effort, on a short budget of its own.
async fn remaining_custom_resources(env: &TaskEnv<'_>, crd: &DynamicObject) -> Vec<String> {
    let Some(kind) = crd_kind(crd) else {
        return Vec::new();
    };
    let resource = kind.resource;
    let api: Api<DynamicObject> = Api::all_with(env.client(), &resource);
    let lookup = tokio::time::timeout(EXPLAIN_BUDGET, api.list(&ListParams::default())).await;
    let Ok(Ok(list)) = lookup else {
        return Vec::new();
    };
    if list.items.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "{} remain",
        plural(list.items.len(), "custom resource", "custom resources")
    )];
    for obj in list.items.iter().take(5) {
        let name = match obj.namespace() {
            Some(ns) => format!("{ns}/{}", obj.name_any()),
            None => obj.name_any(),
        };
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

fn is_crd(obj: &DynamicObject) -> bool {
    obj.types
        .as_ref()
        .is_some_and(|t| t.kind == "CustomResourceDefinition")
}

impl KubeWork for WaitAbsent {
    async fn run(&self, env: &TaskEnv<'_>, _task: &KubeTask<'_>) -> Result<String, KubeError> {
        wait_absent(env, self).await
    }
}
