//! `wait-condition`: wait, by watch, until every matching object (at least one) has a
//! status condition, e.g. Flux's `Ready=True` on GitRepository and Kustomization; on
//! timeout show each object's condition with its reason and message.

use kube::api::DynamicObject;

use crate::validate::WaitCondition;

use super::env::TaskEnv;
use super::error::KubeError;
use super::select::{Access, Selected};
use super::status::condition;
use super::task::{KubeTask, KubeWork};
use super::watch::{Unserved, WatchEnd};

/// Where one object stands against the wanted condition.
fn verdict(obj: &DynamicObject, type_: &str, status: &str) -> Result<(), String> {
    let Some(c) = condition(obj, type_) else {
        return Err(format!("no {type_} condition yet"));
    };
    if c.status != status {
        return Err(c.render());
    }
    // A condition written for an older generation says nothing about the current spec.
    if let (Some(observed), Some(current)) = (c.observed_generation, obj.metadata.generation)
        && observed < current
    {
        return Err(format!(
            "{} but for generation {observed}, the object is at generation {current}",
            c.render()
        ));
    }
    Ok(())
}

/// Waits until every matching object has `condition=status`. Returns a summary.
pub async fn wait_condition(env: &TaskEnv<'_>, spec: &WaitCondition) -> Result<String, KubeError> {
    let sel = Selected::resolve(env, &spec.selection, Access::WATCH).await?;
    let want = format!("{}={}", spec.condition, spec.status);
    if env.dry_run {
        // Checked against the cluster as it is now.
        let now = sel.list(env).await?;
        let pending: Vec<String> = now
            .iter()
            .filter_map(|o| {
                verdict(o, &spec.condition, &spec.status)
                    .err()
                    .map(|why| format!("{}: {why}", sel.object_ref(o)))
            })
            .collect();
        return if now.is_empty() {
            Err(KubeError::Assertion {
                summary: format!("no object matches {} now", sel.description),
                details: Vec::new(),
            })
        } else if pending.is_empty() {
            Ok(format!(
                "{want} on {} now: {}",
                sel.description,
                now.iter()
                    .map(|o| sel.short_ref(o))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else {
            Err(KubeError::Assertion {
                summary: format!("{} of {} not {want} now", pending.len(), now.len()),
                details: pending,
            })
        };
    }
    // Several kinds: each must have an object (keys start with its plural).
    let prefixes: Vec<String> = if sel.is_multi_kind() {
        sel.kinds
            .iter()
            .map(|k| format!("{}/", k.resource.plural))
            .collect()
    } else {
        Vec::new()
    };
    let missing_kinds = |objects: &super::watch::Objects<DynamicObject>| -> Vec<String> {
        prefixes
            .iter()
            .filter(|p| !objects.keys().any(|k| k.starts_with(p.as_str())))
            .map(|p| p.trim_end_matches('/').to_string())
            .collect()
    };
    let end = sel
        .watch_until(env, Unserved::Ends, |objects| {
            let pending: Vec<String> = objects
                .values()
                .filter_map(|o| {
                    verdict(o, &spec.condition, &spec.status)
                        .err()
                        .map(|why| format!("{}, {why}", sel.short_ref(o)))
                })
                .collect();
            let missing = missing_kinds(objects);
            if objects.is_empty() {
                env.detail(&format!("no object matches {} yet", sel.description));
            } else if !missing.is_empty() {
                env.detail(&format!("no matching {} yet", missing.join(", ")));
            } else if !pending.is_empty() {
                env.detail(&format!(
                    "{} of {} not {want}: {}",
                    pending.len(),
                    objects.len(),
                    pending.join("; ")
                ));
            }
            !objects.is_empty() && missing.is_empty() && pending.is_empty()
        })
        .await?;
    match end {
        WatchEnd::Done(objects) => Ok(format!(
            "{want} on {}: {}",
            sel.description,
            objects.keys().cloned().collect::<Vec<_>>().join(", ")
        )),
        WatchEnd::NotServed(resource) => Err(KubeError::Api {
            verb: "watch",
            resource,
            code: 404,
            reason: "NotFound".into(),
            message: "the server no longer serves this kind (was its CRD deleted?)".into(),
        }),
        WatchEnd::TimedOut {
            objects,
            synced,
            last_error,
        } => {
            let mut details: Vec<String> = objects
                .values()
                .map(|o| match verdict(o, &spec.condition, &spec.status) {
                    Ok(()) => format!("{}: {want}", sel.object_ref(o)),
                    Err(why) => format!("{}: {why}", sel.object_ref(o)),
                })
                .collect();
            if !synced {
                details.push(format!(
                    "could not list {}: {}",
                    sel.resource_names(),
                    last_error.unwrap_or_else(|| "no answer from the server".into())
                ));
            } else if objects.is_empty() {
                details.push(format!("no object matches {}", sel.description));
            } else {
                for kind in missing_kinds(&objects) {
                    details.push(format!("no {kind} matches"));
                }
            }
            Err(KubeError::TimedOut {
                what: format!("{want} on {}", sel.description),
                after: env.budget(),
                details,
            })
        }
    }
}

impl KubeWork for WaitCondition {
    const KIND_MAY_COME_LATER: bool = true;

    async fn run(&self, env: &TaskEnv<'_>, _task: &KubeTask<'_>) -> Result<String, KubeError> {
        wait_condition(env, self).await
    }
}
