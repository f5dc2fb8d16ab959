//! Short Pulumi commands whose output planrun reads and never shows (the config
//! listings, one of which holds secret values): run in their own process group,
//! output kept in memory, killed on timeout or cancellation.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::Command;

use crate::cancel::Cancel;
use crate::events::CancelReason;
use crate::exec::process::signal_group;

/// A finished command's output.
#[derive(Debug)]
pub struct Captured {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: Vec<String>,
}

/// Why a captured command did not finish.
#[derive(Debug)]
pub enum Stopped {
    Spawn(std::io::Error),
    Timeout,
    Cancelled(CancelReason),
}

/// Runs `program args` in `cwd` to the end, for at most `timeout`.
pub async fn capture(
    program: &Path,
    args: &[String],
    cwd: &Path,
    env: &[(String, String)],
    timeout: Duration,
    cancel: Option<&Cancel>,
) -> Result<Captured, Stopped> {
    let child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(Stopped::Spawn)?;
    let pgid = child.id().and_then(|id| i32::try_from(id).ok());
    let output = child.wait_with_output();
    let never = std::future::pending::<CancelReason>();
    let cancelled = async {
        match cancel {
            Some(c) => c.cancelled().await,
            None => never.await,
        }
    };
    let stopped = tokio::select! {
        out = output => {
            let out = out.map_err(Stopped::Spawn)?;
            return Ok(Captured {
                status: out.status,
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .map(str::to_owned)
                    .collect(),
            });
        }
        () = tokio::time::sleep(timeout) => Stopped::Timeout,
        reason = cancelled => Stopped::Cancelled(reason),
    };
    // Read-only commands: nothing is lost by killing them outright.
    if let Some(pgid) = pgid {
        signal_group(pgid, Signal::SIGKILL);
    }
    Err(stopped)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::exec::process::resolve_binary;

    #[tokio::test]
    async fn captures_output_and_kills_on_timeout() {
        let sh = resolve_binary("sh").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let out = capture(
            &sh,
            &["-c".into(), "echo out; echo err >&2; exit 3".into()],
            tmp.path(),
            &[],
            Duration::from_secs(30),
            None,
        )
        .await
        .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, ["err"]);
        let stopped = capture(
            &sh,
            &["-c".into(), "sleep 30".into()],
            tmp.path(),
            &[],
            Duration::from_millis(50),
            None,
        )
        .await
        .unwrap_err();
        assert!(matches!(stopped, Stopped::Timeout));
    }
}
