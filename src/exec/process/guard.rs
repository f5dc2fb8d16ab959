//! The process guard: a small process that outlives planrun just long enough to stop
//! what planrun started, however planrun ends (`kill -9` included).
//!
//! A run starts one guard: the planrun binary itself, `planrun __guard`, in a process
//! group of its own, deaf to SIGINT, SIGTERM and SIGHUP (a closed terminal or a
//! Ctrl-C meant for planrun must not end it first). Its stdin is a pipe whose write
//! end only planrun holds (it is close-on-exec, so no task inherits it), and which
//! planrun never writes to: its end is the news that planrun is gone, in whatever
//! way. Its stdout is the ledger, an anonymous in-memory file (`memfd_create`)
//! planrun appends to, one line each, the process groups to watch (`+PGID
//! LEADER_START SIGNAL GRACE_MS`) and those done (`-PGID`, written with the next
//! watch). The guard sleeps until the pipe ends, without waking for each task; then
//! it reads the ledger, sends each group still watched its stop signal, waits up to
//! its grace period, sends SIGKILL to what is left, and exits. What planrun wrote
//! before a `kill -9` is in the ledger: the file lives on in memory while the guard
//! holds it, and needs no disk.
//!
//! A process group is named by its leader's pid; with the leader's start time the
//! guard never signals a later group that got the same number.
//!
//! Between a task's spawn and its line reaching the guard there is a moment (the
//! `exec`) when planrun can die with the group unannounced. So every task also gets
//! a marker in its environment, `PLANRUN_GUARD=<token>`, unique to the run; at the
//! end of planrun the guard also stops the group of every process carrying it.
//!
//! What a task moves out of its process group on purpose (`setsid`, a double fork
//! into a group of its own) is outside the guard's reach.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::memfd::MFdFlags;
use nix::sys::signal::Signal;

use super::group::signal_group;
use crate::procs;

/// The hidden subcommand that runs the guard: `planrun __guard TOKEN GRACE_MS`.
pub const GUARD_COMMAND: &str = "__guard";

/// The environment variable that marks the processes of a run for its guard.
pub const GUARD_ENV: &str = "PLANRUN_GUARD";

/// How often the guard looks whether the groups it stops are gone.
const POLL: Duration = Duration::from_millis(20);

/// A process group to stop if planrun dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watched {
    pub pgid: i32,
    /// The start time of the group's leader (see [`procs::ProcessInfo::start_ticks`]).
    pub leader_start: u64,
    /// Sent first; SIGKILL follows after `grace`.
    pub signal: Signal,
    pub grace: Duration,
}

impl Watched {
    fn line(&self) -> String {
        format!(
            "+{} {} {} {}\n",
            self.pgid,
            self.leader_start,
            self.signal as i32,
            self.grace.as_millis()
        )
    }

    fn parse(line: &str) -> Option<Self> {
        let mut parts = line.strip_prefix('+')?.split(' ');
        let watched = Self {
            pgid: parts.next()?.parse().ok()?,
            leader_start: parts.next()?.parse().ok()?,
            signal: Signal::try_from(parts.next()?.parse::<i32>().ok()?).ok()?,
            grace: Duration::from_millis(parts.next()?.parse().ok()?),
        };
        (watched.pgid > 1).then_some(watched)
    }

    /// Whether a process of this very group still runs.
    fn alive(&self) -> bool {
        if procs::available() {
            !procs::survivors(self.pgid, self.leader_start).is_empty()
        } else {
            nix::sys::signal::killpg(nix::unistd::Pid::from_raw(self.pgid), None).is_ok()
        }
    }
}

/// planrun's end of a running guard.
#[derive(Debug)]
pub struct ProcessGuard {
    input: Mutex<Input>,
    pid: u32,
    token: String,
}

/// planrun's ends of the pipe and the ledger, and the releases not yet written:
/// they go with the next watch, one write per task rather than two. A release the
/// guard never reads costs nothing: it stops only groups whose leader, by its
/// start time, still runs (see [`Watched::alive`]).
#[derive(Debug)]
struct Input {
    /// Held, never written: the guard sees its end when planrun is gone.
    _pipe: Option<ChildStdin>,
    ledger: Option<File>,
    released: String,
}

impl ProcessGuard {
    /// Starts `exe __guard` (`exe`: the planrun binary); `grace` is what the
    /// processes it finds by their marker get between SIGTERM and SIGKILL.
    pub fn start(exe: &Path, grace: Duration) -> io::Result<Self> {
        use std::hash::{BuildHasher, RandomState};
        use std::os::unix::process::CommandExt;
        let salt = RandomState::new().hash_one((std::process::id(), Instant::now()));
        let token = format!("{}-{salt:016x}", std::process::id());
        let ledger = File::from(
            nix::sys::memfd::memfd_create("planrun-guard", MFdFlags::MFD_CLOEXEC)
                .map_err(io::Error::from)?,
        );
        let mut child = Command::new(exe)
            .arg(GUARD_COMMAND)
            .arg(&token)
            .arg(grace.as_millis().to_string())
            .stdin(Stdio::piped())
            // Nothing of planrun's terminal or pipes: a guard holding a pipe open
            // would keep `planrun ... | tee` from ending.
            .stdout(Stdio::from(ledger.try_clone()?))
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        Ok(Self {
            input: Mutex::new(Input {
                _pipe: child.stdin.take(),
                ledger: Some(ledger),
                released: String::new(),
            }),
            pid: child.id(),
            token,
        })
    }

    /// The marker every child of the run carries in its environment.
    pub fn env(&self) -> (String, String) {
        (GUARD_ENV.to_owned(), self.token.clone())
    }

    /// The guard's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Asks the guard to stop `group` should planrun die; sends the releases
    /// gathered since the last watch first.
    pub fn watch(&self, group: &Watched) {
        let mut input = self.input.lock().unwrap_or_else(|e| e.into_inner());
        let mut lines = std::mem::take(&mut input.released);
        lines.push_str(&group.line());
        let Some(ledger) = input.ledger.as_mut() else {
            return;
        };
        if let Err(e) = ledger.write_all(lines.as_bytes()) {
            // Out of memory for it: the guard still finds the run's processes by
            // their marker.
            tracing::warn!("cannot write to the process guard's ledger: {e}");
            input.ledger = None;
        }
    }

    /// The group is gone: nothing to stop any more. Told with the next watch.
    pub fn release(&self, pgid: i32) {
        let mut input = self.input.lock().unwrap_or_else(|e| e.into_inner());
        input.released.push_str(&format!("-{pgid}\n"));
    }
}

/// The guard's side: reads what planrun says until the pipe ends, then stops every
/// group still watched and the group of every process marked with `token` (see the
/// module docs). Returns how many groups it had to stop.
pub fn serve(input: impl BufRead, token: &str, grace: Duration) -> usize {
    let mut watched: BTreeMap<i32, Watched> = BTreeMap::new();
    for line in input.lines() {
        let Ok(line) = line else { break };
        if let Some(pgid) = line.strip_prefix('-') {
            if let Ok(pgid) = pgid.parse::<i32>() {
                watched.remove(&pgid);
            }
        } else if let Some(group) = Watched::parse(&line) {
            watched.insert(group.pgid, group);
        }
    }
    for process in procs::all_processes() {
        if process.is_running()
            && process.pgid > 1
            && !watched.contains_key(&process.pgid)
            && procs::has_env(process.pid, GUARD_ENV, token)
        {
            let leader_start = procs::process(process.pgid).map_or(0, |l| l.start_ticks);
            watched.insert(
                process.pgid,
                Watched {
                    pgid: process.pgid,
                    leader_start,
                    signal: Signal::SIGTERM,
                    grace,
                },
            );
        }
    }
    stop(watched.into_values().collect())
}

/// Sends each live group its stop signal, then SIGKILL once its grace is over;
/// returns when every group is gone. Returns how many were alive.
pub fn stop(groups: Vec<Watched>) -> usize {
    let start = Instant::now();
    let mut pending: Vec<(Watched, Instant)> = groups
        .into_iter()
        .filter(Watched::alive)
        .map(|g| {
            signal_group(g.pgid, g.signal);
            (g, start + g.grace)
        })
        .collect();
    let stopped = pending.len();
    while !pending.is_empty() {
        std::thread::sleep(POLL);
        pending.retain(|(g, deadline)| {
            if !g.alive() {
                return false;
            }
            if Instant::now() >= *deadline {
                signal_group(g.pgid, Signal::SIGKILL);
                return false;
            }
            true
        });
    }
    stopped
}

/// Makes planrun its tasks' child subreaper (Linux): a process whose parent dies
/// while planrun runs (a task's orphan, out of the task's group or not) becomes
/// planrun's child instead of init's, so that planrun reaps it and
/// [`stop_adopted`] stops it at the end of the run.
pub fn adopt_orphans() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!("cannot become child subreaper: {e}");
    }
}

/// Stops the processes planrun adopted (see [`adopt_orphans`]) and still has as
/// children at the end of a run, except `keep` (the guard): SIGTERM, SIGKILL after
/// `grace`, and reaps them. Call it once no task runs. Returns how many ran.
pub fn stop_adopted(keep: &[u32], grace: Duration) -> usize {
    use nix::sys::signal::kill;
    use nix::sys::wait::{WaitPidFlag, waitpid};
    use nix::unistd::Pid;
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let adopted: Vec<procs::ProcessInfo> = procs::children(me)
        .into_iter()
        .filter(|p| u32::try_from(p.pid).is_ok_and(|pid| !keep.contains(&pid)))
        .collect();
    let running: Vec<i32> = adopted
        .iter()
        .filter(|p| p.is_running())
        .map(|p| p.pid)
        .collect();
    for &pid in &running {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while running.iter().any(|&pid| procs::is_running(pid)) && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    for &pid in &running {
        if procs::is_running(pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    for p in &adopted {
        // Killed or already exited: each is, or is about to be, a zombie to reap.
        let flags = if running.contains(&p.pid) {
            None
        } else {
            Some(WaitPidFlag::WNOHANG)
        };
        let _ = waitpid(Pid::from_raw(p.pid), flags);
    }
    running.len()
}

/// `planrun __guard TOKEN GRACE_MS`: blocks the stop signals, then serves stdin.
pub fn guard_main(token: &str, grace_ms: u64) {
    use nix::sys::signal::SigSet;
    let mut deaf = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        deaf.add(s);
    }
    // Blocked, they stay pending and never end the guard.
    let _ = deaf.thread_block();
    // Until planrun is gone (nothing is ever written to the pipe, or it is ignored).
    let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
    let ledger = read_ledger();
    serve(ledger.as_slice(), token, Duration::from_millis(grace_ms));
}

/// The ledger on the guard's stdout, from its start (read by position: the offset
/// is shared with planrun's end). Empty if it cannot be read: the marker remains.
fn read_ledger() -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let Ok(fd) = nix::unistd::dup(io::stdout()) else {
        return Vec::new();
    };
    let ledger = File::from(fd);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match ledger.read_at(&mut buf, out.len() as u64) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let w = Watched {
            pgid: 4242,
            leader_start: 98765,
            signal: Signal::SIGINT,
            grace: Duration::from_millis(1500),
        };
        assert_eq!(w.line(), "+4242 98765 2 1500\n");
        assert_eq!(Watched::parse(w.line().trim_end()), Some(w));
        assert_eq!(Watched::parse("+1 0 15 0"), None, "never init's group");
        assert_eq!(Watched::parse("+x"), None);
    }

    fn sleeper(trap_term: bool) -> (std::process::Child, Watched) {
        use std::os::unix::process::CommandExt;
        let script = if trap_term {
            "trap '' TERM; sleep 30 & wait"
        } else {
            "sleep 30 & wait"
        };
        let child = Command::new("sh")
            .args(["-c", script])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = i32::try_from(child.id()).unwrap();
        let leader_start = procs::process(pgid).unwrap().start_ticks;
        let group = Watched {
            pgid,
            leader_start,
            signal: Signal::SIGTERM,
            grace: Duration::from_millis(300),
        };
        (child, group)
    }

    #[test]
    fn at_the_end_of_its_input_it_stops_what_is_still_watched() {
        let (mut stays, watched) = sleeper(false);
        let (mut released, gone) = sleeper(true);
        // The second ignores SIGTERM: only SIGKILL after the grace ends it.
        let (mut stubborn, stubborn_group) = sleeper(true);
        let input = format!(
            "{}{}{}-{}\n",
            watched.line(),
            gone.line(),
            stubborn_group.line(),
            gone.pgid
        );
        assert_eq!(serve(input.as_bytes(), "no-such-token", Duration::ZERO), 2);
        assert!(stays.wait().unwrap().code().is_none(), "killed by a signal");
        assert!(stubborn.wait().unwrap().code().is_none());
        // SIGKILLed: gone as soon as the kernel has delivered it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !procs::survivors(stubborn_group.pgid, stubborn_group.leader_start).is_empty() {
            assert!(Instant::now() < deadline, "the stubborn group survived");
            std::thread::sleep(POLL);
        }
        // The released group was left alone.
        assert!(released.try_wait().unwrap().is_none());
        signal_group(gone.pgid, Signal::SIGKILL);
        released.wait().unwrap();
    }

    #[test]
    fn processes_carrying_the_runs_marker_are_stopped_unannounced() {
        use std::os::unix::process::CommandExt;
        let mut marked = Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .env(GUARD_ENV, "token-1")
            .process_group(0)
            .spawn()
            .unwrap();
        let mut other = Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .env(GUARD_ENV, "token-2")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = i32::try_from(marked.id()).unwrap();
        // Wait for the background sleep, so that both are seen.
        let deadline = Instant::now() + Duration::from_secs(10);
        while procs::group_members(pgid).len() < 2 && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        assert_eq!(serve(&b""[..], "token-1", Duration::from_secs(5)), 1);
        assert!(marked.wait().unwrap().code().is_none());
        assert!(procs::group_members(pgid).is_empty());
        assert!(other.try_wait().unwrap().is_none());
        signal_group(i32::try_from(other.id()).unwrap(), Signal::SIGKILL);
        other.wait().unwrap();
    }

    #[test]
    fn a_group_whose_number_was_reused_is_left_alone() {
        let (mut child, mut group) = sleeper(false);
        group.leader_start += 1;
        assert_eq!(stop(vec![group]), 0);
        assert!(child.try_wait().unwrap().is_none());
        signal_group(group.pgid, Signal::SIGKILL);
        child.wait().unwrap();
    }
}
