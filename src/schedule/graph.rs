//! The dependency graph as the scheduler needs it: plain adjacency lists plus the two
//! per-task flags that change scheduling, each task's expected duration, and its
//! critical-path priority (see [`super::estimate`]).

use std::time::Duration;

use crate::validate::{TaskIdx, ValidatedPlan};

use super::estimate::{Priority, priorities};

/// Dependencies and scheduling flags of every task, indexed by [`TaskIdx`].
#[derive(Debug, Clone)]
pub struct DepGraph {
    needs: Vec<Vec<TaskIdx>>,
    dependents: Vec<Vec<TaskIdx>>,
    always: Vec<bool>,
    allow_failure: Vec<bool>,
    expected: Vec<Duration>,
    priority: Vec<Priority>,
}

impl DepGraph {
    /// A graph from `needs[i]` (what task `i` needs), the per-task flags and expected
    /// durations.
    ///
    /// The graph must be acyclic (a [`ValidatedPlan`] is); cycles are a bug here.
    pub fn new(
        needs: Vec<Vec<TaskIdx>>,
        always: Vec<bool>,
        allow_failure: Vec<bool>,
        expected: Vec<Duration>,
    ) -> Self {
        let n = needs.len();
        assert!(
            always.len() == n && allow_failure.len() == n && expected.len() == n,
            "one flag and one duration per task"
        );
        let mut dependents = vec![Vec::new(); n];
        for (task, task_needs) in needs.iter().enumerate() {
            for &need in task_needs {
                dependents[need].push(task);
            }
        }
        let priority = priorities(&needs, &dependents, &expected);
        Self {
            needs,
            dependents,
            always,
            allow_failure,
            expected,
            priority,
        }
    }

    /// The graph of a validated plan, with each task's expected duration: `known[i]`
    /// when the plan's earlier runs tell, else its type's typical duration.
    pub fn from_plan(plan: &ValidatedPlan, known: &[Option<Duration>]) -> Self {
        let tasks = plan.tasks();
        Self::new(
            tasks.iter().map(|t| t.needs.clone()).collect(),
            tasks.iter().map(|t| t.always).collect(),
            tasks.iter().map(|t| t.allow_failure).collect(),
            tasks
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    known
                        .get(i)
                        .copied()
                        .flatten()
                        .unwrap_or(t.kind.task_type().info().typical)
                })
                .collect(),
        )
    }

    pub fn len(&self) -> usize {
        self.needs.len()
    }

    pub fn needs(&self, task: TaskIdx) -> &[TaskIdx] {
        &self.needs[task]
    }

    pub fn dependents(&self, task: TaskIdx) -> &[TaskIdx] {
        &self.dependents[task]
    }

    pub fn always(&self, task: TaskIdx) -> bool {
        self.always[task]
    }

    pub fn allow_failure(&self, task: TaskIdx) -> bool {
        self.allow_failure[task]
    }

    /// How long `task` is expected to take.
    pub fn expected(&self, task: TaskIdx) -> Duration {
        self.expected[task]
    }

    /// How long the longest path of tasks that starts at `task` (itself included) is
    /// expected to take, then how many tasks the longest chain has. Starting the
    /// ready task with the greatest first keeps a bounded `--jobs` close to the
    /// critical path.
    pub fn priority(&self, task: TaskIdx) -> Priority {
        self.priority[task]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_equal_durations_priority_is_the_longest_chain() {
        // 0 -> 1 -> 2, 0 -> 3
        let second = Duration::from_secs(1);
        let g = DepGraph::new(
            vec![vec![], vec![0], vec![1], vec![0]],
            vec![false; 4],
            vec![false; 4],
            vec![second; 4],
        );
        assert_eq!(
            (0..4).map(|t| g.priority(t)).collect::<Vec<_>>(),
            [(3 * second, 3), (2 * second, 2), (second, 1), (second, 1)]
        );
        assert_eq!(g.dependents(0), [1, 3]);
    }
}
