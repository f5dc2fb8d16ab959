//! One child process from spawn to exit: own process group, output streamed, and on
//! cancellation SIGTERM to the group, then SIGKILL once the leader has exited or the
//! grace period is over. When the leader exits on its own, whatever it left running
//! in its group is stopped the same way: nothing a task started outlives it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::Command;
use tokio::time::Instant;

use super::group::{ProcessGroup, signal_group};
use super::output::{OutputSink, pump};
use crate::events::{CancelReason, Stream};
use crate::exec::Attempt;
use crate::procs;

/// How often a group's leftovers are looked at while they are being stopped.
const POLL: Duration = Duration::from_millis(20);

/// After the child exits, how long to keep reading output still buffered in the pipes
/// (or held open by a background grandchild) before giving up on it.
const DRAIN: Duration = Duration::from_millis(200);

/// A program to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// Added to planrun's own environment (after `ctx.child_env`).
    pub env: Vec<(String, String)>,
}

/// How the child ended.
#[derive(Debug)]
pub struct ProcessExit {
    pub status: ExitStatus,
    /// Set when planrun stopped the child.
    pub cancelled: Option<CancelReason>,
    /// The last lines of output.
    pub tail: Vec<String>,
}

/// Runs `spec` to the end, or until `ctx.cancel` fires. The task log (if any) is
/// appended to, so attempts follow one another in it: `header` first, the output,
/// then `--- <how it ended>`. It is created only once the child writes something,
/// or at the end when the child failed or was stopped.
pub async fn run(spec: &ProcessSpec, ctx: &Attempt, header: &str) -> std::io::Result<ProcessExit> {
    run_with(spec, ctx, header, RunOptions::default()).await
}

/// How a child is stopped and how its lines are shown, for executors whose tool
/// needs more than the defaults (SIGTERM, `ctx.run.grace`, lines as written).
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Sent to the group on cancellation; SIGTERM unless set (`pulumi` wants SIGINT:
    /// it then cancels its update cleanly).
    pub stop_signal: Option<Signal>,
    /// Time between the stop signal and SIGKILL; `ctx.run.grace` unless set.
    pub grace: Option<Duration>,
    /// Rewrites each line before it is masked and shown; `None` drops the line.
    pub filter: Option<LineFilter<'a>>,
}

/// See [`RunOptions::filter`].
pub type LineFilter<'a> = Box<dyn FnMut(Stream, &str) -> Option<String> + Send + 'a>;

/// [`run`] with a stop signal, a grace period and a line filter of the caller's.
pub async fn run_with(
    spec: &ProcessSpec,
    ctx: &Attempt,
    header: &str,
    options: RunOptions<'_>,
) -> std::io::Result<ProcessExit> {
    let stop_signal = options.stop_signal.unwrap_or(Signal::SIGTERM);
    let grace = options.grace.unwrap_or(ctx.run.grace);
    let mut sink = OutputSink::new(ctx, header);
    if let Some(filter) = options.filter {
        sink.set_filter(filter);
    }

    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        .envs(ctx.child_env().iter().map(|(k, v)| (k, v)))
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(dev_null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // Only reached if the future is dropped mid-run (planrun exiting at once);
        // the group is killed through the registry then.
        .kill_on_drop(true);
    let before = procs::boot_ticks();
    let spawned = cmd.spawn();
    let after = procs::boot_ticks();
    let mut child = spawned.map_err(|e| {
        // The kernel says ENOENT for a missing working directory as for a missing
        // program: tell them apart.
        if !spec.cwd.is_dir() {
            return std::io::Error::new(
                e.kind(),
                format!(
                    "cannot run `{}`: its working directory {} does not exist",
                    spec.program.to_string_lossy(),
                    spec.cwd.display()
                ),
            );
        }
        std::io::Error::new(
            e.kind(),
            format!("cannot run `{}`: {e}", spec.program.to_string_lossy()),
        )
    })?;
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| std::io::Error::other("child exited before its pid was known"))?;
    let leader_start = procs::spawned_start(pgid, before, after);
    let _registered = ctx.run.groups.register(
        ProcessGroup {
            task: ctx.task.clone(),
            attempt: ctx.number,
            pgid,
            leader_start,
        },
        stop_signal,
        grace,
    );
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();

    let mut cancelled = None;
    let mut left = 0;
    let mut kill_at: Option<Instant> = None;
    let status;
    {
        let output = pump(&mut sink, stdout, stderr);
        tokio::pin!(output);
        let mut output_done = false;
        status = loop {
            tokio::select! {
                s = child.wait() => break s?,
                () = &mut output, if !output_done => output_done = true,
                reason = ctx.cancel.cancelled(), if cancelled.is_none() => {
                    cancelled = Some(reason);
                    signal_group(pgid, stop_signal);
                    kill_at = Some(Instant::now() + grace);
                }
                () = sleep_until(kill_at) => {
                    signal_group(pgid, Signal::SIGKILL);
                    kill_at = None;
                }
            }
        };
        if cancelled.is_some() {
            // The leader is gone; whatever else is in its group goes now.
            signal_group(pgid, Signal::SIGKILL);
        } else {
            left = stop_leftovers(pgid, leader_start, stop_signal, grace).await;
        }
        if !output_done {
            let _ = tokio::time::timeout(DRAIN, &mut output).await;
        }
    }
    if left > 0 {
        sink.note(&format!(
            "--- stopped {left} process{} the task left running in its process group",
            if left == 1 { "" } else { "es" }
        ));
    }
    // A silent child that succeeded leaves no log; one that failed or was stopped
    // leaves at least the header and how it ended.
    if sink.log_written() || cancelled.is_some() || !status.success() {
        let how = match cancelled {
            Some(reason) => format!("{} ({reason})", describe_status(&status)),
            None => describe_status(&status),
        };
        sink.note(&format!("--- {how}"));
    }
    Ok(ProcessExit {
        status,
        cancelled,
        tail: sink.tail(),
    })
}

/// Stops what a task's leader left running in its group (a background job, a
/// daemon that did not leave the group): `signal`, then SIGKILL after `grace`.
/// Returns how many processes were left; one signal when there are none.
async fn stop_leftovers(pgid: i32, leader_start: u64, signal: Signal, grace: Duration) -> usize {
    if nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None).is_err() {
        // ESRCH: the group is empty (the common case: one cheap call).
        return 0;
    }
    let left = procs::survivors(pgid, leader_start).len();
    if left == 0 {
        return 0;
    }
    signal_group(pgid, signal);
    let deadline = Instant::now() + grace;
    while !procs::survivors(pgid, leader_start).is_empty() {
        if Instant::now() >= deadline {
            signal_group(pgid, Signal::SIGKILL);
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    left
}

/// A child's stdin: `/dev/null`, opened once and handed out as duplicates.
fn dev_null() -> Stdio {
    static NULL: OnceLock<Option<std::fs::File>> = OnceLock::new();
    NULL.get_or_init(|| std::fs::File::open("/dev/null").ok())
        .as_ref()
        .and_then(|f| f.try_clone().ok())
        .map_or_else(Stdio::null, Stdio::from)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A readable account of an exit status: `exit code 3`, `killed by SIGKILL`.
pub fn describe_status(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        format!("exit code {code}")
    } else if let Some(sig) = status.signal() {
        match Signal::try_from(sig) {
            Ok(s) => format!("killed by {}", s.as_str()),
            Err(_) => format!("killed by signal {sig}"),
        }
    } else {
        status.to_string()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use super::*;
    use crate::events::{EventKind, EventSender};
    use crate::exec::RunResources;
    use crate::exec::process::output;
    use crate::layout::PlanDir;

    fn ctx(
        dir: &std::path::Path,
        grace: Duration,
    ) -> (Attempt, std::sync::mpsc::Receiver<crate::events::Event>) {
        let run_dir = PlanDir::new(dir, "p").run("r");
        std::fs::create_dir_all(run_dir.logs_dir()).unwrap();
        let (events, rx) = EventSender::channel();
        let mut run = RunResources::new(run_dir.path().to_path_buf(), events);
        run.redactor.add("s3cret");
        run.grace = grace;
        let log = Some(run_dir.log_path("t"));
        (Attempt::new(Arc::new(run), "t", 1, log), rx)
    }

    fn sh(script: &str, dir: &std::path::Path) -> ProcessSpec {
        ProcessSpec {
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
            cwd: dir.to_path_buf(),
            env: vec![("X".into(), "1".into())],
        }
    }

    /// Whether a process is gone (or a zombie nobody reaped yet: it runs no more).
    fn gone(pid: i32) -> bool {
        !procs::is_running(pid)
    }

    async fn wait_for(mut f: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    #[tokio::test]
    async fn streams_both_outputs_masked_to_log_events_and_tail() {
        let tmp = tempfile::tempdir().unwrap();
        let (ctx, rx) = ctx(tmp.path(), Duration::from_secs(5));
        let spec = sh(
            "echo out $X $PLANRUN_TASK; echo err s3cret >&2; printf 'no newline'; exit 3",
            tmp.path(),
        );
        let exit = run(&spec, &ctx, "--- header").await.unwrap();
        assert_eq!(exit.status.code(), Some(3));
        assert_eq!(exit.cancelled, None);
        let mut tail = exit.tail.clone();
        tail.sort();
        assert_eq!(tail, ["err ********", "no newline", "out 1 t"]);
        let log = std::fs::read_to_string(ctx.log_path().unwrap()).unwrap();
        assert!(log.starts_with("--- header\n"), "{log}");
        assert!(
            log.contains("out 1 t\n") && log.contains("err ********\n"),
            "{log}"
        );
        drop(ctx);
        let lines: Vec<_> = rx
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::TaskOutput { stream, line, .. } => Some((stream, line)),
                _ => None,
            })
            .collect();
        assert!(lines.contains(&(crate::events::Stream::Stderr, "err ********".into())));
        assert_eq!(describe_status(&exit.status), "exit code 3");
    }

    #[tokio::test]
    async fn cancel_kills_the_whole_group_grandchildren_included() {
        let tmp = tempfile::tempdir().unwrap();
        let (ctx, _rx) = ctx(tmp.path(), Duration::from_millis(300));
        let pidfile = tmp.path().join("pid");
        // The background sleep ignores nothing, but the shell waits on a second one:
        // both must die, and the grandchild must not keep running after the task.
        let spec = sh(
            &format!(
                "trap '' TERM; sleep 300 & echo $! > {}; echo started; sleep 300",
                pidfile.display()
            ),
            tmp.path(),
        );
        let cancel = ctx.cancel.clone();
        let groups = ctx.run.groups.clone();
        let task = tokio::spawn(async move { run(&spec, &ctx, "").await });
        assert!(
            wait_for(|| std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n'))).await
        );
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(!gone(pid));
        assert_eq!(groups.len(), 1);
        cancel.cancel(CancelReason::Timeout);
        let exit = task.await.unwrap().unwrap();
        assert_eq!(exit.cancelled, Some(CancelReason::Timeout));
        assert!(groups.is_empty());
        assert!(wait_for(|| gone(pid)).await, "grandchild {pid} still runs");
    }

    #[tokio::test]
    async fn what_a_task_leaves_running_in_its_group_is_stopped_when_it_ends() {
        let tmp = tempfile::tempdir().unwrap();
        let (ctx, _rx) = ctx(tmp.path(), Duration::from_millis(300));
        let pidfile = tmp.path().join("pid");
        let ready = tmp.path().join("ready");
        // One background job that ignores SIGTERM (SIGKILL after the grace ends it),
        // output closed so the task's pipes do not wait for it; the task ends once
        // the job is ready.
        let spec = sh(
            &format!(
                "(trap '' TERM; touch {ready}; exec sleep 300) >/dev/null 2>&1 & echo $! > {pid}; \
                 while [ ! -e {ready} ]; do sleep 0.01; done; echo done",
                ready = ready.display(),
                pid = pidfile.display()
            ),
            tmp.path(),
        );
        let groups = ctx.run.groups.clone();
        let exit = run(&spec, &ctx, "--- header").await.unwrap();
        assert!(exit.status.success());
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            wait_for(|| gone(pid)).await,
            "background job {pid} still runs"
        );
        assert!(groups.is_empty());
        let log = std::fs::read_to_string(ctx.log_path().unwrap()).unwrap();
        assert!(
            log.contains("--- stopped 1 process the task left running in its process group"),
            "{log}"
        );
    }

    /// Issue 14, break 12: a line far longer than what is held (here 5 MiB, no
    /// newline) reaches the log whole and masked, a secret straddling any read
    /// included, and is shown capped, saying how much more the log has.
    #[tokio::test]
    async fn a_huge_line_is_logged_whole_and_shown_capped() {
        let tmp = tempfile::tempdir().unwrap();
        let (ctx, rx) = ctx(tmp.path(), Duration::from_secs(5));
        // "s3cret" every 65531 bytes: it lands across read boundaries many times.
        let spec = sh(
            "awk 'BEGIN { for (i = 0; i < 80; i++) { for (j = 0; j < 65525; j++) printf \"x\"; printf \"s3cret\" } }'; exit 1",
            tmp.path(),
        );
        let exit = run(&spec, &ctx, "--- header").await.unwrap();
        assert_eq!(exit.status.code(), Some(1));
        let log = std::fs::read_to_string(ctx.log_path().unwrap()).unwrap();
        let line = log.lines().nth(1).unwrap();
        assert_eq!(line.len(), 80 * (65525 + crate::redact::MASK.len()));
        assert_eq!(line.matches(crate::redact::MASK).count(), 80);
        assert!(!log.contains("s3cret"));
        drop(ctx);
        let shown: Vec<String> = rx
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::TaskOutput { line, .. } => Some(line),
                _ => None,
            })
            .collect();
        assert_eq!(shown.len(), 1);
        assert!(
            shown[0].len() < output::LINE_SHOWN + 100,
            "{}",
            shown[0].len()
        );
        assert!(
            shown[0].ends_with("MiB more in the task log]"),
            "{}",
            &shown[0][shown[0].len() - 60..]
        );
        assert!(!shown[0].contains("s3cret"));
        // The excerpt holds less still.
        assert!(exit.tail[0].len() < planrun_text::EXCERPT_LINE + 100);
    }

    #[tokio::test]
    async fn a_missing_working_directory_is_named_as_such() {
        let tmp = tempfile::tempdir().unwrap();
        let (ctx, _rx) = ctx(tmp.path(), Duration::from_secs(5));
        let spec = ProcessSpec {
            program: "echo".into(),
            args: vec![],
            cwd: tmp.path().join("missing"),
            env: vec![],
        };
        let err = run(&spec, &ctx, "").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot run `echo`: its working directory {} does not exist",
                tmp.path().join("missing").display()
            )
        );
    }

    #[tokio::test]
    async fn missing_program_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (ctx, _rx) = ctx(tmp.path(), Duration::from_secs(5));
        let spec = ProcessSpec {
            program: "planrun-no-such-program".into(),
            args: vec![],
            cwd: tmp.path().to_path_buf(),
            env: vec![],
        };
        let err = run(&spec, &ctx, "").await.unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot run `planrun-no-such-program`"),
            "{err}"
        );
    }
}
