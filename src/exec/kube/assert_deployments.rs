//! `assert-deployments`: in a namespace, the named deployments exist, their rollout is
//! complete (observed, every replica updated, no old ones left, all available and
//! ready, `Available=True`), and they run the expected image tags. Waits by watch up
//! to the task's timeout, but fails at once when a deployment can no longer become
//! right by waiting: its rollout completed at another tag, or its controller gave up
//! (`Progressing=False`, reason `ProgressDeadlineExceeded`).
//!
//! "Complete" is `kubectl rollout status`'s definition (kubernetes/kubernetes
//! `staging/src/k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go`,
//! `DeploymentStatusViewer.Status`): observedGeneration at least the generation,
//! updatedReplicas at least spec.replicas, no replicas beyond the updated ones, every
//! updated replica available. The deployment controller writes the timed-out
//! condition (kubernetes/kubernetes `pkg/controller/deployment/progress.go`,
//! `syncRolloutStatus`: `Progressing=False` with `util.TimedOutReason`,
//! "ProgressDeadlineExceeded"), and kubectl reads it only once the status is
//! observed, as here.
//!
//! A deployment whose pods cannot be created (a missing ServiceAccount, a quota) says
//! why while it waits: the replicaset controller writes `ReplicaFailure=True` (reason
//! `FailedCreate`, the API server's refusal as message) on the ReplicaSet and the
//! deployment controller copies it onto the Deployment (`pkg/controller/replicaset/
//! replica_set_utils.go`, `calculateStatus`; `pkg/controller/deployment/progress.go`,
//! `getReplicaFailures`). It is no reason to stop waiting: the controllers retry, and
//! what was missing may come (a ServiceAccount applied a moment later).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use planrun_text::image_tag;

use crate::validate::AssertDeployments;

use super::env::TaskEnv;
use super::error::KubeError;
use super::retry;
use super::task::{KubeTask, KubeWork};
use super::watch::{Source, Unserved, WatchEnd, watch_until};

/// The tag that accepts any image.
const ANY_TAG: &str = "*";

/// The reason the deployment controller gives a rollout that stopped progressing.
const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";

/// Where one deployment stands against its expected tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Rolled out, ready, at the expected tag.
    Ready { tag: String },
    /// Not there yet; waiting may still make it right. The reason is short.
    Waiting(String),
    /// Waiting cannot make it right: one line saying why.
    Failed(String),
}

/// The image of the container whose tag is checked: the one named after the
/// deployment, else the first.
fn main_image(name: &str, d: &Deployment) -> Option<String> {
    let containers = &d.spec.as_ref()?.template.spec.as_ref()?.containers;
    let c = containers
        .iter()
        .find(|c| c.name == name)
        .or(containers.first())?;
    Some(c.image.clone().unwrap_or_default())
}

/// Checks one deployment against its expected tag (`None`: not found).
pub(crate) fn check(name: &str, expected_tag: &str, d: Option<&Deployment>) -> Verdict {
    let Some(d) = d else {
        return Verdict::Waiting("not found".into());
    };
    let image = main_image(name, d).unwrap_or_default();
    let tag = image_tag(&image).unwrap_or("(none)").to_owned();
    let tag_ok = expected_tag == ANY_TAG || tag == expected_tag;
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = d.status.clone().unwrap_or_default();
    let ready = status.ready_replicas.unwrap_or_default();
    let facts = || {
        if tag_ok {
            format!("ready {ready}/{want}")
        } else {
            format!("tag {tag}, expected {expected_tag}, ready {ready}/{want}")
        }
    };
    let generation = d.metadata.generation.unwrap_or_default();
    let observed = status.observed_generation.unwrap_or_default();
    if observed < generation {
        return Verdict::Waiting("rollout not observed yet".into());
    }
    let conditions = status.conditions.unwrap_or_default();
    if let Some(c) = conditions.iter().find(|c| {
        c.type_ == "Progressing"
            && c.status == "False"
            && c.reason.as_deref() == Some(PROGRESS_DEADLINE_EXCEEDED)
    }) {
        let mut line = format!("{name}: {}, progress deadline exceeded", facts());
        if let Some(m) = c.message.as_deref().filter(|m| !m.is_empty()) {
            line.push_str(&format!(" ({})", planrun_text::one_line(m)));
        }
        return Verdict::Failed(line);
    }
    let updated = status.updated_replicas.unwrap_or_default();
    let total = status.replicas.unwrap_or_default();
    let available = status.available_replicas.unwrap_or_default();
    let waiting = if updated < want {
        Some(format!("{updated} of {want} updated"))
    } else if total > updated {
        Some(format!("{} old pending termination", total - updated))
    } else if available < updated {
        Some(format!("{available} of {updated} available"))
    } else {
        None
    };
    match waiting {
        // The rollout is complete: no amount of waiting changes the tag it rolled out.
        None if !tag_ok => Verdict::Failed(format!("{name}: {}", facts())),
        Some(why) => Verdict::Waiting(
            match conditions
                .iter()
                .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
            {
                Some(c) => format!(
                    "{why}; {} ({}): {}",
                    c.type_,
                    c.reason.as_deref().unwrap_or("no reason"),
                    planrun_text::one_line(c.message.as_deref().unwrap_or_default())
                ),
                None => why,
            },
        ),
        None => {
            let available_true = conditions
                .iter()
                .any(|c| c.type_ == "Available" && c.status == "True");
            if ready < want {
                Verdict::Waiting(format!("{ready} of {want} ready"))
            } else if !available_true {
                Verdict::Waiting("not Available".into())
            } else {
                Verdict::Ready { tag }
            }
        }
    }
}

/// The line for a deployment still not ready at the deadline.
fn not_ready_line(name: &str, expected_tag: &str, d: Option<&Deployment>, why: &str) -> String {
    let Some(d) = d else {
        return format!("{name}: not found (expected tag {expected_tag})");
    };
    let image = main_image(name, d).unwrap_or_default();
    let tag = image_tag(&image).unwrap_or("(none)");
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let ready = d
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or_default();
    if expected_tag == ANY_TAG || tag == expected_tag {
        format!("{name}: {why}, ready {ready}/{want}")
    } else {
        format!("{name}: {why}, tag {tag}, expected {expected_tag}, ready {ready}/{want}")
    }
}

/// Every named deployment's verdict, in name order.
fn check_all<'a>(
    spec: &'a AssertDeployments,
    seen: &BTreeMap<String, Deployment>,
) -> Vec<(&'a str, Verdict)> {
    spec.deployments
        .iter()
        .map(|(name, tag)| {
            let d = seen.get(&format!("{}/{name}", spec.namespace));
            (name.as_str(), check(name, tag, d))
        })
        .collect()
}

/// "2 deployments", "1 deployment".
fn deployments(n: usize) -> String {
    planrun_text::plural(n, "deployment", "deployments")
}

/// What the checks say, once no more waiting helps (or in a dry run): the summary of
/// a success, or the failure with one line per deployment that is not right.
fn conclude(
    spec: &AssertDeployments,
    seen: &BTreeMap<String, Deployment>,
) -> Result<String, KubeError> {
    let verdicts = check_all(spec, seen);
    let failed: Vec<String> = verdicts
        .iter()
        .filter_map(|(_, v)| match v {
            Verdict::Failed(line) => Some(line.clone()),
            _ => None,
        })
        .collect();
    let waiting: Vec<String> = verdicts
        .iter()
        .filter_map(|(name, v)| match v {
            Verdict::Waiting(why) => Some(not_ready_line(
                name,
                &spec.deployments[*name],
                seen.get(&format!("{}/{name}", spec.namespace)),
                why,
            )),
            _ => None,
        })
        .collect();
    if failed.is_empty() && waiting.is_empty() {
        let list: Vec<String> = verdicts
            .iter()
            .map(|(name, v)| match v {
                Verdict::Ready { tag } => format!("{name} {tag}"),
                _ => (*name).to_owned(),
            })
            .collect();
        return Ok(format!(
            "{} ready in {}: {}",
            deployments(list.len()),
            spec.namespace,
            list.join(", ")
        ));
    }
    let summary = if failed.is_empty() {
        format!(
            "{} of {} in {} not ready",
            waiting.len(),
            deployments(verdicts.len()),
            spec.namespace
        )
    } else {
        format!(
            "{} of {} in {} rolled out wrong",
            failed.len(),
            deployments(verdicts.len()),
            spec.namespace
        )
    };
    Err(KubeError::Assertion {
        summary,
        details: failed.into_iter().chain(waiting).collect(),
    })
}

/// What the live line says while waiting: the deployments not ready yet, and why.
fn waiting_detail(verdicts: &[(&str, Verdict)]) -> Option<String> {
    let waiting: Vec<String> = verdicts
        .iter()
        .filter_map(|(name, v)| match v {
            Verdict::Waiting(why) => Some(format!("{name} ({why})")),
            _ => None,
        })
        .collect();
    match waiting.len() {
        0 => None,
        n => Some(format!(
            "{n} of {} not ready: {}",
            deployments(verdicts.len()),
            waiting.join(", ")
        )),
    }
}

/// Waits until every named deployment is ready at its tag, or one can no longer
/// become so. Returns a summary.
pub async fn assert_deployments(
    env: &TaskEnv<'_>,
    spec: &AssertDeployments,
) -> Result<String, KubeError> {
    let api: Api<Deployment> = Api::namespaced(env.client(), &spec.namespace);
    let resource = format!("deployments.apps in namespace {}", spec.namespace);
    if env.dry_run {
        let lp = ListParams::default();
        let list = retry::call(env, "list", &resource, || api.list(&lp)).await?;
        let seen: BTreeMap<String, Deployment> = list
            .items
            .into_iter()
            .map(|d| (super::watch::key(&d), d))
            .collect();
        return conclude(spec, &seen);
    }
    let mut last_detail = None;
    let source = Source {
        api,
        config: watcher::Config::default(),
        resource: resource.clone(),
        prefix: String::new(),
    };
    let end = watch_until(
        env,
        vec![source],
        Unserved::Ends,
        |d: &Deployment| {
            d.metadata
                .name
                .as_ref()
                .is_some_and(|n| spec.deployments.contains_key(n))
        },
        |seen| {
            let verdicts = check_all(spec, seen);
            let detail = waiting_detail(&verdicts);
            if let Some(text) = detail.as_ref().filter(|d| Some(*d) != last_detail.as_ref()) {
                env.detail(text);
            }
            last_detail = detail;
            // Done when all are ready, or one failed for good.
            verdicts
                .iter()
                .all(|(_, v)| matches!(v, Verdict::Ready { .. }))
                || verdicts
                    .iter()
                    .any(|(_, v)| matches!(v, Verdict::Failed(_)))
        },
    )
    .await?;
    match end {
        WatchEnd::Done(seen) => conclude(spec, &seen),
        WatchEnd::NotServed(_) => Err(KubeError::Api {
            verb: "watch",
            resource,
            code: 404,
            reason: "NotFound".into(),
            message: "the server does not serve deployments.apps/v1".into(),
        }),
        WatchEnd::TimedOut {
            objects,
            synced,
            last_error,
        } => {
            let mut details = match conclude(spec, &objects) {
                Err(KubeError::Assertion { details, .. }) => details,
                _ => Vec::new(),
            };
            if !synced {
                details.insert(
                    0,
                    format!(
                        "could not list {resource}: {}",
                        last_error.unwrap_or_else(|| "no answer from the server".into())
                    ),
                );
            }
            Err(KubeError::TimedOut {
                what: format!("deployments in {} to be ready", spec.namespace),
                after: env.budget(),
                details,
            })
        }
    }
}

impl KubeWork for AssertDeployments {
    async fn run(&self, env: &TaskEnv<'_>, _task: &KubeTask<'_>) -> Result<String, KubeError> {
        assert_deployments(env, self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(tag: &str, ready: i32) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "source-controller", "namespace": "flux-system", "generation": 2},
            "spec": {
                "replicas": 1,
                "selector": {},
                "template": {"spec": {"containers": [
                    {"name": "manager", "image": format!("ghcr.io/fluxcd/source-controller:{tag}")}
                ]}}
            },
            "status": {
                "observedGeneration": 2, "replicas": 1, "updatedReplicas": 1,
                "readyReplicas": ready, "availableReplicas": ready,
                "conditions": [{"type": "Available", "status": if ready == 1 {"True"} else {"False"},
                                "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_ready_deployment_at_the_right_tag_passes() {
        let v = check(
            "source-controller",
            "v1.7.0",
            Some(&deployment("v1.7.0", 1)),
        );
        assert_eq!(
            v,
            Verdict::Ready {
                tag: "v1.7.0".into()
            }
        );
        assert!(matches!(
            check("source-controller", "*", Some(&deployment("v9", 1))),
            Verdict::Ready { .. }
        ));
    }

    #[test]
    fn a_completed_rollout_at_another_tag_fails_at_once_in_one_short_line() {
        let v = check(
            "source-controller",
            "v1.7.0",
            Some(&deployment("v1.6.0", 1)),
        );
        assert_eq!(
            v,
            Verdict::Failed("source-controller: tag v1.6.0, expected v1.7.0, ready 1/1".into())
        );
    }

    #[test]
    fn a_rollout_still_going_waits_whatever_its_tag() {
        // Updated but not available yet: the tag may still be the old one's.
        let v = check(
            "source-controller",
            "v1.7.0",
            Some(&deployment("v1.6.0", 0)),
        );
        assert_eq!(v, Verdict::Waiting("0 of 1 available".into()));
        let mut unobserved = deployment("v1.6.0", 1);
        unobserved.metadata.generation = Some(3);
        assert_eq!(
            check("source-controller", "v1.7.0", Some(&unobserved)),
            Verdict::Waiting("rollout not observed yet".into())
        );
        let mut old_left = deployment("v1.7.0", 1);
        old_left.status.as_mut().unwrap().replicas = Some(2);
        assert_eq!(
            check("source-controller", "v1.7.0", Some(&old_left)),
            Verdict::Waiting("1 old pending termination".into())
        );
        assert_eq!(
            check("helm-controller", "v1.4.0", None),
            Verdict::Waiting("not found".into())
        );
    }

    #[test]
    fn a_progress_deadline_exceeded_fails_at_once() {
        let mut d = deployment("v1.7.0", 0);
        d.status.as_mut().unwrap().updated_replicas = Some(0);
        d.status.as_mut().unwrap().conditions = Some(vec![
            serde_json::from_value(serde_json::json!({
                "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet \"source-controller-5d4\" has timed out progressing."
            }))
            .unwrap(),
        ]);
        assert_eq!(
            check("source-controller", "v1.7.0", Some(&d)),
            Verdict::Failed(
                "source-controller: ready 0/1, progress deadline exceeded (ReplicaSet \"source-controller-5d4\" has timed out progressing.)".into()
            )
        );
        // Not observed yet: the condition may belong to the previous spec.
        d.metadata.generation = Some(3);
        assert!(matches!(
            check("source-controller", "v1.7.0", Some(&d)),
            Verdict::Waiting(_)
        ));
    }

    #[test]
    fn pods_that_cannot_be_created_are_waited_for_saying_why() {
        let mut d = deployment("v1.7.0", 0);
        d.status.as_mut().unwrap().updated_replicas = Some(0);
        d.status.as_mut().unwrap().conditions = Some(vec![
            serde_json::from_value(serde_json::json!({
                "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                "message": "pods \"source-controller-5d4-\" is forbidden: error looking up service account flux-system/source-controller: serviceaccount \"source-controller\" not found"
            }))
            .unwrap(),
        ]);
        assert_eq!(
            check("source-controller", "v1.7.0", Some(&d)),
            Verdict::Waiting(
                "0 of 1 updated; ReplicaFailure (FailedCreate): pods \"source-controller-5d4-\" is forbidden: error looking up service account flux-system/source-controller: serviceaccount \"source-controller\" not found".into()
            )
        );
    }

    #[test]
    fn a_failure_lists_only_what_is_wrong_one_line_each() {
        let spec = AssertDeployments {
            namespace: "flux-system".into(),
            deployments: [
                ("source-controller", "v1.7.0"),
                ("helm-controller", "v1.4.0"),
                ("kustomize-controller", "v1.7.0"),
            ]
            .map(|(n, t)| (n.to_owned(), t.to_owned()))
            .into(),
        };
        let mut healthy = deployment("v1.7.0", 1);
        healthy.metadata.name = Some("kustomize-controller".into());
        let seen = BTreeMap::from([
            (
                "flux-system/source-controller".to_owned(),
                deployment("v1.6.0", 1),
            ),
            ("flux-system/kustomize-controller".to_owned(), healthy),
        ]);
        let err = conclude(&spec, &seen).unwrap_err();
        assert_eq!(
            err.to_string(),
            "1 of 3 deployments in flux-system rolled out wrong\n  \
             source-controller: tag v1.6.0, expected v1.7.0, ready 1/1\n  \
             helm-controller: not found (expected tag v1.4.0)"
        );
    }
}
