//! The dispatcher: the one owner of run state. A single `select!` loop starts tasks
//! as slots free up, receives each attempt's result as a message, decides retries,
//! records every state change through the [`StateSink`] before acting on it, and
//! turns the changes into events. Attempts run as tokio tasks and never touch run
//! state.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use planrun_text::format_duration;
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
use super::state::{Failure, SkipCause, StateChange, StateSink};

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
        };
        let (mut state, initial) = RunState::new(DepGraph::from_plan(&plan), &start);
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
            d.record(&[StateChange::Finished { outcome }])?;
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
    /// (one sync of the journal), then carries out `effects`.
    pending: Vec<StateChange>,
    /// What waits for `pending` to be recorded, in order.
    effects: Vec<Effect>,
}

/// Something the dispatcher does only once the changes behind it are recorded.
enum Effect {
    Emit(EventKind),
    Spawn { task: TaskIdx, attempt: Attempt },
    RetryTimer { task: TaskIdx, delay: Duration },
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
            // together, the starts they allow) is recorded with one sync.
            self.flush()?;
            if state.is_over() {
                return Ok(());
            }
            // Biased, the interruption first: an attempt that ended because the
            // interruption killed it must be seen as interrupted, not as a failure
            // that would let `always` tasks start.
            tokio::select! {
                biased;
                reason = self.cancel.cancelled(), if !interrupted => {
                    interrupted = true;
                    debug_assert_eq!(reason, CancelReason::Interrupted);
                    if let Some(change) = state.interrupt(self.cancel.note()) {
                        self.apply(state, &[change])?;
                    }
                }
                Some(group) = self.groups.recv() => self.process_started(group)?,
                joined = self.inflight.join_next() => {
                    let Some(mut joined) = joined else {
                        unreachable!("running tasks have a future in flight");
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
            .map_err(RunError::Record)
    }

    /// In a dry run, a check that fails after tasks that would change the cluster
    /// first says its verdict waits on their change (the dry run did not make it).
    fn as_things_are(&self, state: &RunState, task: TaskIdx, message: &str) -> String {
        let before = state.changes_before(task);
        let Some(&first) = before.first() else {
            return message.to_owned();
        };
        let more = match before.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        format!(
            "unknown until `{}`{more} changes things (the dry run did not): {message}",
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
        let mut attempt = Attempt::new(self.resources.clone(), &t.id, number, log).with_env(env);
        if self.cancel.is_cancelled() {
            attempt = attempt.past_interruption();
        }
        self.effects.push(Effect::Spawn { task, attempt });
        Ok(())
    }

    /// Queues changes for the next [`Loop::flush`], and their events after them.
    fn apply(&mut self, state: &RunState, changes: &[StateChange]) -> Result<(), RunError> {
        self.pending.extend_from_slice(changes);
        self.emit_changes(state, changes);
        Ok(())
    }

    /// Records the queued changes in one batch, then reports them and starts what
    /// they started: nothing happens before the changes behind it are recorded.
    fn flush(&mut self) -> Result<(), RunError> {
        let pending = std::mem::take(&mut self.pending);
        let recorded = self.record(&pending);
        self.pending = pending;
        self.pending.clear();
        recorded?;
        for effect in std::mem::take(&mut self.effects) {
            match effect {
                Effect::Emit(kind) => self.events.emit(kind),
                Effect::Spawn { task, attempt } => {
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
        Ok(())
    }

    fn record(&mut self, changes: &[StateChange]) -> Result<(), RunError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.sink.record(changes).map_err(RunError::Record)
    }

    fn emit_changes(&mut self, state: &RunState, changes: &[StateChange]) {
        let redact = |text: &str| self.plan.redactor().redact(text).into_owned();
        for change in changes {
            let kind = match change {
                StateChange::Started { task, attempt } => EventKind::TaskStarted {
                    task: self.id(*task),
                    attempt: *attempt,
                },
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
        fn record(&mut self, changes: &[StateChange]) -> std::io::Result<()> {
            if self.fail_after.is_some_and(|n| self.batches.len() >= n) {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            self.batches.push(changes.to_vec());
            Ok(())
        }

        fn record_unsynced(&mut self, _changes: &[StateChange]) -> std::io::Result<()> {
            Ok(())
        }
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
