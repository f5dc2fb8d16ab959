//! The documented exit codes of `planrun`, one place for all of them.

/// The run (or command) succeeded, possibly with allowed failures.
pub const SUCCESS: i32 = 0;
/// A task failed and the run ended failed.
pub const TASK_FAILED: i32 = 1;
/// The plan is invalid, or the command line is wrong; nothing ran.
pub const INVALID: i32 = 2;
/// planrun refused to start, before anything ran: the lock is held, an unfinished run
/// exists, the kube context differs from the plan's guard, the API server does not
/// answer, the context's credential plugin fails, or a `pulumi-up` task's required
/// config is missing.
pub const REFUSED: i32 = 3;
/// planrun itself failed: it could not write its journal, report or logs (a full
/// disk, permissions), a journal is corrupt, or a bug. A run stopped this way can
/// be resumed once the cause is fixed.
pub const PLANRUN_FAILED: i32 = 4;
/// Interrupted by Ctrl-C, SIGTERM or SIGHUP.
pub const INTERRUPTED: i32 = 130;

/// The exit code for a command's error.
pub fn of(error: &crate::error::Error) -> i32 {
    use crate::error::Error;
    match error {
        Error::Invalid(_) => INVALID,
        Error::Refused(_) => REFUSED,
        Error::TaskFailed => TASK_FAILED,
        Error::Interrupted => INTERRUPTED,
        Error::Internal(_) => PLANRUN_FAILED,
        Error::Child(code) => *code,
    }
}
