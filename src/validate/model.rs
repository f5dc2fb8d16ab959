//! The validated plan: the only shape of a plan the engine, the executors and the
//! reporters ever see. Nothing outside `validate` can construct a [`ValidatedPlan`],
//! so holding one proves the plan passed every check: variables are resolved,
//! durations and patterns are parsed, dependencies exist and form no cycle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use petgraph::graph::{DiGraph, NodeIndex};
use regex::Regex;

use crate::plan::PlanSource;
use crate::redact::Redactor;

/// Index of a task in [`ValidatedPlan::tasks`] (declaration order).
pub type TaskIdx = usize;

/// A plan that passed validation.
#[derive(Debug)]
pub struct ValidatedPlan {
    pub(super) source: Arc<PlanSource>,
    pub(super) header: PlanHeader,
    pub(super) vars: Vec<Variable>,
    pub(super) tasks: Vec<Task>,
    pub(super) graph: DiGraph<TaskIdx, ()>,
    pub(super) order: Vec<TaskIdx>,
    pub(super) redactor: Redactor,
}

impl ValidatedPlan {
    /// The plan file this plan was read from.
    pub fn source(&self) -> &Arc<PlanSource> {
        &self.source
    }

    /// The `[plan]` table.
    pub fn header(&self) -> &PlanHeader {
        &self.header
    }

    /// Variables with their effective values (`--var` overrides applied).
    pub fn vars(&self) -> &[Variable] {
        &self.vars
    }

    /// Every task, in declaration order; [`TaskIdx`] indexes this slice.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    pub fn task(&self, idx: TaskIdx) -> &Task {
        &self.tasks[idx]
    }

    /// Looks a task up by its id.
    pub fn find(&self, id: &str) -> Option<TaskIdx> {
        self.tasks.iter().position(|t| t.id == id)
    }

    /// A topological order: every task comes after everything it needs. Ties keep
    /// declaration order, so the order is stable across runs.
    pub fn topo_order(&self) -> &[TaskIdx] {
        &self.order
    }

    /// The dependency graph: node weights are [`TaskIdx`] (node index == task index),
    /// an edge `a -> b` means `b` needs `a`.
    pub fn graph(&self) -> &DiGraph<TaskIdx, ()> {
        &self.graph
    }

    /// Tasks that directly need `idx`.
    pub fn dependents(&self, idx: TaskIdx) -> impl Iterator<Item = TaskIdx> + '_ {
        self.graph
            .neighbors_directed(NodeIndex::new(idx), petgraph::Direction::Outgoing)
            .map(|n| self.graph[n])
    }

    /// Masks the values of secret variables in any text about to be shown or stored.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The directory relative paths in the plan are resolved against.
    pub fn plan_dir(&self) -> &Path {
        self.source.dir()
    }
}

/// The `[plan]` table.
#[derive(Debug, Clone)]
pub struct PlanHeader {
    pub name: String,
    pub description: Option<String>,
    /// The kube context the plan is meant for; runs against another are refused.
    pub context: Option<String>,
}

/// A variable with its effective value.
#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub value: String,
    pub secret: bool,
    /// Where the value came from, for `list` and the run report.
    pub origin: VarOrigin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarOrigin {
    Plan,
    Env,
    CommandLine,
}

/// One task with everything resolved.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub description: Option<String>,
    /// What this task needs, as indexes, in the order written.
    pub needs: Vec<TaskIdx>,
    /// `None`: no limit (a task type may apply its own default, see [`TaskKind`]).
    pub timeout: Option<Duration>,
    pub retry: RetryPolicy,
    /// A failure of this task does not fail the run; dependents still run.
    pub allow_failure: bool,
    /// Runs once everything it needs has ended, whatever the outcome.
    pub always: bool,
    pub kind: TaskKind,
    /// Hash of the resolved definition (variables included); a change since a
    /// journaled success makes resume run the task again.
    pub fingerprint: String,
}

/// Retries with exponential backoff: the delay before retry `n` (1-based) is
/// `backoff * 2^(n-1)`, capped at `backoff_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub retries: u32,
    pub backoff: Duration,
    pub backoff_max: Duration,
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1 = first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.backoff.saturating_mul(factor).min(self.backoff_max)
    }
}

/// What a task does, by type.
#[derive(Debug, Clone)]
pub enum TaskKind {
    ExecScript(ExecScript),
    KubeDelete(KubeDelete),
    WaitAbsent(WaitAbsent),
    WaitCondition(WaitCondition),
    AssertDeployments(AssertDeployments),
    AssertFieldManagers(AssertFieldManagers),
    Capture(Capture),
    AssertFile(AssertFile),
    Confirm(Confirm),
    PulumiUp(PulumiUp),
}

impl TaskKind {
    /// The `type` as written in a plan.
    pub fn type_name(&self) -> &'static str {
        match self {
            TaskKind::ExecScript(_) => "exec-script",
            TaskKind::KubeDelete(_) => "kube-delete",
            TaskKind::WaitAbsent(_) => "wait-absent",
            TaskKind::WaitCondition(_) => "wait-condition",
            TaskKind::AssertDeployments(_) => "assert-deployments",
            TaskKind::AssertFieldManagers(_) => "assert-field-managers",
            TaskKind::Capture(_) => "capture",
            TaskKind::AssertFile(_) => "assert-file",
            TaskKind::Confirm(_) => "confirm",
            TaskKind::PulumiUp(_) => "pulumi-up",
        }
    }

    /// Whether the task talks to the Kubernetes API.
    pub fn uses_kube(&self) -> bool {
        matches!(
            self,
            TaskKind::KubeDelete(_)
                | TaskKind::WaitAbsent(_)
                | TaskKind::WaitCondition(_)
                | TaskKind::AssertDeployments(_)
                | TaskKind::AssertFieldManagers(_)
                | TaskKind::Capture(_)
        )
    }
}

/// `exec-script`: a command (argv, no shell) or a script (shell).
#[derive(Debug, Clone)]
pub struct ExecScript {
    pub program: Program,
    /// Working directory, already resolved against the plan's directory.
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    /// Exit codes that count as success (default `[0]`).
    pub ok_codes: Vec<i32>,
    /// Only reads: it also runs under `--dry-run`.
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// argv, run without a shell; never empty.
    Command(Vec<String>),
    /// Shell source, run with `bash -euo pipefail -c` (or `sh -eu -c` without bash).
    Script(String),
}

/// Which Kubernetes objects a task is about.
#[derive(Debug, Clone)]
pub struct Selection {
    pub kind: String,
    /// `group/version` or `version` for the core group; `None`: resolved by kind.
    pub api_version: Option<String>,
    /// `None`: cluster-scoped kinds, or all namespaces for namespaced ones.
    pub namespace: Option<String>,
    pub target: Target,
}

#[derive(Debug, Clone)]
pub enum Target {
    Name(String),
    /// Regex matched against `metadata.name` (unanchored, as written).
    Pattern(Regex),
    /// A label selector in Kubernetes syntax (`app=x,tier!=db`).
    Selector(String),
}

impl Selection {
    /// Whether an object name matches this selection's name or pattern (label
    /// selectors are applied by the server, so they always match here).
    pub fn matches_name(&self, name: &str) -> bool {
        match &self.target {
            Target::Name(n) => n == name,
            Target::Pattern(re) => re.is_match(name),
            Target::Selector(_) => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

/// `kube-delete`.
#[derive(Debug, Clone)]
pub struct KubeDelete {
    pub selection: Selection,
    pub propagation: Propagation,
}

/// `wait-absent`.
#[derive(Debug, Clone)]
pub struct WaitAbsent {
    pub selection: Selection,
}

/// `wait-condition`: every matching object has `condition` with `status`.
#[derive(Debug, Clone)]
pub struct WaitCondition {
    pub selection: Selection,
    pub condition: String,
    /// `"True"` unless written otherwise.
    pub status: String,
}

/// `assert-deployments`.
#[derive(Debug, Clone)]
pub struct AssertDeployments {
    pub namespace: String,
    /// Deployment name -> expected image tag (`"*"`: any tag).
    pub deployments: BTreeMap<String, String>,
}

/// `assert-field-managers`.
#[derive(Debug, Clone)]
pub struct AssertFieldManagers {
    pub selection: Selection,
    /// No managedFields entry's manager may match any of these.
    pub forbidden: Vec<Regex>,
    /// When set, each object needs an entry with operation `Apply` from a matching
    /// manager.
    pub required_apply: Option<Regex>,
}

/// `capture`: Secrets or ConfigMaps written to a 0600 YAML file in the run directory.
#[derive(Debug, Clone)]
pub struct Capture {
    pub selection: Selection,
    /// File name, relative to the run directory.
    pub file: String,
}

/// `assert-file`: a file exists and every pattern matches its content.
#[derive(Debug, Clone)]
pub struct AssertFile {
    pub path: PathBuf,
    pub patterns: Vec<Regex>,
}

/// `confirm`: a gate a person answers (or `--yes`).
#[derive(Debug, Clone)]
pub struct Confirm {
    pub message: String,
}

/// `pulumi-up`.
#[derive(Debug, Clone)]
pub struct PulumiUp {
    pub stack: String,
    /// The Pulumi project directory, resolved against the plan's directory.
    pub cwd: PathBuf,
    /// Run `pulumi preview --diff` first.
    pub preview: bool,
    pub refresh: bool,
    /// Config keys that must exist for the stack before anything runs.
    pub require_config: Vec<String>,
    pub args: Vec<String>,
    /// The Pulumi CLI to run (`pulumi` on PATH unless set).
    pub binary: String,
}
