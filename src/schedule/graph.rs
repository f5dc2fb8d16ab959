//! The dependency graph as the scheduler needs it: plain adjacency lists plus the two
//! per-task flags that change scheduling, and a critical-path priority per task.

use crate::validate::{TaskIdx, ValidatedPlan};

/// Dependencies and scheduling flags of every task, indexed by [`TaskIdx`].
#[derive(Debug, Clone)]
pub struct DepGraph {
    needs: Vec<Vec<TaskIdx>>,
    dependents: Vec<Vec<TaskIdx>>,
    always: Vec<bool>,
    allow_failure: Vec<bool>,
    priority: Vec<u32>,
}

impl DepGraph {
    /// A graph from `needs[i]` (what task `i` needs) and the per-task flags.
    ///
    /// The graph must be acyclic (a [`ValidatedPlan`] is); cycles are a bug here.
    pub fn new(needs: Vec<Vec<TaskIdx>>, always: Vec<bool>, allow_failure: Vec<bool>) -> Self {
        let n = needs.len();
        assert!(
            always.len() == n && allow_failure.len() == n,
            "one flag per task"
        );
        let mut dependents = vec![Vec::new(); n];
        for (task, task_needs) in needs.iter().enumerate() {
            for &need in task_needs {
                dependents[need].push(task);
            }
        }
        let priority = critical_path_lengths(&needs, &dependents);
        Self {
            needs,
            dependents,
            always,
            allow_failure,
            priority,
        }
    }

    /// The graph of a validated plan.
    pub fn from_plan(plan: &ValidatedPlan) -> Self {
        let tasks = plan.tasks();
        Self::new(
            tasks.iter().map(|t| t.needs.clone()).collect(),
            tasks.iter().map(|t| t.always).collect(),
            tasks.iter().map(|t| t.allow_failure).collect(),
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

    /// Number of tasks on the longest chain that starts at `task` (itself included).
    /// Starting the ready task with the longest chain first keeps a bounded `--jobs`
    /// close to the critical path.
    pub fn priority(&self, task: TaskIdx) -> u32 {
        self.priority[task]
    }
}

/// For each task, the length of the longest dependency chain starting at it.
fn critical_path_lengths(needs: &[Vec<TaskIdx>], dependents: &[Vec<TaskIdx>]) -> Vec<u32> {
    let n = needs.len();
    // Kahn's algorithm from the sinks backwards: a task's length is known once every
    // dependent's is.
    let mut left: Vec<usize> = dependents.iter().map(Vec::len).collect();
    let mut stack: Vec<TaskIdx> = (0..n).filter(|&t| left[t] == 0).collect();
    let mut len = vec![1u32; n];
    let mut seen = 0;
    while let Some(task) = stack.pop() {
        seen += 1;
        for &need in &needs[task] {
            len[need] = len[need].max(len[task] + 1);
            left[need] -= 1;
            if left[need] == 0 {
                stack.push(need);
            }
        }
    }
    assert!(seen == n, "the dependency graph has a cycle");
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_is_longest_chain() {
        // 0 -> 1 -> 2, 0 -> 3
        let g = DepGraph::new(
            vec![vec![], vec![0], vec![1], vec![0]],
            vec![false; 4],
            vec![false; 4],
        );
        assert_eq!(
            (0..4).map(|t| g.priority(t)).collect::<Vec<_>>(),
            [3, 2, 1, 1]
        );
        assert_eq!(g.dependents(0), [1, 3]);
    }
}
