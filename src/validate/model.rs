//! The validated plan: the only shape of a plan the engine, the executors and the
//! reporters ever see. Nothing outside `validate` can construct a [`ValidatedPlan`],
//! so holding one proves the plan passed every check: variables are resolved,
//! durations and patterns are parsed, dependencies exist and form no cycle.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use planrun_text::format_duration;

use super::task::TaskKind;
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
    pub(super) order: Vec<TaskIdx>,
    pub(super) redactor: Redactor,
    pub(super) notify: Option<super::Notifications>,
    pub(super) warnings: Option<super::error::PlanWarnings>,
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

    /// Masks the values of secret variables in any text about to be shown or stored.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The `[notify]` table: where and when the run is announced.
    pub fn notify(&self) -> Option<&super::Notifications> {
        self.notify.as_ref()
    }

    /// What deserves a second look (a value pasted raw into a script), if anything.
    pub fn warnings(&self) -> Option<&super::error::PlanWarnings> {
        self.warnings.as_ref()
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
    /// Its environment variable is not set: a stand-in, to check the plan
    /// ([`Unset::StandIn`](super::Unset::StandIn)); never in a run.
    StandIn,
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

impl Task {
    /// The task's limits in words, e.g. `timeout 10m, 3 retries`.
    pub fn describe_limits(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(t) = self.timeout {
            parts.push(format!("timeout {}", format_duration(t)));
        }
        match self.retry.retries {
            0 => {}
            1 => parts.push("1 retry".into()),
            n => parts.push(format!("{n} retries")),
        }
        if self.allow_failure {
            parts.push("failure allowed".into());
        }
        if self.always {
            parts.push("always runs".into());
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}
