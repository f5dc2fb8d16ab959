//! The scheduling decisions, as a pure state machine with no I/O: which task may
//! start, what a failure skips, when the run is over and how it ended.
//!
//! Rules:
//! - a task becomes ready once every task it needs has succeeded (or failed with
//!   `allow_failure`, or was done in an earlier run);
//! - an `always` task becomes ready once every task it needs has ended, whatever
//!   the outcome;
//! - after a failure that is not allowed, no new task starts except `always` tasks:
//!   the failed task's dependents are skipped (dependency failed), every other task
//!   that has not started is skipped (run failed), tasks already running finish;
//! - after an interruption nothing starts at all; what has not started stays pending.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::events::{CancelReason, Counts, RunOutcome};
use crate::validate::TaskIdx;

use super::graph::DepGraph;
use super::state::{Failure, SkipCause, StateChange, TaskState};

/// Whether the run is still starting work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// A task failed: only `always` tasks start.
    Failing,
    /// Interrupted: nothing starts.
    Interrupted,
}

/// How an attempt ended, as the dispatcher reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Succeeded { exit_code: Option<i32> },
    Failed { error: Failure },
    Cancelled(CancelReason),
}

/// The state of every task and the ready queue.
#[derive(Debug, Clone)]
pub struct RunState {
    graph: DepGraph,
    states: Vec<TaskState>,
    /// Needs that have not ended yet.
    waiting: Vec<u32>,
    /// The first need that ended without letting this task run.
    blocked_by: Vec<Option<TaskIdx>>,
    /// Longest chain first, then declaration order.
    ready: BinaryHeap<(u32, Reverse<TaskIdx>)>,
    running: usize,
    mode: Mode,
}

impl RunState {
    /// The starting state; `done_earlier` tasks (succeeded in a run this one
    /// resumes) are skipped. Returns the changes that puts in place.
    pub fn new(graph: DepGraph, done_earlier: &[TaskIdx]) -> (Self, Vec<StateChange>) {
        let n = graph.len();
        let waiting = (0..n).map(|t| graph.needs(t).len() as u32).collect();
        let mut state = Self {
            graph,
            states: vec![TaskState::Pending; n],
            waiting,
            blocked_by: vec![None; n],
            ready: BinaryHeap::new(),
            running: 0,
            mode: Mode::Normal,
        };
        let mut changes = Vec::new();
        // Mark every done task before any of them lets dependents react: otherwise a
        // done task whose need ended first would already be ready, and run again.
        let done = TaskState::Skipped(SkipCause::DoneEarlier);
        let mut marked = Vec::with_capacity(done_earlier.len());
        for &task in done_earlier {
            if state.states[task] == TaskState::Pending {
                state.states[task] = done;
                changes.push(StateChange::Skipped {
                    task,
                    cause: SkipCause::DoneEarlier,
                });
                marked.push(task);
            }
        }
        for task in marked {
            state.end(task, done, &mut changes);
        }
        for task in 0..n {
            if state.states[task] == TaskState::Pending && state.waiting[task] == 0 {
                state.make_ready(task);
            }
        }
        (state, changes)
    }

    #[cfg(test)]
    pub fn state(&self, task: TaskIdx) -> TaskState {
        self.states[task]
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Tasks running now.
    pub fn running(&self) -> usize {
        self.running
    }

    /// The next task to start, now marked running; `None` when nothing is ready or
    /// the run was interrupted.
    pub fn start_next(&mut self) -> Option<TaskIdx> {
        if self.mode == Mode::Interrupted {
            return None;
        }
        let (_, Reverse(task)) = self.ready.pop()?;
        debug_assert_eq!(self.states[task], TaskState::Ready);
        self.states[task] = TaskState::Running;
        self.running += 1;
        Some(task)
    }

    /// A running task ended. Returns the resulting changes, the task's own first.
    pub fn finish(&mut self, task: TaskIdx, ended: Ended) -> Vec<StateChange> {
        assert_eq!(
            self.states[task],
            TaskState::Running,
            "only a running task ends"
        );
        self.running -= 1;
        let mut changes = Vec::new();
        match ended {
            Ended::Succeeded { exit_code } => {
                changes.push(StateChange::Succeeded { task, exit_code });
                self.end(task, TaskState::Succeeded, &mut changes);
            }
            Ended::Failed { error } => {
                let allowed = self.graph.allow_failure(task);
                changes.push(StateChange::Failed {
                    task,
                    allowed,
                    error,
                });
                self.end(task, TaskState::Failed { allowed }, &mut changes);
                if !allowed && self.mode == Mode::Normal {
                    self.mode = Mode::Failing;
                    self.skip_all_but_always(&mut changes);
                }
            }
            Ended::Cancelled(reason) => {
                changes.push(StateChange::Cancelled { task, reason });
                self.end(task, TaskState::Cancelled(reason), &mut changes);
            }
        }
        changes
    }

    /// Stops starting work. Returns the change to record (once).
    pub fn interrupt(&mut self) -> Option<StateChange> {
        if self.mode == Mode::Interrupted {
            return None;
        }
        self.mode = Mode::Interrupted;
        for (_, Reverse(task)) in self.ready.drain() {
            self.states[task] = TaskState::Pending;
        }
        Some(StateChange::Interrupted)
    }

    /// Whether nothing runs and nothing more will start.
    pub fn is_over(&self) -> bool {
        self.running == 0 && (self.ready.is_empty() || self.mode == Mode::Interrupted)
    }

    /// How the run ended (meaningful once [`RunState::is_over`]).
    pub fn outcome(&self) -> RunOutcome {
        let counts = self.counts();
        if self.mode == Mode::Interrupted {
            RunOutcome::Interrupted
        } else if counts.failed > counts.allowed_failures || counts.cancelled > 0 {
            RunOutcome::Failed
        } else if counts.allowed_failures > 0 {
            RunOutcome::SucceededWithWarnings
        } else {
            RunOutcome::Succeeded
        }
    }

    /// Tasks by state; done-earlier tasks count as succeeded.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for state in &self.states {
            match state {
                TaskState::Succeeded | TaskState::Skipped(SkipCause::DoneEarlier) => {
                    c.succeeded += 1
                }
                TaskState::Failed { allowed } => {
                    c.failed += 1;
                    if *allowed {
                        c.allowed_failures += 1;
                    }
                }
                TaskState::Skipped(_) => c.skipped += 1,
                TaskState::Cancelled(_) => c.cancelled += 1,
                TaskState::Pending | TaskState::Ready | TaskState::Running => c.not_run += 1,
            }
        }
        c
    }

    fn make_ready(&mut self, task: TaskIdx) {
        self.states[task] = TaskState::Ready;
        self.ready.push((self.graph.priority(task), Reverse(task)));
    }

    /// Puts `task` in the terminal `state` and lets its dependents react.
    fn end(&mut self, task: TaskIdx, state: TaskState, changes: &mut Vec<StateChange>) {
        self.states[task] = state;
        let ok = state.lets_dependents_run();
        let mut stack = vec![(task, ok)];
        while let Some((ended, ok)) = stack.pop() {
            for i in 0..self.graph.dependents(ended).len() {
                let dep = self.graph.dependents(ended)[i];
                self.waiting[dep] -= 1;
                if !ok && self.blocked_by[dep].is_none() {
                    self.blocked_by[dep] = Some(ended);
                }
                if self.states[dep] != TaskState::Pending || self.mode == Mode::Interrupted {
                    continue;
                }
                let always = self.graph.always(dep);
                let skip = if always {
                    None
                } else if let Some(by) = self.blocked_by[dep] {
                    Some(SkipCause::DependencyFailed(by))
                } else if self.waiting[dep] == 0 && self.mode == Mode::Failing {
                    Some(SkipCause::RunFailed)
                } else {
                    None
                };
                if let Some(cause) = skip {
                    self.states[dep] = TaskState::Skipped(cause);
                    changes.push(StateChange::Skipped { task: dep, cause });
                    stack.push((dep, false));
                } else if self.waiting[dep] == 0 {
                    self.make_ready(dep);
                }
            }
        }
    }

    /// After the first failure: every task not started and not `always` is skipped.
    fn skip_all_but_always(&mut self, changes: &mut Vec<StateChange>) {
        let queued: Vec<TaskIdx> = self.ready.drain().map(|(_, Reverse(t))| t).collect();
        for task in queued {
            self.states[task] = TaskState::Pending;
            if self.graph.always(task) {
                self.make_ready(task);
            }
        }
        for task in 0..self.states.len() {
            if self.states[task] == TaskState::Pending && !self.graph.always(task) {
                let cause = SkipCause::RunFailed;
                changes.push(StateChange::Skipped { task, cause });
                self.end(task, TaskState::Skipped(cause), changes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn graph(needs: &[&[usize]]) -> DepGraph {
        let n = needs.len();
        DepGraph::new(
            needs.iter().map(|n| n.to_vec()).collect(),
            vec![false; n],
            vec![false; n],
        )
    }

    fn ok() -> Ended {
        Ended::Succeeded { exit_code: None }
    }

    fn fail() -> Ended {
        Ended::Failed {
            error: "boom".into(),
        }
    }

    #[test]
    fn dependents_of_a_failure_are_skipped_and_others_not_started() {
        // 0 -> 1 -> 2 ; 3 independent but queued behind 0
        let (mut s, _) = RunState::new(graph(&[&[], &[0], &[1], &[]]), &[]);
        assert_eq!(s.start_next(), Some(0)); // longest chain first
        let changes = s.finish(0, fail());
        assert_eq!(
            changes,
            vec![
                StateChange::Failed {
                    task: 0,
                    allowed: false,
                    error: "boom".into()
                },
                StateChange::Skipped {
                    task: 1,
                    cause: SkipCause::DependencyFailed(0)
                },
                StateChange::Skipped {
                    task: 2,
                    cause: SkipCause::DependencyFailed(1)
                },
                StateChange::Skipped {
                    task: 3,
                    cause: SkipCause::RunFailed
                },
            ]
        );
        assert!(s.is_over());
        assert_eq!(s.outcome(), RunOutcome::Failed);
    }

    #[test]
    fn always_task_runs_after_failure() {
        let mut g = graph(&[&[], &[0], &[1]]);
        g = DepGraph::new(
            (0..3).map(|t| g.needs(t).to_vec()).collect(),
            vec![false, false, true],
            vec![false; 3],
        );
        let (mut s, _) = RunState::new(g, &[]);
        assert_eq!(s.start_next(), Some(0));
        s.finish(0, fail());
        assert_eq!(
            s.state(1),
            TaskState::Skipped(SkipCause::DependencyFailed(0))
        );
        assert_eq!(s.start_next(), Some(2));
        s.finish(2, ok());
        assert!(s.is_over());
        assert_eq!(s.outcome(), RunOutcome::Failed);
    }

    #[test]
    fn allowed_failure_lets_dependents_run() {
        let g = DepGraph::new(vec![vec![], vec![0]], vec![false; 2], vec![true, false]);
        let (mut s, _) = RunState::new(g, &[]);
        assert_eq!(s.start_next(), Some(0));
        s.finish(0, fail());
        assert_eq!(s.start_next(), Some(1));
        s.finish(1, ok());
        assert_eq!(s.outcome(), RunOutcome::SucceededWithWarnings);
    }

    #[test]
    fn done_earlier_tasks_are_not_run() {
        let (mut s, changes) = RunState::new(graph(&[&[], &[0]]), &[0]);
        assert_eq!(
            changes,
            vec![StateChange::Skipped {
                task: 0,
                cause: SkipCause::DoneEarlier
            }]
        );
        assert_eq!(s.start_next(), Some(1));
        s.finish(1, ok());
        assert!(s.is_over());
        assert_eq!(s.outcome(), RunOutcome::Succeeded);
    }

    #[test]
    fn a_done_task_after_a_done_need_is_not_run() {
        // 0 -> 1 -> 2 with 0 and 1 done: ending 0 must not make 1 ready.
        let (mut s, changes) = RunState::new(graph(&[&[], &[0], &[1]]), &[0, 1]);
        assert_eq!(changes.len(), 2);
        assert_eq!(s.start_next(), Some(2));
        assert_eq!(s.start_next(), None);
        s.finish(2, ok());
        assert!(s.is_over());
    }

    #[test]
    fn interruption_starts_nothing_more() {
        let (mut s, _) = RunState::new(graph(&[&[], &[], &[0]]), &[]);
        assert_eq!(s.start_next(), Some(0));
        assert_eq!(s.interrupt(), Some(StateChange::Interrupted));
        assert_eq!(s.interrupt(), None);
        assert_eq!(s.start_next(), None);
        assert!(!s.is_over());
        s.finish(0, Ended::Cancelled(CancelReason::Interrupted));
        assert!(s.is_over());
        assert_eq!(s.state(1), TaskState::Pending);
        assert_eq!(s.state(2), TaskState::Pending);
        assert_eq!(s.outcome(), RunOutcome::Interrupted);
        assert_eq!(s.counts().not_run, 2);
    }

    /// A random DAG (needs point to lower indexes), flags, and per-task outcomes.
    fn arb_case() -> impl Strategy<Value = (DepGraph, Vec<bool>, Vec<usize>, usize)> {
        (1usize..24).prop_flat_map(|n| {
            let needs = (0..n)
                .map(|i| proptest::collection::btree_set(0..i.max(1), 0..=i.min(3)))
                .collect::<Vec<_>>();
            (
                needs,
                proptest::collection::vec(any::<bool>(), n),
                proptest::collection::vec(any::<bool>(), n),
                proptest::collection::vec(proptest::bool::weighted(0.2), n),
                proptest::collection::vec(any::<usize>(), 4 * n),
                1usize..5,
            )
                .prop_map(move |(needs, always, allow, fails, picks, jobs)| {
                    let needs: Vec<Vec<usize>> = needs
                        .into_iter()
                        .enumerate()
                        .map(|(i, s)| s.into_iter().filter(|&d| d < i).collect())
                        .collect();
                    (DepGraph::new(needs, always, allow), fails, picks, jobs)
                })
                .prop_map(|(g, fails, picks, jobs)| (g, fails, picks, jobs))
        })
    }

    proptest! {
        /// Simulates a run with at most `jobs` in flight, finishing running tasks
        /// in a random order, and checks every scheduling rule.
        #[test]
        fn run_respects_the_rules((g, fails, picks, jobs) in arb_case()) {
            let n = g.len();
            let (mut s, _) = RunState::new(g.clone(), &[]);
            let mut running: Vec<usize> = Vec::new();
            let mut started = vec![false; n];
            let mut picks = picks.into_iter().cycle();
            let mut failing = false;
            loop {
                while running.len() < jobs {
                    let Some(t) = s.start_next() else { break };
                    prop_assert!(!started[t], "task {t} started twice");
                    started[t] = true;
                    for &need in g.needs(t) {
                        let st = s.state(need);
                        if g.always(t) {
                            prop_assert!(st.is_terminal());
                        } else {
                            prop_assert!(st.lets_dependents_run(), "{t} started before {need}");
                        }
                    }
                    prop_assert!(!failing || g.always(t), "non-always {t} started after a failure");
                    running.push(t);
                }
                if running.is_empty() {
                    break;
                }
                let t = running.swap_remove(picks.next().unwrap() % running.len());
                let ended = if fails[t] { fail() } else { ok() };
                s.finish(t, ended);
                if fails[t] && !g.allow_failure(t) {
                    failing = true;
                }
            }
            prop_assert!(s.is_over());
            for (t, &was_started) in started.iter().enumerate() {
                let st = s.state(t);
                prop_assert!(st.is_terminal(), "task {t} left {st:?}");
                if g.always(t) {
                    prop_assert!(was_started, "always task {t} did not run");
                }
                if let TaskState::Skipped(SkipCause::DependencyFailed(by)) = st {
                    prop_assert!(g.needs(t).contains(&by));
                    prop_assert!(!s.state(by).lets_dependents_run());
                }
            }
            let hard = (0..n).any(|t| s.state(t) == TaskState::Failed { allowed: false });
            let soft = (0..n).any(|t| s.state(t) == TaskState::Failed { allowed: true });
            let expect = if hard { RunOutcome::Failed }
                else if soft { RunOutcome::SucceededWithWarnings }
                else { RunOutcome::Succeeded };
            prop_assert_eq!(s.outcome(), expect);
            if !fails.iter().any(|&f| f) {
                prop_assert!((0..n).all(|t| s.state(t) == TaskState::Succeeded));
            }
        }

        /// With unlimited jobs, a simulated run (each task taking its given time)
        /// ends exactly at the critical path: no task waits for anything but its needs.
        #[test]
        fn unlimited_jobs_reach_the_critical_path(
            (g, _, picks, _) in arb_case(),
        ) {
            let n = g.len();
            let cost: Vec<u64> = (0..n).map(|t| 1 + (picks[t] % 7) as u64).collect();
            // The critical path, from the needs (they point to lower indexes).
            let mut finish = vec![0u64; n];
            for t in 0..n {
                let start = g.needs(t).iter().map(|&d| finish[d]).max().unwrap_or(0);
                finish[t] = start + cost[t];
            }
            let critical = finish.iter().copied().max().unwrap_or(0);

            let (mut s, _) = RunState::new(g, &[]);
            let mut clock = 0u64;
            let mut running: Vec<(u64, usize)> = Vec::new();
            loop {
                while let Some(t) = s.start_next() {
                    running.push((clock + cost[t], t));
                }
                let Some(i) = (0..running.len()).min_by_key(|&i| running[i]) else { break };
                let (end, t) = running.swap_remove(i);
                clock = end;
                s.finish(t, ok());
            }
            prop_assert_eq!(clock, critical);
        }
    }
}
