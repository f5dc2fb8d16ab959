//! The dispatcher: the one owner of run state. A single `select!` loop starts tasks
//! as slots free up, receives each attempt's result as a message, decides retries,
//! records every state change through the [`StateSink`], and turns the changes into
//! events. Attempts run as tokio tasks and never touch run state.
//!
//! What waits for the journal (the sink), and for what:
//! - every change is *recorded* before anything acts on it: a task's start before
//!   its process is spawned, so a kill of planrun never hides a process that ran;
//! - a task starts only once the ends of the tasks it needs are *committed* (durable
//!   against a power loss in the default sync mode): a power loss never makes a task
//!   run again after a task that relied on it has run. An `always` task, which is
//!   told how the run stands, waits for everything recorded before its start;
//! - an event saying that a task ended, was skipped or will be retried is emitted
//!   once that change is committed, so what was reported as ended never reads back
//!   as not ended; the run's last event, and its exit, come once everything is
//!   committed;
//! - a task's start event is emitted as its process is spawned, before its output.
//!
//! Nothing else waits: a task whose needs' ends are committed starts while the
//! journal syncs what came after them, and one sync commits every change recorded
//! while the previous one ran. When only reports wait for a commit (no start), the
//! journal may gather changes for a few milliseconds first, so that a run of many
//! short independent tasks syncs every few milliseconds rather than once per batch.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use planrun_text::format_duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cancel::Cancel;
use crate::events::{
    CancelReason, Counts, EventKind, EventSender, ResumeInfo, RunInfo, RunOutcome, SkipReason,
    WouldDo,
};
use crate::exec::process::ProcessGroup;
use crate::exec::{self, Attempt, FailureClass, RunResources, TaskError, TaskOutcome};
use crate::layout::RunDir;
use crate::validate::{TaskIdx, ValidatedPlan};

use super::graph::DepGraph;
use super::run_state::{Ended, RunState, Start};
use super::state::{Commit, Failure, SkipCause, StateChange, StateSink};

/// How often, at most, the dispatcher estimates the time left.
const ESTIMATE_EVERY: Duration = Duration::from_secs(1);

/// The variables an `always` task gets: how the run stands when it starts.
pub const OUTCOME_ENV: &str = "PLANRUN_RUN_OUTCOME";
/// The variable an `always` task gets: the ids of the tasks failed so far.
pub const FAILED_TASKS_ENV: &str = "PLANRUN_FAILED_TASKS";

/// How to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// At most this many tasks at once (at least 1).
    pub jobs: usize,
    /// Tasks that succeeded earlier in the run; they do not run.
    pub done_earlier: Vec<TaskIdx>,
    /// Tasks outside what `--rerun` runs and not taken as done; they do not run.
    pub not_selected: Vec<TaskIdx>,
    /// Attempts of each task by earlier planrun processes of the run: this process
    /// numbers its attempts after them.
    pub attempts_before: Vec<u32>,
    /// This process continues a run (its first event is `run-resumed`).
    pub resumed: bool,
    /// Whether the task logs are kept (false: output only reaches events).
    pub keep_logs: bool,
    /// Each task's expected duration from the plan's earlier runs (`None`: never
    /// timed with its definition): orders ready tasks, estimates the time left.
    pub known_durations: Vec<Option<Duration>>,
    /// For a resume: what it runs and why (the `run-resumed` event's `resume`).
    pub resume: Option<ResumeInfo>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            jobs: 8,
            done_earlier: Vec::new(),
            not_selected: Vec::new(),
            attempts_before: Vec::new(),
            resumed: false,
            keep_logs: true,
            known_durations: Vec::new(),
            resume: None,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub outcome: RunOutcome,
    pub counts: Counts,
    pub duration: Duration,
}

/// The run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The state sink (the journal) failed; planrun stops rather than run work it
    /// cannot record.
    #[error("cannot record the run's progress")]
    Record(#[source] std::io::Error),
}

/// Everything the dispatcher needs; [`Dispatcher::run`] consumes it.
pub struct Dispatcher<'s> {
    pub plan: Arc<ValidatedPlan>,
    /// Where task logs go (a scratch directory for a dry run).
    pub run_dir: RunDir,
    pub config: RunConfig,
    pub sink: &'s mut dyn StateSink,
    /// What every attempt shares; events go to `resources.events`. Cancel
    /// `resources.cancel` with [`CancelReason::Interrupted`] to interrupt the run.
    pub resources: RunResources,
}

/// What an in-flight tokio task reports back.
enum Message {
    Attempted {
        task: TaskIdx,
        result: Result<TaskOutcome, TaskError>,
        /// The attempt's last progress detail (what it waited on).
        detail: Option<String>,
    },
    RetryDue {
        task: TaskIdx,
    },
}

/// Per-task bookkeeping the events need.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    /// Attempts by this process (retries count against it).
    count: u32,
    /// Attempts by earlier processes of the run.
    before: u32,
    first_start: Option<Instant>,
    /// When the latest attempt started.
    attempt_start: Option<Instant>,
}

impl Tally {
    /// The number of the latest attempt, across the run.
    fn number(&self) -> u32 {
        self.before + self.count
    }
}

impl Dispatcher<'_> {
    /// Runs the plan to the end (or to the interruption) and returns how it ended.
    pub async fn run(self) -> Result<RunSummary, RunError> {
        let Dispatcher {
            plan,
            run_dir,
            config,
            sink,
            mut resources,
        } = self;
        let started = Instant::now();
        let jobs = config.jobs.max(1);
        let dry_run = resources.dry_run;
        let info = RunInfo {
            run_id: run_dir.run_id().to_owned(),
            plan: plan.header().name.clone(),
            plan_path: plan.source().path().display().to_string(),
            run_dir: (!dry_run).then(|| run_dir.path().display().to_string()),
            tasks: plan.tasks().len(),
            jobs,
            dry_run,
            resume: config.resume.clone(),
        };
        resources.events.emit(if config.resumed {
            EventKind::RunResumed(info)
        } else {
            EventKind::RunStarted(info)
        });
        resources.child_env.extend([
            (
                "PLANRUN_RUN_DIR".to_owned(),
                run_dir.path().display().to_string(),
            ),
            ("PLANRUN_RUN_ID".to_owned(), run_dir.run_id().to_owned()),
            ("PLANRUN_PLAN".to_owned(), plan.header().name.clone()),
            (
                "PLANRUN_PLAN_FILE".to_owned(),
                plan.source().path().display().to_string(),
            ),
        ]);
        let groups = resources.groups.listen();
        let tallies = (0..plan.tasks().len())
            .map(|i| Tally {
                before: config.attempts_before.get(i).copied().unwrap_or(0),
                ..Tally::default()
            })
            .collect();
        let start = Start {
            done_earlier: config.done_earlier.clone(),
            not_selected: config.not_selected.clone(),
            dry_run,
        };
        let sink_commits = sink.commits();
        let mut d = Loop {
            groups,
            task_index: plan
                .tasks()
                .iter()
                .enumerate()
                .map(|(i, t)| (t.id.clone(), i))
                .collect(),
            plan: plan.clone(),
            run_dir,
            config,
            events: resources.events.clone(),
            cancel: resources.cancel.clone(),
            resources: Arc::new(resources),
            sink,
            tallies,
            errors: vec![None; plan.tasks().len()],
            would: vec![Vec::new(); plan.tasks().len()],
            inflight: JoinSet::new(),
            pending: Vec::new(),
            effects: Vec::new(),
            written: 0,
            committed: 0,
            commits: sink_commits,
            ended_at: vec![0; plan.tasks().len()],
            held_spawns: Vec::new(),
            held_events: VecDeque::new(),
            jobs,
            estimated: None,
            ended_since_estimate: true,
            estimating: true,
        };
        let graph = DepGraph::from_plan(&plan, &d.config.known_durations);
        let (mut state, initial) = RunState::new(graph, &start);
        let result = d.drive(&mut state, initial, jobs).await;
        if result.is_err() {
            // Stop what runs and wait for it, then report the run as failed.
            d.cancel.cancel(CancelReason::RunFailed);
            while d.inflight.join_next().await.is_some() {}
        }
        let outcome = match &result {
            Ok(()) => state.outcome(),
            Err(_) if state.mode() == super::run_state::Mode::Interrupted => {
                RunOutcome::Interrupted
            }
            Err(_) => RunOutcome::Failed,
        };
        let counts = state.counts();
        let duration = started.elapsed();
        if result.is_ok() {
            // The run's end, and every end before it, is committed before it is
            // reported (and before the process exits).
            d.pending.push(StateChange::Finished { outcome });
            d.flush()?;
            d.wait_committed().await?;
        }
        d.events.emit(EventKind::RunFinished {
            outcome,
            duration_ms: millis(duration),
            counts: counts.clone(),
        });
        result.map(|()| RunSummary {
            outcome,
            counts,
            duration,
        })
    }
}

/// The dispatcher's working state.
struct Loop<'s> {
    plan: Arc<ValidatedPlan>,
    run_dir: RunDir,
    config: RunConfig,
    events: EventSender,
    sink: &'s mut dyn StateSink,
    cancel: Cancel,
    resources: Arc<RunResources>,
    tallies: Vec<Tally>,
    /// The last error of each task, for the failure event.
    errors: Vec<Option<TaskError>>,
    /// In a dry run: what each task would do, for its success event.
    would: Vec<Vec<WouldDo>>,
    inflight: JoinSet<Message>,
    /// The process groups attempts start, journaled as they come.
    groups: tokio::sync::mpsc::UnboundedReceiver<ProcessGroup>,
    task_index: HashMap<String, TaskIdx>,
    /// Changes not yet given to the sink: [`Loop::flush`] records them in one batch
    /// (one `write` of the journal), then carries out `effects`.
    pending: Vec<StateChange>,
    /// What waits for `pending` to be recorded, in order.
    effects: Vec<Effect>,
    /// The sink's position after the last batch recorded.
    written: u64,
    /// The sink's position up to which changes are committed.
    committed: u64,
    /// Wakes the loop when `committed` may have moved (`None`: it never lags).
    commits: Option<watch::Receiver<u64>>,
    /// Per task: the sink's position after its end was recorded (0: it did not end
    /// in this process, or ended in an earlier one).
    ended_at: Vec<u64>,
    /// Spawns waiting for what they rely on to be committed.
    held_spawns: Vec<HeldSpawn>,
    /// Events waiting for their change to be committed, in order.
    held_events: VecDeque<(u64, EventKind)>,
    /// At most this many tasks at once.
    jobs: usize,
    /// When the time left was last estimated.
    estimated: Option<Instant>,
    /// A task ended since then.
    ended_since_estimate: bool,
    /// Some task left has a duration from earlier runs to estimate with.
    estimating: bool,
}

/// Something the dispatcher does only once the changes behind it are recorded.
enum Effect {
    Emit(EventKind),
    Spawn {
        task: TaskIdx,
        attempt: Attempt,
        relies_on: Reliance,
    },
    RetryTimer {
        task: TaskIdx,
        delay: Duration,
    },
}

/// What a task's start relies on being committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reliance {
    /// The ends of the tasks it needs.
    Needs,
    /// Every change recorded before its start (an `always` task is told how the run
    /// stands).
    Everything,
}

/// A spawn waiting for the sink to commit position `after`.
struct HeldSpawn {
    after: u64,
    task: TaskIdx,
    attempt: Attempt,
}

impl Loop<'_> {
    async fn drive(
        &mut self,
        state: &mut RunState,
        initial: Vec<StateChange>,
        jobs: usize,
    ) -> Result<(), RunError> {
        self.apply(state, &initial)?;
        let mut interrupted = false;
        loop {
            while state.running() < jobs {
                let Some(task) = state.start_next() else {
                    break;
                };
                self.start_attempt(state, task)?;
            }
            // Everything that happened since the last flush (tasks that ended
            // together, the starts they allow) is recorded with one write.
            self.flush()?;
            if state.is_over() {
                return Ok(());
            }
            self.estimate(state)?;
            // Biased, the interruption first: an attempt that ended because the
            // interruption killed it must be seen as interrupted, not as a failure
            // that would let `always` tasks start.
            let holding = self.holding();
            tokio::select! {
                biased;
                reason = self.cancel.cancelled(), if !interrupted => {
                    interrupted = true;
                    debug_assert_eq!(reason, CancelReason::Interrupted);
                    if let Some(change) = state.interrupt(self.cancel.note()) {
                        self.apply(state, &[change])?;
                    }
                }
                committed = next_commit(&mut self.commits), if holding => {
                    committed?;
                    self.release()?;
                }
                Some(group) = self.groups.recv() => self.process_started(group)?,
                joined = self.inflight.join_next(), if !self.inflight.is_empty() => {
                    let Some(mut joined) = joined else {
                        unreachable!("checked: a future is in flight");
                    };
                    loop {
                        let message = match joined {
                            Ok(m) => m,
                            // An executor panicked: a bug, reported as such.
                            Err(e) => std::panic::resume_unwind(e.into_panic()),
                        };
                        self.handle(state, message, interrupted)?;
                        // Take every other attempt that already ended into this batch.
                        match self.inflight.try_join_next() {
                            Some(next) => joined = next,
                            None => break,
                        }
                    }
                }
            }
        }
    }

    fn handle(
        &mut self,
        state: &mut RunState,
        message: Message,
        interrupted: bool,
    ) -> Result<(), RunError> {
        match message {
            Message::RetryDue { task } => {
                if interrupted {
                    let changes = state.finish(
                        task,
                        Ended::Cancelled {
                            reason: CancelReason::Interrupted,
                            blocked_by: None,
                        },
                    );
                    self.apply(state, &changes)
                } else {
                    self.start_attempt(state, task)
                }
            }
            Message::Attempted {
                task,
                result,
                detail,
            } => {
                let error = match result {
                    Ok(outcome) => {
                        self.would[task] = outcome.would;
                        let changes = state.finish(
                            task,
                            Ended::Succeeded {
                                exit_code: outcome.exit_code,
                                summary: outcome.summary,
                                would_change: outcome.would_change,
                            },
                        );
                        return self.apply(state, &changes);
                    }
                    // A timeout fails the task (and may be retried), saying after how long
                    // and, for a wait, on what.
                    Err(e) if e.class == FailureClass::Cancelled(CancelReason::Timeout) => {
                        let limit = self.plan.task(task).timeout.unwrap_or_default();
                        let mut message = format!("timed out after {}", format_duration(limit));
                        if let Some(d) = &detail {
                            message.push_str(&format!(" waiting for: {d}"));
                        }
                        TaskError {
                            class: FailureClass::Failed,
                            message,
                            ..e
                        }
                    }
                    Err(e) => e,
                };
                let attempt = self.tallies[task].count;
                let retry = self.plan.task(task).retry;
                // A dry run reports what would fail; trying again changes nothing.
                let retryable = error.class == FailureClass::Failed && !self.resources.dry_run;
                if retryable && !interrupted && attempt <= retry.retries {
                    let delay = retry.delay(attempt);
                    self.apply(
                        state,
                        &[StateChange::Retrying {
                            task,
                            attempt: self.tallies[task].number(),
                            delay,
                            error: failure(&error),
                        }],
                    )?;
                    self.errors[task] = Some(error);
                    self.effects.push(Effect::RetryTimer { task, delay });
                    return Ok(());
                }
                let mut error = error;
                if self.resources.dry_run && error.class == FailureClass::Failed {
                    error.message = self.as_things_are(state, task, &error.message);
                }
                let end = match error.class {
                    FailureClass::Cancelled(reason) => Ended::Cancelled {
                        reason,
                        blocked_by: detail,
                    },
                    FailureClass::Failed => Ended::Failed {
                        error: failure(&error),
                    },
                };
                self.errors[task] = Some(error);
                let changes = state.finish(task, end);
                self.apply(state, &changes)
            }
        }
    }

    /// Records an attempt's process group at once, for the resume check; a power
    /// loss makes it moot, so it costs no sync of its own.
    fn process_started(&mut self, group: ProcessGroup) -> Result<(), RunError> {
        let Some(&task) = self.task_index.get(&group.task) else {
            return Ok(());
        };
        let change = StateChange::ProcessStarted {
            task,
            attempt: group.attempt,
            pgid: group.pgid,
            leader_start: group.leader_start,
        };
        self.sink
            .record_unsynced(&[change])
            .map_err(RunError::Record)?;
        Ok(())
    }

    /// In a dry run, a check that fails after tasks that would change the cluster
    /// first says its verdict waits on their change (the dry run did not make it).
    fn as_things_are(&self, state: &RunState, task: TaskIdx, message: &str) -> String {
        let before = state.changes_before(task);
        let Some(&first) = before.first() else {
            return message.to_owned();
        };
        let (more, verb) = match before.len() {
            1 => (String::new(), "changes"),
            n => (format!(" and {} more", n - 1), "change"),
        };
        format!(
            "unknown until `{}`{more} {verb} things (the dry run did not): {message}",
            self.plan.task(first).id
        )
    }

    /// Records a task's next attempt as started, then spawns it.
    fn start_attempt(&mut self, state: &RunState, task: TaskIdx) -> Result<(), RunError> {
        let tally = &mut self.tallies[task];
        tally.count += 1;
        tally.first_start.get_or_insert_with(Instant::now);
        let number = tally.number();
        self.apply(
            state,
            &[StateChange::Started {
                task,
                attempt: number,
            }],
        )?;

        let t = self.plan.task(task);
        let log = self.config.keep_logs.then(|| self.run_dir.log_path(&t.id));
        let mut env = Vec::new();
        if t.always {
            // How the run stands as this task starts: cleanup and records can say so.
            let failed: Vec<&str> = state
                .failed_tasks()
                .map(|i| self.plan.task(i).id.as_str())
                .collect();
            env.push((OUTCOME_ENV.to_owned(), state.outcome_so_far().to_owned()));
            env.push((FAILED_TASKS_ENV.to_owned(), failed.join(",")));
        }
        let relies_on = if t.always {
            Reliance::Everything
        } else {
            Reliance::Needs
        };
        let mut attempt = Attempt::new(self.resources.clone(), &t.id, number, log).with_env(env);
        if self.cancel.is_cancelled() {
            attempt = attempt.past_interruption();
        }
        self.effects.push(Effect::Spawn {
            task,
            attempt,
            relies_on,
        });
        Ok(())
    }

    /// Queues changes for the next [`Loop::flush`], and their events after them.
    fn apply(&mut self, state: &RunState, changes: &[StateChange]) -> Result<(), RunError> {
        self.pending.extend_from_slice(changes);
        self.emit_changes(state, changes);
        Ok(())
    }

    /// Records the queued changes in one batch, then reports them and starts what
    /// they started as soon as what each relies on is committed (see the module's
    /// rules): nothing happens before the changes behind it are recorded.
    fn flush(&mut self) -> Result<(), RunError> {
        let pending = std::mem::take(&mut self.pending);
        let recorded = self.record(&pending);
        if recorded.is_ok() {
            for change in &pending {
                if let Some(task) = change.ended_task() {
                    self.ended_at[task] = self.written;
                    self.ended_since_estimate = true;
                }
            }
        }
        let pending_empty = pending.is_empty();
        self.pending = pending;
        self.pending.clear();
        recorded?;
        for effect in std::mem::take(&mut self.effects) {
            match effect {
                Effect::Emit(kind) => self.held_events.push_back((self.written, kind)),
                Effect::Spawn {
                    task,
                    attempt,
                    relies_on,
                } => {
                    let after = match relies_on {
                        Reliance::Needs => self
                            .plan
                            .task(task)
                            .needs
                            .iter()
                            .map(|&need| self.ended_at[need])
                            .max()
                            .unwrap_or(0),
                        Reliance::Everything => self.written,
                    };
                    self.held_spawns.push(HeldSpawn {
                        after,
                        task,
                        attempt,
                    });
                }
                Effect::RetryTimer { task, delay } => {
                    let cancel = self.cancel.clone();
                    self.inflight.spawn(async move {
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            _ = cancel.cancelled() => {}
                        }
                        Message::RetryDue { task }
                    });
                }
            }
        }
        if !pending_empty {
            // With nothing in flight and nothing to start there is nothing to overlap
            // the sync with (a chain's next start waits for it, or the run is
            // ending): it is quickest on this thread, with no hand-off to the sync
            // thread and back. A held start wants the commit at once; held reports
            // alone can wait a moment for more changes to share the sync.
            let committed = self.committed;
            let startable = self.held_spawns.iter().any(|h| h.after <= committed);
            let waiting = self.held_spawns.iter().any(|h| h.after > committed);
            let how = if self.inflight.is_empty() && !startable {
                Commit::Here
            } else if !waiting {
                Commit::Soon
            } else {
                Commit::Now
            };
            self.sink.commit(how).map_err(RunError::Record)?;
        }
        self.release()
    }

    /// Whether anything waits for the sink to commit.
    fn holding(&self) -> bool {
        !self.held_spawns.is_empty() || !self.held_events.is_empty()
    }

    /// Emits the held events and starts the held spawns whose changes are committed,
    /// events first (a need's end is reported before its dependent starts).
    fn release(&mut self) -> Result<(), RunError> {
        if !self.holding() {
            return Ok(());
        }
        self.committed = self.sink.committed().map_err(RunError::Record)?;
        while let Some((at, _)) = self.held_events.front()
            && *at <= self.committed
        {
            if let Some((_, kind)) = self.held_events.pop_front() {
                self.events.emit(kind);
            }
        }
        let committed = self.committed;
        let (due, held): (Vec<HeldSpawn>, Vec<HeldSpawn>) = std::mem::take(&mut self.held_spawns)
            .into_iter()
            .partition(|h| h.after <= committed);
        self.held_spawns = held;
        for h in due {
            self.spawn(h.task, h.attempt);
        }
        Ok(())
    }

    /// Waits until every change recorded is committed, and releases what waited.
    async fn wait_committed(&mut self) -> Result<(), RunError> {
        let how = if self.inflight.is_empty() {
            Commit::Here
        } else {
            Commit::Now
        };
        self.sink.commit(how).map_err(RunError::Record)?;
        loop {
            self.release()?;
            self.committed = self.sink.committed().map_err(RunError::Record)?;
            if self.committed >= self.written && !self.holding() {
                return Ok(());
            }
            next_commit(&mut self.commits).await?;
        }
    }

    /// Reports the expected time left, once a task that will run has a duration
    /// from earlier runs: after tasks ended, at most every [`ESTIMATE_EVERY`] (the
    /// reporters count down in between). Its event follows the ends it accounts for.
    fn estimate(&mut self, state: &RunState) -> Result<(), RunError> {
        let due = self.estimating
            && self.ended_since_estimate
            && self
                .estimated
                .is_none_or(|at| at.elapsed() >= ESTIMATE_EVERY)
            && state.mode() != super::run_state::Mode::Interrupted;
        if !due {
            return Ok(());
        }
        let left: Vec<TaskIdx> = (0..self.plan.tasks().len())
            .filter(|&t| state.will_run(t))
            .collect();
        let known = |t: TaskIdx| self.config.known_durations.get(t).copied().flatten();
        if !left.iter().any(|&t| known(t).is_some()) {
            // No task left has a duration from earlier runs, and none will: nothing
            // to estimate for the rest of the run (not looked at again after each end).
            self.estimating = false;
            return Ok(());
        }
        let ran = |t: TaskIdx| {
            self.tallies[t]
                .attempt_start
                .map_or(Duration::ZERO, |at| at.elapsed())
        };
        let time_left = state.time_left(ran, self.jobs);
        let guessed = left.iter().filter(|&&t| known(t).is_none()).count();
        self.estimated = Some(Instant::now());
        self.ended_since_estimate = false;
        self.held_events.push_back((
            self.written,
            EventKind::RunEstimate {
                left_ms: millis(time_left.expected),
                overrun: time_left.overrun,
                guessed,
            },
        ));
        self.release()
    }

    /// Starts an attempt's tokio task, reporting its start.
    fn spawn(&mut self, task: TaskIdx, attempt: Attempt) {
        let expected = self.config.known_durations.get(task).copied().flatten();
        self.tallies[task].attempt_start = Some(Instant::now());
        self.events.emit(EventKind::TaskStarted {
            task: self.id(task),
            attempt: attempt.number,
            expected_ms: expected.map(millis),
        });
        let plan = self.plan.clone();
        self.inflight.spawn(async move {
            let result = attempt_once(&plan, task, &attempt).await;
            let detail = attempt.last_detail();
            Message::Attempted {
                task,
                result,
                detail,
            }
        });
    }

    fn record(&mut self, changes: &[StateChange]) -> Result<(), RunError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.written = self.sink.record(changes).map_err(RunError::Record)?;
        Ok(())
    }

    fn emit_changes(&mut self, state: &RunState, changes: &[StateChange]) {
        let redact = |text: &str| self.plan.redactor().redact(text).into_owned();
        for change in changes {
            let kind = match change {
                // Emitted as its process is spawned.
                StateChange::Started { .. } => continue,
                StateChange::Retrying {
                    task,
                    attempt,
                    delay,
                    error,
                } => EventKind::TaskRetrying {
                    task: self.id(*task),
                    attempt: *attempt,
                    delay_ms: millis(*delay),
                    error: redact(&error.message),
                },
                StateChange::Succeeded { task, summary, .. } => EventKind::TaskSucceeded {
                    task: self.id(*task),
                    attempt: self.tallies[*task].number(),
                    state: state.status(*task),
                    duration_ms: self.elapsed(*task),
                    summary: summary.as_deref().map(redact),
                    would: self.would[*task]
                        .iter()
                        .map(|w| match w {
                            WouldDo::Run { argv, cwd } => WouldDo::Run {
                                argv: argv.iter().map(|a| redact(a)).collect(),
                                cwd: cwd.clone(),
                            },
                            other => other.clone(),
                        })
                        .collect(),
                },
                StateChange::Failed { task, error, .. } => EventKind::TaskFailed {
                    task: self.id(*task),
                    attempt: self.tallies[*task].number(),
                    state: state.status(*task),
                    duration_ms: self.elapsed(*task),
                    error: redact(&error.message),
                    excerpt: self.errors[*task]
                        .as_ref()
                        .map(|e| e.excerpt.clone())
                        .unwrap_or_default(),
                    depends_on: state
                        .depends_on(*task)
                        .iter()
                        .map(|&t| self.id(t))
                        .collect(),
                },
                StateChange::Skipped { task, cause } => EventKind::TaskSkipped {
                    task: self.id(*task),
                    state: state.status(*task),
                    reason: match cause {
                        SkipCause::DependencyFailed(by) => SkipReason::DependencyFailed {
                            dependency: self.id(*by),
                        },
                        SkipCause::RunFailed => SkipReason::RunFailed,
                        SkipCause::DoneEarlier => SkipReason::DoneEarlier,
                        SkipCause::NotSelected => SkipReason::NotSelected,
                    },
                },
                StateChange::Cancelled {
                    task,
                    reason,
                    blocked_by,
                } => EventKind::TaskCancelled {
                    task: self.id(*task),
                    attempt: self.tallies[*task].number(),
                    state: state.status(*task),
                    duration_ms: self.elapsed(*task),
                    reason: *reason,
                    blocked_by: blocked_by.as_deref().map(redact),
                },
                StateChange::Interrupted { cause } => EventKind::RunInterrupted {
                    cause: cause.clone(),
                },
                StateChange::ProcessStarted { .. } | StateChange::Finished { .. } => continue,
            };
            self.effects.push(Effect::Emit(kind));
        }
    }

    fn id(&self, task: TaskIdx) -> String {
        self.plan.task(task).id.clone()
    }

    fn elapsed(&self, task: TaskIdx) -> u64 {
        self.tallies[task]
            .first_start
            .map_or(0, |t| millis(t.elapsed()))
    }
}

/// One attempt with the task's timeout: when it expires the attempt's token is
/// cancelled with [`CancelReason::Timeout`] and the executor stops its work.
async fn attempt_once(
    plan: &ValidatedPlan,
    task: TaskIdx,
    attempt: &Attempt,
) -> Result<TaskOutcome, TaskError> {
    let task = plan.task(task);
    let work = exec::execute(task, attempt);
    let Some(limit) = task.timeout else {
        return work.await;
    };
    tokio::pin!(work);
    tokio::select! {
        result = &mut work => result,
        () = tokio::time::sleep(limit) => {
            attempt.cancel.cancel(CancelReason::Timeout);
            work.await
        }
    }
}

/// Resolves when the sink's committed position may have moved.
async fn next_commit(commits: &mut Option<watch::Receiver<u64>>) -> Result<(), RunError> {
    match commits {
        Some(rx) => rx.changed().await.map_err(|_| {
            RunError::Record(std::io::Error::other(
                "the journal stopped saying what it synced",
            ))
        }),
        None => std::future::pending().await,
    }
}

/// A failure as the state changes record it.
fn failure(error: &TaskError) -> Failure {
    Failure {
        message: error.to_string(),
        exit_code: error.exit_code,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::events::Event;
    use crate::plan::PlanSource;
    use crate::schedule::MemorySink;

    fn plan(dir: &std::path::Path, toml: &str) -> Arc<ValidatedPlan> {
        let source = PlanSource::new(dir.join("plan.toml"), toml);
        Arc::new(crate::validate::validate(Arc::new(source), &[], &|_| None).unwrap())
    }

    async fn run(
        plan: Arc<ValidatedPlan>,
        dir: &std::path::Path,
        config: RunConfig,
    ) -> (RunSummary, Vec<StateChange>, Vec<Event>) {
        let mut sink = MemorySink::default();
        let (summary, events) = run_into(plan, dir, config, &mut sink).await;
        let changes = sink
            .changes
            .into_iter()
            .filter(|c| !matches!(c, StateChange::ProcessStarted { .. }))
            .collect();
        (summary, changes, events)
    }

    /// Runs `plan` in a run directory under `dir`, recording into `sink`; returns how
    /// the run ended and every event sent.
    async fn dispatch(
        plan: Arc<ValidatedPlan>,
        dir: &std::path::Path,
        config: RunConfig,
        sink: &mut dyn StateSink,
    ) -> (Result<RunSummary, RunError>, Vec<Event>) {
        let (events, rx) = EventSender::channel();
        let run_dir = crate::layout::PlanDir::new(dir, "p").run("r");
        let result = Dispatcher {
            plan,
            resources: RunResources::new(run_dir.path().to_path_buf(), events),
            run_dir,
            config,
            sink,
        }
        .run()
        .await;
        (result, rx.iter().collect())
    }

    /// [`dispatch`] of a run that must end without a sink failure.
    async fn run_into(
        plan: Arc<ValidatedPlan>,
        dir: &std::path::Path,
        config: RunConfig,
        sink: &mut dyn StateSink,
    ) -> (RunSummary, Vec<Event>) {
        let (result, events) = dispatch(plan, dir, config, sink).await;
        (result.unwrap(), events)
    }

    /// Counts the sink's batches (each is one sync of the journal); fails every
    /// batch after the first `fail_after`, as a full disk would. Process records,
    /// written unsynced on their own, are left out.
    #[derive(Default)]
    struct BatchSink {
        batches: Vec<Vec<StateChange>>,
        fail_after: Option<usize>,
    }

    impl StateSink for BatchSink {
        fn record(&mut self, changes: &[StateChange]) -> std::io::Result<u64> {
            if self.fail_after.is_some_and(|n| self.batches.len() >= n) {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            self.batches.push(changes.to_vec());
            Ok(self.batches.len() as u64)
        }

        fn committed(&self) -> std::io::Result<u64> {
            Ok(self.batches.len() as u64)
        }

        fn record_unsynced(&mut self, _changes: &[StateChange]) -> std::io::Result<u64> {
            Ok(self.batches.len() as u64)
        }
    }

    /// Commits only when asked, as the journal does, and keeps how it was asked.
    #[derive(Default)]
    struct CommitSink {
        batches: Vec<Vec<StateChange>>,
        committed: u64,
        /// After which batch each commit was asked for, and how.
        asked: Vec<(usize, Commit)>,
        tx: Option<watch::Sender<u64>>,
    }

    impl StateSink for CommitSink {
        fn record(&mut self, changes: &[StateChange]) -> std::io::Result<u64> {
            self.batches.push(changes.to_vec());
            Ok(self.batches.len() as u64)
        }

        fn committed(&self) -> std::io::Result<u64> {
            Ok(self.committed)
        }

        fn commits(&self) -> Option<watch::Receiver<u64>> {
            self.tx.as_ref().map(watch::Sender::subscribe)
        }

        fn commit(&mut self, how: Commit) -> std::io::Result<()> {
            self.asked.push((self.batches.len(), how));
            self.committed = self.batches.len() as u64;
            if let Some(tx) = &self.tx {
                tx.send_replace(self.committed);
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_commit_is_asked_at_once_only_when_a_start_waits_for_it() {
        let tmp = tempfile::tempdir().unwrap();
        // `c` runs until `b` ran: it is in flight when `a` ends and `b` waits for
        // `a`'s end to be committed.
        let plan = plan(
            tmp.path(),
            r#"
            [plan]
            name = "p"
            [tasks.a]
            type = "exec-script"
            command = ["true"]
            [tasks.b]
            type = "exec-script"
            command = ["touch", "b.ran"]
            needs = ["a"]
            [tasks.c]
            type = "exec-script"
            script = 'for i in $(seq 3000); do [ -e b.ran ] && exit 0; sleep 0.01; done; exit 1'
            [tasks.d]
            type = "exec-script"
            command = ["true"]
            needs = ["b", "c"]
            "#,
        );
        let mut sink = CommitSink {
            tx: Some(watch::Sender::new(0)),
            ..CommitSink::default()
        };
        let (summary, _) = run_into(plan, tmp.path(), RunConfig::default(), &mut sink).await;
        assert_eq!(summary.outcome, RunOutcome::Succeeded);
        let asked_after = |change: &StateChange| {
            let batch = sink
                .batches
                .iter()
                .position(|b| b.contains(change))
                .unwrap()
                + 1;
            sink.asked
                .iter()
                .find(|(after, _)| *after == batch)
                .map(|(_, how)| *how)
        };
        let started = |task| StateChange::Started { task, attempt: 1 };
        // Starts that need nothing: only their events wait.
        assert_eq!(
            asked_after(&started(0)),
            Some(Commit::Soon),
            "{:?}",
            sink.asked
        );
        // `b` waits for `a`'s end while `c` runs: at once, in the background.
        assert_eq!(
            asked_after(&started(1)),
            Some(Commit::Now),
            "{:?}",
            sink.asked
        );
        // `d` waits for the last of its needs' ends, with nothing in flight: here.
        assert_eq!(
            asked_after(&started(3)),
            Some(Commit::Here),
            "{:?}",
            sink.asked
        );
        // `d`'s end, with nothing left to run: here too, not after a wait for more
        // changes to share the sync.
        let d_ended = sink
            .batches
            .iter()
            .position(|b| b.iter().any(|c| c.ended_task() == Some(3)))
            .unwrap()
            + 1;
        assert_eq!(
            sink.asked.iter().find(|(after, _)| *after == d_ended),
            Some(&(d_ended, Commit::Here)),
            "{:?}",
            sink.asked
        );
    }

    #[tokio::test]
    async fn changes_that_happen_together_are_recorded_in_one_batch() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = plan(
            tmp.path(),
            r#"
            [plan]
            name = "p"
            [tasks.a]
            type = "exec-script"
            command = ["true"]
            [tasks.b]
            type = "exec-script"
            command = ["true"]
            [tasks.c]
            type = "exec-script"
            command = ["true"]
            needs = ["a", "b"]
            "#,
        );
        let mut sink = BatchSink::default();
        run_into(plan, tmp.path(), RunConfig::default(), &mut sink).await;
        // Both starts go in the first batch; every batch is non-empty; the success of
        // c's needs is recorded before (or with) c's start.
        assert_eq!(
            sink.batches[0],
            [
                StateChange::Started {
                    task: 0,
                    attempt: 1
                },
                StateChange::Started {
                    task: 1,
                    attempt: 1
                }
            ]
        );
        assert!(sink.batches.iter().all(|b| !b.is_empty()));
        let flat: Vec<_> = sink.batches.concat();
        let pos = |c: &StateChange| flat.iter().position(|x| x == c).unwrap();
        let c_start = pos(&StateChange::Started {
            task: 2,
            attempt: 1,
        });
        let succeeded = |task| StateChange::Succeeded {
            task,
            exit_code: Some(0),
            summary: Some("ran true".into()),
        };
        assert!(pos(&succeeded(0)) < c_start);
        assert!(pos(&succeeded(1)) < c_start);
        assert!(sink.batches.len() <= 5, "{:?}", sink.batches);
    }

    /// A sink that commits nothing from the batch holding `gated`'s success on,
    /// until the end of `opener` is recorded; it notes any change of `witness` but its
    /// start recorded while closed.
    struct GateSink {
        changes: Vec<StateChange>,
        gated: TaskIdx,
        opener: TaskIdx,
        witness: TaskIdx,
        closed_from: Option<u64>,
        open: bool,
        violations: Vec<StateChange>,
        tx: watch::Sender<u64>,
    }

    impl StateSink for GateSink {
        fn record(&mut self, changes: &[StateChange]) -> std::io::Result<u64> {
            let before = self.changes.len() as u64;
            self.changes.extend_from_slice(changes);
            for c in changes {
                match c {
                    StateChange::Succeeded { task, .. } if *task == self.gated => {
                        self.closed_from.get_or_insert(before);
                    }
                    StateChange::Started { .. } => {}
                    c if c.ended_task() == Some(self.witness) && !self.open => {
                        self.violations.push(c.clone());
                    }
                    _ => {}
                }
            }
            if changes.iter().any(|c| c.ended_task() == Some(self.opener)) {
                self.open = true;
            }
            self.tx.send_replace(self.committed()?);
            Ok(self.changes.len() as u64)
        }

        fn committed(&self) -> std::io::Result<u64> {
            Ok(match self.closed_from {
                Some(at) if !self.open => at,
                _ => self.changes.len() as u64,
            })
        }

        fn commits(&self) -> Option<watch::Receiver<u64>> {
            Some(self.tx.subscribe())
        }
    }

    #[tokio::test]
    async fn a_task_waits_for_its_needs_ends_to_be_committed_and_so_do_their_events() {
        let tmp = tempfile::tempdir().unwrap();
        // `c` runs until `b` ran (at most 1 s): `b` must not run while `a`'s success
        // is not committed, and the success is committed only once `c` ended.
        let plan = plan(
            tmp.path(),
            r#"
            [plan]
            name = "p"
            [tasks.a]
            type = "exec-script"
            command = ["true"]
            [tasks.b]
            type = "exec-script"
            command = ["touch", "b.ran"]
            needs = ["a"]
            [tasks.c]
            type = "exec-script"
            script = 'for i in $(seq 100); do [ -e b.ran ] && exit 0; sleep 0.01; done'
            "#,
        );
        let mut sink = GateSink {
            changes: Vec::new(),
            gated: 0,
            opener: 2,
            witness: 1,
            closed_from: None,
            open: false,
            violations: Vec::new(),
            tx: watch::Sender::new(0),
        };
        let (summary, events) = run_into(plan, tmp.path(), RunConfig::default(), &mut sink).await;
        assert_eq!(summary.outcome, RunOutcome::Succeeded);
        assert!(
            sink.open && sink.violations.is_empty(),
            "{:?}",
            sink.violations
        );
        assert!(tmp.path().join("b.ran").exists());
        let at = |f: &dyn Fn(&EventKind) -> bool| events.iter().position(|e| f(&e.kind)).unwrap();
        let succeeded = |id: &'static str| move |k: &EventKind| matches!(k, EventKind::TaskSucceeded { task, .. } if task == id);
        let a_done = at(&succeeded("a"));
        let c_done = at(&succeeded("c"));
        let b_start = at(&|k| matches!(k, EventKind::TaskStarted { task, .. } if task == "b"));
        // `a`'s success is reported once committed (with `c`'s end), then `b` starts.
        assert!(a_done < c_done && c_done < b_start, "{events:#?}");
    }

    #[tokio::test]
    async fn a_sink_that_fails_stops_the_run_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        // `slow` is running when `quick` ends and its success cannot be recorded:
        // `slow` is stopped, `after` never starts.
        let plan = plan(
            tmp.path(),
            r#"
            [plan]
            name = "p"
            [tasks.quick]
            type = "exec-script"
            command = ["true"]
            [tasks.slow]
            type = "exec-script"
            command = ["sleep", "30"]
            [tasks.after]
            type = "exec-script"
            command = ["touch", "after.ran"]
            needs = ["quick"]
            "#,
        );
        let mut sink = BatchSink {
            fail_after: Some(1),
            ..BatchSink::default()
        };
        let started = std::time::Instant::now();
        let (result, events) = dispatch(plan, tmp.path(), RunConfig::default(), &mut sink).await;
        let Err(RunError::Record(e)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(e.raw_os_error(), Some(28));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "slow was not stopped"
        );
        assert!(!tmp.path().join("after.ran").exists());
        // Only the starts were recorded; no event claims what was not recorded.
        assert_eq!(sink.batches.len(), 1);
        assert!(
            !events
                .iter()
                .any(|e| matches!(&e.kind, EventKind::TaskSucceeded { .. })),
            "{events:?}"
        );
    }

    #[tokio::test]
    async fn records_each_change_and_skips_tasks_done_earlier() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = plan(
            tmp.path(),
            r#"
            [plan]
            name = "p"
            [tasks.a]
            type = "exec-script"
            command = ["false"]
            [tasks.b]
            type = "exec-script"
            command = ["true"]
            needs = ["a"]
            "#,
        );
        let config = RunConfig {
            done_earlier: vec![0],
            ..RunConfig::default()
        };
        let (summary, changes, events) = run(plan, tmp.path(), config).await;
        assert_eq!(summary.outcome, RunOutcome::Succeeded);
        assert_eq!(
            changes,
            vec![
                StateChange::Skipped {
                    task: 0,
                    cause: SkipCause::DoneEarlier
                },
                StateChange::Started {
                    task: 1,
                    attempt: 1
                },
                StateChange::Succeeded {
                    task: 1,
                    exit_code: Some(0),
                    summary: Some("ran true".into())
                },
                StateChange::Finished {
                    outcome: RunOutcome::Succeeded
                },
            ]
        );
        let kinds: Vec<_> = events
            .iter()
            .map(|e| {
                serde_json::to_value(e).unwrap()["event"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "run-started",
                "task-skipped",
                "task-started",
                "task-succeeded",
                "run-finished"
            ]
        );
    }
}
