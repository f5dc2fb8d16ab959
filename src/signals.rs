//! The signals that stop planrun, watched in one place: SIGINT (Ctrl-C), SIGTERM and
//! SIGHUP (a closed terminal) all mean "stop".
//!
//! [`StopSignals`] turns them into values for whoever decides what stopping means:
//! a run interrupts its tasks ([`watch_run`]), a rehearsal passes them on to its run,
//! `planrun sandbox` shuts down. Whatever is said about a signal is said after it was
//! acted on, and saying it neither fails nor waits ([`console::say_aside`]): a closed
//! stderr, or a terminal nobody reads (an SSH session whose connection died, Ctrl-S),
//! does not stop the run's control. Once the run's control is over, what is left is
//! output, and a stop signal ends planrun at once ([`exit_on_stop`]).

use std::io;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};

use crate::cancel::Cancel;
use crate::console::{say_aside, settle};
use crate::events::CancelReason;
use crate::exec::process::GroupRegistry;

/// How long the last words before an immediate exit may take to reach the terminal.
const SAY_BEFORE_EXIT: Duration = Duration::from_millis(200);

/// The signals that mean "stop" (the process guard, below this module, is deaf to the
/// same three).
const STOP: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

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
        say_aside("planrun: interrupted; stopping running tasks (again to exit at once)");
        signals.recv().await;
        groups.kill_all();
        exit_now(
            "planrun: interrupted twice; exiting now",
            crate::exit_code::INTERRUPTED,
        );
    }))
}

/// From now on a stop signal ends planrun at once with `code`, the exit code of a run
/// whose control is over (its tasks ended, its journal final): what is left is
/// output (the summary to a terminal, a notification's retries), and a terminal
/// nobody reads would otherwise keep planrun, and the operator, waiting until its
/// SIGHUP comes, which after a dropped connection can take hours. Installed before
/// the run's own watch is dropped, so that no signal falls between the two.
pub fn exit_on_stop(code: i32, outcome: &str) -> io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new(STOP.map(|s| s as i32))?;
    let said = format!("planrun: the run had ended ({outcome}); exiting now");
    std::thread::Builder::new()
        .name("planrun-exit".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                exit_now(&said, code);
            }
        })?;
    Ok(())
}

/// Says `line` if the terminal takes it soon, and ends the process with `code`. The
/// journal's records are written as they happen, so nothing of the run is lost. (The
/// exit flushes stdout only when no thread is writing to it, and every writer of
/// planrun flushes after its writes: nothing is left there to wait for.)
fn exit_now(line: &str, code: i32) -> ! {
    say_aside(line);
    settle(Some(SAY_BEFORE_EXIT));
    std::process::exit(code)
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
