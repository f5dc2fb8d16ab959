//! The behaviour file: what each simulated tool answers, as a test or a rehearsal
//! scenario defines it.
//!
//! ```yaml
//! pulumi:
//!   passphrase: "correct horse"        # PULUMI_CONFIG_PASSPHRASE must match
//!   program: [manifests/flux.yaml]     # the resources the Pulumi program declares
//!   provider_version: "4.32.0"         # pulumi-kubernetes: < 4.29.0 creates by apply
//!   stacks:
//!     oceanid-cluster:
//!       config:                        # as `pulumi config set [--path] [--secret]` left it
//!         flux.ssh_private_key: { value: "-----BEGIN...", secret: true, path: true }
//!         github.token: { value: "ghp_x", secret: true }
//!       state: [manifests/old.yaml]    # what the stack's state lists at first
//!   up:
//!     delay_ms: 200
//! pnpm:
//!   rules:
//!     - args: [--filter, "@oceanid/cluster", build]
//!       stdout: "built"
//! flux:
//!   default: { stdout: "all checks passed" }
//! commands:                            # any other command, by name, on PATH
//!   helm:
//!     rules:
//!       - prefix: [install]
//!         apply: [manifests/cert-manager.yaml]   # applied to the cluster (SSA)
//!         manager: helm                          # as this field manager
//!   pg_dump:
//!     default: { stdout: "dumped" }
//! ```
//!
//! Relative paths are resolved against the behaviour file's directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::reply::Reply;

/// Everything the simulated tools do; all parts optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    pub pulumi: PulumiBehaviour,
    pub pnpm: ToolBehaviour,
    pub flux: ToolBehaviour,
    /// Other commands, by the name they are run under: answered by rule, a rule
    /// may also apply manifests to the cluster.
    pub commands: BTreeMap<String, ToolBehaviour>,
    /// The directory relative paths are resolved against (the file's directory).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Behaviour {
    /// Reads and parses a behaviour file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read behaviour file {}: {e}", path.display()))?;
        let mut behaviour: Behaviour = serde_yaml::from_str(&text)
            .map_err(|e| format!("invalid behaviour file {}: {e}", path.display()))?;
        behaviour.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(behaviour)
    }

    /// `path` resolved against the behaviour file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.base_dir.join(path)
    }
}

/// A tool answering by argv: the first matching rule wins, else `default`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolBehaviour {
    pub rules: Vec<Rule>,
    pub default: Reply,
}

impl ToolBehaviour {
    /// The reply for `args`.
    pub fn reply_for(&self, args: &[String]) -> Reply {
        self.rule_for(args)
            .map(Rule::reply)
            .unwrap_or_else(|| self.default.clone())
    }

    /// The first rule matching `args`.
    pub fn rule_for(&self, args: &[String]) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(args))
    }
}

/// One rule: `args` must equal the argv exactly, `prefix` must start it; a rule with
/// neither matches everything.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rule {
    pub args: Option<Vec<String>>,
    pub prefix: Option<Vec<String>>,
    pub exit: i32,
    pub stdout: String,
    pub stderr: String,
    pub delay_ms: u64,
    /// Manifests applied to the cluster of `KUBECONFIG` (server-side apply) before
    /// the reply, as a deploying tool would (`helm install`); relative to the file.
    pub apply: Vec<PathBuf>,
    /// The field manager of those applies (default: the command's name).
    pub manager: Option<String>,
}

impl Rule {
    pub fn matches(&self, args: &[String]) -> bool {
        self.args.as_ref().is_none_or(|a| a == args)
            && self.prefix.as_ref().is_none_or(|p| args.starts_with(p))
    }

    pub fn reply(&self) -> Reply {
        Reply {
            exit: self.exit,
            stdout: self.stdout.clone(),
            stderr: self.stderr.clone(),
            delay_ms: self.delay_ms,
        }
    }
}

/// The simulated Pulumi CLI: a backend with stacks, their config and state, the
/// resources the program declares, the pulumi-kubernetes provider's behaviour, and
/// what `preview`, `up` and `refresh` print and how long they take.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PulumiBehaviour {
    /// `false`: every command that needs the backend fails as when not logged in.
    pub logged_in: bool,
    /// When set, `PULUMI_ACCESS_TOKEN` must be in the environment (as for a Pulumi
    /// Cloud backend in a non-interactive session).
    pub require_access_token: bool,
    /// When set, commands that decrypt secrets need `PULUMI_CONFIG_PASSPHRASE` equal
    /// to it.
    pub passphrase: Option<String>,
    /// Namespace of config keys written without one; default: `name` in Pulumi.yaml.
    pub project: Option<String>,
    /// The server-side apply field manager of `up`; default
    /// `pulumi-kubernetes-<8 hex digits derived from the stack and the resource>`.
    pub field_manager: Option<String>,
    /// Multi-document YAML manifests: the Kubernetes objects the Pulumi program
    /// declares, in order.
    pub program: Vec<PathBuf>,
    /// The pulumi-kubernetes provider's version: from 4.29.0 a new object is created
    /// by a plain create as `pulumi-kubernetes`, before by server-side apply.
    pub provider_version: String,
    /// The provider's `upsertExistingObjects`: a create of an object that exists
    /// applies it instead of failing with AlreadyExists (4.29.0 and later).
    pub upsert_existing_objects: bool,
    /// Stacks that exist; when empty, every stack name exists with no config.
    pub stacks: BTreeMap<String, StackBehaviour>,
    pub preview: Operation,
    pub up: Operation,
    pub refresh: Operation,
}

/// The pulumi-kubernetes release the stand-in behaves like unless told otherwise.
pub const DEFAULT_PROVIDER_VERSION: &str = "4.32.0";

impl PulumiBehaviour {
    /// Whether the provider creates objects by a plain create (pulumi-kubernetes
    /// v4.29.0 and later, CHANGELOG 4.29.0) rather than by server-side apply.
    pub fn creates_by_create(&self) -> bool {
        let mut parts = self
            .provider_version
            .trim_start_matches('v')
            .split(['.', '-', '+'])
            .map(|p| p.parse::<u64>().unwrap_or(0));
        let major = parts.next().unwrap_or(0);
        let minor = parts.next().unwrap_or(0);
        (major, minor) >= (4, 29)
    }
}

impl Default for PulumiBehaviour {
    fn default() -> Self {
        Self {
            logged_in: true,
            require_access_token: false,
            passphrase: None,
            project: None,
            field_manager: None,
            program: Vec::new(),
            provider_version: DEFAULT_PROVIDER_VERSION.to_owned(),
            upsert_existing_objects: false,
            stacks: BTreeMap::new(),
            preview: Operation::default(),
            up: Operation::default(),
            refresh: Operation::default(),
        }
    }
}

/// A stack of the simulated backend.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StackBehaviour {
    /// Config keys (`key` or `namespace:key`) and their values.
    pub config: BTreeMap<String, ConfigEntry>,
    /// Manifests of the objects the stack's state lists before its first operation
    /// (a state written by an earlier `up`).
    pub state: Vec<PathBuf>,
}

/// One config value, as `pulumi config set` stored it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigEntry {
    pub value: String,
    /// Set with `--secret`.
    pub secret: bool,
    /// Set with `--path`: `a.b` is `b` inside the object `a`.
    pub path: bool,
}

/// What `pulumi preview`, `up` or `refresh` does.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Operation {
    /// Exit code; default 0, or 255 (the real CLI's error code) when `failed` is set.
    pub exit: Option<i32>,
    /// What the program prints (each line a diagnostic in `--json` mode).
    pub stdout: String,
    /// Written to stderr as is.
    pub stderr: String,
    /// How long the operation takes before it changes anything.
    pub delay_ms: u64,
    /// The change summary to report (`create`, `update`, `delete`, `same`, ...);
    /// default: the steps' counts.
    pub changes: Option<BTreeMap<String, u64>>,
    /// Resources whose operation fails; the operation then exits 255.
    pub failed: Vec<FailedResource>,
    /// Keep going on SIGINT (so the caller has to kill).
    pub ignore_interrupt: bool,
    /// After SIGINT, how long the cancellation takes before the CLI exits.
    pub cancel_delay_ms: u64,
    /// The provider's write of this step (1 for the first resource that changes)
    /// never returns: the operation stays pending in the state, and only a kill
    /// ends the CLI (SIGINT waits for the write, as the real CLI waits for
    /// in-flight operations), leaving the pending operation and the stack's lock.
    pub hang_at_step: Option<usize>,
}

/// A resource whose operation fails.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailedResource {
    /// Pulumi type token, e.g. `kubernetes:apps/v1:Deployment`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Resource name, e.g. `flux-system/source-controller`.
    pub name: String,
    /// The provider's error.
    pub message: String,
    /// `create` unless set.
    pub op: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_a_full_file_and_rejects_unknown_keys() {
        let b: Behaviour = serde_yaml::from_str(
            r#"
pulumi:
  passphrase: pw
  stacks:
    dev:
      config:
        github.token: { value: "ghp_1", secret: true }
  program: [a.yaml]
  provider_version: "4.28.0"
  up:
    delay_ms: 5
    failed: [{ type: "kubernetes:apps/v1:Deployment", name: "x", message: "boom" }]
pnpm:
  rules:
    - args: [build]
      exit: 3
flux:
  default: { stdout: ok }
"#,
        )
        .unwrap();
        assert!(b.pulumi.stacks["dev"].config["github.token"].secret);
        assert!(!b.pulumi.creates_by_create());
        assert!(PulumiBehaviour::default().creates_by_create());
        assert_eq!(b.pnpm.reply_for(&["build".into()]).exit, 3);
        assert_eq!(b.pnpm.reply_for(&["other".into()]).exit, 0);
        assert_eq!(b.flux.reply_for(&[]).stdout, "ok");
        assert!(serde_yaml::from_str::<Behaviour>("pulumi: { nope: 1 }").is_err());
    }

    #[test]
    fn rules_match_exactly_or_by_prefix() {
        let rule = Rule {
            prefix: Some(vec!["check".into()]),
            ..Rule::default()
        };
        assert!(rule.matches(&["check".into(), "--pre".into()]));
        assert!(!rule.matches(&["install".into()]));
        let exact = Rule {
            args: Some(vec!["a".into()]),
            ..Rule::default()
        };
        assert!(exact.matches(&["a".into()]));
        assert!(!exact.matches(&["a".into(), "b".into()]));
    }
}
