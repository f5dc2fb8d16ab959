//! `assert-deployments`: deployments ready at the expected image tags.

use std::collections::BTreeMap;

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::RawAssertDeployments;
use crate::validate::error::ErrorKind;
use crate::validate::task_table::Builder;

/// `assert-deployments`.
#[derive(Debug, Clone)]
pub struct AssertDeployments {
    pub namespace: String,
    /// Deployment name -> expected image tag (`"*"`: any tag).
    pub deployments: BTreeMap<String, String>,
}

impl AssertDeployments {
    /// At least one deployment.
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawAssertDeployments = b.own()?;
        if raw.deployments.is_empty() {
            b.error(
                ErrorKind::BadValue,
                format!("task `{}` names no deployments", b.id),
                "deployments",
                "empty table",
                "map each deployment to its expected image tag: deployments = { source-controller = \"v1.7.0\" }",
            );
            return None;
        }
        Some(Self {
            namespace: raw.namespace,
            deployments: raw.deployments,
        })
    }
}

impl TaskSpec for AssertDeployments {
    fn task_type(&self) -> TaskType {
        TaskType::AssertDeployments
    }

    fn changes(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        let list: Vec<String> = self
            .deployments
            .iter()
            .map(|(name, tag)| format!("{name}@{tag}"))
            .collect();
        format!(
            "assert deployments ready in {}: {}",
            self.namespace,
            list.join(", ")
        )
    }
}
