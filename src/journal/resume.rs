//! What a resume runs, as a pure function of the plan, the journal and `--rerun`.
//!
//! - A task journaled as succeeded, with the fingerprint the plan has now, is done:
//!   it does not run again.
//! - Every other task runs: never started, failed, cancelled, skipped, interrupted,
//!   or cut off mid-run by a crash. A task cut off mid-run runs again *from the
//!   start*: planrun runs in-flight tasks at least once, not exactly once, so tasks
//!   must be safe to repeat (the built-in ones are).
//! - A succeeded task whose fingerprint changed since its success runs again, and so
//!   does everything after it (every task that needs it, transitively).
//! - `--resume --rerun TASK` also forces TASK and everything after it to run again.
//! - A task marked `always` runs again whenever something it needs runs again.
//! - **Verified before skipped.** A succeeded task that would be done is checked
//!   first, when its type has a postcondition (see `exec::postcondition`), unless a
//!   task after it that changes things has started since (whatever became of it):
//!   that later work may have undone it on purpose (`pulumi-up`, even cut off
//!   half-way, recreates the namespace `delete-flux-namespace` deleted), so its
//!   postcondition is no longer expected ([`to_verify`]). What is checked is the
//!   world drifting while the run stood still: someone else brought back what a
//!   task removed before the next change began. A task whose postcondition no
//!   longer holds runs again, with everything after it, and says why; nothing else
//!   changes.
//!
//! `--rerun TASK` alone, on a finished run ([`plan_rerun`]), runs exactly TASK and
//! the tasks that depend on it, transitively, and nothing else:
//! - every other task that succeeded in the run is taken as done (even when its
//!   definition changed since: the listing says so, and `--rerun` it to run it), and
//!   so is one that failed with `allow_failure`: the run went on past it then, and
//!   what needs it runs as it did;
//! - every other task is skipped as not selected (a task new in the plan, say), and
//!   so is whatever of the set needs it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::history::{RecordedState, TaskHistory};

/// A plan task as resume sees it.
#[derive(Debug, Clone, Copy)]
pub struct ResumeTask<'a> {
    pub id: &'a str,
    /// Indexes of the tasks it needs (in the same slice).
    pub needs: &'a [usize],
    /// The fingerprint of its definition now.
    pub fingerprint: &'a str,
    pub always: bool,
    /// It changes things (the cluster, a stack, files): once it succeeded, what
    /// came before it may no longer hold, by design.
    pub changes: bool,
}

/// Whether a task runs on resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Journaled as succeeded and still current (with `--rerun`: journaled as
    /// succeeded): not run again.
    Done,
    Run(RunReason),
    /// `--rerun` alone: outside the tasks it runs, and not done.
    NotSelected(RecordedState),
}

/// Why a task runs on resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunReason {
    /// Not in the journal (never started, or new in the plan).
    NotStarted,
    /// Journaled in a state other than succeeded (`Running`: cut off mid-run).
    NotDone(RecordedState),
    /// Succeeded, but its definition changed since.
    FingerprintChanged,
    /// Succeeded, but what it achieved no longer holds now (why).
    PostconditionLost(String),
    /// Named by `--rerun`.
    RerunRequested,
    /// Succeeded, but `need` (a direct need) runs again because of a change or a
    /// `--rerun` at or before it.
    NeedRerun { need: usize },
    /// Succeeded, marked `always`, and `need` runs again.
    AlwaysAfter { need: usize },
}

impl RunReason {
    /// Whether the task was journaled as succeeded and still runs again.
    pub fn is_rerun_of_success(&self) -> bool {
        !matches!(self, RunReason::NotStarted | RunReason::NotDone(_))
    }

    /// A lowercase clause for "task X runs again: ...".
    pub fn describe<'a>(&'a self, tasks: &'a [ResumeTask<'a>]) -> impl fmt::Display + 'a {
        DescribeReason {
            reason: self,
            tasks,
        }
    }
}

struct DescribeReason<'a> {
    reason: &'a RunReason,
    tasks: &'a [ResumeTask<'a>],
}

impl fmt::Display for DescribeReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = |i: usize| self.tasks.get(i).map_or("?", |t| t.id);
        match self.reason {
            RunReason::NotStarted => f.write_str("it has not run yet"),
            RunReason::NotDone(RecordedState::Running) => {
                f.write_str("it was cut off mid-run and runs again from the start")
            }
            RunReason::NotDone(RecordedState::Failed) => f.write_str("it failed"),
            RunReason::NotDone(state) => write!(f, "it was {}", state.status(false)),
            RunReason::FingerprintChanged => {
                f.write_str("its definition changed since it succeeded")
            }
            RunReason::PostconditionLost(why) => f.write_str(why),
            RunReason::RerunRequested => f.write_str("--rerun asked for it"),
            RunReason::NeedRerun { need } => {
                write!(f, "it needs `{}`, which runs again", id(*need))
            }
            RunReason::AlwaysAfter { need } => {
                write!(f, "it always runs after `{}`, which runs again", id(*need))
            }
        }
    }
}

/// The outcome of [`plan_resume`]: one decision per task, by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePlan {
    pub decisions: Vec<Decision>,
}

impl ResumePlan {
    /// Tasks that do not run again.
    pub fn done(&self) -> impl Iterator<Item = usize> + '_ {
        self.decisions
            .iter()
            .enumerate()
            .filter(|(_, d)| **d == Decision::Done)
            .map(|(i, _)| i)
    }

    /// Tasks `--rerun` leaves out that are not done: they do not run.
    pub fn not_selected(&self) -> impl Iterator<Item = usize> + '_ {
        self.decisions
            .iter()
            .enumerate()
            .filter(|(_, d)| matches!(d, Decision::NotSelected(_)))
            .map(|(i, _)| i)
    }

    /// Tasks journaled as succeeded that run again, with why.
    pub fn reruns(&self) -> impl Iterator<Item = (usize, &RunReason)> + '_ {
        self.decisions
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match d {
                Decision::Run(r) if r.is_rerun_of_success() => Some((i, r)),
                _ => None,
            })
    }
}

/// Decides what a resume runs (see the module docs for the rules).
///
/// `history` looks a task's journaled history up by id; `rerun` holds the indexes
/// named by `--rerun`; `lost` the tasks whose postcondition was checked and no
/// longer holds, with why. `tasks` must form a DAG through `needs` (a validated
/// plan does); a cycle would leave its tasks out of the order, and they are then
/// run.
pub fn plan_resume<'h>(
    tasks: &[ResumeTask<'_>],
    history: impl Fn(&str) -> Option<&'h TaskHistory>,
    rerun: &BTreeSet<usize>,
    lost: &BTreeMap<usize, String>,
) -> ResumePlan {
    let mut decisions = vec![Decision::Run(RunReason::NotStarted); tasks.len()];
    // `forced`: this task runs again because of a change or `--rerun` at it or at
    // something before it; propagates to everything after, done or not.
    let mut forced = vec![false; tasks.len()];
    for i in topo_order(tasks) {
        let t = &tasks[i];
        let h = history(t.id);
        let fp_changed = h.is_some_and(|h| {
            h.state == RecordedState::Succeeded
                && h.succeeded_fingerprint.as_deref() != Some(t.fingerprint)
        });
        let forced_need = t.needs.iter().copied().find(|&n| forced[n]);
        let lost_now = lost
            .get(&i)
            .filter(|_| h.is_some_and(|h| h.state == RecordedState::Succeeded));
        forced[i] = rerun.contains(&i) || fp_changed || lost_now.is_some() || forced_need.is_some();
        let running_need = || {
            t.needs
                .iter()
                .copied()
                .find(|&n| decisions[n] != Decision::Done)
        };
        decisions[i] = match h.map(|h| h.state) {
            None | Some(RecordedState::Pending) => Decision::Run(RunReason::NotStarted),
            Some(RecordedState::Succeeded) => {
                if rerun.contains(&i) {
                    Decision::Run(RunReason::RerunRequested)
                } else if fp_changed {
                    Decision::Run(RunReason::FingerprintChanged)
                } else if let Some(why) = lost_now {
                    Decision::Run(RunReason::PostconditionLost(why.clone()))
                } else if let Some(need) = forced_need {
                    Decision::Run(RunReason::NeedRerun { need })
                } else if let Some(need) = running_need().filter(|_| t.always) {
                    Decision::Run(RunReason::AlwaysAfter { need })
                } else {
                    Decision::Done
                }
            }
            Some(state) => Decision::Run(RunReason::NotDone(state)),
        };
    }
    ResumePlan { decisions }
}

/// The tasks whose postcondition a resume checks before taking them as done: of
/// the tasks `plan` (decided without checks) takes as done and `checkable` (their
/// type has a postcondition), those after which no task that changes things has
/// started in the run (see the module docs). In index order.
pub fn to_verify<'h>(
    tasks: &[ResumeTask<'_>],
    plan: &ResumePlan,
    history: impl Fn(&str) -> Option<&'h TaskHistory>,
    checkable: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut dependents = vec![Vec::new(); tasks.len()];
    for (i, t) in tasks.iter().enumerate() {
        for &n in t.needs {
            if let Some(d) = dependents.get_mut(n) {
                d.push(i);
            }
        }
    }
    let changed_since = |i: usize| {
        let mut seen = vec![false; tasks.len()];
        let mut stack = dependents[i].clone();
        while let Some(d) = stack.pop() {
            if std::mem::replace(&mut seen[d], true) {
                continue;
            }
            let started = history(tasks[d].id).is_some_and(|h| h.attempts > 0);
            if started && tasks[d].changes {
                return true;
            }
            stack.extend(dependents[d].iter().copied());
        }
        false
    };
    plan.done()
        .filter(|&i| checkable(i) && !changed_since(i))
        .collect()
}

/// Decides what `--rerun` alone runs on a finished run (see the module docs): the
/// tasks of `rerun` and everything that needs them, transitively; every other task
/// is done when it succeeded in the run, else not selected.
pub fn plan_rerun<'h>(
    tasks: &[ResumeTask<'_>],
    history: impl Fn(&str) -> Option<&'h TaskHistory>,
    rerun: &BTreeSet<usize>,
) -> ResumePlan {
    let mut decisions = vec![Decision::Done; tasks.len()];
    let mut selected = vec![false; tasks.len()];
    for i in topo_order(tasks) {
        let t = &tasks[i];
        let need = t.needs.iter().copied().find(|&n| selected[n]);
        selected[i] = rerun.contains(&i) || need.is_some();
        let state = history(t.id).map_or(RecordedState::Pending, |h| h.state);
        decisions[i] = if rerun.contains(&i) {
            Decision::Run(RunReason::RerunRequested)
        } else if let Some(need) = need {
            Decision::Run(RunReason::NeedRerun { need })
        } else if matches!(
            state,
            RecordedState::Succeeded | RecordedState::FailedAllowed
        ) {
            Decision::Done
        } else {
            Decision::NotSelected(state)
        };
    }
    ResumePlan { decisions }
}

/// Kahn's algorithm, ties by index; tasks on a cycle (none in a valid plan) are left
/// out, which leaves them at "run".
fn topo_order(tasks: &[ResumeTask<'_>]) -> Vec<usize> {
    let mut indegree: Vec<usize> = tasks.iter().map(|t| t.needs.len()).collect();
    let mut dependents = vec![Vec::new(); tasks.len()];
    for (i, t) in tasks.iter().enumerate() {
        for &n in t.needs {
            if let Some(d) = dependents.get_mut(n) {
                d.push(i);
            }
        }
    }
    let mut ready: BTreeSet<usize> = (0..tasks.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(tasks.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &d in &dependents[i] {
            indegree[d] -= 1;
            if indegree[d] == 0 {
                ready.insert(d);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn hist(state: RecordedState, fp: &str) -> TaskHistory {
        TaskHistory {
            state,
            attempts: u32::from(state != RecordedState::Pending),
            succeeded_fingerprint: (state == RecordedState::Succeeded).then(|| fp.to_owned()),
            fingerprint: Some(fp.to_owned()),
            ..TaskHistory::default()
        }
    }

    /// a -> b -> c, a -> d; everything succeeded.
    fn chain() -> (Vec<Vec<usize>>, HashMap<String, TaskHistory>) {
        let needs = vec![vec![], vec![0], vec![1], vec![0]];
        let h = ["a", "b", "c", "d"]
            .iter()
            .map(|id| (id.to_string(), hist(RecordedState::Succeeded, "f")))
            .collect();
        (needs, h)
    }

    fn tasks<'a>(
        ids: &'a [&'a str],
        needs: &'a [Vec<usize>],
        fps: &'a [&'a str],
    ) -> Vec<ResumeTask<'a>> {
        ids.iter()
            .zip(needs)
            .zip(fps)
            .map(|((id, needs), fp)| ResumeTask {
                id,
                needs,
                fingerprint: fp,
                always: false,
                changes: false,
            })
            .collect()
    }

    #[test]
    fn a_changed_fingerprint_reruns_the_task_and_what_follows() {
        let (needs, h) = chain();
        let t = tasks(&["a", "b", "c", "d"], &needs, &["f", "CHANGED", "f", "f"]);
        let p = plan_resume(&t, |id| h.get(id), &BTreeSet::new(), &BTreeMap::new());
        assert_eq!(
            p.decisions,
            [
                Decision::Done,
                Decision::Run(RunReason::FingerprintChanged),
                Decision::Run(RunReason::NeedRerun { need: 1 }),
                Decision::Done,
            ]
        );
        let said: Vec<String> = p
            .reruns()
            .map(|(i, r)| format!("{}: {}", t[i].id, r.describe(&t)))
            .collect();
        assert_eq!(
            said,
            [
                "b: its definition changed since it succeeded",
                "c: it needs `b`, which runs again"
            ]
        );
    }

    #[test]
    fn rerun_forces_the_task_and_its_dependents() {
        let (needs, h) = chain();
        let t = tasks(&["a", "b", "c", "d"], &needs, &["f"; 4]);
        let p = plan_resume(&t, |id| h.get(id), &BTreeSet::from([0]), &BTreeMap::new());
        assert_eq!(p.done().count(), 0);
        assert_eq!(p.decisions[0], Decision::Run(RunReason::RerunRequested));
        assert_eq!(
            p.decisions[3],
            Decision::Run(RunReason::NeedRerun { need: 0 })
        );
    }

    #[test]
    fn unfinished_tasks_run_and_a_cut_off_one_says_so() {
        let (needs, mut h) = chain();
        h.insert("b".into(), hist(RecordedState::Running, "f"));
        h.remove("c");
        let t = tasks(&["a", "b", "c", "d"], &needs, &["f"; 4]);
        let p = plan_resume(&t, |id| h.get(id), &BTreeSet::new(), &BTreeMap::new());
        assert_eq!(p.done().collect::<Vec<_>>(), [0, 3]);
        assert_eq!(
            p.decisions[1],
            Decision::Run(RunReason::NotDone(RecordedState::Running))
        );
        assert_eq!(
            RunReason::NotDone(RecordedState::Running)
                .describe(&t)
                .to_string(),
            "it was cut off mid-run and runs again from the start"
        );
        assert_eq!(p.decisions[2], Decision::Run(RunReason::NotStarted));
        assert_eq!(p.reruns().count(), 0);
    }

    #[test]
    fn an_always_task_follows_a_need_that_runs() {
        let (needs, mut h) = chain();
        h.insert("a".into(), hist(RecordedState::Failed, "f"));
        let mut t = tasks(&["a", "b", "c", "d"], &needs, &["f"; 4]);
        t[3].always = true;
        let p = plan_resume(&t, |id| h.get(id), &BTreeSet::new(), &BTreeMap::new());
        // b and c succeeded after a failed a (allow_failure): they stay done.
        assert_eq!(p.decisions[1], Decision::Done);
        assert_eq!(
            p.decisions[3],
            Decision::Run(RunReason::AlwaysAfter { need: 0 })
        );
    }

    #[test]
    fn a_lost_postcondition_reruns_the_task_and_its_branch_only() {
        // a -> b -> c, a -> d; everything succeeded; b's object came back.
        let (needs, h) = chain();
        let t = tasks(&["a", "b", "c", "d"], &needs, &["f"; 4]);
        let lost = BTreeMap::from([(1, "x exists again (created 12:03:14 UTC by y)".to_owned())]);
        let p = plan_resume(&t, |id| h.get(id), &BTreeSet::new(), &lost);
        assert_eq!(
            p.decisions,
            [
                Decision::Done,
                Decision::Run(RunReason::PostconditionLost(lost[&1].clone())),
                Decision::Run(RunReason::NeedRerun { need: 1 }),
                Decision::Done,
            ]
        );
        assert_eq!(
            p.decisions[1].clone(),
            Decision::Run(RunReason::PostconditionLost(
                "x exists again (created 12:03:14 UTC by y)".into()
            ))
        );
    }

    #[test]
    fn a_task_is_checked_only_while_no_change_after_it_started() {
        // a -> b -> c: a and c check things, b changes them; all succeeded.
        let needs = vec![vec![], vec![0], vec![1]];
        let h: HashMap<String, TaskHistory> = ["a", "b", "c"]
            .iter()
            .map(|id| (id.to_string(), hist(RecordedState::Succeeded, "f")))
            .collect();
        let mut t = tasks(&["a", "b", "c"], &needs, &["f"; 3]);
        t[1].changes = true;
        let p = plan_resume(&t, |id| h.get(id), &BTreeSet::new(), &BTreeMap::new());
        // `b` ran after `a`: a's postcondition may have been undone on purpose.
        assert_eq!(to_verify(&t, &p, |id| h.get(id), |i| i != 1), [2]);
        // Cut off half-way, `b` may have undone it all the same.
        let mut h2 = h.clone();
        h2.insert("b".into(), hist(RecordedState::Interrupted, "f"));
        let p = plan_resume(&t, |id| h2.get(id), &BTreeSet::new(), &BTreeMap::new());
        assert_eq!(to_verify(&t, &p, |id| h2.get(id), |i| i != 1), [2]);
        // Had `b` never started, `a` is checked too.
        h2.remove("b");
        let p = plan_resume(&t, |id| h2.get(id), &BTreeSet::new(), &BTreeMap::new());
        assert_eq!(to_verify(&t, &p, |id| h2.get(id), |i| i != 1), [0, 2]);
    }

    const STATES: [RecordedState; 8] = [
        RecordedState::Pending,
        RecordedState::Running,
        RecordedState::Succeeded,
        RecordedState::Failed,
        RecordedState::FailedAllowed,
        RecordedState::Cancelled,
        RecordedState::Skipped,
        RecordedState::Interrupted,
    ];

    #[derive(Debug, Clone)]
    struct Case {
        ids: Vec<String>,
        needs: Vec<Vec<usize>>,
        fps: Vec<String>,
        always: Vec<bool>,
        changes: Vec<bool>,
        history: Vec<Option<(RecordedState, String)>>,
        rerun: BTreeSet<usize>,
        /// Of the tasks checked, those found lost.
        lost_pick: Vec<bool>,
    }

    fn case() -> impl Strategy<Value = Case> {
        (1usize..30).prop_flat_map(|n| {
            let needs = (0..n)
                .map(|i| {
                    proptest::collection::vec(proptest::bool::weighted(0.2), i).prop_map(|picks| {
                        picks
                            .iter()
                            .enumerate()
                            .filter(|(_, p)| **p)
                            .map(|(j, _)| j)
                            .collect::<Vec<_>>()
                    })
                })
                .collect::<Vec<_>>();
            let entry = (
                proptest::bool::weighted(0.6),
                proptest::sample::select(STATES.to_vec()),
                0u8..2,
            )
                .prop_map(|(success, s, f)| {
                    // Successes dominate real journals.
                    let state = if success { RecordedState::Succeeded } else { s };
                    (state, format!("f{f}"))
                });
            (
                needs,
                proptest::collection::vec(0u8..2, n),
                proptest::collection::vec(proptest::bool::weighted(0.2), n),
                proptest::collection::vec(proptest::bool::weighted(0.4), n),
                proptest::collection::vec(proptest::option::weighted(0.85, entry), n),
                proptest::collection::btree_set(0..n, 0..3),
                proptest::collection::vec(proptest::bool::weighted(0.3), n),
            )
                .prop_map(
                    |(needs, fps, always, changes, history, rerun, lost_pick)| Case {
                        ids: (0..needs.len()).map(|i| format!("t{i}")).collect(),
                        needs,
                        fps: fps.iter().map(|f| format!("f{f}")).collect(),
                        always,
                        changes,
                        history,
                        rerun,
                        lost_pick,
                    },
                )
        })
    }

    /// The case's tasks and their journaled histories.
    fn inputs(c: &Case) -> (Vec<ResumeTask<'_>>, HashMap<&str, TaskHistory>) {
        let t: Vec<ResumeTask<'_>> = (0..c.needs.len())
            .map(|i| ResumeTask {
                id: &c.ids[i],
                needs: &c.needs[i],
                fingerprint: &c.fps[i],
                always: c.always[i],
                changes: c.changes[i],
            })
            .collect();
        let h: HashMap<&str, TaskHistory> = c
            .history
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|(s, f)| (c.ids[i].as_str(), hist(*s, f))))
            .collect();
        (t, h)
    }

    fn run_case(c: &Case) -> (Vec<ResumeTask<'_>>, ResumePlan) {
        let (t, h) = inputs(c);
        let p = plan_resume(&t, |id| h.get(id), &c.rerun, &BTreeMap::new());
        (t, p)
    }

    /// Reference: a task is forced when it, or anything before it, was asked for or
    /// changed since success.
    fn forced(c: &Case, i: usize) -> bool {
        let changed =
            matches!(&c.history[i], Some((RecordedState::Succeeded, f)) if *f != c.fps[i]);
        c.rerun.contains(&i) || changed || c.needs[i].iter().any(|&n| forced(c, n))
    }

    proptest! {
        #[test]
        fn done_tasks_are_current_successes(c in case()) {
            let (_, p) = run_case(&c);
            for i in p.done() {
                let ok = matches!(&c.history[i], Some((RecordedState::Succeeded, f)) if *f == c.fps[i]);
                prop_assert!(ok, "task {i} done without a current success");
                prop_assert!(!forced(&c, i), "task {i} done though forced");
            }
        }

        #[test]
        fn everything_not_succeeded_runs(c in case()) {
            let (_, p) = run_case(&c);
            for (i, h) in c.history.iter().enumerate() {
                if !matches!(h, Some((RecordedState::Succeeded, _))) {
                    prop_assert!(p.decisions[i] != Decision::Done);
                    prop_assert!(!matches!(&p.decisions[i], Decision::Run(r) if r.is_rerun_of_success()));
                }
            }
        }

        #[test]
        fn only_forced_or_always_successes_run_again(c in case()) {
            let (_, p) = run_case(&c);
            for (i, r) in p.reruns() {
                match r {
                    RunReason::RerunRequested => prop_assert!(c.rerun.contains(&i)),
                    RunReason::FingerprintChanged => prop_assert!(forced(&c, i)),
                    RunReason::NeedRerun { need } => {
                        prop_assert!(c.needs[i].contains(need));
                        prop_assert!(forced(&c, *need));
                    }
                    RunReason::AlwaysAfter { need } => {
                        prop_assert!(c.always[i] && !forced(&c, i));
                        prop_assert!(c.needs[i].contains(need));
                        prop_assert!(p.decisions[*need] != Decision::Done);
                    }
                    other => prop_assert!(false, "unexpected {other:?}"),
                }
            }
            // Minimality: a current success that is not forced and not an `always`
            // task after running work stays done.
            for i in 0..c.needs.len() {
                let current = matches!(&c.history[i], Some((RecordedState::Succeeded, f)) if *f == c.fps[i]);
                let always_rerun = c.always[i] && c.needs[i].iter().any(|&n| p.decisions[n] != Decision::Done);
                if current && !forced(&c, i) && !always_rerun {
                    prop_assert_eq!(&p.decisions[i], &Decision::Done);
                }
            }
        }

        #[test]
        fn rerun_runs_exactly_the_tasks_and_their_dependents(c in case()) {
            let (t, h) = inputs(&c);
            let p = plan_rerun(&t, |id| h.get(id), &c.rerun);
            // Reference: the set is the named tasks and what needs them, transitively.
            fn in_set(c: &Case, i: usize) -> bool {
                c.rerun.contains(&i) || c.needs[i].iter().any(|&n| in_set(c, n))
            }
            for (i, d) in p.decisions.iter().enumerate() {
                // An allowed failure is taken as the run took it: done.
                let succeeded = matches!(
                    &c.history[i],
                    Some((RecordedState::Succeeded | RecordedState::FailedAllowed, _))
                );
                match d {
                    Decision::Run(RunReason::RerunRequested) => prop_assert!(c.rerun.contains(&i)),
                    Decision::Run(RunReason::NeedRerun { need }) => {
                        prop_assert!(!c.rerun.contains(&i));
                        prop_assert!(c.needs[i].contains(need) && in_set(&c, *need));
                    }
                    Decision::Run(other) => prop_assert!(false, "unexpected {other:?}"),
                    Decision::Done => prop_assert!(!in_set(&c, i) && succeeded),
                    Decision::NotSelected(_) => prop_assert!(!in_set(&c, i) && !succeeded),
                }
                prop_assert_eq!(matches!(d, Decision::Run(_)), in_set(&c, i), "task {}", i);
            }
        }

        #[test]
        fn checks_cover_only_done_tasks_with_no_change_started_after_them(c in case()) {
            let (t, h) = inputs(&c);
            let p = plan_resume(&t, |id| h.get(id), &c.rerun, &BTreeMap::new());
            let checked = to_verify(&t, &p, |id| h.get(id), |_| true);
            // Reference: a changing task reachable after i that started (its history
            // is not pending).
            fn changed_after(c: &Case, i: usize) -> bool {
                (0..c.needs.len()).any(|d| {
                    let started = matches!(&c.history[d], Some((s, _)) if *s != RecordedState::Pending);
                    c.needs[d].contains(&i) && ((c.changes[d] && started) || changed_after(c, d))
                })
            }
            for i in 0..c.needs.len() {
                let expected = p.decisions[i] == Decision::Done && !changed_after(&c, i);
                prop_assert_eq!(checked.contains(&i), expected, "task {}", i);
            }
        }

        #[test]
        fn a_lost_postcondition_reruns_exactly_its_branch(c in case()) {
            let (t, h) = inputs(&c);
            let before = plan_resume(&t, |id| h.get(id), &c.rerun, &BTreeMap::new());
            let checked = to_verify(&t, &before, |id| h.get(id), |_| true);
            let lost: BTreeMap<usize, String> = checked
                .iter()
                .filter(|&&i| c.lost_pick[i])
                .map(|&i| (i, format!("t{i} exists again")))
                .collect();
            let after = plan_resume(&t, |id| h.get(id), &c.rerun, &lost);
            // Reference: i is at or after a lost task.
            fn behind(c: &Case, lost: &BTreeMap<usize, String>, i: usize) -> bool {
                lost.contains_key(&i) || c.needs[i].iter().any(|&n| behind(c, lost, n))
            }
            for i in 0..c.needs.len() {
                let was_done = before.decisions[i] == Decision::Done;
                let is_done = after.decisions[i] == Decision::Done;
                if let Some(why) = lost.get(&i) {
                    prop_assert_eq!(&after.decisions[i], &Decision::Run(RunReason::PostconditionLost(why.clone())));
                } else if was_done && behind(&c, &lost, i) {
                    prop_assert!(matches!(after.decisions[i], Decision::Run(RunReason::NeedRerun { .. }) | Decision::Run(RunReason::AlwaysAfter { .. })), "task {} {:?}", i, after.decisions[i]);
                } else if was_done && !c.always[i] {
                    prop_assert!(is_done, "task {} outside the lost branches runs", i);
                }
                if !was_done {
                    // It ran anyway; the need it names may now be a lost one.
                    prop_assert!(!is_done, "task {} now taken as done", i);
                }
            }
        }

        #[test]
        fn resuming_twice_after_all_ran_is_all_done(c in case()) {
            // After a resume runs everything it chose, with success, a second resume
            // (without --rerun) runs nothing.
            let (_, p) = run_case(&c);
            let mut after = c.clone();
            for (i, d) in p.decisions.iter().enumerate() {
                if *d != Decision::Done {
                    after.history[i] = Some((RecordedState::Succeeded, c.fps[i].clone()));
                }
            }
            after.rerun.clear();
            let (_, p2) = run_case(&after);
            prop_assert_eq!(p2.done().count(), c.needs.len());
        }
    }
}
