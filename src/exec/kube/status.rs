//! Reading `status.conditions`, finalizers and deletion state of any object, for
//! waits and their timeout messages.

use kube::api::{DynamicObject, ResourceExt};
use serde_json::Value;

/// One entry of `status.conditions`, as most kinds write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub type_: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// `Ready=False (Reason): message`.
    pub fn render(&self) -> String {
        let mut s = format!("{}={}", self.type_, self.status);
        if let Some(r) = self.reason.as_deref().filter(|r| !r.is_empty()) {
            s.push_str(&format!(" ({r})"));
        }
        if let Some(m) = self.message.as_deref().filter(|m| !m.is_empty()) {
            s.push_str(&format!(": {}", planrun_text::one_line(m)));
        }
        s
    }
}

/// `status.conditions` of an object (empty when it has none).
pub fn conditions(obj: &DynamicObject) -> Vec<Condition> {
    let Some(list) = obj
        .data
        .get("status")
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|c| {
            let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
            Some(Condition {
                type_: text("type")?,
                status: text("status").unwrap_or_else(|| "Unknown".into()),
                reason: text("reason"),
                message: text("message"),
                observed_generation: c.get("observedGeneration").and_then(Value::as_i64),
            })
        })
        .collect()
}

/// The condition of type `type_`, if present.
pub fn condition(obj: &DynamicObject, type_: &str) -> Option<Condition> {
    conditions(obj).into_iter().find(|c| c.type_ == type_)
}

/// Why an object is still there: deletion state, finalizers, and the conditions that
/// are true (a namespace's NamespaceContentRemaining, a CRD's Terminating...).
pub fn why_present(obj: &DynamicObject) -> Vec<String> {
    let mut lines = Vec::new();
    let mut held = Vec::new();
    if !obj.finalizers().is_empty() {
        held.push(format!("finalizers [{}]", obj.finalizers().join(", ")));
    }
    // A namespace's own finalizers (`kubernetes`) live in its spec.
    let spec_finalizers: Vec<&str> = obj
        .data
        .get("spec")
        .and_then(|s| s.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !spec_finalizers.is_empty() {
        held.push(format!("spec.finalizers [{}]", spec_finalizers.join(", ")));
    }
    let finalizers = if held.is_empty() {
        "no finalizers".to_string()
    } else {
        held.join(", ")
    };
    match &obj.metadata.deletion_timestamp {
        Some(ts) => lines.push(format!("being deleted since {}, {finalizers}", ts.0)),
        None => lines.push(format!(
            "not being deleted (no deletionTimestamp), {finalizers}"
        )),
    }
    if let Some(phase) = obj
        .data
        .get("status")
        .and_then(|s| s.get("phase"))
        .and_then(Value::as_str)
    {
        lines.push(format!("phase {phase}"));
    }
    for c in conditions(obj) {
        if c.status == "True" {
            lines.push(format!("condition {}", c.render()));
        }
    }
    lines
}

/// The first `most` items joined by "; ", then "and N more" for the rest.
pub fn first_few(mut items: Vec<String>, most: usize) -> String {
    let total = items.len();
    items.truncate(most);
    if total > most {
        items.push(format!("and {} more", total - most));
    }
    items.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespace() -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": "flux-system",
                "deletionTimestamp": "2025-01-01T00:00:00Z",
                "finalizers": ["example.com/hold"]
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {
                "phase": "Terminating",
                "conditions": [
                    {"type": "NamespaceContentRemaining", "status": "True",
                     "reason": "SomeResourcesRemain",
                     "message": "Some resources are remaining: gitrepositories.source.toolkit.fluxcd.io has 1 resource instances"},
                    {"type": "NamespaceDeletionDiscoveryFailure", "status": "False"}
                ]
            }
        }))
        .unwrap()
    }

    #[test]
    fn explains_a_terminating_namespace() {
        let lines = why_present(&namespace());
        assert_eq!(
            lines,
            vec![
                "being deleted since 2025-01-01T00:00:00Z, finalizers [example.com/hold], spec.finalizers [kubernetes]",
                "phase Terminating",
                "condition NamespaceContentRemaining=True (SomeResourcesRemain): Some resources are remaining: gitrepositories.source.toolkit.fluxcd.io has 1 resource instances",
            ]
        );
    }

    #[test]
    fn finds_a_condition_by_type() {
        let c = condition(&namespace(), "NamespaceDeletionDiscoveryFailure").unwrap();
        assert_eq!(c.render(), "NamespaceDeletionDiscoveryFailure=False");
        assert!(condition(&namespace(), "Ready").is_none());
    }
}
