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

    #[error("cannot use the kubeconfig {path}: {message}")]
    #[diagnostic(code(planrun::rehearse::kubeconfig))]
    Kubeconfig { path: PathBuf, message: String },

    #[error("a rehearsal on an existing cluster needs its context named: --context NAME")]
    #[diagnostic(
        code(planrun::rehearse::context_required),
        help(
            "a rehearsal deletes and recreates what the plan touches, so planrun never picks the kubeconfig's current context; the contexts of {}: {known}",
            path.display()
        )
    )]
    ContextRequired { path: PathBuf, known: String },

    #[error("no context `{context}` in {}", path.display())]
    #[diagnostic(
        code(planrun::rehearse::unknown_context),
        help("its contexts: {known}")
    )]
    UnknownContext {
        context: String,
        path: PathBuf,
        known: String,
    },

    #[error("refusing to rehearse on `{context}`: it is the plan's production context")]
    #[diagnostic(
        code(planrun::rehearse::production_context),
        help(
            "rehearse on a disposable cluster (kind, k3d, a staging cluster, `scripts/realcluster up`) and name its context; the plan runs against `{context}` with `planrun run`"
        )
    )]
    ProductionContext { context: String },

    #[error(
        "refusing to rehearse on `{context}`: it points at {server}, the API server of the plan's production context `{production}`"
    )]
    #[diagnostic(
        code(planrun::rehearse::production_server),
        help("rehearse on a disposable cluster and name its context")
    )]
    SameServer {
        context: String,
        production: String,
        server: String,
    },

    #[error(
        "fault `{name}` changes what a real cluster decides by itself ({keys}): it can only be rehearsed on the embedded sandbox"
    )]
    #[diagnostic(
        code(planrun::rehearse::fault_needs_sandbox),
        help("rehearse it without --kubeconfig")
    )]
    FaultNeedsSandbox { name: String, keys: String },

    #[error("cannot seed the cluster with {what}: {message}")]
    #[diagnostic(code(planrun::rehearse::seed))]
    Seed { what: String, message: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Sandbox(#[from] planrun_sandbox::SandboxError),

    #[error("cannot start the run: {0}")]
    #[diagnostic(code(planrun::rehearse::spawn))]
    Spawn(#[source] std::io::Error),
}
