//! `assert-deployments`: in a namespace, the named deployments exist, their rollout is
//! observed and complete (Available, every replica updated and ready, no old ones
//! left), and they run the expected image tags. Waits by watch up to the task's
//! timeout, then lists each deployment with expected versus actual.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};
use kube::runtime::watcher;

use crate::validate::AssertDeployments;

use super::env::TaskEnv;
use super::error::KubeError;
use super::retry;
use super::status::one_line;
use super::task::{KubeTask, KubeWork};
use super::watch::{Source, Unserved, WatchEnd, watch_until};

/// The tag that accepts any image.
const ANY_TAG: &str = "*";

/// What was seen of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    pub(crate) ok: bool,
    /// Expected versus actual, on one line.
    pub(crate) line: String,
}

/// The tag of an image reference: `reg:5000/a/b:v1@sha256:..` -> `v1`; `None` when
/// untagged (only a digest, or `latest` implied).
pub(crate) fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split_once(':').map(|(_, tag)| tag)
}

/// The container whose image is checked: the one named after the deployment, else
/// the first.
fn main_container(name: &str, d: &Deployment) -> Option<(String, String)> {
    let containers = &d.spec.as_ref()?.template.spec.as_ref()?.containers;
    let c = containers
        .iter()
        .find(|c| c.name == name)
        .or(containers.first())?;
    Some((c.name.clone(), c.image.clone().unwrap_or_default()))
}

/// Checks one deployment against its expected tag.
pub(crate) fn check(name: &str, expected_tag: &str, d: Option<&Deployment>) -> Check {
    let Some(d) = d else {
        return Check {
            ok: false,
            line: format!("{name}: not found (expected tag {expected_tag})"),
        };
    };
    let mut problems = Vec::new();
    let generation = d.metadata.generation.unwrap_or_default();
    let status = d.status.clone().unwrap_or_default();
    let observed = status.observed_generation.unwrap_or_default();
    if observed < generation {
        problems.push(format!(
            "rollout not observed yet (observedGeneration {observed} < generation {generation})"
        ));
    }
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or_default();
    let ready = status.ready_replicas.unwrap_or_default();
    let available = status.available_replicas.unwrap_or_default();
    let total = status.replicas.unwrap_or_default();
    if updated < want {
        problems.push(format!("{updated}/{want} updated"));
    }
    if ready < want {
        problems.push(format!("{ready}/{want} ready"));
    }
    if total > want {
        problems.push(format!("{} old replicas still running", total - want));
    }
    let conditions = status.conditions.unwrap_or_default();
    let available_true = conditions
        .iter()
        .any(|c| c.type_ == "Available" && c.status == "True");
    if !available_true {
        problems.push("not Available".into());
    }
    let (container, image) = main_container(name, d).unwrap_or_default();
    let tag = image_tag(&image).unwrap_or("(none)");
    if expected_tag != ANY_TAG && tag != expected_tag {
        problems.push(format!("tag {tag}, expected {expected_tag}"));
    }
    let conditions_text: Vec<String> = conditions
        .iter()
        .map(|c| {
            let mut s = format!("{}={}", c.type_, c.status);
            if let Some(r) = c.reason.as_deref().filter(|r| !r.is_empty()) {
                s.push_str(&format!(" ({r})"));
            }
            if c.status != "True"
                && let Some(m) = c.message.as_deref().filter(|m| !m.is_empty())
            {
                s.push_str(&format!(": {}", one_line(m)));
            }
            s
        })
        .collect();
    let facts = format!(
        "tag {tag} (expected {expected_tag}, container {container}), ready {ready}/{want}, updated {updated}/{want}, available {available}/{want}; conditions: {}",
        if conditions_text.is_empty() {
            "none".to_string()
        } else {
            conditions_text.join(", ")
        }
    );
    if problems.is_empty() {
        Check {
            ok: true,
            line: format!("{name}: ok, {facts}"),
        }
    } else {
        Check {
            ok: false,
            line: format!("{name}: {}; {facts}", problems.join(", ")),
        }
    }
}

fn check_all(spec: &AssertDeployments, seen: &BTreeMap<String, Deployment>) -> Vec<Check> {
    spec.deployments
        .iter()
        .map(|(name, tag)| check(name, tag, seen.get(&format!("{}/{name}", spec.namespace))))
        .collect()
}

/// Waits until every named deployment passes [`check`]. Returns a summary.
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
        let now: Vec<String> = check_all(spec, &seen).into_iter().map(|c| c.line).collect();
        return Ok(format!(
            "would wait for {} in {} to be ready; now: {}",
            if spec.deployments.len() == 1 {
                "1 deployment".to_string()
            } else {
                format!("{} deployments", spec.deployments.len())
            },
            spec.namespace,
            now.join("; ")
        ));
    }
    let mut last_pending = String::new();
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
            let checks = check_all(spec, seen);
            let pending: Vec<&str> = checks
                .iter()
                .filter(|c| !c.ok)
                .filter_map(|c| c.line.split(':').next())
                .collect();
            let pending_text = pending.join(", ");
            if !pending.is_empty() && pending_text != last_pending {
                env.say(&format!("waiting for {pending_text}"));
            }
            last_pending = pending_text;
            pending.is_empty()
        },
    )
    .await?;
    match end {
        WatchEnd::Done(seen) => {
            let list: Vec<String> = spec
                .deployments
                .keys()
                .map(|name| {
                    let d = seen.get(&format!("{}/{name}", spec.namespace));
                    let tag = d
                        .and_then(|d| main_container(name, d))
                        .and_then(|(_, image)| image_tag(&image).map(str::to_string))
                        .unwrap_or_else(|| "(none)".into());
                    format!("{name} {tag}")
                })
                .collect();
            Ok(format!(
                "{} ready in {}: {}",
                if list.len() == 1 {
                    "1 deployment".to_string()
                } else {
                    format!("{} deployments", list.len())
                },
                spec.namespace,
                list.join(", ")
            ))
        }
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
            let mut details: Vec<String> = check_all(spec, &objects)
                .into_iter()
                .map(|c| c.line)
                .collect();
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

    #[test]
    fn tags_are_read_from_any_image_reference() {
        assert_eq!(
            image_tag("ghcr.io/fluxcd/source-controller:v1.7.0"),
            Some("v1.7.0")
        );
        assert_eq!(image_tag("localhost:5000/a/b:v2@sha256:abc"), Some("v2"));
        assert_eq!(image_tag("localhost:5000/a/b"), None);
        assert_eq!(image_tag("nginx"), None);
        assert_eq!(image_tag("nginx@sha256:abc"), None);
    }

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
        let c = check(
            "source-controller",
            "v1.7.0",
            Some(&deployment("v1.7.0", 1)),
        );
        assert!(c.ok, "{}", c.line);
        assert!(check("source-controller", "*", Some(&deployment("v9", 1))).ok);
    }

    #[test]
    fn expected_versus_actual_is_spelled_out() {
        let c = check(
            "source-controller",
            "v1.7.0",
            Some(&deployment("v1.6.0", 0)),
        );
        assert!(!c.ok);
        assert_eq!(
            c.line,
            "source-controller: 0/1 ready, not Available, tag v1.6.0, expected v1.7.0; \
             tag v1.6.0 (expected v1.7.0, container manager), ready 0/1, updated 1/1, available 0/1; \
             conditions: Available=False (MinimumReplicasUnavailable): Deployment does not have minimum availability."
        );
        let missing = check("helm-controller", "v1.4.0", None);
        assert_eq!(
            missing.line,
            "helm-controller: not found (expected tag v1.4.0)"
        );
    }
}
