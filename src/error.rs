//! The ways a command can end unsuccessfully; `exit_code::of` maps each to its code.

use miette::Report;

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Error {
    /// The plan is invalid or the command line is wrong; nothing ran.
    Invalid(Report),
    /// planrun refused to start (lock held, unfinished run, context guard).
    Refused(Report),
    /// The run ended failed; the reporters already said why.
    TaskFailed,
    /// Interrupted by a signal; the reporters already said so.
    Interrupted,
    /// planrun itself failed: I/O on the state directory, a corrupt journal, a bug.
    Internal(Report),
    /// A `planrun` child process (the run of a rehearsal) ended with this code and
    /// already said why.
    Child(i32),
}

impl Error {
    /// The report to print, if the error has not been reported already.
    pub fn report(&self) -> Option<&Report> {
        match self {
            Error::Invalid(r) | Error::Refused(r) | Error::Internal(r) => Some(r),
            Error::TaskFailed | Error::Interrupted | Error::Child(_) => None,
        }
    }
}

/// A run that could not be opened: an invalid plan is a usage error, a refusal (an
/// unfinished run, nothing to resume, the lock held) is refused, and the state
/// directory failing is internal.
impl From<crate::journal::StartError> for Error {
    fn from(e: crate::journal::StartError) -> Self {
        use crate::journal::StartError;
        match e {
            StartError::Invalid(report) => Error::Invalid(report),
            StartError::Refused(refusal) => Error::Refused(Report::new(*refusal)),
            StartError::Locked(lock) => Error::from(*lock),
            StartError::Journal(journal) => Error::Internal(Report::new(journal)),
        }
    }
}

/// A lock another process holds is a refusal; the state directory failing is
/// planrun failing.
impl From<crate::journal::LockError> for Error {
    fn from(e: crate::journal::LockError) -> Self {
        match e {
            io @ crate::journal::LockError::Io { .. } => Error::Internal(Report::new(io)),
            held => Error::Refused(Report::new(held)),
        }
    }
}

impl From<crate::validate::InvalidPlan> for Error {
    fn from(e: crate::validate::InvalidPlan) -> Self {
        Error::Invalid(Report::new(e))
    }
}
