//! Errors reading and writing journals and run directories.

use std::io;
use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

use super::frame::Damage;
use super::record::FORMAT_VERSION;

#[derive(Debug, Error, Diagnostic)]
pub enum JournalError {
    #[error("cannot {action} {}", path.display())]
    #[diagnostic(code(planrun::journal::io))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("journal {} is corrupt at byte {offset}: {why}", path.display())]
    #[diagnostic(code(planrun::journal::corrupt))]
    Corrupt {
        path: PathBuf,
        offset: u64,
        why: Damage,
        #[help]
        help: String,
    },

    #[error("journal {} holds an unreadable record at byte {offset}", path.display())]
    #[diagnostic(
        code(planrun::journal::bad_record),
        help(
            "the record's checksum is right, so it was written like this: by another planrun version?"
        )
    )]
    BadRecord {
        path: PathBuf,
        offset: u64,
        #[source]
        source: serde_json::Error,
    },

    #[error("journal {} does not start with a run-started record", path.display())]
    #[diagnostic(
        code(planrun::journal::no_start),
        help(
            "this is not a journal planrun wrote (its first record says which run it is); move the run directory it is in out of the state directory, and planrun no longer sees it"
        )
    )]
    NoStart { path: PathBuf },

    #[error("journal {} has format {found}, this planrun reads format {FORMAT_VERSION}", path.display())]
    #[diagnostic(
        code(planrun::journal::format),
        help("use the planrun version that wrote it, or start over with --restart")
    )]
    Format { path: PathBuf, found: u32 },
}

impl JournalError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        JournalError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        next_valid: u64,
        why: Damage,
    ) -> Self {
        let path = path.into();
        let help = format!(
            "a valid record follows at byte {next_valid}, so this is not the torn end an \
             interrupted write leaves, and planrun will not guess; inspect the file, or drop \
             everything from byte {offset} on (those tasks then run again) with \
             `truncate -s {offset} {}`",
            path.display()
        );
        JournalError::Corrupt {
            path,
            offset,
            why,
            help,
        }
    }
}
