//! What can go wrong in a Kubernetes task, as diagnostics a person can act on.

use std::time::Duration;

use miette::Diagnostic;
use planrun_text::format_duration;

/// A failed Kubernetes task. Every variant's message is complete on its own: the
/// engine shows it as the task's error, multi-line details included.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum KubeError {
    /// The kubeconfig could not be read or has no usable context.
    #[error("kubeconfig: {message}")]
    #[diagnostic(
        code(planrun::kube::kubeconfig),
        help("pass --kubeconfig and --context, or set KUBECONFIG")
    )]
    Kubeconfig { message: String },

    /// The plan is guarded by a context and the effective one differs.
    #[error("the plan is for kube context `{expected}` but the effective context is `{actual}`")]
    #[diagnostic(
        code(planrun::kube::context_mismatch),
        help(
            "switch context (kubectl config use-context {expected}) or pass --context {expected}"
        )
    )]
    ContextMismatch { expected: String, actual: String },

    /// The API server did not answer `/version` and discovery before the run.
    #[error("cannot reach the API server {server} of context `{context}`: {error}")]
    #[diagnostic(
        code(planrun::kube::unreachable),
        help(
            "nothing ran; check the VPN or network path to the server, the credentials of the context (log in again if they expired), or pass --kubeconfig / --context for another cluster"
        )
    )]
    Unreachable {
        server: String,
        context: String,
        error: String,
    },

    /// The context's credential plugin failed before the run's first request.
    #[error("cannot get credentials for kube context `{context}`: {error}")]
    #[diagnostic(
        code(planrun::kube::credentials),
        help(
            "nothing ran; if the login behind the context's credential plugin (`exec` in the kubeconfig) expired, log in again (e.g. `aws sso login`, `gcloud auth login`, `kubelogin`) and run again; `kubectl --context {context} get --raw /version` tries the same credentials"
        )
    )]
    Credentials { context: String, error: String },

    /// No served resource has this kind.
    #[error(
        "unknown kind `{}`{}{}{}",
        kind,
        in_version(api_version),
        close_list(close),
        unlisted_list(unlisted)
    )]
    #[diagnostic(
        code(planrun::kube::unknown_kind),
        help("check the kind's spelling and that its CustomResourceDefinition is installed")
    )]
    UnknownKind {
        kind: String,
        api_version: Option<String>,
        /// Similar kinds the server serves, as `Kind (group/version)`.
        close: Vec<String>,
        /// Group-versions discovery could not list (the kind may be in one of them).
        unlisted: Vec<String>,
    },

    /// Several API groups serve this kind.
    #[error("kind `{kind}` is served by several API groups: {}", candidates.join(", "))]
    #[diagnostic(
        code(planrun::kube::ambiguous_kind),
        help("add api_version to the task, e.g. api_version = \"{}\"", candidates.first().map(String::as_str).unwrap_or("v1"))
    )]
    AmbiguousKind {
        kind: String,
        candidates: Vec<String>,
    },

    /// The selection does not fit the kind's scope.
    #[error("{message}")]
    #[diagnostic(code(planrun::kube::scope))]
    Scope { message: String },

    /// The server refused the request for good (401, 403, 404 of a kind, 422, ...).
    #[error("{verb} {resource}: {reason} ({code}): {message}")]
    #[diagnostic(code(planrun::kube::api))]
    Api {
        verb: &'static str,
        resource: String,
        code: u16,
        reason: String,
        message: String,
    },

    /// The server refused an object or patch for fields its kind's schema does not
    /// declare (or gives twice): a server-side apply (a 500 of the field manager), or
    /// a write planrun sent with `fieldValidation=Strict`.
    #[error(
        "{verb} {resource}: the server's schema for its kind refuses {}{}",
        if problems.len() == 1 { "a field" } else { "these fields" },
        detail_lines(problems)
    )]
    #[diagnostic(
        code(planrun::kube::undeclared_fields),
        help(
            "check each field's spelling and indentation, and the object's apiVersion, against the kind's schema (kubectl explain KIND.FIELD); the API server keeps no field its schema does not declare"
        )
    )]
    Schema {
        verb: &'static str,
        resource: String,
        /// One line per field: `spec.sizee: not declared`.
        problems: Vec<String>,
    },

    /// A request kept failing with transient errors until the deadline.
    #[error(
        "{verb} {resource}: still failing when the task's time ran out after {attempts} attempts; last error: {last}"
    )]
    #[diagnostic(code(planrun::kube::retries_exhausted))]
    Exhausted {
        verb: &'static str,
        resource: String,
        attempts: u32,
        last: String,
    },

    /// A conflict-safe write kept meeting newer versions of the object.
    #[error(
        "{what}: still conflicting after {attempts} attempts (another writer keeps changing it); last: {last}"
    )]
    #[diagnostic(
        code(planrun::kube::conflict),
        help(
            "find the other writer (a controller still running?) and stop it, then run the task again"
        )
    )]
    Conflicting {
        what: String,
        attempts: u32,
        last: String,
    },

    /// A server-side apply met fields another manager owns.
    #[error(
        "apply {what}: fields owned by another manager{}",
        detail_lines(conflicts)
    )]
    #[diagnostic(
        code(planrun::kube::apply_conflict),
        help(
            "set force = true to take these fields over (the other manager loses them), or leave them to it"
        )
    )]
    ApplyConflict {
        what: String,
        conflicts: Vec<String>,
    },

    /// A manifest or capture file cannot be used.
    #[error("{path}: {message}")]
    #[diagnostic(code(planrun::kube::manifest))]
    Manifest { path: String, message: String },

    /// A wait ended at its deadline; `details` say what was still in the way.
    #[error("timed out after {} waiting for {what}{}", format_duration(*after), detail_lines(details))]
    #[diagnostic(code(planrun::kube::timeout))]
    TimedOut {
        what: String,
        after: Duration,
        details: Vec<String>,
    },

    /// An assertion about the cluster's state is false.
    #[error("{summary}{}", detail_lines(details))]
    #[diagnostic(code(planrun::kube::assertion))]
    Assertion {
        summary: String,
        details: Vec<String>,
    },

    /// The capture file could not be written.
    #[error("cannot write {path}")]
    #[diagnostic(code(planrun::kube::capture_io))]
    CaptureIo {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// Capturing again would replace an earlier capture that holds what the new one
    /// lacks (the task ran again after objects it captured were deleted).
    #[error("{path} holds an earlier capture, kept as it is: {reason}")]
    #[diagnostic(
        code(planrun::kube::capture_kept),
        help(
            "a capture is never replaced by one that lacks what it held; if that is gone for good, move {path} aside and run the task again"
        )
    )]
    CaptureKept { path: String, reason: String },

    /// Anything else from the client (a bug or an unexpected answer).
    #[error("{verb} {resource}: {message}")]
    #[diagnostic(code(planrun::kube::client))]
    Client {
        verb: &'static str,
        resource: String,
        message: String,
    },
}

impl KubeError {
    /// Whether this error refuses the run before it starts (exit code 3): the context
    /// guard, an unreachable API server, credentials that could not be had.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            KubeError::ContextMismatch { .. }
                | KubeError::Unreachable { .. }
                | KubeError::Credentials { .. }
        )
    }
}

fn in_version(api_version: &Option<String>) -> String {
    api_version
        .as_ref()
        .map(|v| format!(" in {v}"))
        .unwrap_or_default()
}

fn close_list(close: &[String]) -> String {
    if close.is_empty() {
        String::new()
    } else {
        format!("; close matches: {}", close.join(", "))
    }
}

fn unlisted_list(unlisted: &[String]) -> String {
    if unlisted.is_empty() {
        String::new()
    } else {
        format!("; discovery could not list {}", unlisted.join("; "))
    }
}

fn detail_lines(details: &[String]) -> String {
    details.iter().map(|d| format!("\n  {d}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kind_lists_close_matches() {
        let e = KubeError::UnknownKind {
            kind: "Namespac".into(),
            api_version: None,
            close: vec!["Namespace (v1)".into()],
            unlisted: Vec::new(),
        };
        assert_eq!(
            e.to_string(),
            "unknown kind `Namespac`; close matches: Namespace (v1)"
        );
    }

    #[test]
    fn timeout_shows_details_on_their_own_lines() {
        let e = KubeError::TimedOut {
            what: "namespaces/x to be gone".into(),
            after: Duration::from_secs(2),
            details: vec!["x: finalizers [kubernetes]".into()],
        };
        assert_eq!(
            e.to_string(),
            "timed out after 2s waiting for namespaces/x to be gone\n  x: finalizers [kubernetes]"
        );
    }
}
