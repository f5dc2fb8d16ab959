//! Reactions: what someone else does to the cluster once an object gets into a given
//! state (a forgotten CI job client-side applies a CRD right after Pulumi, a
//! controller marks an object Ready). Armed on a running sandbox, they are evaluated
//! in the same store transaction as the write that satisfies them, before that
//! write's request is answered: no client can see the state in between, so a
//! rehearsal's outcome never depends on timing.

use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use super::seed::{self, Manifest};
use super::store::Store;

/// One reaction, as rehearsal files write it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reaction {
    pub when: When,
    /// Manifest stored as is (its `managedFields` kept), replacing the object; a
    /// path, read when the reaction is armed.
    #[serde(default)]
    pub apply: Option<std::path::PathBuf>,
    /// Status conditions set on the object.
    #[serde(default)]
    pub conditions: Vec<ConditionSpec>,
    /// What is said when it fires.
    #[serde(default)]
    pub say: Option<String>,
}

/// The object a reaction waits for, and the state it must be in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
    /// A field manager matching this regex has written it (e.g. `^pulumi-kubernetes`).
    #[serde(default)]
    pub manager: Option<String>,
    /// It is being deleted (has a deletionTimestamp).
    #[serde(default)]
    pub deleting: bool,
}

impl When {
    /// Whether `obj` (the object, when present) is in the awaited state.
    pub fn holds(&self, obj: Option<&Value>) -> bool {
        let Some(obj) = obj else { return false };
        if self.deleting && obj.pointer("/metadata/deletionTimestamp").is_none() {
            return false;
        }
        match &self.manager {
            None => true,
            Some(pattern) => {
                let Ok(re) = Regex::new(pattern) else {
                    return false;
                };
                obj.pointer("/metadata/managedFields")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.get("manager").and_then(Value::as_str))
                    .any(|m| re.is_match(m))
            }
        }
    }
}

/// One status condition a reaction sets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default = "true_text")]
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
}

fn true_text() -> String {
    "True".to_owned()
}

/// A reaction armed on a store: its manifest read, fired at most once.
pub(crate) struct Armed {
    reaction: Reaction,
    manifest: Option<String>,
    fired: bool,
}

impl Armed {
    pub(crate) fn new(reaction: Reaction, manifest: Option<String>) -> Self {
        Self {
            reaction,
            manifest,
            fired: false,
        }
    }
}

/// Fires, in order and once each, every armed reaction whose object is in the
/// awaited state, again until none more fires (one may bring about another's
/// state). Returns what is said of each, problems included.
pub(crate) fn run(store: &mut Store, armed: &mut [Armed]) -> Vec<String> {
    let mut said = Vec::new();
    loop {
        let mut fired_any = false;
        for a in armed.iter_mut().filter(|a| !a.fired) {
            let w = &a.reaction.when;
            if !w.holds(
                store
                    .get_as(&w.api_version, &w.kind, &w.namespace, &w.name)
                    .as_ref(),
            ) {
                continue;
            }
            a.fired = true;
            fired_any = true;
            said.push(fire(store, a));
        }
        if !fired_any {
            return said;
        }
    }
}

fn fire(store: &mut Store, a: &Armed) -> String {
    let r = &a.reaction;
    let w = &r.when;
    let mut problems = Vec::new();
    if let Some(yaml) = &a.manifest {
        let manager = store.scenario.seed_field_manager.clone();
        if let Err(e) = seed::seed(store, &[Manifest::inline(yaml.clone())], &manager) {
            problems.push(format!("cannot apply {}: {e}", display(&r.apply)));
        }
    }
    for c in &r.conditions {
        let set = store
            .resolve_kind(&w.api_version, &w.kind)
            .ok_or_else(|| format!("no kind {} in {}", w.kind, w.api_version))
            .and_then(|(def, _)| {
                let cond = json!({"type": c.type_, "status": c.status, "reason": c.reason, "message": c.message});
                store
                    .set_condition(&def, &w.namespace, &w.name, cond, "sandbox-controller")
                    .map_err(|e| e.message)
            });
        if let Err(e) = set {
            problems.push(format!("cannot set condition {}: {e}", c.type_));
        }
    }
    let say = r
        .say
        .clone()
        .unwrap_or_else(|| format!("reaction on {} {}", w.kind, w.name));
    if problems.is_empty() {
        format!("{say} ({} {})", w.kind, w.name)
    } else {
        format!("{say}: {}", problems.join("; "))
    }
}

fn display(path: &Option<std::path::PathBuf>) -> String {
    path.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}
