//! The signals that stop planrun, watched in one place: SIGINT (Ctrl-C), SIGTERM and
//! SIGHUP (a closed terminal) all mean "stop".
//!
//! [`StopSignals`] turns them into values for whoever decides what stopping means:
//! a run interrupts its tasks ([`watch_run`]), a rehearsal passes them on to its run,
//! `planrun sandbox` shuts down. Whatever is said about a signal is said after it was
//! acted on, and saying it never fails ([`console::say`]): a closed stderr does not
//! stop the run's control.

use std::io;

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};

use crate::cancel::Cancel;
use crate::console::say;
use crate::events::CancelReason;
use crate::exec::process::GroupRegistry;

/// The stop signals, caught from [`StopSignals::install`] on (they no longer end
/// the process by themselves).
pub struct StopSignals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Catches SIGINT, SIGTERM and SIGHUP. Needs a tokio runtime.
    pub fn install() -> io::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next stop signal to arrive.
    pub async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::SIGINT,
            _ = self.term.recv() => Signal::SIGTERM,
            _ = self.hup.recv() => Signal::SIGHUP,
        }
    }
}

/// What a run does on stop signals. The first interrupts: `cancel` is cancelled
/// (nothing more starts, running tasks are stopped), then it is said. The second
/// kills every running process group and exits at once with
/// [`INTERRUPTED`](crate::exit_code::INTERRUPTED).
pub fn watch_run(cancel: Cancel, groups: GroupRegistry) -> io::Result<tokio::task::JoinHandle<()>> {
    let mut signals = StopSignals::install()?;
    Ok(tokio::spawn(async move {
        let signal = signals.recv().await;
        cancel.cancel_because(CancelReason::Interrupted, describe(signal));
        say("planrun: interrupted; stopping running tasks (again to exit at once)");
        signals.recv().await;
        groups.kill_all();
        say("planrun: interrupted twice; exiting now");
        std::process::exit(crate::exit_code::INTERRUPTED);
    }))
}

/// A stop signal in words, as the journal and the report name an interruption's
/// cause.
pub fn describe(signal: Signal) -> &'static str {
    match signal {
        Signal::SIGINT => "SIGINT (Ctrl-C)",
        Signal::SIGTERM => "SIGTERM",
        Signal::SIGHUP => "SIGHUP (the terminal closed)",
        _ => "a signal",
    }
}
