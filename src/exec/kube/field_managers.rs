//! `assert-field-managers`: no selected object has a managedFields entry from a
//! forbidden manager (`kubectl-client-side-apply`), and, when owners are given, each
//! has an entry of the object itself from one of them.
//!
//! What "owned by Pulumi" looks like depends on the provider's version
//! (pulumi/pulumi-kubernetes `provider/pkg/await/await.go`, `Creation` and
//! `fixCSAFieldManagers`): from v4.29.0 a new object is created by a plain create as
//! `pulumi-kubernetes` (operation `Update`) and a later update applies it as
//! `pulumi-kubernetes-<suffix>` (`Apply`); before, the create itself was that apply.
//! A CRD's update is a PUT under the `pulumi-kubernetes-<suffix>` manager (`Update`).
//! So plans list the owners they accept instead of one required apply manager.

use kube::api::DynamicObject;
use regex::Regex;

use crate::validate::{AssertFieldManagers, Owner};

use super::env::TaskEnv;
use super::error::KubeError;
use super::select::{Access, Selected};
use super::task::{KubeTask, KubeWork};

/// One managedFields entry as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    pub manager: &'a str,
    pub operation: &'a str,
    /// `Some("status")` for an entry of a subresource.
    pub subresource: Option<&'a str>,
}

impl std::fmt::Display for Entry<'_> {
    /// `manager (Operation)`, or `manager (Operation, status)` for a subresource.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.subresource {
            Some(sub) => write!(f, "{} ({}, {sub})", self.manager, self.operation),
            None => write!(f, "{} ({})", self.manager, self.operation),
        }
    }
}

/// The managedFields entries of `obj`.
pub(crate) fn entries(obj: &DynamicObject) -> Vec<Entry<'_>> {
    obj.metadata
        .managed_fields
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|e| Entry {
            manager: e.manager.as_deref().unwrap_or("?"),
            operation: e.operation.as_deref().unwrap_or("?"),
            subresource: e.subresource.as_deref().filter(|s| !s.is_empty()),
        })
        .collect()
}

/// What is wrong with one object's managers, one line per broken rule: each forbidden
/// entry, then, when `owners` are given and none accepts an entry of the object
/// itself, the managers it has and the owners accepted. A pure function of the
/// entries.
pub(crate) fn problems(
    obj_ref: &str,
    entries: &[Entry<'_>],
    forbidden: &[Regex],
    owners: &[Owner],
) -> Vec<String> {
    let mut out = Vec::new();
    for entry in entries {
        if let Some(re) = forbidden.iter().find(|re| re.is_match(entry.manager)) {
            out.push(format!(
                "{obj_ref}: forbidden manager {entry} matches /{}/",
                re.as_str()
            ));
        }
    }
    let owned = entries
        .iter()
        .filter(|e| e.subresource.is_none())
        .any(|e| owners.iter().any(|o| o.accepts(e.manager, e.operation)));
    if !owners.is_empty() && !owned {
        let has: Vec<String> = entries.iter().map(ToString::to_string).collect();
        let accepted: Vec<String> = owners.iter().map(ToString::to_string).collect();
        out.push(format!(
            "{obj_ref}: no managedFields entry from an accepted owner (has: {}; accepted: {})",
            if has.is_empty() {
                "no managedFields".to_owned()
            } else {
                has.join(", ")
            },
            accepted.join(", ")
        ));
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
        if !spec.owners.is_empty() {
            return Err(KubeError::Assertion {
                summary: format!(
                    "no object matches {}, so none is owned as required",
                    sel.description
                ),
                details: Vec::new(),
            });
        }
        return Ok(format!("no object matches {}", sel.description));
    }
    let details: Vec<String> = objects
        .iter()
        .flat_map(|o| {
            problems(
                &sel.object_ref(o),
                &entries(o),
                &spec.forbidden,
                &spec.owners,
            )
        })
        .collect();
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
    use crate::validate::Operation;

    fn entry<'a>(manager: &'a str, operation: &'a str) -> Entry<'a> {
        Entry {
            manager,
            operation,
            subresource: None,
        }
    }

    fn owner(pattern: &str, operation: Option<Operation>) -> Owner {
        Owner {
            manager: Regex::new(pattern).unwrap(),
            operation,
        }
    }

    /// What the Flux plan accepts: a create by pulumi-kubernetes >= 4.29, an apply by
    /// any provider, a CRD replaced by the provider.
    fn pulumi_owners() -> Vec<Owner> {
        vec![
            owner("^pulumi-kubernetes$", Some(Operation::Update)),
            owner("^pulumi-kubernetes-[a-z0-9]+$", Some(Operation::Apply)),
            owner("^pulumi-kubernetes-[a-z0-9]+$", Some(Operation::Update)),
        ]
    }

    fn forbidden() -> Vec<Regex> {
        vec![Regex::new("^kubectl-client-side-apply$").unwrap()]
    }

    #[test]
    fn a_forbidden_manager_is_named_with_its_operation_and_the_rule() {
        let p = problems(
            "crd/x",
            &[entry("kubectl-client-side-apply", "Update")],
            &forbidden(),
            &[],
        );
        assert_eq!(
            p,
            vec![
                "crd/x: forbidden manager kubectl-client-side-apply (Update) matches /^kubectl-client-side-apply$/"
            ]
        );
    }

    #[test]
    fn both_provider_behaviours_are_accepted() {
        let owners = pulumi_owners();
        // >= 4.29: created by a plain create.
        let created = [entry("pulumi-kubernetes", "Update")];
        assert!(problems("d/x", &created, &forbidden(), &owners).is_empty());
        // < 4.29, or any provider after an update: server-side applied.
        let applied = [entry("pulumi-kubernetes-4f1c2a90", "Apply")];
        assert!(problems("d/x", &applied, &forbidden(), &owners).is_empty());
        // A CRD updated by PUT keeps its create entry too.
        let crd = [
            entry("pulumi-kubernetes", "Update"),
            entry("pulumi-kubernetes-4f1c2a90", "Update"),
        ];
        assert!(problems("crd/x", &crd, &forbidden(), &owners).is_empty());
    }

    #[test]
    fn the_operation_and_the_exact_name_matter() {
        let owners = pulumi_owners();
        // The static create manager never applies; a suffixed one must be anchored.
        for bad in [
            [entry("pulumi-kubernetes", "Apply")],
            [entry("pulumi-kubernetes-x.exe", "Apply")],
            [entry("kubectl", "Update")],
        ] {
            assert_eq!(
                problems("d/x", &bad, &[], &owners).len(),
                1,
                "{bad:?} must not pass"
            );
        }
        // Any operation when the owner names none.
        let any = [owner("^helm$", None)];
        assert!(problems("d/x", &[entry("helm", "Update")], &[], &any).is_empty());
        assert!(problems("d/x", &[entry("helm", "Apply")], &[], &any).is_empty());
    }

    #[test]
    fn a_subresource_entry_is_not_ownership_of_the_object() {
        let owners = pulumi_owners();
        let status_only = [Entry {
            manager: "pulumi-kubernetes",
            operation: "Update",
            subresource: Some("status"),
        }];
        let p = problems("d/x", &status_only, &[], &owners);
        assert_eq!(
            p,
            vec![
                "d/x: no managedFields entry from an accepted owner (has: pulumi-kubernetes (Update, status); \
                 accepted: /^pulumi-kubernetes$/ (Update), /^pulumi-kubernetes-[a-z0-9]+$/ (Apply), \
                 /^pulumi-kubernetes-[a-z0-9]+$/ (Update))"
            ]
        );
    }

    #[test]
    fn a_missing_owner_names_what_the_object_has_and_every_rule_that_failed() {
        let owners = pulumi_owners();
        let p = problems(
            "crd/x",
            &[
                entry("kubectl-client-side-apply", "Update"),
                entry("before-first-apply", "Update"),
            ],
            &forbidden(),
            &owners,
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("forbidden manager kubectl-client-side-apply (Update)"));
        assert!(
            p[1].starts_with(
                "crd/x: no managedFields entry from an accepted owner (has: kubectl-client-side-apply (Update), before-first-apply (Update); accepted: "
            ),
            "{}",
            p[1]
        );
        let none = problems("crd/x", &[], &[], &owners);
        assert!(none[0].contains("(has: no managedFields;"), "{none:?}");
        // Without owners only the forbidden rule applies.
        assert!(problems("crd/x", &[], &forbidden(), &[]).is_empty());
    }

    #[test]
    fn entries_are_read_from_the_object() {
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "x", "managedFields": [
                {"manager": "pulumi-kubernetes", "operation": "Update", "apiVersion": "apps/v1"},
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1", "subresource": "status"}
            ]}
        }))
        .unwrap();
        assert_eq!(
            entries(&obj),
            [
                entry("pulumi-kubernetes", "Update"),
                Entry {
                    manager: "kube-controller-manager",
                    operation: "Update",
                    subresource: Some("status")
                }
            ]
        );
    }
}
