//! The plan file of `preview --save-plan FILE`, read back by `up --plan FILE`, in the
//! CLI's format (pulumi/pulumi `pkg/cmd/pulumi/plan/plan.go` `Write`/`Read`,
//! `sdk/go/common/apitype/plan.go` `DeploymentPlanV1`): the manifest, the config
//! (secrets as ciphertext, never in plain text), and each resource's goal and
//! planned steps.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::config::Config;
use super::steps::{InputDiff, Op, Plan, ResourcePlan, Step, plan_of};

/// Writes the plan of `steps` to `path` as the CLI does (`os.Create`, which keeps
/// the mode of a file that exists).
pub fn write(path: &Path, steps: &[Step], config: &Config, stack_urn: &str) -> Result<(), String> {
    let mut config_out = Map::new();
    for (key, node) in &config.values {
        let value = if node.secure() {
            json!({ "secure": "v1:AAAAAAAAAAAAAAAAAAAAAAAA" })
        } else {
            json!(config.blinded().get(key).cloned().unwrap_or_default())
        };
        config_out.insert(key.clone(), value);
    }
    let mut plans = Map::new();
    for (urn, rp) in plan_of(steps) {
        let custom = rp.type_token != "pulumi:pulumi:Stack";
        let mut goal = json!({
            "type": rp.type_token,
            "name": rp.name,
            "custom": custom,
            "inputDiff": rp.inputs.to_json(),
            "outputDiff": {},
            "protect": false,
        });
        if custom {
            goal["parent"] = json!(stack_urn);
        }
        plans.insert(
            urn,
            json!({
                "goal": goal,
                "steps": rp.ops.iter().map(|op| op.as_str()).collect::<Vec<_>>(),
                "state": {},
            }),
        );
    }
    let plan = json!({
        "manifest": { "time": jiff::Timestamp::now().to_string(), "magic": "", "version": super::VERSION },
        "config": config_out,
        "resourcePlans": plans,
    });
    let mut text = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut text, formatter);
    serde::Serialize::serialize(&plan, &mut ser).map_err(|e| e.to_string())?;
    text.push(b'\n');
    std::fs::write(path, text).map_err(|e| format!("open {}: {}", path.display(), io_text(&e)))
}

/// Reads a plan file: the resource plans by URN.
pub fn read(path: &Path) -> Result<Plan, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("open {}: {}", path.display(), io_text(&e)))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let mut plan = Plan::new();
    for (urn, rp) in value
        .get("resourcePlans")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let goal = rp.get("goal").cloned().unwrap_or(Value::Null);
        let text = |k: &str| {
            goal.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        plan.insert(
            urn.clone(),
            ResourcePlan {
                type_token: text("type"),
                name: text("name"),
                ops: rp
                    .get("steps")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str().and_then(Op::parse))
                    .collect(),
                inputs: InputDiff::from_json(goal.get("inputDiff").unwrap_or(&Value::Null)),
            },
        );
    }
    Ok(plan)
}

/// An I/O error as Go prints it (`no such file or directory`).
fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simtools::pulumi::state::StackState;
    use crate::simtools::pulumi::steps::{Desired, steps};

    #[test]
    fn a_plan_reads_back_and_holds_no_secret_value() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("plan.json");
        let object =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}});
        let program = [Desired {
            urn: "urn:pulumi:dev::cluster::kubernetes:core/v1:Namespace::flux-system".into(),
            type_token: "kubernetes:core/v1:Namespace".into(),
            name: "flux-system".into(),
            inputs: object.clone(),
            object,
        }];
        let state = StackState::new("dev", "cluster");
        let planned = steps(&state, &program);
        let mut config = Config {
            project: "cluster".into(),
            ..Config::default()
        };
        config.set("github.token", "ghp_n0t_in_the_plan", true, false);
        config.set("region", "eu", false, false);
        write(&path, &planned, &config, "urn:stack").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("ghp_n0t_in_the_plan"), "{text}");
        assert!(text.contains("\"cluster:region\": \"eu\""), "{text}");
        let back = read(&path).unwrap();
        assert_eq!(back, plan_of(&planned));
        let missing = read(&tmp.path().join("nope.json")).unwrap_err();
        assert!(
            missing.ends_with("nope.json: no such file or directory"),
            "{missing}"
        );
    }
}
