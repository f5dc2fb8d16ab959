//! The rehearsal file (`<plan>.rehearsal.yaml` beside the plan): the sandbox
//! scenario, what the simulated tools do, the repository to copy, the kube context,
//! cluster reactions and the named faults.
//!
//! ```yaml
//! extends: other.rehearsal.yaml   # optional: start from another rehearsal file
//! context: oceanid                # default: the plan's [plan] context
//! other_cluster: { context: staging }   # optional: the current context is another
//!                                 #   cluster; the run is given --context; it must get no writes
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
//!     other_cluster: { context: staging }  # sets `other_cluster`
//! ```
//!
//! Relative paths (the repository template, scenario seeds, manifests `pulumi up`
//! applies, reaction manifests) are relative to the rehearsal file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

use super::error::RehearseError;
pub use planrun_sandbox::Reaction;

/// A parsed rehearsal file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RehearsalSpec {
    /// Another rehearsal file this one builds on (relative to this one): its keys
    /// are the defaults, this file's merge over them (see [`RehearsalSpec::load`]).
    #[serde(default)]
    pub extends: Option<PathBuf>,
    /// The kubeconfig context the sandbox gets; default: the plan's guard context.
    #[serde(default)]
    pub context: Option<String>,
    /// A second cluster in the rehearsal's kubeconfig, current there (the user's
    /// current context is another cluster); the run is told `--context` the plan's.
    #[serde(default)]
    pub other_cluster: Option<OtherCluster>,
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

/// Another cluster, current in the rehearsal's kubeconfig: an empty sandbox of its
/// own, whose requests the rehearsal counts (it must get no writes).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtherCluster {
    /// Its context name.
    pub context: String,
}

/// A directory copied fresh into the rehearsal, and the variable set to the copy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoTemplate {
    pub template: PathBuf,
    pub var: String,
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
    /// Makes the current context another cluster.
    #[serde(default)]
    pub other_cluster: Option<OtherCluster>,
}

impl RehearsalSpec {
    /// Reads and parses a rehearsal file. With `extends`, the file named is read
    /// first (and what it extends, and so on): its relative paths made absolute, then
    /// this file merged over it: `scenario` and `tools` as merge patches, `context`,
    /// `repo` and `other_cluster` replaced when given, `vars` added, `reactions`
    /// appended, `faults` added (a fault of the same name replaced).
    pub fn load(path: &Path) -> Result<Self, RehearseError> {
        Self::load_extending(path, &mut Vec::new())
    }

    fn load_extending(path: &Path, seen: &mut Vec<PathBuf>) -> Result<Self, RehearseError> {
        let me = absolute(path);
        if seen.contains(&me) {
            return Err(RehearseError::Spec {
                path: path.to_path_buf(),
                message: format!(
                    "`extends` goes round in a circle: {}",
                    seen.iter()
                        .chain([&me])
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" -> ")
                ),
            });
        }
        seen.push(me);
        let mut spec = Self::load_one(path)?;
        let Some(base_path) = spec.extends.take() else {
            return Ok(spec);
        };
        let mut base = Self::load_extending(&spec.resolve(&base_path), seen)?;
        base.absolutize();
        if !spec.scenario.is_null() {
            merge_patch(&mut base.scenario, &spec.scenario);
        }
        if !spec.tools.is_null() {
            merge_patch(&mut base.tools, &spec.tools);
        }
        base.context = spec.context.take().or(base.context);
        base.repo = spec.repo.take().or(base.repo);
        base.other_cluster = spec.other_cluster.take().or(base.other_cluster);
        base.vars.extend(std::mem::take(&mut spec.vars));
        base.reactions.append(&mut spec.reactions);
        base.faults.append(&mut spec.faults);
        base.base_dir = spec.base_dir;
        base.path = spec.path;
        Ok(base)
    }

    /// Every relative path of the spec (its faults' too) made absolute against its
    /// directory, so it can be merged into a spec in another directory.
    fn absolutize(&mut self) {
        let base = self.base_dir.clone();
        let abs = |p: &Path| absolute(&base.join(p));
        let paths_in = |v: &mut Value| {
            if let Some(seeds) = v.get_mut("seeds").and_then(Value::as_sequence_mut) {
                for seed in seeds {
                    if let Some(p) = seed.as_str() {
                        *seed = Value::String(abs(Path::new(p)).display().to_string());
                    }
                }
            }
        };
        paths_in(&mut self.scenario);
        absolute_tool_paths(&mut self.tools, &base);
        if let Some(repo) = &mut self.repo {
            repo.template = abs(&repo.template);
        }
        for r in &mut self.reactions {
            if let Some(apply) = &mut r.apply {
                *apply = absolute(apply);
            }
        }
        for fault in self.faults.values_mut() {
            if let Some(scenario) = &mut fault.scenario {
                paths_in(scenario);
            }
            if let Some(tools) = &mut fault.tools {
                absolute_tool_paths(tools, &base);
            }
            for r in &mut fault.reactions {
                if let Some(apply) = &mut r.apply {
                    *apply = absolute(apply);
                }
            }
        }
    }

    fn load_one(path: &Path) -> Result<Self, RehearseError> {
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
        if fault.other_cluster.is_some() {
            self.other_cluster = fault.other_cluster;
        }
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
    /// program's, each stack's initial state) and the commands' rules apply made
    /// absolute (the behaviour file
    /// lives elsewhere than the rehearsal file).
    pub fn tools_yaml(&self) -> Result<String, RehearseError> {
        let mut tools = self.tools.clone();
        absolute_tool_paths(&mut tools, &self.base_dir);
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

/// The paths of a tools behaviour (the manifests of the simulated `pulumi`'s
/// program, each stack's saved state, the manifests a simulated command's rules
/// apply) made absolute against `base`.
fn absolute_tool_paths(tools: &mut Value, base: &Path) {
    let make_absolute = |list: Option<&mut Value>| {
        let Some(list) = list.and_then(Value::as_sequence_mut) else {
            return;
        };
        for item in list {
            if let Some(p) = item.as_str() {
                *item = Value::String(absolute(&base.join(p)).display().to_string());
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
    if let Some(commands) = tools.get_mut("commands").and_then(Value::as_mapping_mut) {
        for (_, command) in commands.iter_mut() {
            let rules = command.get_mut("rules").and_then(Value::as_sequence_mut);
            for rule in rules.into_iter().flatten() {
                make_absolute(rule.get_mut("apply"));
            }
        }
    }
}

/// `path` made absolute against the current directory (unchanged when that fails),
/// without `.` and `..` components.
pub fn absolute(path: &Path) -> PathBuf {
    planrun::validate::normalize_path(
        &std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    )
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
    fn a_rehearsal_file_extends_another_and_keeps_its_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base.rehearsal.yaml");
        std::fs::write(
            &base,
            "context: oceanid\nvars: { a: '1', b: '2' }\nscenario: { seeds: [seed.yaml], controllers: { kustomize: ns/k } }\ntools: { pulumi: { program: [flux.yaml], stacks: { s: { state: [old.yaml] } } } }\nfaults:\n  one: { description: base one }\n  two: { description: base two }\n",
        )
        .unwrap();
        std::fs::create_dir(tmp.path().join("variant")).unwrap();
        let child = tmp.path().join("variant/child.rehearsal.yaml");
        std::fs::write(
            &child,
            "extends: ../base.rehearsal.yaml\nvars: { b: '3' }\nscenario: { controllers: null }\nfaults:\n  two: { description: child two }\n  three: { description: child three }\n",
        )
        .unwrap();
        let spec = RehearsalSpec::load(&child).unwrap();
        assert_eq!(spec.context.as_deref(), Some("oceanid"));
        assert_eq!(spec.vars["a"], "1");
        assert_eq!(spec.vars["b"], "3");
        assert!(spec.scenario.get("controllers").is_none(), "null deletes");
        let seed = spec.scenario["seeds"][0].as_str().unwrap();
        assert_eq!(Path::new(seed), absolute(&tmp.path().join("seed.yaml")));
        let program = spec.tools["pulumi"]["program"][0].as_str().unwrap();
        assert_eq!(Path::new(program), absolute(&tmp.path().join("flux.yaml")));
        let state = spec.tools["pulumi"]["stacks"]["s"]["state"][0]
            .as_str()
            .unwrap();
        assert_eq!(Path::new(state), absolute(&tmp.path().join("old.yaml")));
        assert_eq!(spec.faults["one"].description, "base one");
        assert_eq!(spec.faults["two"].description, "child two");
        assert_eq!(spec.faults["three"].description, "child three");
        assert_eq!(spec.base_dir, tmp.path().join("variant"));
        // A circle is an error, not a hang.
        std::fs::write(&base, "extends: variant/child.rehearsal.yaml\n").unwrap();
        let err = RehearsalSpec::load(&child).unwrap_err().to_string();
        assert!(err.contains("goes round in a circle"), "{err}");
    }

    #[test]
    fn the_rehearsal_file_sits_beside_the_plan() {
        assert_eq!(
            RehearsalSpec::beside(Path::new("plans/flux-rebuild.toml")),
            PathBuf::from("plans/flux-rebuild.rehearsal.yaml")
        );
    }
}
