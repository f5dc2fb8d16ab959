//! A stack locked by another update: who holds the lock, read from what the CLI
//! printed, and whether that update still runs.
//!
//! A self-managed backend refuses a second update with "the stack is currently locked
//! by 1 lock(s)" and one line per lock file, `<url>: created by <user>@<host> (pid <n>)
//! at <time>` (pulumi/pulumi `pkg/backend/diy/lock.go`). The lock stays when the update
//! that took it is killed (its pending operations too, `pkg/resource/deploy`): telling
//! a live update from a dead one is what the person at the keyboard needs.

/// Who holds a stack's lock, as the CLI printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// `user@host`.
    pub by: String,
    /// The host part.
    pub host: String,
    pub pid: u32,
    /// When the lock was taken, as printed.
    pub since: String,
}

/// Whether the update holding a lock still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whereabouts {
    /// Its process runs on this machine.
    Running,
    /// It was on this machine and its process is gone.
    Gone,
    /// It is on another machine: nothing to tell from here.
    Elsewhere,
}

/// The first lock holder named in the CLI's error output.
pub fn holder(stderr: &[String]) -> Option<LockHolder> {
    stderr.iter().find_map(|line| {
        let rest = &line[line.find(": created by ")? + ": created by ".len()..];
        let (by, rest) = rest.split_once(" (pid ")?;
        let (pid, rest) = rest.split_once(')')?;
        let since = rest.trim().strip_prefix("at ")?.trim();
        let host = by.rsplit_once('@').map_or(by, |(_, h)| h);
        Some(LockHolder {
            by: by.to_owned(),
            host: host.to_owned(),
            pid: pid.trim().parse().ok()?,
            since: since.to_owned(),
        })
    })
}

/// Looks at this machine's process table for the holder.
pub fn whereabouts(holder: &LockHolder) -> Whereabouts {
    let here = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    if holder.host != here {
        return Whereabouts::Elsewhere;
    }
    // A zombie has finished; a missing process is gone.
    if i32::try_from(holder.pid).is_ok_and(crate::procs::is_running) {
        Whereabouts::Running
    } else {
        Whereabouts::Gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_holder_the_cli_names() {
        let stderr = [
            "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.".to_owned(),
            "  file:///b/.pulumi/locks/organization/p/s/ff56.json?no_tmp_dir=true: created by root@vm (pid 10300) at 2026-11-30T08:38:53Z".to_owned(),
        ];
        assert_eq!(
            holder(&stderr),
            Some(LockHolder {
                by: "root@vm".into(),
                host: "vm".into(),
                pid: 10300,
                since: "2026-11-30T08:38:53Z".into(),
            })
        );
        assert_eq!(holder(&stderr[..1]), None);
    }

    #[test]
    fn tells_a_live_holder_from_a_dead_one() {
        let here = nix::unistd::gethostname().unwrap().into_string().unwrap();
        let mine = LockHolder {
            by: format!("me@{here}"),
            host: here,
            pid: std::process::id(),
            since: String::new(),
        };
        assert_eq!(whereabouts(&mine), Whereabouts::Running);
        let dead = LockHolder {
            pid: u32::MAX - 1,
            ..mine.clone()
        };
        assert_eq!(whereabouts(&dead), Whereabouts::Gone);
        let far = LockHolder {
            host: "elsewhere.invalid".into(),
            ..mine
        };
        assert_eq!(whereabouts(&far), Whereabouts::Elsewhere);
    }
}
