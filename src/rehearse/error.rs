//! What can stop a rehearsal before or around its run.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum RehearseError {
    #[error("no rehearsal file for this plan: {path} does not exist")]
    #[diagnostic(
        code(planrun::rehearse::no_rehearsal),
        help(
            "write one beside the plan (see plans/flux-rebuild.rehearsal.yaml) or name one with --rehearsal FILE"
        )
    )]
    NoRehearsal { path: PathBuf },

    #[error("cannot read {path}")]
    #[diagnostic(code(planrun::rehearse::read))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid rehearsal file {path}: {message}")]
    #[diagnostic(code(planrun::rehearse::spec))]
    Spec { path: PathBuf, message: String },

    #[error("no fault `{name}` in {path}")]
    #[diagnostic(
        code(planrun::rehearse::unknown_fault),
        help("the faults it names:\n{known}")
    )]
    UnknownFault {
        name: String,
        path: PathBuf,
        known: String,
    },

    #[error("nothing to resume: no saved sandbox state at {path}")]
    #[diagnostic(
        code(planrun::rehearse::nothing_to_resume),
        help("start the rehearsal without --resume")
    )]
    NothingToResume { path: PathBuf },

    #[error("cannot prepare the rehearsal in {path}")]
    #[diagnostic(code(planrun::rehearse::prepare))]
    Prepare {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot copy the plan's directory {path} for the rehearsal")]
    #[diagnostic(
        code(planrun::rehearse::plan_copy),
        help(
            "a rehearsal without a `repo:` entry runs on a copy of the plan's directory (without .planrun, .git, target, node_modules); name a smaller template with `repo:` in the rehearsal file"
        )
    )]
    PlanCopy {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid saved sandbox state {path}: {message}")]
    #[diagnostic(
        code(planrun::rehearse::snapshot),
        help("start the rehearsal again without --resume")
    )]
    Snapshot { path: PathBuf, message: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Sandbox(#[from] planrun_sandbox::SandboxError),

    #[error("cannot start the run: {0}")]
    #[diagnostic(code(planrun::rehearse::spawn))]
    Spawn(#[source] std::io::Error),
}
