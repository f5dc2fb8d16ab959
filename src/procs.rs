//! What the process table says about processes: whether one still runs, when it
//! started, which processes are left in a process group. Read from `/proc`, the one
//! place that tells a live process from a zombie and a process from a later one that
//! got the same pid. Shared by the plan lock, the check a resume makes for processes
//! of earlier attempts, and the process guard.

use std::path::Path;

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: i32,
    /// The command name (at most 15 bytes, as the kernel keeps it).
    pub comm: String,
    /// `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    pub ppid: i32,
    pub pgid: i32,
    /// When the process started, in clock ticks after boot: with the pid, it names
    /// one process for good (a pid is reused, a pid and a start time are not).
    pub start_ticks: u64,
}

impl ProcessInfo {
    /// Whether it still runs: neither a zombie waiting for its parent nor dead.
    pub fn is_running(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// The process `pid`, if it exists.
pub fn process(pid: i32) -> Option<ProcessInfo> {
    if pid <= 0 {
        return None;
    }
    // procfs reports no size: read into a buffer a stat line fits, rather than the
    // growing probe reads `fs::read_to_string` makes (this runs for every process
    // of the table when a run ends or resumes).
    let mut text = String::with_capacity(512);
    std::fs::File::open(format!("/proc/{pid}/stat"))
        .and_then(|mut f| std::io::Read::read_to_string(&mut f, &mut text))
        .ok()?;
    parse_stat(&text)
}

/// Now, in the clock ticks of [`ProcessInfo::start_ticks`]: `CLOCK_BOOTTIME`
/// divided down to `USER_HZ`, as the kernel derives a process's start time from the
/// boot-time clock it read when forking it (Linux `kernel/fork.c` `copy_process`:
/// `start_boottime`; `fs/proc/array.c` `do_task_stat`: `nsec_to_clock_t`, a
/// division rounding down, after the same time-namespace offset a reader's clock
/// gets). A process forked between two readings that agree started at that tick,
/// which spares a read of its `/proc/<pid>/stat` (see [`spawned_start`]).
pub fn boot_ticks() -> Option<u64> {
    use std::sync::OnceLock;
    static NANOS_PER_TICK: OnceLock<Option<u64>> = OnceLock::new();
    let per_tick = (*NANOS_PER_TICK.get_or_init(|| {
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
        let hz = u64::try_from(hz).ok().filter(|&hz| hz > 0)?;
        (1_000_000_000 % hz == 0).then(|| 1_000_000_000 / hz)
    }))?;
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).ok()?;
    let nanos =
        u64::try_from(now.tv_sec()).ok()? * 1_000_000_000 + u64::try_from(now.tv_nsec()).ok()?;
    Some(nanos / per_tick)
}

/// The start time of process `pid` just spawned, given [`boot_ticks`] read before
/// the spawn (`before`) and after it (`after`): the tick both name when they agree,
/// else what `/proc` says (0 when it cannot say).
pub fn spawned_start(pid: i32, before: Option<u64>, after: Option<u64>) -> u64 {
    match (before, after) {
        (Some(b), Some(a)) if a == b => b,
        _ => process(pid).map_or(0, |p| p.start_ticks),
    }
}

/// Whether process `pid` exists and is not a zombie.
pub fn is_running(pid: i32) -> bool {
    process(pid).is_some_and(|p| p.is_running())
}

/// The processes of process group `pgid` that still run (zombies left out).
pub fn group_members(pgid: i32) -> Vec<ProcessInfo> {
    all_processes()
        .into_iter()
        .filter(|p| p.pgid == pgid && p.is_running())
        .collect()
}

/// The processes still running of the process group whose leader started at
/// `leader_start` (clock ticks, see [`ProcessInfo::start_ticks`]). Empty when that
/// group is gone, also when its number now names a later group: a group's number is
/// its leader's pid, and a leader with another start time is another process.
pub fn survivors(pgid: i32, leader_start: u64) -> Vec<ProcessInfo> {
    survivors_in(&all_processes(), pgid, leader_start)
}

/// [`survivors`] among `processes` (one read of the process table for many groups).
pub fn survivors_in(processes: &[ProcessInfo], pgid: i32, leader_start: u64) -> Vec<ProcessInfo> {
    let members: Vec<ProcessInfo> = processes
        .iter()
        .filter(|p| p.pgid == pgid && p.is_running())
        .cloned()
        .collect();
    if members
        .iter()
        .any(|p| p.pid == pgid && p.start_ticks != leader_start)
    {
        return Vec::new();
    }
    members
}

/// The children of process `ppid` (zombies included: a parent reaps those).
pub fn children(ppid: i32) -> Vec<ProcessInfo> {
    all_processes()
        .into_iter()
        .filter(|p| p.ppid == ppid)
        .collect()
}

/// Whether process `pid` was started with `name=value` in its environment (only
/// processes of the same user can be read).
pub fn has_env(pid: i32, name: &str, value: &str) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let wanted = format!("{name}={value}");
    environ
        .split(|&b| b == 0)
        .any(|entry| entry == wanted.as_bytes())
}

/// Every process this process can see.
pub fn all_processes() -> Vec<ProcessInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(process)
        .collect()
}

/// Whether this system has a readable `/proc` (Linux does).
pub fn available() -> bool {
    Path::new("/proc/self/stat").is_file()
}

/// Parses `pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
/// cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime ...`;
/// comm may hold spaces and parentheses, so the fields are counted from its last `)`.
fn parse_stat(text: &str) -> Option<ProcessInfo> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let comm = text.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    Some(ProcessInfo {
        pid,
        comm,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        // Field 22 of the line; the 20th after the state.
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines_whose_command_holds_parentheses() {
        let line =
            "4242 (a (b) c) S 1 4240 4240 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10";
        let p = parse_stat(line).unwrap();
        assert_eq!(
            p,
            ProcessInfo {
                pid: 4242,
                comm: "a (b) c".into(),
                state: 'S',
                ppid: 1,
                pgid: 4240,
                start_ticks: 98765,
            }
        );
        assert!(p.is_running());
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn a_process_spawned_between_two_agreeing_ticks_started_at_that_tick() {
        let mut agreed = 0;
        for _ in 0..200 {
            let before = boot_ticks();
            let mut child = std::process::Command::new("sleep")
                .arg("5")
                .spawn()
                .unwrap();
            let after = boot_ticks();
            let pid = i32::try_from(child.id()).unwrap();
            let read = process(pid).unwrap().start_ticks;
            assert_eq!(spawned_start(pid, before, after), read);
            assert!(before.unwrap() <= read && read <= after.unwrap());
            if before == after {
                agreed += 1;
            }
            child.kill().unwrap();
            child.wait().unwrap();
        }
        // The readings straddle a tick (10 ms) only now and then.
        assert!(agreed > 100, "{agreed} of 200 readings agreed");
        // Readings that disagree fall back to /proc.
        assert_eq!(spawned_start(i32::MAX, Some(1), Some(2)), 0);
    }

    #[test]
    fn environment_entries_are_matched_whole() {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .env("PLANRUN_PROCS_TEST", "marker-1")
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        // A parent may see its child before the kernel has set up the child's new
        // environment (vfork ends early in exec): wait for it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !has_env(pid, "PLANRUN_PROCS_TEST", "marker-1") {
            assert!(std::time::Instant::now() < deadline, "never seen");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!has_env(pid, "PLANRUN_PROCS_TEST", "marker"));
        assert!(!has_env(pid, "PLANRUN_PROCS_TEST", "marker-10"));
        let mut child = child;
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn this_process_is_seen_with_a_stable_start_time() {
        let me = i32::try_from(std::process::id()).unwrap();
        let a = process(me).unwrap();
        assert!(a.is_running());
        assert_eq!(process(me).unwrap().start_ticks, a.start_ticks);
        assert!(group_members(a.pgid).iter().any(|p| p.pid == me));
        assert!(process(-1).is_none());
    }
}
