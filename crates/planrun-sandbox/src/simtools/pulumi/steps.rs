//! What an update would do, decided from the stack's state and the program alone, as
//! the engine's step generator does (pulumi/pulumi
//! `pkg/resource/deploy/step_generator.go`): a resource the program declares and the
//! state lacks is created, one whose inputs changed is updated, one the state lists
//! and the program no longer declares is deleted, the rest are the same. The cluster
//! is not consulted: that is what `refresh` is for.
//!
//! A saved plan (`preview --save-plan`) constrains a later `up --plan`
//! (`pkg/resource/deploy/plan.go`, `step.go` `ConstrainedTo`,
//! `deployment_executor.go`): each step must be allowed by the planned operation and
//! inputs, no resource may change that the plan did not expect to, and every planned
//! operation must be seen.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::state::{Resource, StackState, stack_urn};

/// A step's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Same,
    Create,
    Update,
    Delete,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Same => "same",
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Op::Same, Op::Create, Op::Update, Op::Delete]
            .into_iter()
            .find(|op| op.as_str() == text)
    }

    /// `ConstrainedTo`: a same is allowed where a create or an update was planned.
    pub fn constrained_to(self, constraint: Op) -> bool {
        match constraint {
            Op::Create | Op::Update => self == Op::Same || self == constraint,
            Op::Same | Op::Delete => self == constraint,
        }
    }
}

/// A resource the program declares.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub urn: String,
    pub type_token: String,
    /// `namespace/name` or `name`.
    pub name: String,
    /// The object as declared, Secret data masked (see `state::masked_inputs`).
    pub inputs: Value,
    /// The object as declared, to send to the cluster.
    pub object: Value,
}

/// One step of an update.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub op: Op,
    pub urn: String,
    pub type_token: String,
    pub name: String,
    /// The inputs before (state) and after (program).
    pub old: Option<Value>,
    pub new: Option<Value>,
    /// The object to send to the cluster (creates and updates).
    pub object: Option<Value>,
}

impl Step {
    /// Whether this is the stack resource's own step.
    pub fn is_stack(&self) -> bool {
        self.type_token == "pulumi:pulumi:Stack"
    }
}

/// The steps of an update of `state` to `program`: the stack resource, the program's
/// resources in order, then deletions of what the program dropped, last first.
pub fn steps(state: &StackState, program: &[Desired]) -> Vec<Step> {
    let mut out = vec![Step {
        op: if state.has_stack {
            Op::Same
        } else {
            Op::Create
        },
        urn: stack_urn(&state.stack, &state.project),
        type_token: "pulumi:pulumi:Stack".into(),
        name: format!("{}-{}", state.project, state.stack),
        old: None,
        new: None,
        object: None,
    }];
    for d in program {
        let old = state.find(&d.urn);
        let op = match old {
            None => Op::Create,
            Some(r) if r.inputs == d.inputs => Op::Same,
            Some(_) => Op::Update,
        };
        out.push(Step {
            op,
            urn: d.urn.clone(),
            type_token: d.type_token.clone(),
            name: d.name.clone(),
            old: old.map(|r| r.inputs.clone()),
            new: Some(d.inputs.clone()),
            object: Some(d.object.clone()),
        });
    }
    for r in state.resources.iter().rev() {
        if !program.iter().any(|d| d.urn == r.urn) {
            out.push(deletion(r));
        }
    }
    out
}

fn deletion(r: &Resource) -> Step {
    Step {
        op: Op::Delete,
        urn: r.urn.clone(),
        type_token: r.type_token.clone(),
        name: r.id.clone(),
        old: Some(r.inputs.clone()),
        new: None,
        object: Some(r.inputs.clone()),
    }
}

/// Operation -> count, as the summary reports them.
pub fn counts(steps: &[Step]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for step in steps {
        *counts.entry(step.op.as_str().to_owned()).or_insert(0) += 1;
    }
    counts
}

/// The top-level differences of two input objects: added, deleted, updated keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputDiff {
    pub adds: Map<String, Value>,
    pub deletes: Vec<String>,
    pub updates: Map<String, Value>,
}

impl InputDiff {
    pub fn between(old: Option<&Value>, new: Option<&Value>) -> Self {
        let empty = Map::new();
        let old = old.and_then(Value::as_object).unwrap_or(&empty);
        let new = new.and_then(Value::as_object).unwrap_or(&empty);
        let mut diff = InputDiff::default();
        for (k, v) in new {
            match old.get(k) {
                None => {
                    diff.adds.insert(k.clone(), v.clone());
                }
                Some(o) if o != v => {
                    diff.updates.insert(k.clone(), v.clone());
                }
                Some(_) => {}
            }
        }
        diff.deletes = old
            .keys()
            .filter(|k| !new.contains_key(*k))
            .cloned()
            .collect();
        diff
    }

    /// The `inputDiff` of a plan file's goal (`PlanDiffV1`).
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if !self.adds.is_empty() {
            out.insert("adds".into(), Value::Object(self.adds.clone()));
        }
        if !self.deletes.is_empty() {
            out.insert("deletes".into(), json!(self.deletes));
        }
        if !self.updates.is_empty() {
            out.insert("updates".into(), Value::Object(self.updates.clone()));
        }
        Value::Object(out)
    }

    pub fn from_json(value: &Value) -> Self {
        let map = |k: &str| {
            value
                .get(k)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        InputDiff {
            adds: map("adds"),
            updates: map("updates"),
            deletes: value
                .get("deletes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        }
    }
}

/// One resource's plan: the operations planned and the input changes expected.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePlan {
    pub type_token: String,
    pub name: String,
    pub ops: Vec<Op>,
    pub inputs: InputDiff,
}

/// A saved plan's resource plans, by URN.
pub type Plan = BTreeMap<String, ResourcePlan>;

/// The plan of an update made of `steps`.
pub fn plan_of(steps: &[Step]) -> Plan {
    steps
        .iter()
        .map(|s| {
            (
                s.urn.clone(),
                ResourcePlan {
                    type_token: s.type_token.clone(),
                    name: s.name.clone(),
                    ops: vec![s.op],
                    inputs: match s.op {
                        Op::Create | Op::Update => {
                            InputDiff::between(s.old.as_ref(), s.new.as_ref())
                        }
                        Op::Same | Op::Delete => InputDiff::default(),
                    },
                },
            )
        })
        .collect()
}

/// `(urn, message)` for every way `steps` break `plan`, in the order the engine
/// meets them: each step against its resource's plan, then planned operations no
/// step carried out.
pub fn violations(steps: &[Step], plan: &Plan) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for step in steps {
        match plan.get(&step.urn) {
            None => {
                if step.op != Op::Same {
                    out.push((
                        step.urn.clone(),
                        format!(
                            "{} is not allowed by the plan: no steps were expected for this resource",
                            step.op.as_str()
                        ),
                    ));
                }
            }
            Some(rp) => {
                // The program's goal is checked against the plan first, as the step
                // generator does before it decides the step.
                if step.op != Op::Delete {
                    let changes = property_changes(step, &rp.inputs);
                    if !changes.is_empty() {
                        out.push((
                            step.urn.clone(),
                            format!(
                                "resource {} violates plan: properties changed: {}",
                                step.urn,
                                changes.join(", ")
                            ),
                        ));
                        continue;
                    }
                }
                let Some(&constraint) = rp.ops.first() else {
                    out.push((
                        step.urn.clone(),
                        format!(
                            "{} is not allowed by the plan: no more steps were expected for this resource",
                            step.op.as_str()
                        ),
                    ));
                    continue;
                };
                if !step.op.constrained_to(constraint) {
                    out.push((
                        step.urn.clone(),
                        format!(
                            "{} is not allowed by the plan: this resource is constrained to {}",
                            step.op.as_str(),
                            constraint.as_str()
                        ),
                    ));
                }
            }
        }
    }
    for (urn, rp) in plan {
        let seen = steps.iter().any(|s| &s.urn == urn);
        let planned_change = rp.ops.iter().any(|op| *op != Op::Same);
        if !seen && planned_change {
            out.push((
                urn.clone(),
                format!("expected resource operations for {urn} but none were seen"),
            ));
        }
    }
    out
}

/// `checkDiff` on top-level keys: the step's input changes against the planned
/// ones, as `<planned op><actual op><key>[<planned>!=<actual>]` (values as Go prints
/// a property value), sorted.
fn property_changes(step: &Step, planned: &InputDiff) -> Vec<String> {
    let actual = InputDiff::between(step.old.as_ref(), step.new.as_ref());
    let news = step.new.as_ref().and_then(Value::as_object);
    let expected_op = |k: &str| -> (&'static str, Option<&Value>) {
        if let Some(v) = planned.adds.get(k) {
            ("+", Some(v))
        } else if let Some(v) = planned.updates.get(k) {
            ("~", Some(v))
        } else if planned.deletes.iter().any(|d| d == k) {
            ("-", None)
        } else {
            ("=", None)
        }
    };
    let error = |k: &str, actual_op: &str, value: Option<&Value>| {
        let (op, expected) = expected_op(k);
        let shown = match (expected, value) {
            (Some(e), Some(a)) => format!("[{}!={}]", go_value(e), go_value(a)),
            (None, Some(a)) => format!("[{}]", go_value(a)),
            (Some(e), None) => format!("[{}]", go_value(e)),
            (None, None) => String::new(),
        };
        format!("{op}{actual_op}{k}{shown}")
    };
    let mut changes = Vec::new();
    for (k, v) in &actual.adds {
        if planned.adds.get(k) != Some(v) {
            changes.push(error(k, "+", Some(v)));
        }
    }
    for k in &actual.deletes {
        if !planned.deletes.contains(k) {
            changes.push(error(k, "-", None));
        }
    }
    for (k, v) in &actual.updates {
        if planned.updates.get(k) != Some(v) && planned.adds.get(k) != Some(v) {
            changes.push(error(k, "~", Some(v)));
        }
    }
    for (k, expected) in planned.adds.iter().chain(planned.updates.iter()) {
        if actual.adds.contains_key(k) || actual.updates.contains_key(k) {
            continue;
        }
        match news.and_then(|n| n.get(k)) {
            Some(v) if v != expected => changes.push(error(k, "=", Some(v))),
            Some(_) => {}
            None => changes.push(error(k, "-", None)),
        }
    }
    changes.sort();
    changes.dedup();
    changes
}

/// A property value as Go's `%v` prints pulumi's `resource.PropertyValue`:
/// `{apps/v1}`, `{map[name:{x} replicas:{1}]}`, `{[{a} {b}]}`.
fn go_value(v: &Value) -> String {
    let inner = match v {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(go_value).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let entries: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_value(&map[k])))
                .collect();
            format!("map[{}]", entries.join(" "))
        }
    };
    format!("{{{inner}}}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simtools::pulumi::state::urn;

    fn desired(name: &str, replicas: u64) -> Desired {
        let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "flux-system"}, "spec": {"replicas": replicas}});
        Desired {
            urn: urn(
                "dev",
                "cluster",
                "kubernetes:apps/v1:Deployment",
                &format!("flux-system/{name}"),
            ),
            type_token: "kubernetes:apps/v1:Deployment".into(),
            name: format!("flux-system/{name}"),
            inputs: object.clone(),
            object,
        }
    }

    fn state_of(program: &[Desired]) -> StackState {
        let mut state = StackState::new("dev", "cluster");
        state.has_stack = true;
        for d in program {
            state.put(Resource {
                urn: d.urn.clone(),
                type_token: d.type_token.clone(),
                id: d.name.clone(),
                inputs: d.inputs.clone(),
                field_manager: "pulumi-kubernetes-00000000".into(),
            });
        }
        state
    }

    fn ops(steps: &[Step]) -> Vec<(&str, Op)> {
        steps.iter().map(|s| (s.name.as_str(), s.op)).collect()
    }

    #[test]
    fn what_the_state_lists_is_never_created_again() {
        let program = [desired("a", 1), desired("b", 1)];
        // A fresh stack creates everything.
        let fresh = StackState::new("dev", "cluster");
        assert_eq!(
            ops(&steps(&fresh, &program)),
            [
                ("cluster-dev", Op::Create),
                ("flux-system/a", Op::Create),
                ("flux-system/b", Op::Create)
            ]
        );
        // A state that still lists them: same, whatever the cluster holds.
        let stale = state_of(&program);
        assert_eq!(
            ops(&steps(&stale, &program)),
            [
                ("cluster-dev", Op::Same),
                ("flux-system/a", Op::Same),
                ("flux-system/b", Op::Same)
            ]
        );
        // Changed inputs update; a dropped resource is deleted.
        let changed = [desired("a", 2)];
        assert_eq!(
            ops(&steps(&stale, &changed)),
            [
                ("cluster-dev", Op::Same),
                ("flux-system/a", Op::Update),
                ("flux-system/b", Op::Delete)
            ]
        );
    }

    #[test]
    fn a_plan_binds_the_update_to_what_was_previewed() {
        let program = [desired("a", 1)];
        let fresh = StackState::new("dev", "cluster");
        let planned = plan_of(&steps(&fresh, &program));
        // The same update: allowed.
        assert!(violations(&steps(&fresh, &program), &planned).is_empty());
        // Someone created it meanwhile: a same is allowed where a create was planned.
        let created = state_of(&program);
        assert!(violations(&steps(&created, &program), &planned).is_empty());

        // Planned as same (the state listed it), but the state was refreshed since:
        // the goal breaks the plan first (what the real CLI says), the stack's op next.
        let planned_same = plan_of(&steps(&created, &program));
        let v = violations(&steps(&fresh, &program), &planned_same);
        assert_eq!(
            v.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>(),
            [
                "create is not allowed by the plan: this resource is constrained to same",
                "resource urn:pulumi:dev::cluster::kubernetes:apps/v1:Deployment::flux-system/a violates plan: \
                 properties changed: =+apiVersion[{apps/v1}], =+kind[{Deployment}], \
                 =+metadata[{map[name:{a} namespace:{flux-system}]}], =+spec[{map[replicas:{1}]}]"
            ]
        );

        // The program changed since the preview.
        let v = violations(&steps(&fresh, &[desired("a", 3)]), &planned);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].1.ends_with(
                "violates plan: properties changed: ++spec[{map[replicas:{1}]}!={map[replicas:{3}]}]"
            ),
            "{}",
            v[0].1
        );

        // A resource the plan did not expect, and one it expected but never saw.
        let v = violations(&steps(&fresh, &[desired("b", 1)]), &planned);
        let messages: Vec<&str> = v.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(
            messages,
            [
                "create is not allowed by the plan: no steps were expected for this resource",
                "expected resource operations for urn:pulumi:dev::cluster::kubernetes:apps/v1:Deployment::flux-system/a but none were seen"
            ]
        );
    }

    #[test]
    fn constraints_are_the_engines() {
        assert!(Op::Same.constrained_to(Op::Create));
        assert!(Op::Same.constrained_to(Op::Update));
        assert!(!Op::Update.constrained_to(Op::Create));
        assert!(!Op::Create.constrained_to(Op::Same));
        assert!(!Op::Same.constrained_to(Op::Delete));
        assert_eq!(Op::parse("delete"), Some(Op::Delete));
    }
}
