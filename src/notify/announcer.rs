//! The plan's `[notify]` table at work: a thread of its own, fed the run's events,
//! that announces the run's start (or resumption), its first task failure, an
//! interruption and its end, in that order, each delivered (or given up on)
//! before the next; a notification that cannot be delivered is said on stderr and
//! never changes how the run ends. The thread ends after the end's notification.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use planrun_text::format_duration;

use super::message::Message;
use super::webhook::deliver;
use crate::cancel::Cancel;
use crate::events::{Event, EventKind};
use crate::redact::Redactor;
use crate::validate::{Notifications, NotifyOn};
use crate::vocabulary::TaskStatus;

/// What every notification of a run says besides its event.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub plan: String,
    /// The kube context, when the run uses one.
    pub context: Option<String>,
    /// The run report's path.
    pub report: String,
}

/// The announcing thread.
pub struct Announcer {
    handle: JoinHandle<()>,
}

impl Announcer {
    /// Starts announcing the run whose events arrive on `events`.
    pub fn spawn(
        notify: Notifications,
        facts: RunFacts,
        redactor: Redactor,
        events: mpsc::Receiver<Event>,
    ) -> std::io::Result<Self> {
        let handle = std::thread::Builder::new()
            .name("planrun-notify".into())
            .spawn(move || announce(&notify, &facts, &redactor, &events))?;
        Ok(Self { handle })
    }

    /// Waits until the end has been announced (or the events stopped).
    pub fn join(self) {
        let _ = self.handle.join();
    }
}

fn announce(
    notify: &Notifications,
    facts: &RunFacts,
    redactor: &Redactor,
    events: &mpsc::Receiver<Event>,
) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        crate::console::say("planrun: notifications are off: cannot start their runtime");
        return;
    };
    let mut run_id = String::new();
    let mut failed_once = false;
    let cancel = Cancel::new();
    for event in events {
        let Some((on, message)) = message_for(&event.kind, facts, &mut run_id, &mut failed_once)
        else {
            continue;
        };
        let last = on == NotifyOn::End;
        if notify.on.contains(&on) {
            let said = runtime.block_on(deliver(&notify.webhook, &message, &cancel));
            if let Err(e) = said {
                crate::console::say(&format!(
                    "planrun: the {} notification was not sent (the run goes on): {}",
                    name(on),
                    redactor.redact(&e)
                ));
            }
        }
        if last {
            break;
        }
    }
}

/// The notification an event calls for, if any.
fn message_for(
    kind: &EventKind,
    facts: &RunFacts,
    run_id: &mut String,
    failed_once: &mut bool,
) -> Option<(NotifyOn, Message)> {
    let on = |ctx: &RunFacts| match &ctx.context {
        Some(c) => format!("`{}` on `{c}`", ctx.plan),
        None => format!("`{}`", ctx.plan),
    };
    let mut message = Message {
        plan: facts.plan.clone(),
        context: facts.context.clone().unwrap_or_default(),
        report: facts.report.clone(),
        ..Message::default()
    };
    let (when, text) = match kind {
        EventKind::RunStarted(info) | EventKind::RunResumed(info) => {
            info.run_id.clone_into(run_id);
            let verb = if matches!(kind, EventKind::RunResumed(_)) {
                "resumes"
            } else {
                "starts"
            };
            (
                NotifyOn::Start,
                format!(
                    "planrun: {} {verb} (run {}, {} tasks); report: {}",
                    on(facts),
                    info.run_id,
                    info.tasks,
                    facts.report
                ),
            )
        }
        EventKind::TaskFailed {
            task, state, error, ..
        } if *state == TaskStatus::Failed && !*failed_once => {
            *failed_once = true;
            message.task = task.clone();
            let first = error.lines().next().unwrap_or_default();
            (
                NotifyOn::Failure,
                format!(
                    "planrun: {}: task `{task}` failed: {first} (run {run_id}; no new work starts)",
                    on(facts)
                ),
            )
        }
        EventKind::RunInterrupted { cause } => (
            NotifyOn::Interruption,
            format!(
                "planrun: {} interrupted by {} (run {run_id}); `always` tasks run, then it stops; resume with --resume",
                on(facts),
                cause.as_deref().unwrap_or("a stop signal")
            ),
        ),
        EventKind::RunFinished {
            outcome,
            duration_ms,
            counts,
        } => {
            message.outcome = outcome.status().id().to_owned();
            (
                NotifyOn::End,
                format!(
                    "planrun: {} {} in {}: {} (run {run_id}); report: {}",
                    on(facts),
                    outcome.status(),
                    format_duration(Duration::from_millis(*duration_ms)),
                    counts.describe(),
                    facts.report
                ),
            )
        }
        _ => return None,
    };
    message.event = name(when).to_owned();
    message.run_id = run_id.clone();
    message.text = text;
    Some((when, message))
}

fn name(on: NotifyOn) -> &'static str {
    match on {
        NotifyOn::Start => "start",
        NotifyOn::Failure => "failure",
        NotifyOn::Interruption => "interruption",
        NotifyOn::End => "end",
    }
}
