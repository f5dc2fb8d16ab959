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
//! - in a dry run a failure stops nothing: its dependents are described too. A
//!   check that fails after a task that would change something (the dry run did not
//!   make that change) "depends on a change": its verdict is unknown until that
//!   change is made, and it does not fail the dry run; a check that fails with no
//!   change before it "would fail", and the dry run ends failed;
//! - after an interruption no task starts, except, once nothing runs any more, the
//!   `always` tasks that have not run (cleanup, recording the outcome), whatever
//!   their needs did, each after the `always` tasks it needs; what has not started
//!   stays pending;
//! - tasks done earlier (succeeded in an earlier process of the run) are skipped as
//!   such; tasks outside what `--rerun` runs, and not taken as done, are skipped as
//!   not selected, and so are their dependents (their need did not succeed).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use crate::events::{CancelReason, Counts, RunOutcome};
use crate::validate::TaskIdx;
use crate::vocabulary::TaskStatus;

use super::estimate::{Priority, TimeLeft, time_left};
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
    Succeeded {
        exit_code: Option<i32>,
        summary: Option<String>,
        /// In a dry run: the task would change something.
        would_change: bool,
    },
    Failed {
        error: Failure,
    },
    Cancelled {
        reason: CancelReason,
        blocked_by: Option<String>,
    },
}

/// What the run starts from besides the graph.
#[derive(Debug, Clone, Default)]
pub struct Start {
    /// Succeeded earlier in the run (or taken from the latest run): not run.
    pub done_earlier: Vec<TaskIdx>,
    /// Outside what `--rerun` runs and not taken as done: not run.
    pub not_selected: Vec<TaskIdx>,
    /// A dry run: failures stop nothing.
    pub dry_run: bool,
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
    /// Longest expected path first, then longest chain, then declaration order.
    ready: BinaryHeap<(Priority, Reverse<TaskIdx>)>,
    running: usize,
    mode: Mode,
    dry_run: bool,
    /// Per task, in a dry run: it would change something.
    would_change: Vec<bool>,
    /// Per task, in a dry run: it failed after these tasks that would change
    /// something (nearest first), so its verdict depends on their change.
    depends_on: Vec<Vec<TaskIdx>>,
    /// After an interruption: the `always` tasks that have not started, in priority
    /// order; they start once nothing else runs.
    finale: Vec<TaskIdx>,
    /// Per task: started by the finale.
    in_finale: Vec<bool>,
}

impl RunState {
    /// The starting state: `start.done_earlier` tasks are skipped as done, the
    /// `start.not_selected` ones as not selected. Returns the changes that puts in
    /// place.
    pub fn new(graph: DepGraph, start: &Start) -> (Self, Vec<StateChange>) {
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
            dry_run: start.dry_run,
            would_change: vec![false; n],
            depends_on: vec![Vec::new(); n],
            finale: Vec::new(),
            in_finale: vec![false; n],
        };
        let mut changes = Vec::new();
        // Mark every preset task before any of them lets dependents react: otherwise a
        // done task whose need ended first would already be ready, and run again.
        let mut marked = Vec::new();
        let presets = [
            (SkipCause::DoneEarlier, &start.done_earlier),
            (SkipCause::NotSelected, &start.not_selected),
        ];
        for (cause, tasks) in presets {
            for &task in tasks {
                if state.states[task] == TaskState::Pending {
                    state.states[task] = TaskState::Skipped(cause);
                    changes.push(StateChange::Skipped { task, cause });
                    marked.push(task);
                }
            }
        }
        for task in marked {
            let preset = state.states[task];
            state.end(task, preset, &mut changes);
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

    /// Where `task` stands, in the vocabulary.
    pub fn status(&self, task: TaskIdx) -> TaskStatus {
        match self.states[task] {
            TaskState::Failed { .. } if !self.depends_on[task].is_empty() => {
                TaskStatus::DependsOnAChange
            }
            state => state.status(self.dry_run, self.would_change[task]),
        }
    }

    /// In a dry run, for a check that depends on a change: the tasks that would
    /// change something before it, nearest first (empty otherwise).
    pub fn depends_on(&self, task: TaskIdx) -> &[TaskIdx] {
        &self.depends_on[task]
    }

    /// The next task to start, now marked running; `None` when nothing is ready (after
    /// an interruption: until nothing runs, then the `always` tasks left).
    pub fn start_next(&mut self) -> Option<TaskIdx> {
        if self.mode == Mode::Interrupted {
            return self.start_finale();
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
            Ended::Succeeded {
                exit_code,
                summary,
                would_change,
            } => {
                self.would_change[task] = would_change;
                changes.push(StateChange::Succeeded {
                    task,
                    exit_code,
                    summary,
                });
                self.end(task, TaskState::Succeeded, &mut changes);
            }
            Ended::Failed { error } => {
                if self.dry_run {
                    self.depends_on[task] = self.changes_before(task);
                }
                let allowed = self.graph.allow_failure(task);
                changes.push(StateChange::Failed {
                    task,
                    allowed,
                    error,
                });
                self.end(task, TaskState::Failed { allowed }, &mut changes);
                if !allowed && self.mode == Mode::Normal && !self.dry_run {
                    self.mode = Mode::Failing;
                    self.skip_all_but_always(&mut changes);
                }
            }
            Ended::Cancelled { reason, blocked_by } => {
                changes.push(StateChange::Cancelled {
                    task,
                    reason,
                    blocked_by,
                });
                self.end(task, TaskState::Cancelled(reason), &mut changes);
            }
        }
        changes
    }

    /// Stops starting work (`cause`: what interrupted the run). Returns the change to
    /// record (once).
    pub fn interrupt(&mut self, cause: Option<String>) -> Option<StateChange> {
        if self.mode == Mode::Interrupted {
            return None;
        }
        self.mode = Mode::Interrupted;
        for (_, Reverse(task)) in self.ready.drain() {
            self.states[task] = TaskState::Pending;
        }
        let mut finale: Vec<TaskIdx> = (0..self.states.len())
            .filter(|&t| self.graph.always(t) && self.states[t] == TaskState::Pending)
            .collect();
        finale.sort_by_key(|&t| (Reverse(self.graph.priority(t)), t));
        self.finale = finale;
        Some(StateChange::Interrupted { cause })
    }

    /// After an interruption, once the interrupted tasks have ended: the next
    /// `always` task left whose `always` needs left have ended.
    fn start_finale(&mut self) -> Option<TaskIdx> {
        let winding_down = (0..self.states.len())
            .any(|t| self.states[t] == TaskState::Running && !self.in_finale[t]);
        if winding_down {
            return None;
        }
        let pos = self.finale.iter().position(|&t| {
            self.graph
                .needs(t)
                .iter()
                .all(|n| !self.finale.contains(n) && self.states[*n] != TaskState::Running)
        })?;
        let task = self.finale.remove(pos);
        self.states[task] = TaskState::Running;
        self.in_finale[task] = true;
        self.running += 1;
        Some(task)
    }

    /// Whether nothing runs and nothing more will start.
    pub fn is_over(&self) -> bool {
        let nothing_left = match self.mode {
            Mode::Interrupted => self.finale.is_empty(),
            _ => self.ready.is_empty(),
        };
        self.running == 0 && nothing_left
    }

    /// How the run ended (meaningful once [`RunState::is_over`]).
    pub fn outcome(&self) -> RunOutcome {
        let any = |f: fn(&TaskState) -> bool| self.states.iter().any(f);
        if self.mode == Mode::Interrupted {
            RunOutcome::Interrupted
        } else if any(|s| matches!(s, TaskState::Cancelled(_))) {
            RunOutcome::Failed
        } else if self.dry_run {
            // Only a check that fails as things are fails a dry run; one that depends
            // on a change the dry run did not make is unknown, not failed.
            let would_fail =
                (0..self.states.len()).any(|t| self.status(t) == TaskStatus::WouldFail);
            if would_fail {
                RunOutcome::Failed
            } else {
                RunOutcome::Succeeded
            }
        } else if any(|s| matches!(s, TaskState::Failed { allowed: false })) {
            RunOutcome::Failed
        } else if any(|s| matches!(s, TaskState::Failed { allowed: true })) {
            RunOutcome::SucceededWithWarnings
        } else {
            RunOutcome::Succeeded
        }
    }

    /// How the run stands now, for an `always` task starting: `interrupted`,
    /// `failed` (a failure that is not allowed, or a task cancelled), else
    /// `succeeded`.
    pub fn outcome_so_far(&self) -> &'static str {
        let failed = self.states.iter().any(|s| {
            matches!(
                s,
                TaskState::Failed { allowed: false } | TaskState::Cancelled(_)
            )
        });
        if self.mode == Mode::Interrupted {
            "interrupted"
        } else if failed {
            "failed"
        } else {
            "succeeded"
        }
    }

    /// The tasks that failed so far, allowed failures included, in plan order.
    pub fn failed_tasks(&self) -> impl Iterator<Item = TaskIdx> + '_ {
        (0..self.states.len()).filter(|&t| matches!(self.states[t], TaskState::Failed { .. }))
    }

    /// In a dry run: the tasks `task` needs, directly or not, that would change
    /// something, nearest first. A check after them sees the cluster before their
    /// change.
    pub fn changes_before(&self, task: TaskIdx) -> Vec<TaskIdx> {
        let mut seen = vec![false; self.states.len()];
        let mut queue: std::collections::VecDeque<TaskIdx> =
            self.graph.needs(task).iter().copied().collect();
        let mut out = Vec::new();
        while let Some(t) = queue.pop_front() {
            if std::mem::replace(&mut seen[t], true) {
                continue;
            }
            if self.status(t) == TaskStatus::WouldChange {
                out.push(t);
            }
            queue.extend(self.graph.needs(t));
        }
        out
    }

    /// Tasks by state, in the vocabulary.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for task in 0..self.states.len() {
            c.add(self.status(task));
        }
        c
    }

    /// Whether `task` runs now or will still start in this run (as things stand:
    /// after a failure only `always` tasks start, after an interruption only the
    /// `always` tasks left).
    pub fn will_run(&self, task: TaskIdx) -> bool {
        match self.states[task] {
            TaskState::Running => true,
            TaskState::Pending | TaskState::Ready => match self.mode {
                Mode::Normal => true,
                Mode::Failing => self.graph.always(task),
                Mode::Interrupted => self.finale.contains(&task),
            },
            _ => false,
        }
    }

    /// The expected time left (see [`super::estimate`]): `ran(task)` is how long a
    /// running task's attempt has run; at most `jobs` at once.
    pub fn time_left(&self, ran: impl Fn(TaskIdx) -> Duration, jobs: usize) -> TimeLeft {
        let todo: Vec<bool> = (0..self.states.len()).map(|t| self.will_run(t)).collect();
        let running: Vec<(TaskIdx, Duration)> = (0..self.states.len())
            .filter(|&t| self.states[t] == TaskState::Running)
            .map(|t| (t, ran(t)))
            .collect();
        time_left(&self.graph, &todo, &running, jobs)
    }

    fn make_ready(&mut self, task: TaskIdx) {
        self.states[task] = TaskState::Ready;
        self.ready.push((self.graph.priority(task), Reverse(task)));
    }

    /// Puts `task` in the terminal `state` and lets its dependents react.
    fn end(&mut self, task: TaskIdx, state: TaskState, changes: &mut Vec<StateChange>) {
        self.states[task] = state;
        // A dry run describes what follows a check that would fail.
        let ok = state.lets_dependents_run()
            || self.dry_run && matches!(state, TaskState::Failed { .. });
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
        flags_graph(
            needs.iter().map(|n| n.to_vec()).collect(),
            vec![false; n],
            vec![false; n],
        )
    }

    /// A graph whose tasks are all expected to take one second: the longest chain
    /// goes first.
    fn flags_graph(needs: Vec<Vec<usize>>, always: Vec<bool>, allow: Vec<bool>) -> DepGraph {
        let n = needs.len();
        DepGraph::new(needs, always, allow, vec![Duration::from_secs(1); n])
    }

    fn ok() -> Ended {
        Ended::Succeeded {
            exit_code: None,
            summary: None,
            would_change: false,
        }
    }

    fn start() -> Start {
        Start::default()
    }

    fn done(tasks: &[TaskIdx]) -> Start {
        Start {
            done_earlier: tasks.to_vec(),
            ..Start::default()
        }
    }

    fn interrupted() -> Ended {
        Ended::Cancelled {
            reason: CancelReason::Interrupted,
            blocked_by: None,
        }
    }

    fn fail() -> Ended {
        Ended::Failed {
            error: "boom".into(),
        }
    }

    #[test]
    fn the_longest_expected_path_starts_first() {
        // 0 -> 1 -> 2 (10 ms each: the longest chain), 3 (500 ms), 4 (100 ms) -> 5
        // (300 ms). One at a time: 3, then 4 (400 ms left on its path), 5, the chain.
        let ms = Duration::from_millis;
        let g = DepGraph::new(
            vec![vec![], vec![0], vec![1], vec![], vec![], vec![4]],
            vec![false; 6],
            vec![false; 6],
            [10, 10, 10, 500, 100, 300].map(ms).to_vec(),
        );
        let (mut s, _) = RunState::new(g, &start());
        let mut order = Vec::new();
        while let Some(t) = s.start_next() {
            order.push(t);
            s.finish(t, ok());
        }
        assert_eq!(order, [3, 4, 5, 0, 1, 2]);
    }

    #[test]
    fn time_left_counts_only_what_will_still_run() {
        // 0 -> 1; 2 always, needs 1; 3 alone. Once 0 failed, 1 is skipped; 3 runs on
        // and 2 (always) is left.
        let ms = Duration::from_millis;
        let g = DepGraph::new(
            vec![vec![], vec![0], vec![1], vec![]],
            vec![false, false, true, false],
            vec![false; 4],
            [100, 200, 50, 400].map(ms).to_vec(),
        );
        let (mut s, _) = RunState::new(g, &start());
        assert_eq!(s.time_left(|_| ms(0), 4).expected, ms(400));
        assert_eq!(s.start_next(), Some(3));
        assert_eq!(s.start_next(), Some(0));
        assert_eq!(
            s.time_left(|t| ms(if t == 3 { 100 } else { 0 }), 4)
                .expected,
            ms(350)
        );
        s.finish(0, fail());
        assert!(!s.will_run(1), "skipped");
        assert!(s.will_run(3), "running");
        assert!(s.will_run(2), "always");
        assert_eq!(s.time_left(|_| ms(0), 4).expected, ms(400), "3 still runs");
        s.finish(3, ok());
        assert_eq!(s.time_left(|_| ms(0), 4).expected, ms(50));
    }

    #[test]
    fn dependents_of_a_failure_are_skipped_and_others_not_started() {
        // 0 -> 1 -> 2 ; 3 independent but queued behind 0
        let (mut s, _) = RunState::new(graph(&[&[], &[0], &[1], &[]]), &start());
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
        g = flags_graph(
            (0..3).map(|t| g.needs(t).to_vec()).collect(),
            vec![false, false, true],
            vec![false; 3],
        );
        let (mut s, _) = RunState::new(g, &start());
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
        let g = flags_graph(vec![vec![], vec![0]], vec![false; 2], vec![true, false]);
        let (mut s, _) = RunState::new(g, &start());
        assert_eq!(s.start_next(), Some(0));
        s.finish(0, fail());
        assert_eq!(s.start_next(), Some(1));
        s.finish(1, ok());
        assert_eq!(s.outcome(), RunOutcome::SucceededWithWarnings);
    }

    #[test]
    fn done_earlier_tasks_are_not_run() {
        let (mut s, changes) = RunState::new(graph(&[&[], &[0]]), &done(&[0]));
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
        let (mut s, changes) = RunState::new(graph(&[&[], &[0], &[1]]), &done(&[0, 1]));
        assert_eq!(changes.len(), 2);
        assert_eq!(s.start_next(), Some(2));
        assert_eq!(s.start_next(), None);
        s.finish(2, ok());
        assert!(s.is_over());
    }

    #[test]
    fn interruption_starts_nothing_more() {
        let (mut s, _) = RunState::new(graph(&[&[], &[], &[0]]), &start());
        assert_eq!(s.start_next(), Some(0));
        assert_eq!(
            s.interrupt(Some("SIGINT (Ctrl-C)".into())),
            Some(StateChange::Interrupted {
                cause: Some("SIGINT (Ctrl-C)".into())
            })
        );
        assert_eq!(s.interrupt(None), None);
        assert_eq!(s.start_next(), None);
        assert!(!s.is_over());
        s.finish(0, interrupted());
        assert!(s.is_over());
        assert_eq!(s.state(1), TaskState::Pending);
        assert_eq!(s.state(2), TaskState::Pending);
        assert_eq!(s.outcome(), RunOutcome::Interrupted);
        assert_eq!(s.counts().get(TaskStatus::Pending), 2);
        assert_eq!(s.counts().get(TaskStatus::Interrupted), 1);
    }

    #[test]
    fn after_an_interruption_always_tasks_run_once_the_interrupted_ones_ended() {
        // 0 -> 1 (always) -> 2 (always); 3 independent, never started.
        let g = flags_graph(
            vec![vec![], vec![0], vec![1], vec![]],
            vec![false, true, true, false],
            vec![false; 4],
        );
        let (mut s, _) = RunState::new(g, &start());
        assert_eq!(s.start_next(), Some(0));
        s.interrupt(None);
        assert_eq!(s.start_next(), None, "not while 0 winds down");
        s.finish(0, interrupted());
        assert_eq!(s.outcome_so_far(), "interrupted");
        assert_eq!(s.start_next(), Some(1));
        assert_eq!(s.start_next(), None, "2 needs 1, also in the finale");
        assert!(!s.is_over());
        s.finish(1, ok());
        assert_eq!(s.start_next(), Some(2));
        s.finish(2, ok());
        assert!(s.is_over());
        assert_eq!(s.state(3), TaskState::Pending);
        assert_eq!(s.outcome(), RunOutcome::Interrupted);
    }

    #[test]
    fn a_dry_run_goes_on_past_what_would_fail_and_ends_failed() {
        let (mut s, _) = RunState::new(
            graph(&[&[], &[0], &[]]),
            &Start {
                dry_run: true,
                ..Start::default()
            },
        );
        assert_eq!(s.start_next(), Some(0));
        s.finish(0, fail());
        assert_eq!(
            s.start_next(),
            Some(1),
            "described though its need would fail"
        );
        assert_eq!(s.start_next(), Some(2));
        s.finish(
            1,
            Ended::Succeeded {
                exit_code: None,
                summary: None,
                would_change: true,
            },
        );
        s.finish(2, ok());
        assert!(s.is_over());
        assert_eq!(
            [s.status(0), s.status(1), s.status(2)],
            [
                TaskStatus::WouldFail,
                TaskStatus::WouldChange,
                TaskStatus::CheckedOk
            ]
        );
        assert_eq!(s.outcome(), RunOutcome::Failed);
    }

    #[test]
    fn a_check_failing_after_a_change_depends_on_it_and_fails_nothing() {
        // 0 changes; 1 (check) needs 0; 2 (check) needs 1; 3 (check) alone.
        let dry = Start {
            dry_run: true,
            ..Start::default()
        };
        let change = Ended::Succeeded {
            exit_code: None,
            summary: None,
            would_change: true,
        };
        let (mut s, _) = RunState::new(graph(&[&[], &[0], &[1], &[]]), &dry);
        while let Some(t) = s.start_next() {
            s.finish(t, if t == 0 { change.clone() } else { fail() });
            if t == 3 {
                // Only the check with no change before it fails the dry run.
                assert_eq!(s.status(3), TaskStatus::WouldFail);
            }
        }
        assert!(s.is_over());
        assert_eq!(
            [s.status(1), s.status(2)],
            [TaskStatus::DependsOnAChange, TaskStatus::DependsOnAChange]
        );
        assert_eq!((s.depends_on(1), s.depends_on(2)), (&[0][..], &[0][..]));
        assert_eq!(s.outcome(), RunOutcome::Failed, "3 would fail on its own");

        let (mut s, _) = RunState::new(graph(&[&[], &[0], &[1]]), &dry);
        while let Some(t) = s.start_next() {
            s.finish(t, if t == 0 { change.clone() } else { fail() });
        }
        assert_eq!(s.outcome(), RunOutcome::Succeeded);
        assert_eq!(s.counts().get(TaskStatus::DependsOnAChange), 2);
    }

    #[test]
    fn tasks_not_selected_are_skipped_with_what_needs_them() {
        // 0 done, 1 not selected, 2 needs 0 (runs), 3 needs 1 (skipped).
        let (mut s, changes) = RunState::new(
            graph(&[&[], &[], &[0], &[1]]),
            &Start {
                done_earlier: vec![0],
                not_selected: vec![1],
                dry_run: false,
            },
        );
        assert_eq!(
            changes,
            vec![
                StateChange::Skipped {
                    task: 0,
                    cause: SkipCause::DoneEarlier
                },
                StateChange::Skipped {
                    task: 1,
                    cause: SkipCause::NotSelected
                },
                StateChange::Skipped {
                    task: 3,
                    cause: SkipCause::DependencyFailed(1)
                },
            ]
        );
        assert_eq!(s.start_next(), Some(2));
        assert_eq!(s.start_next(), None);
        s.finish(2, ok());
        assert!(s.is_over());
    }

    #[test]
    fn always_tasks_learn_how_the_run_stands() {
        let g = flags_graph(
            vec![vec![], vec![], vec![0, 1]],
            vec![false, false, true],
            vec![false, true, false],
        );
        let (mut s, _) = RunState::new(g, &start());
        assert_eq!(s.outcome_so_far(), "succeeded");
        s.start_next();
        s.start_next();
        s.finish(1, fail());
        assert_eq!(s.outcome_so_far(), "succeeded", "an allowed failure");
        assert_eq!(s.failed_tasks().collect::<Vec<_>>(), [1]);
        s.finish(0, fail());
        assert_eq!(s.outcome_so_far(), "failed");
        assert_eq!(s.failed_tasks().collect::<Vec<_>>(), [0, 1]);
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
                    (flags_graph(needs, always, allow), fails, picks, jobs)
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
            let (mut s, _) = RunState::new(g.clone(), &start());
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

        /// An interruption at a random moment: no task but an `always` one starts after
        /// it, and only once the interrupted ones ended; every `always` task not yet
        /// started then runs, each after the `always` tasks it needs.
        #[test]
        fn after_an_interruption_only_the_always_tasks_left_run(
            (g, fails, picks, jobs) in arb_case(),
            at in 0usize..40,
        ) {
            let n = g.len();
            let (mut s, _) = RunState::new(g.clone(), &start());
            let mut running: Vec<usize> = Vec::new();
            let mut started = vec![false; n];
            let mut before = vec![false; n];
            let mut picks = picks.into_iter().cycle();
            let mut steps = 0;
            let mut interrupted_running: Vec<usize> = Vec::new();
            let mut is_interrupted = false;
            loop {
                while running.len() < jobs {
                    let Some(t) = s.start_next() else { break };
                    prop_assert!(!started[t]);
                    started[t] = true;
                    if is_interrupted {
                        prop_assert!(g.always(t), "{t} started after the interruption");
                        prop_assert!(interrupted_running.is_empty(), "{t} started while interrupted ones wind down");
                        for &need in g.needs(t) {
                            if g.always(need) && !before[need] {
                                prop_assert!(s.state(need).is_terminal(), "{t} before its always need {need}");
                            }
                        }
                    } else {
                        before[t] = true;
                    }
                    running.push(t);
                }
                steps += 1;
                if steps == at && !is_interrupted {
                    is_interrupted = true;
                    interrupted_running = running.clone();
                    s.interrupt(None);
                    continue;
                }
                if running.is_empty() {
                    break;
                }
                let t = running.swap_remove(picks.next().unwrap() % running.len());
                let ended = if is_interrupted && interrupted_running.contains(&t) {
                    interrupted_running.retain(|&r| r != t);
                    interrupted()
                } else if fails[t] { fail() } else { ok() };
                s.finish(t, ended);
            }
            prop_assert!(s.is_over());
            if is_interrupted {
                prop_assert_eq!(s.outcome(), RunOutcome::Interrupted);
                for (t, &was_started) in started.iter().enumerate() {
                    if g.always(t) {
                        prop_assert!(was_started, "always task {t} did not run");
                    }
                }
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

            let (mut s, _) = RunState::new(g, &start());
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
