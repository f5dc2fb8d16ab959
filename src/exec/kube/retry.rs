//! Transient versus permanent API errors, and retrying the transient ones with
//! backoff inside the task's deadline.

use std::future::Future;
use std::time::Duration;

use kube::runtime::watcher;
use tokio::time::Instant;

use super::env::TaskEnv;
use super::error::KubeError;

/// First delay between attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest delay between attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Whether an error is worth another attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// 5xx, 429, 408, 410 Expired, a reset connection: try again after a delay (at
    /// least `retry_after` when the server said so).
    Transient { retry_after: Option<Duration> },
    /// 401, 403, 404, 409, 422, a bad answer: the same request would fail again.
    Permanent,
}

/// How an HTTP status code from the API server behaves on retry.
pub(crate) fn classify_code(code: u16, retry_after_secs: Option<u32>) -> Class {
    let retry_after = retry_after_secs
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(u64::from(s)));
    match code {
        408 | 410 | 429 | 500..=599 => Class::Transient { retry_after },
        _ => Class::Permanent,
    }
}

/// Classifies a client error.
pub(crate) fn classify(e: &kube::Error) -> Class {
    match e {
        // The field manager's refusal of an applied object is a 500, and the same
        // request fails the same way again.
        kube::Error::Api(status) if field_manager_refusal(&status.message) => Class::Permanent,
        kube::Error::Api(status) => classify_code(
            status.code,
            status.details.as_ref().map(|d| d.retry_after_seconds),
        ),
        // Connection refused or reset, a body cut short, an idle timeout.
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            Class::Transient { retry_after: None }
        }
        _ => Class::Permanent,
    }
}

/// Classifies a watcher error (the watcher itself recovers on the next poll).
pub(crate) fn classify_watch(e: &watcher::Error) -> Class {
    match e {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => classify(e),
        watcher::Error::WatchError(status) => classify_code(
            status.code,
            status.details.as_ref().map(|d| d.retry_after_seconds),
        ),
        watcher::Error::NoResourceVersion => Class::Permanent,
    }
}

/// The client error behind a watcher error, if any.
pub(crate) fn watch_source(e: &watcher::Error) -> Option<&kube::Error> {
    match e {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => Some(e),
        _ => None,
    }
}

/// Whether the error is a 404 (the kind is no longer served, or the object is gone).
pub(crate) fn is_404(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// What failed a request that is tried again, said first on the task's live line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failing {
    /// The API server answered with an error.
    Api,
    /// No answer: the connection was refused, reset, or went silent.
    Connection,
    /// The context's credential plugin failed: the request was not sent. Tried again
    /// with the request, so that a login renewed meanwhile lets the run go on.
    Credentials,
}

impl Failing {
    pub(crate) fn of(e: &kube::Error) -> Self {
        match e {
            kube::Error::Api(_) => Failing::Api,
            other if super::connection::auth_error(other).is_some() => Failing::Credentials,
            _ => Failing::Connection,
        }
    }

    pub(crate) fn of_watch(e: &watcher::Error) -> Self {
        match e {
            watcher::Error::WatchError(_) => Failing::Api,
            other => watch_source(other).map_or(Failing::Connection, Self::of),
        }
    }
}

/// What a retry of a transient error says on the task's live line: "API
/// unreachable, retry 3 in 4s: connection refused" ("API error" for an answer the
/// server gave, "credentials failed" for the context's credential plugin).
pub(crate) fn retry_detail(failing: Failing, retry: u32, delay: Duration, error: &str) -> String {
    format!(
        "{}, retry {retry} in {}: {error}",
        match failing {
            Failing::Api => "API error",
            Failing::Connection => "API unreachable",
            Failing::Credentials => "credentials failed",
        },
        planrun_text::format_duration(delay)
    )
}

/// A short text for an error, for progress lines and "last error".
pub(crate) fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => status_text(s.code, &s.reason, &s.message),
        other => super::connection::cause(other),
    }
}

/// A short text for a watcher error.
pub(crate) fn describe_watch(e: &watcher::Error) -> String {
    match e {
        watcher::Error::WatchError(s) => status_text(s.code, &s.reason, &s.message),
        other => match watch_source(other) {
            Some(inner) => describe(inner),
            None => other.to_string(),
        },
    }
}

fn status_text(code: u16, reason: &str, message: &str) -> String {
    let reason = if reason.is_empty() { "error" } else { reason };
    if message.is_empty() {
        format!("{reason} ({code})")
    } else {
        format!("{reason} ({code}): {message}")
    }
}

/// Whether a message is the field manager's refusal of a server-side apply it cannot
/// convert (k8s.io/apimachinery v0.36.3 `pkg/util/managedfields/internal/
/// structuredmerge.go`, Apply: to the kind's typed form, or to the kind's Go type, as a
/// Secret's `data` that is not base64), which the API server answers with a 500.
fn field_manager_refusal(message: &str) -> bool {
    TYPED_OBJECT_REFUSALS
        .iter()
        .chain(&[
            "failed to convert new object (",
            "failed to convert live object (",
            "failed to convert new typed object (",
        ])
        .any(|p| message.starts_with(p))
}

/// How the field manager's refusals of an object it cannot convert to the kind's typed
/// form begin (the applied configuration, the stored object).
const TYPED_OBJECT_REFUSALS: [&str; 2] = [
    "failed to create typed patch object (",
    "failed to create typed live object (",
];

/// The field manager's refusal of an object it cannot convert to the kind's type
/// (k8s.io/apimachinery v0.36.3 `pkg/util/managedfields/internal/structuredmerge.go`:
/// `failed to create typed patch object (<ns>/<name>; <gvk>): <errors>`, for the
/// applied configuration, or `typed live object` for the stored one), answered with a
/// 500: the errors after the prefix, one per line.
fn typed_object_refusal(message: &str) -> Option<Vec<&str>> {
    let rest = TYPED_OBJECT_REFUSALS
        .iter()
        .find_map(|p| message.strip_prefix(p))?;
    let (_, errors) = rest.split_once("): ")?;
    let errors = errors.strip_prefix("errors:\n").unwrap_or(errors);
    Some(
        errors
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect(),
    )
}

/// What a schema refusal says of each field, shortened: `spec.sizee: not declared`
/// (an apply's typed-object errors, or a strict decoding error's `unknown field
/// "spec.sizee"` and `duplicate field "spec.size"`, k8s.io/apimachinery v0.36.3
/// `pkg/runtime/serializer/json`, whose refusal also quotes the whole patched object,
/// left out here); `None` when the message is no such refusal.
pub(crate) fn schema_problems(message: &str) -> Option<Vec<String>> {
    if let Some(errors) = typed_object_refusal(message) {
        return Some(
            errors
                .into_iter()
                .map(|e| match e.strip_suffix(": field not declared in schema") {
                    Some(path) => format!("{}: not declared", path.trim_start_matches('.')),
                    None => e.trim_start_matches('.').to_owned(),
                })
                .collect(),
        );
    }
    let (_, errors) = message.rsplit_once("strict decoding error: ")?;
    let problems: Vec<String> = errors
        .split(", ")
        .filter_map(|e| {
            let (what, field) = e.split_once(" field ")?;
            let field = field.trim().trim_matches('"');
            match what {
                "unknown" => Some(format!("{field}: not declared")),
                "duplicate" => Some(format!("{field}: given twice")),
                _ => None,
            }
        })
        .collect();
    (!problems.is_empty()).then_some(problems)
}

/// The reason a patch was refused because the patched object cannot be decoded, without
/// the object the message quotes: the API server answers `"" is invalid: patch:
/// Invalid value: "<the whole patched object>": <reason>` (k8s.io/apiserver v0.36.3
/// `pkg/endpoints/handlers/patch.go`, applyPatch), a Secret's data included.
fn patched_object_refusal(message: &str) -> Option<&str> {
    const OPENING: &str = "patch: Invalid value: \"";
    let quoted = &message[message.find(OPENING)? + OPENING.len()..];
    let mut escaped = false;
    for (i, c) in quoted.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return quoted[i + 1..].strip_prefix(": "),
            _ => {}
        }
    }
    None
}

/// The permanent failure of a request, named by verb and resource.
pub(crate) fn fail(verb: &'static str, resource: &str, e: &kube::Error) -> KubeError {
    if let kube::Error::Api(s) = e
        && let Some(problems) = schema_problems(&s.message)
    {
        return KubeError::Schema {
            verb,
            resource: resource.to_string(),
            problems,
        };
    }
    match e {
        kube::Error::Api(s) => KubeError::Api {
            verb,
            resource: resource.to_string(),
            code: s.code,
            reason: if s.reason.is_empty() {
                "error".into()
            } else {
                s.reason.clone()
            },
            message: match patched_object_refusal(&s.message) {
                Some(reason) => format!("the patched object cannot be read: {reason}"),
                None => s.message.clone(),
            },
        },
        other => KubeError::Client {
            verb,
            resource: resource.to_string(),
            message: super::connection::cause(other),
        },
    }
}

/// Exponential backoff without a limit on attempts; the deadline is the limit.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: BACKOFF_MIN }
    }
}

impl Backoff {
    /// The delay before the next attempt; at least `floor` (a server's Retry-After).
    pub(crate) fn next_delay(&mut self, floor: Option<Duration>) -> Duration {
        let delay = self.next.max(floor.unwrap_or_default());
        self.next = (self.next * 2).min(BACKOFF_MAX);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }
}

/// Runs `f` until it succeeds, a permanent error occurs or the deadline would pass.
pub(crate) async fn call<T, F, Fut>(
    env: &TaskEnv<'_>,
    verb: &'static str,
    resource: &str,
    mut f: F,
) -> Result<T, KubeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut backoff = Backoff::default();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let error = match tokio::time::timeout_at(env.deadline, f()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => e,
            Err(_) => {
                return Err(KubeError::Exhausted {
                    verb,
                    resource: resource.to_string(),
                    attempts,
                    last: "no answer before the deadline".into(),
                });
            }
        };
        let Class::Transient { retry_after } = classify(&error) else {
            return Err(fail(verb, resource, &error));
        };
        let delay = backoff.next_delay(retry_after);
        let last = describe(&error);
        if Instant::now() + delay >= env.deadline {
            return Err(KubeError::Exhausted {
                verb,
                resource: resource.to_string(),
                attempts,
                last,
            });
        }
        env.detail(&retry_detail(
            Failing::of(&error),
            attempts,
            delay,
            &format!("{verb} {resource}: {last}"),
        ));
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_and_throttling_are_transient() {
        for code in [500, 502, 503, 504, 429, 410, 408] {
            assert!(matches!(classify_code(code, None), Class::Transient { .. }));
        }
        assert_eq!(
            classify_code(429, Some(3)),
            Class::Transient {
                retry_after: Some(Duration::from_secs(3))
            }
        );
    }

    #[test]
    fn a_retry_says_what_failed_which_retry_and_when() {
        assert_eq!(
            retry_detail(
                Failing::Connection,
                3,
                Duration::from_secs(4),
                "connection refused"
            ),
            "API unreachable, retry 3 in 4s: connection refused"
        );
        assert_eq!(
            retry_detail(
                Failing::Api,
                1,
                Duration::from_millis(100),
                "ServiceUnavailable (503)"
            ),
            "API error, retry 1 in 100ms: ServiceUnavailable (503)"
        );
    }

    #[test]
    fn a_schema_refusal_is_permanent_and_names_each_field() {
        let apply = |message: &str| {
            kube::Error::Api(Box::new(
                kube::core::Status::failure(message, "").with_code(500),
            ))
        };
        let one = apply(
            "failed to create typed patch object (default/typo; example.com/v1, Kind=Widget): .spec.sizee: field not declared in schema",
        );
        assert_eq!(classify(&one), Class::Permanent);
        assert_eq!(
            fail("apply", "widgets/default/typo", &one).to_string(),
            "apply widgets/default/typo: the server's schema for its kind refuses a field\n  spec.sizee: not declared"
        );
        let many = apply(
            "failed to create typed patch object (/d1; apps/v1, Kind=Deployment): errors:\n  .metadata.typoMeta: field not declared in schema\n  .spec.template.spec.containers[name=\"c\"].imagePullPolicyy: field not declared in schema",
        );
        let kube::Error::Api(s) = &many else {
            unreachable!()
        };
        assert_eq!(
            schema_problems(&s.message).unwrap(),
            [
                "metadata.typoMeta: not declared",
                "spec.template.spec.containers[name=\"c\"].imagePullPolicyy: not declared"
            ]
        );
        let conversion = apply(
            "failed to convert new object (/s3; /v1, Kind=Secret) to proper version: unable to convert unstructured object to /v1, Kind=Secret: error decoding from json: illegal base64 data at input byte 3",
        );
        assert_eq!(classify(&conversion), Class::Permanent);
        // Any other 500 stays transient.
        assert!(matches!(
            classify(&apply("etcdserver: request timed out")),
            Class::Transient { .. }
        ));
    }

    #[test]
    fn a_strict_refusal_names_the_fields_without_the_object_it_quotes() {
        let message = " \"\" is invalid: patch: Invalid value: \"{\\\"data\\\":{\\\"password\\\":\\\"c2VjcmV0\\\"}}\": strict decoding error: unknown field \"spec.typo2\", duplicate field \"spec.size\"";
        let e = kube::Error::Api(Box::new(
            kube::core::Status::failure(message, "Invalid").with_code(422),
        ));
        let shown = fail("patch", "widgets/default/w1", &e).to_string();
        assert_eq!(
            shown,
            "patch widgets/default/w1: the server's schema for its kind refuses these fields\n  spec.typo2: not declared\n  spec.size: given twice"
        );
        assert!(!shown.contains("c2VjcmV0"));
        assert_eq!(
            schema_problems("Widget \"x\" is invalid: spec.size: Invalid value"),
            None
        );
    }

    #[test]
    fn a_patched_object_the_server_cannot_read_is_refused_without_the_object() {
        let message = " \"\" is invalid: patch: Invalid value: \"{\\\"apiVersion\\\":\\\"v1\\\",\\\"data\\\":{\\\"identity\\\":\\\"c2VjcmV0LWtleQ==\\\",\\\"password\\\":\\\"not base64!\\\"},\\\"kind\\\":\\\"Secret\\\"}\": illegal base64 data at input byte 3";
        let e = kube::Error::Api(Box::new(
            kube::core::Status::failure(message, "Invalid").with_code(422),
        ));
        let shown = fail("patch", "secrets/default/s1", &e).to_string();
        assert_eq!(
            shown,
            "patch secrets/default/s1: Invalid (422): the patched object cannot be read: illegal base64 data at input byte 3"
        );
        assert!(!shown.contains("c2VjcmV0LWtleQ"));
    }

    #[test]
    fn refusals_are_permanent() {
        for code in [400, 401, 403, 404, 405, 409, 422] {
            assert_eq!(classify_code(code, None), Class::Permanent);
        }
    }

    #[test]
    fn backoff_doubles_up_to_a_cap_and_honours_retry_after() {
        let mut b = Backoff::default();
        assert_eq!(b.next_delay(None), Duration::from_millis(100));
        assert_eq!(b.next_delay(None), Duration::from_millis(200));
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        for _ in 0..10 {
            b.next_delay(None);
        }
        assert_eq!(b.next_delay(None), BACKOFF_MAX);
        b.reset();
        assert_eq!(b.next_delay(None), BACKOFF_MIN);
    }
}
