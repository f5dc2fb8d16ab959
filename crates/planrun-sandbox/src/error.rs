//! Errors from starting, seeding and configuring a sandbox.

use miette::Diagnostic;
use thiserror::Error;

/// A sandbox failure outside the API surface (those are `Status` bodies).
#[derive(Debug, Error, Diagnostic)]
pub enum SandboxError {
    /// The listening socket could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}")]
    #[diagnostic(code(sandbox::bind), help("pick another --port, or 0 for a free one"))]
    Bind {
        /// The requested port.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("cannot read {path}")]
    #[diagnostic(code(sandbox::read))]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}")]
    #[diagnostic(code(sandbox::write))]
    Write {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The scenario file is invalid.
    #[error("invalid scenario {path}: {message}")]
    #[diagnostic(
        code(sandbox::scenario),
        help("see examples/sandbox-scenario.yaml for the format")
    )]
    Scenario {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A seed manifest is invalid or was refused by the API.
    #[error("cannot seed {source_name}: {message}")]
    #[diagnostic(
        code(sandbox::seed),
        help("seed manifests are multi-document Kubernetes YAML")
    )]
    Seed {
        /// The manifest file (or `inline`).
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// Building a kube client for the sandbox failed.
    #[error("cannot build a kube client for the sandbox")]
    #[diagnostic(code(sandbox::client))]
    Client(#[source] kube::Error),
}
