//! The rehearsal file (`<plan>.rehearsal.yaml` beside the plan): the sandbox
//! scenario, what the simulated tools do, the repository to copy, the kube context,
//! cluster reactions and the named faults.
//!
//! ```yaml
//! context: oceanid                # default: the plan's [plan] context
//! repo:                           # copied fresh for every rehearsal; the var points at the copy
//!   template: ../examples/rehearsal/oceanid
//!   var: repo_dir
//! vars: {}                        # --var for every rehearsal run
//! scenario: { ... }               # the sandbox scenario format (`planrun sandbox --scenario`)
//! tools: { ... }                  # the simulated tools' behaviour format
//! reactions:                      # what someone else does to the cluster during the run
//!   - when: { kind: CustomResourceDefinition, api_version: apiextensions.k8s.io/v1,
//!             name: helmreleases.helm.toolkit.fluxcd.io,
//!             manager: "^pulumi-kubernetes" }   # and/or `deleting: true`
//!     apply: stray-kubectl-apply.yaml           # and/or conditions: [{type, status, reason, message}]
//!     say: "what the rehearsal prints when it fires"
//! faults:
//!   wrong-tag:
//!     description: "..."
//!     scenario: { ... }           # JSON merge patch (RFC 7386) on `scenario`: null deletes
//!     tools: { ... }              # merge patch on `tools`
//!     vars: { rollout_timeout: 5s }
//!     reactions: [ ... ]          # added to `reactions`
//! ```
//!
//! Relative paths (the repository template, scenario seeds, manifests `pulumi up`
//! applies, reaction manifests) are relative to the rehearsal file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

use super::error::RehearseError;

/// A parsed rehearsal file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RehearsalSpec {
    /// The kubeconfig context the sandbox gets; default: the plan's guard context.
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub repo: Option<RepoTemplate>,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// The sandbox scenario, as YAML (patched by faults before it is parsed).
    #[serde(default)]
    pub scenario: Value,
    /// The simulated tools' behaviour, as YAML (patched by faults).
    #[serde(default)]
    pub tools: Value,
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    #[serde(default)]
    pub faults: BTreeMap<String, Fault>,
    /// The rehearsal file's directory: relative paths resolve against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
    #[serde(skip)]
    pub path: PathBuf,
}

/// A directory copied fresh into the rehearsal, and the variable set to the copy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoTemplate {
    pub template: PathBuf,
    pub var: String,
}

/// Something done to the cluster from outside the plan, once, as soon as an object
/// is in a given state: e.g. a stray `kubectl apply` from an old CI job, or the
/// namespace controller reporting why it cannot finish a deletion.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reaction {
    pub when: When,
    /// Manifest stored as is (its `managedFields` kept), replacing the object.
    #[serde(default)]
    pub apply: Option<PathBuf>,
    /// Status conditions set on the object.
    #[serde(default)]
    pub conditions: Vec<ConditionSpec>,
    /// What the rehearsal says when it fires.
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
    pub fn holds(&self, obj: Option<&serde_json::Value>) -> bool {
        let Some(obj) = obj else { return false };
        if self.deleting && obj.pointer("/metadata/deletionTimestamp").is_none() {
            return false;
        }
        match &self.manager {
            None => true,
            Some(pattern) => {
                let Ok(re) = regex::Regex::new(pattern) else {
                    return false;
                };
                obj.pointer("/metadata/managedFields")
                    .and_then(serde_json::Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.get("manager").and_then(serde_json::Value::as_str))
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

/// A named failure to rehearse.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub scenario: Option<Value>,
    #[serde(default)]
    pub tools: Option<Value>,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    #[serde(default)]
    pub reactions: Vec<Reaction>,
}

impl RehearsalSpec {
    /// Reads and parses a rehearsal file.
    pub fn load(path: &Path) -> Result<Self, RehearseError> {
        let text = std::fs::read_to_string(path).map_err(|source| RehearseError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut spec: RehearsalSpec =
            serde_yaml::from_str(&text).map_err(|e| RehearseError::Spec {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        spec.base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        spec.path = path.to_path_buf();
        let base = spec.base_dir.clone();
        let resolve = |r: &mut Reaction| {
            if let Some(apply) = &mut r.apply
                && apply.is_relative()
            {
                *apply = base.join(&*apply);
            }
        };
        spec.reactions.iter_mut().for_each(resolve);
        for fault in spec.faults.values_mut() {
            fault.reactions.iter_mut().for_each(resolve);
        }
        Ok(spec)
    }

    /// The rehearsal file of a plan: `<dir>/<stem>.rehearsal.yaml`.
    pub fn beside(plan: &Path) -> PathBuf {
        let stem = plan
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        plan.with_file_name(format!("{stem}.rehearsal.yaml"))
    }

    /// The spec with fault `name` applied (scenario and tools patched, vars and
    /// reactions added).
    pub fn with_fault(mut self, name: &str) -> Result<Self, RehearseError> {
        let Some(fault) = self.faults.get(name).cloned() else {
            return Err(RehearseError::UnknownFault {
                name: name.to_owned(),
                path: self.path.clone(),
                known: self.fault_list(),
            });
        };
        if let Some(patch) = &fault.scenario {
            merge_patch(&mut self.scenario, patch);
        }
        if let Some(patch) = &fault.tools {
            merge_patch(&mut self.tools, patch);
        }
        self.vars.extend(fault.vars);
        self.reactions.extend(fault.reactions);
        Ok(self)
    }

    /// `name: description` of every fault, one a line.
    pub fn fault_list(&self) -> String {
        self.faults
            .iter()
            .map(|(name, f)| format!("  {name}: {}", f.description.trim()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every variable some fault sets (a resume without that fault gives them their
    /// plan values again).
    pub fn fault_vars(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .faults
            .values()
            .flat_map(|f| f.vars.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// `path` resolved against the rehearsal file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// The tools' behaviour as YAML text, the manifests `pulumi` reads (the
    /// program's, each stack's initial state) made absolute (the behaviour file
    /// lives elsewhere than the rehearsal file).
    pub fn tools_yaml(&self) -> Result<String, RehearseError> {
        let mut tools = self.tools.clone();
        let make_absolute = |list: Option<&mut Value>| {
            let Some(list) = list.and_then(Value::as_sequence_mut) else {
                return;
            };
            for item in list {
                if let Some(p) = item.as_str() {
                    let abs = absolute(&self.resolve(Path::new(p)));
                    *item = Value::String(abs.display().to_string());
                }
            }
        };
        if let Some(pulumi) = tools.get_mut("pulumi") {
            make_absolute(pulumi.get_mut("program"));
            if let Some(stacks) = pulumi.get_mut("stacks").and_then(Value::as_mapping_mut) {
                for (_, stack) in stacks.iter_mut() {
                    make_absolute(stack.get_mut("state"));
                }
            }
        }
        serde_yaml::to_string(&tools).map_err(|e| RehearseError::Spec {
            path: self.path.clone(),
            message: format!("tools: {e}"),
        })
    }

    /// The scenario as YAML text (seeds stay relative: the scenario parser resolves
    /// them against [`base_dir`](Self::base_dir)).
    pub fn scenario_yaml(&self) -> Result<String, RehearseError> {
        if self.scenario.is_null() {
            return Ok(String::new());
        }
        serde_yaml::to_string(&self.scenario).map_err(|e| RehearseError::Spec {
            path: self.path.clone(),
            message: format!("scenario: {e}"),
        })
    }
}

/// `path` made absolute against the current directory (unchanged when that fails).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// JSON merge patch (RFC 7386) on YAML values: mappings merge key by key, `null`
/// deletes a key, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Mapping(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_mapping() {
        *target = Value::Mapping(Default::default());
    }
    let Value::Mapping(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if value.is_null() {
            target_map.remove(key);
        } else {
            let slot = target_map.entry(key.clone()).or_insert(Value::Null);
            merge_patch(slot, value);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn merge_patch_merges_maps_deletes_nulls_and_replaces_the_rest() {
        let mut target = yaml("a: {b: 1, c: 2}\nlist: [1, 2]\nkeep: x");
        merge_patch(&mut target, &yaml("a: {b: null, d: 4}\nlist: [3]"));
        assert_eq!(target, yaml("a: {c: 2, d: 4}\nlist: [3]\nkeep: x"));
    }

    #[test]
    fn a_fault_patches_scenario_and_tools_and_adds_vars() {
        let mut spec: RehearsalSpec = serde_yaml::from_str(
            r#"
scenario: { namespaces: { flux-system: { finalize_delay: 3s } } }
tools: { pulumi: { stacks: { s: { config: { a: {value: x}, b: {value: y} } } } } }
faults:
  stuck:
    description: never clears
    scenario: { namespaces: { flux-system: { stuck: true } } }
    vars: { namespace_timeout: 3s }
  secret:
    tools: { pulumi: { stacks: { s: { config: { b: null } } } } }
"#,
        )
        .unwrap();
        spec.path = PathBuf::from("x.rehearsal.yaml");
        let stuck = spec.clone().with_fault("stuck").unwrap();
        assert_eq!(
            stuck.scenario,
            yaml("namespaces: { flux-system: { finalize_delay: 3s, stuck: true } }")
        );
        assert_eq!(stuck.vars["namespace_timeout"], "3s");
        let secret = spec.clone().with_fault("secret").unwrap();
        assert!(
            secret.tools["pulumi"]["stacks"]["s"]["config"]
                .get("b")
                .is_none()
        );
        let err = spec.with_fault("nope").unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn the_rehearsal_file_sits_beside_the_plan() {
        assert_eq!(
            RehearsalSpec::beside(Path::new("plans/flux-rebuild.toml")),
            PathBuf::from("plans/flux-rebuild.rehearsal.yaml")
        );
    }
}
