//! What expected durations tell the scheduler, as pure functions: how long the
//! longest path starting at each task is expected to take (the priority that starts
//! the critical path first), and how long what is left of a run is expected to take
//! with `--jobs` slots (the time left the operator sees).
//!
//! Rules:
//! - a task's expected duration is the median of its last successful attempts with
//!   the same definition (`journal::timings`), else its type's typical duration
//!   (`plan::TypeInfo::typical`);
//! - a task's priority is its expected remaining path: its own expected duration plus
//!   the longest expected remaining path among its dependents. Ties go to the longer
//!   chain of tasks (so tasks expected to take no time still run the longest chain
//!   first), then to the plan's order;
//! - the time left is the makespan of the tasks that will still run, scheduled as the
//!   dispatcher schedules them (a task once its needs ended, ready tasks by priority,
//!   at most `jobs` at once), each taking its expected duration. A running task takes
//!   what is left of its expected duration; one that has run longer than expected
//!   counts as ending now, and the time left is then a lower bound ("at least").

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use crate::validate::TaskIdx;

use super::graph::DepGraph;

/// A ready task's rank: its expected remaining path, then its longest chain of tasks.
pub type Priority = (Duration, u32);

/// Each task's [`Priority`], from what each needs, what needs it, and expected
/// durations. The graph must be acyclic; a cycle is a bug here.
pub fn priorities(
    needs: &[Vec<TaskIdx>],
    dependents: &[Vec<TaskIdx>],
    expected: &[Duration],
) -> Vec<Priority> {
    let n = needs.len();
    // From the sinks backwards: a task's path is known once every dependent's is.
    let mut left: Vec<usize> = dependents.iter().map(Vec::len).collect();
    let mut stack: Vec<TaskIdx> = (0..n).filter(|&t| left[t] == 0).collect();
    let mut after: Vec<Priority> = vec![(Duration::ZERO, 0); n];
    let mut priority: Vec<Priority> = vec![(Duration::ZERO, 0); n];
    let mut seen = 0;
    while let Some(task) = stack.pop() {
        seen += 1;
        let (path, chain) = after[task];
        let own = (path.saturating_add(expected[task]), chain + 1);
        priority[task] = own;
        for &need in &needs[task] {
            let a = &mut after[need];
            *a = (a.0.max(own.0), a.1.max(own.1));
            left[need] -= 1;
            if left[need] == 0 {
                stack.push(need);
            }
        }
    }
    assert!(seen == n, "the dependency graph has a cycle");
    priority
}

/// The expected time left of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeLeft {
    /// Until the last task that will run ends.
    pub expected: Duration,
    /// A running task has taken longer than expected: `expected` counts it as
    /// ending now, so it is a lower bound.
    pub overrun: bool,
}

/// The makespan of the tasks left (see the module's rules): `todo[t]` says whether
/// task `t` will still run or runs now; `running` gives the running ones with the
/// time their attempt has run; at most `jobs` run at once.
pub fn time_left(
    graph: &DepGraph,
    todo: &[bool],
    running: &[(TaskIdx, Duration)],
    jobs: usize,
) -> TimeLeft {
    let n = graph.len();
    let mut is_running = vec![false; n];
    let mut ends: BinaryHeap<Reverse<(Duration, TaskIdx)>> = BinaryHeap::new();
    let mut overrun = false;
    for &(task, ran) in running {
        is_running[task] = true;
        let expected = graph.expected(task);
        overrun |= ran > expected;
        ends.push(Reverse((expected.saturating_sub(ran), task)));
    }
    let mut waiting = vec![0usize; n];
    let mut ready: BinaryHeap<(Priority, Reverse<TaskIdx>)> = BinaryHeap::new();
    for task in (0..n).filter(|&t| todo[t] && !is_running[t]) {
        waiting[task] = graph.needs(task).iter().filter(|&&d| todo[d]).count();
        if waiting[task] == 0 {
            ready.push((graph.priority(task), Reverse(task)));
        }
    }
    let mut free = jobs.max(1).saturating_sub(running.len());
    let mut now = Duration::ZERO;
    loop {
        while free > 0 {
            let Some((_, Reverse(task))) = ready.pop() else {
                break;
            };
            ends.push(Reverse((now.saturating_add(graph.expected(task)), task)));
            free -= 1;
        }
        let Some(Reverse((end, task))) = ends.pop() else {
            break;
        };
        now = end;
        free += 1;
        for &dep in graph.dependents(task) {
            if todo[dep] && !is_running[dep] {
                waiting[dep] -= 1;
                if waiting[dep] == 0 {
                    ready.push((graph.priority(dep), Reverse(dep)));
                }
            }
        }
    }
    TimeLeft {
        expected: now,
        overrun,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn graph(needs: &[&[usize]], expected: &[u64]) -> DepGraph {
        let n = needs.len();
        DepGraph::new(
            needs.iter().map(|n| n.to_vec()).collect(),
            vec![false; n],
            vec![false; n],
            expected.iter().map(|&v| ms(v)).collect(),
        )
    }

    #[test]
    fn priority_is_the_longest_expected_path_then_the_longest_chain() {
        // 0 -> 1 -> 2 (10 + 10 + 10), 0 -> 3 (100); 4 -> 5 (0 + 0)
        let g = graph(
            &[&[], &[0], &[1], &[0], &[], &[4]],
            &[10, 10, 10, 100, 0, 0],
        );
        let p: Vec<Priority> = (0..6).map(|t| g.priority(t)).collect();
        assert_eq!(
            p,
            [
                (ms(110), 3),
                (ms(20), 2),
                (ms(10), 1),
                (ms(100), 1),
                (ms(0), 2),
                (ms(0), 1)
            ]
        );
    }

    #[test]
    fn time_left_counts_what_runs_as_what_is_left_of_it() {
        // 0 (running, 100 of 300 done) -> 2 (50); 1 (200) alone; two slots.
        let g = graph(&[&[], &[], &[0]], &[300, 200, 50]);
        let left = time_left(&g, &[true; 3], &[(0, ms(100))], 2);
        assert_eq!(
            left,
            TimeLeft {
                expected: ms(250),
                overrun: false
            }
        );
        // One slot: 1 waits for 0 (200 left), then 2 (priority 50) and 1 (200).
        let left = time_left(&g, &[true; 3], &[(0, ms(100))], 1);
        assert_eq!(left.expected, ms(450));
        // Running past its expected duration: counts as ending now.
        let left = time_left(&g, &[true; 3], &[(0, ms(400))], 2);
        assert_eq!(
            left,
            TimeLeft {
                expected: ms(200),
                overrun: true
            }
        );
        // Only what is still to run counts.
        let left = time_left(&g, &[false, true, false], &[], 2);
        assert_eq!(left.expected, ms(200));
    }

    /// A random DAG (needs point to lower indexes) with expected durations.
    fn arb_graph() -> impl Strategy<Value = DepGraph> {
        (1usize..30).prop_flat_map(|n| {
            (
                (0..n)
                    .map(|i| proptest::collection::btree_set(0..i.max(1), 0..=i.min(3)))
                    .collect::<Vec<_>>(),
                proptest::collection::vec(0u64..1000, n),
            )
                .prop_map(move |(needs, expected)| {
                    let needs: Vec<Vec<usize>> = needs
                        .into_iter()
                        .enumerate()
                        .map(|(i, s)| s.into_iter().filter(|&d| d < i).collect())
                        .collect();
                    DepGraph::new(
                        needs,
                        vec![false; n],
                        vec![false; n],
                        expected.into_iter().map(ms).collect(),
                    )
                })
        })
    }

    /// The critical path of the whole graph, from the needs.
    fn critical_path(g: &DepGraph) -> Duration {
        let mut finish = vec![Duration::ZERO; g.len()];
        for t in 0..g.len() {
            let start = g
                .needs(t)
                .iter()
                .map(|&d| finish[d])
                .max()
                .unwrap_or_default();
            finish[t] = start + g.expected(t);
        }
        finish.into_iter().max().unwrap_or_default()
    }

    proptest! {
        #[test]
        fn priorities_are_expected_remaining_paths(g in arb_graph()) {
            for t in 0..g.len() {
                let (path, chain) = g.priority(t);
                let after = g.dependents(t).iter().map(|&d| g.priority(d)).fold(
                    (Duration::ZERO, 0),
                    |a, p| (a.0.max(p.0), a.1.max(p.1)),
                );
                prop_assert_eq!(path, g.expected(t) + after.0);
                prop_assert_eq!(chain, after.1 + 1);
            }
        }

        /// Nothing started yet: the time left lies between the lower bounds (the
        /// critical path, the work shared by the slots) and the work done one task
        /// at a time; unlimited slots reach the critical path, one slot does the sum.
        #[test]
        fn time_left_is_bounded_by_the_critical_path_and_the_work(
            g in arb_graph(),
            jobs in 1usize..6,
        ) {
            let n = g.len();
            let todo = vec![true; n];
            let work: Duration = (0..n).map(|t| g.expected(t)).sum();
            let critical = critical_path(&g);
            let left = time_left(&g, &todo, &[], jobs).expected;
            prop_assert!(left >= critical);
            prop_assert!(left >= work / jobs as u32);
            prop_assert!(left <= work);
            prop_assert_eq!(time_left(&g, &todo, &[], n).expected, critical);
            prop_assert_eq!(time_left(&g, &todo, &[], 1).expected, work);
        }
    }
}
