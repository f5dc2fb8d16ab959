//! What a rehearsal leaves in its run's directory beside the run's own files: the
//! sandbox's final state as `sandbox-final.yaml` (a `v1` `List` of every object, so a
//! user can see what the rehearsal left), with every Secret's values masked (a
//! secret value lives only in a 0600 capture file); and what the sandbox's simulated
//! controllers did, appended to `report.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use planrun::journal::PlanState;
use planrun::layout::{self, RunDir};
use planrun_sandbox::Activity;

/// The file name of the final state, in the run directory.
pub const FINAL_STATE: &str = "sandbox-final.yaml";
/// What a Secret value becomes in the final state.
pub const MASK: &str = "(masked)";

/// The objects as a `v1` `List`, Secret values masked and the kubectl annotation
/// that may copy them dropped.
pub fn final_state(objects: &[Value]) -> Value {
    let items: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut o = o.clone();
            if o.get("kind").and_then(Value::as_str) == Some("Secret") {
                for field in ["data", "stringData"] {
                    if let Some(map) = o.get_mut(field).and_then(Value::as_object_mut) {
                        for v in map.values_mut() {
                            *v = json!(MASK);
                        }
                    }
                }
                if let Some(a) = o
                    .pointer_mut("/metadata/annotations")
                    .and_then(Value::as_object_mut)
                {
                    a.remove("kubectl.kubernetes.io/last-applied-configuration");
                }
            }
            o
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items})
}

/// The plan's latest run under `state_dir`, if there is one.
pub fn latest_run(state_dir: &Path, plan_name: &str) -> Option<RunDir> {
    let state = PlanState::new(state_dir, plan_name);
    let id = state.latest().ok()??;
    Some(state.dir().run(&id))
}

/// Writes `sandbox-final.yaml` into the run's directory; returns its path.
pub fn write_final_state(run: &RunDir, objects: &[Value]) -> std::io::Result<PathBuf> {
    let text = serde_yaml::to_string(&final_state(objects)).map_err(std::io::Error::other)?;
    let path = run.path().join(FINAL_STATE);
    layout::replace_private(&path, text.as_bytes())?;
    Ok(path)
}

/// The report's section on what the simulated controllers did.
pub fn activity_section(activity: &[Activity]) -> String {
    let mut out = String::from("\n## Sandbox activity (rehearsal)\n\n");
    if activity.is_empty() {
        out.push_str("No simulated controller acted on the cluster.\n");
    }
    for a in activity {
        let _ = writeln!(out, "- {}: {}", a.at, a.text);
    }
    out
}

/// Appends the activity to the run's `report.md`.
pub fn append_activity(run: &RunDir, activity: &[Activity]) -> std::io::Result<()> {
    let path = run.report_path();
    let mut report = std::fs::read_to_string(&path)?;
    report.push_str(&activity_section(activity));
    layout::replace_private(&path, report.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secret_values_never_reach_the_final_state() {
        let objects = vec![
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "s", "namespace": "flux-system",
                                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"identity\":\"c2VjcmV0\"}}"}},
                   "data": {"identity": "c2VjcmV0"}, "stringData": {"token": "ghp_x"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "namespace": "flux-system"}, "data": {"k": "v"}}),
        ];
        let text = serde_yaml::to_string(&final_state(&objects)).unwrap();
        assert!(
            !text.contains("c2VjcmV0") && !text.contains("ghp_x"),
            "{text}"
        );
        let list: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(list["kind"], "List");
        assert_eq!(list["items"][0]["data"]["identity"], MASK);
        assert_eq!(
            list["items"][1]["data"]["k"], "v",
            "only Secrets are masked"
        );
    }

    #[test]
    fn the_activity_section_lists_each_action() {
        let section = activity_section(&[Activity {
            at: "2026-01-01T00:00:00Z".into(),
            text: "kustomize-controller pruned apps/Deployment/podinfo".into(),
        }]);
        assert_eq!(
            section,
            "\n## Sandbox activity (rehearsal)\n\n- 2026-01-01T00:00:00Z: kustomize-controller pruned apps/Deployment/podinfo\n"
        );
    }
}
