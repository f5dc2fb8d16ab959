//! `assert-field-managers`: no selected object has a managedFields entry from a
//! forbidden manager (`kubectl-client-side-apply`), and, when asked, each has an
//! `Apply` entry from the required one (Pulumi owning it by server-side apply).

use kube::api::DynamicObject;

use crate::validate::AssertFieldManagers;

use super::env::TaskEnv;
use super::error::KubeError;
use super::select::{Access, Selected};
use super::task::{KubeTask, KubeWork};

/// What is wrong with one object's managers, one line per problem.
pub(crate) fn problems(
    obj_ref: &str,
    obj: &DynamicObject,
    spec: &AssertFieldManagers,
) -> Vec<String> {
    let entries = obj.metadata.managed_fields.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    for entry in entries {
        let manager = entry.manager.as_deref().unwrap_or_default();
        if let Some(re) = spec.forbidden.iter().find(|re| re.is_match(manager)) {
            out.push(format!(
                "{obj_ref}: forbidden manager {manager} ({}) matches /{}/",
                entry.operation.as_deref().unwrap_or("?"),
                re.as_str()
            ));
        }
    }
    if let Some(required) = &spec.required_apply {
        let has = entries.iter().any(|e| {
            e.operation.as_deref() == Some("Apply")
                && required.is_match(e.manager.as_deref().unwrap_or_default())
        });
        if !has {
            let managers: Vec<String> = entries
                .iter()
                .map(|e| {
                    format!(
                        "{} ({})",
                        e.manager.as_deref().unwrap_or("?"),
                        e.operation.as_deref().unwrap_or("?")
                    )
                })
                .collect();
            out.push(format!(
                "{obj_ref}: no Apply entry from a manager matching /{}/ (managers: {})",
                required.as_str(),
                if managers.is_empty() {
                    "none".to_string()
                } else {
                    managers.join(", ")
                }
            ));
        }
    }
    out
}

/// Checks the managers of every selected object. Returns a summary.
pub async fn assert_field_managers(
    env: &TaskEnv<'_>,
    spec: &AssertFieldManagers,
) -> Result<String, KubeError> {
    let sel = Selected::resolve(env, &spec.selection, Access::READ).await?;
    let objects = sel.list(env).await?;
    if objects.is_empty() {
        if spec.required_apply.is_some() && !env.dry_run {
            return Err(KubeError::Assertion {
                summary: format!(
                    "no object matches {}, so none is owned by server-side apply",
                    sel.description
                ),
                details: Vec::new(),
            });
        }
        return Ok(format!("no object matches {}", sel.description));
    }
    let details: Vec<String> = objects
        .iter()
        .flat_map(|o| problems(&sel.object_ref(o), o, spec))
        .collect();
    if env.dry_run {
        // Earlier tasks did not run: report the state now without failing the dry run.
        return Ok(format!(
            "would check the field managers of {} {}; now: {}",
            objects.len(),
            if objects.len() == 1 {
                "object"
            } else {
                "objects"
            },
            if details.is_empty() {
                "ok".to_string()
            } else {
                details.join("; ")
            }
        ));
    }
    if details.is_empty() {
        Ok(format!(
            "field managers ok on {} {}",
            objects.len(),
            if objects.len() == 1 {
                "object"
            } else {
                "objects"
            }
        ))
    } else {
        Err(KubeError::Assertion {
            summary: format!("field managers of {} are not as required", sel.description),
            details,
        })
    }
}

impl KubeWork for AssertFieldManagers {
    const KIND_MAY_COME_LATER: bool = true;

    async fn run(&self, env: &TaskEnv<'_>, _task: &KubeTask<'_>) -> Result<String, KubeError> {
        assert_field_managers(env, self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{Selection, Target};
    use regex::Regex;

    fn crd(managers: &[(&str, &str)]) -> DynamicObject {
        let entries: Vec<serde_json::Value> = managers
            .iter()
            .map(|(m, op)| serde_json::json!({"manager": m, "operation": op, "apiVersion": "apiextensions.k8s.io/v1"}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "gitrepositories.source.toolkit.fluxcd.io", "managedFields": entries}
        }))
        .unwrap()
    }

    fn spec(required: Option<&str>) -> AssertFieldManagers {
        AssertFieldManagers {
            selection: Selection::of_kind(
                "CustomResourceDefinition",
                None,
                Target::Pattern(Regex::new("fluxcd").unwrap()),
            ),
            forbidden: vec![Regex::new("^kubectl-client-side-apply$").unwrap()],
            required_apply: required.map(|r| Regex::new(r).unwrap()),
        }
    }

    #[test]
    fn forbidden_manager_is_named() {
        let p = problems(
            "crd/x",
            &crd(&[("kubectl-client-side-apply", "Update")]),
            &spec(None),
        );
        assert_eq!(
            p,
            vec![
                "crd/x: forbidden manager kubectl-client-side-apply (Update) matches /^kubectl-client-side-apply$/"
            ]
        );
    }

    #[test]
    fn required_manager_must_apply() {
        let s = spec(Some("^pulumi-kubernetes"));
        assert!(problems("crd/x", &crd(&[("pulumi-kubernetes-abc", "Apply")]), &s).is_empty());
        let p = problems("crd/x", &crd(&[("pulumi-kubernetes-abc", "Update")]), &s);
        assert_eq!(
            p,
            vec![
                "crd/x: no Apply entry from a manager matching /^pulumi-kubernetes/ (managers: pulumi-kubernetes-abc (Update))"
            ]
        );
    }
}
