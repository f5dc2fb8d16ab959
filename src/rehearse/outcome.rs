//! What a rehearsal leaves in its run's directory beside the run's own files: the
//! sandbox's final state as `sandbox-final.yaml` (a `v1` `List` of every object, so a
//! user can see what the rehearsal left), with every Secret's values masked (a
//! secret value lives only in a 0600 capture file); and what the sandbox's simulated
//! controllers did, appended to `report.md`.
//!
//! Only the run this rehearsal made or continued gets them: the plan's latest run,
//! if its journal changed while the rehearsal ran (a new run has a new id, a resumed
//! one a longer journal). A run refused before it started writes no journal, and then
//! no run's directory is written: the latest is an earlier rehearsal's, whose final
//! state and report are that rehearsal's evidence.

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

/// A plan's latest run as it stood at one moment: its id and how long its journal
/// was (every planrun process of a run appends to it, so a run made or continued
/// since shows as another id or another length).
#[derive(Debug, Clone)]
pub struct RunsMark {
    state: PlanState,
    latest: Option<(String, u64)>,
}

impl RunsMark {
    /// The latest run of plan `plan_name` under `state_dir`, now.
    pub fn now(state_dir: &Path, plan_name: &str) -> Self {
        Self::of(PlanState::new(state_dir, plan_name))
    }

    fn of(state: PlanState) -> Self {
        let latest = state.latest().ok().flatten().map(|id| {
            let len = std::fs::metadata(state.journal_path(&id)).map_or(0, |m| m.len());
            (id, len)
        });
        Self { state, latest }
    }

    /// The id of the plan's latest run as marked.
    pub fn latest_id(&self) -> Option<&str> {
        self.latest.as_ref().map(|(id, _)| id.as_str())
    }

    /// The run made or continued since this mark: the plan's latest run, unless it
    /// is still exactly as marked (then nothing ran, and the latest run is an
    /// earlier one).
    pub fn run_since(&self) -> Option<RunDir> {
        let now = Self::of(self.state.clone());
        if now.latest == self.latest {
            return None;
        }
        let (id, _) = now.latest?;
        Some(self.state.run_dir(&id))
    }
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

    /// A journal of `len` bytes for run `id`, made the latest.
    fn journal(state: &PlanState, id: &str, len: usize) {
        let run = state.run_dir(id);
        std::fs::create_dir_all(run.path()).unwrap();
        std::fs::write(run.journal_path(), vec![b'x'; len]).unwrap();
        state.set_latest(id).unwrap();
    }

    #[test]
    fn only_a_run_made_or_continued_since_the_mark_is_the_rehearsals() {
        let dir = tempfile::tempdir().unwrap();
        let state = PlanState::new(dir.path(), "p");
        let none = RunsMark::now(dir.path(), "p");
        assert_eq!(none.run_since(), None, "no run at all");

        journal(&state, "r1", 10);
        let found = none.run_since().map(|r| r.path().to_path_buf());
        assert_eq!(
            found,
            Some(state.run_dir("r1").path().to_path_buf()),
            "the first run"
        );

        let mark = RunsMark::now(dir.path(), "p");
        assert_eq!(mark.run_since(), None, "a run refused: nothing written");

        journal(&state, "r1", 20);
        let found = mark.run_since().map(|r| r.path().to_path_buf());
        assert_eq!(
            found,
            Some(state.run_dir("r1").path().to_path_buf()),
            "a resume"
        );

        let mark = RunsMark::now(dir.path(), "p");
        journal(&state, "r2", 20);
        let found = mark.run_since().map(|r| r.path().to_path_buf());
        assert_eq!(
            found,
            Some(state.run_dir("r2").path().to_path_buf()),
            "a new run"
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
