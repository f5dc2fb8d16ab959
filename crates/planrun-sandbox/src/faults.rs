//! Injected faults and the request log.

use std::time::Duration;

use regex::Regex;

use super::scenario::FaultRule;
use super::status::ApiError;

/// One request as the sandbox answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// The raw query string (may be empty).
    pub query: String,
    /// Response status code.
    pub status: u16,
    /// The Status reason of an error answer; `None` for successes and for paths no API
    /// server serves (plain `404 page not found`).
    pub reason: Option<String>,
    /// Whether this was a watch.
    pub watch: bool,
    /// Whether a fault rule answered or shaped this request.
    pub faulted: bool,
}

/// What the matching fault rules do to one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultHit {
    /// Answer with this error instead.
    pub error: Option<ApiError>,
    /// Wait this long first.
    pub latency: Option<Duration>,
    /// Watches: abort after this many events.
    pub drop_after_events: Option<u64>,
    /// Watches: answer with an ERROR 410 event.
    pub expire_watch: bool,
    /// Merge-patched into the named object before the request is handled.
    pub concurrent_write: Option<serde_json::Value>,
}

impl FaultHit {
    /// Whether any rule fired.
    pub fn any(&self) -> bool {
        self.error.is_some()
            || self.latency.is_some()
            || self.drop_after_events.is_some()
            || self.expire_watch
            || self.concurrent_write.is_some()
    }
}

struct Armed {
    rule: FaultRule,
    path: Option<Regex>,
    seen: u64,
    fired: u64,
}

/// The fault rules with their counters.
#[derive(Default)]
pub struct Faults {
    rules: Vec<Armed>,
}

/// The Status an injected error code answers with.
pub fn injected_error(code: u16, retry_after: Option<u64>) -> ApiError {
    let (reason, message) = match code {
        400 => ("BadRequest", "injected bad request"),
        401 => ("Unauthorized", "Unauthorized"),
        403 => ("Forbidden", "forbidden: injected fault"),
        404 => (
            "NotFound",
            "the server could not find the requested resource",
        ),
        409 => ("Conflict", "injected conflict"),
        410 => ("Expired", "too old resource version: 1 (2)"),
        429 => (
            "TooManyRequests",
            "Too many requests, please try again later.",
        ),
        500 => ("InternalError", "Internal error occurred: injected fault"),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request",
        ),
        _ => ("InternalError", "injected fault"),
    };
    let mut e = ApiError::new(code, reason, message);
    e.retry_after = retry_after;
    e
}

impl Faults {
    /// Faults from rules (path regexes were validated with the scenario).
    pub fn new(rules: &[FaultRule]) -> Self {
        let mut f = Self::default();
        for r in rules {
            f.add(r.clone());
        }
        f
    }

    /// Arm one more rule; an invalid path regex never matches.
    pub fn add(&mut self, rule: FaultRule) {
        let path = rule
            .path
            .as_deref()
            .map(|p| Regex::new(p).unwrap_or_else(|_| Regex::new("$^").expect("valid regex")));
        self.rules.push(Armed {
            rule,
            path,
            seen: 0,
            fired: 0,
        });
    }

    /// Disarm every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// Match a request; `kind` is (Kind, plural) when the path names a resource.
    pub fn check(
        &mut self,
        method: &str,
        path: &str,
        kind: Option<(&str, &str)>,
        watch: bool,
    ) -> FaultHit {
        let mut hit = FaultHit::default();
        for a in &mut self.rules {
            let r = &a.rule;
            let matches = a.path.as_ref().is_none_or(|re| re.is_match(path))
                && r.method
                    .as_ref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && r.watch.is_none_or(|w| w == watch)
                && r.kind
                    .as_ref()
                    .is_none_or(|k| kind.is_some_and(|(kind, plural)| k == kind || k == plural));
            if !matches {
                continue;
            }
            a.seen += 1;
            if a.seen <= r.skip || r.count.is_some_and(|c| a.fired >= c) {
                continue;
            }
            a.fired += 1;
            if let Some(code) = r.status
                && hit.error.is_none()
            {
                hit.error = Some(injected_error(code, r.retry_after));
            }
            if let Some(l) = r.latency.and_then(|d| d.duration()) {
                hit.latency = Some(hit.latency.unwrap_or_default() + l);
            }
            if r.drop_after_events.is_some() {
                hit.drop_after_events = r.drop_after_events;
            }
            hit.expire_watch |= r.expire_watch;
            if r.concurrent_write.is_some() {
                hit.concurrent_write = r.concurrent_write.clone();
            }
        }
        hit
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn skip_and_count() {
        let mut f = Faults::new(&[FaultRule {
            path: Some("^/api/v1/namespaces$".into()),
            skip: 1,
            count: Some(2),
            status: Some(503),
            ..Default::default()
        }]);
        let codes: Vec<Option<u16>> = (0..5)
            .map(|_| {
                f.check("GET", "/api/v1/namespaces", None, false)
                    .error
                    .map(|e| e.code)
            })
            .collect();
        assert_eq!(codes, vec![None, Some(503), Some(503), None, None]);
        assert!(!f.check("GET", "/api/v1/namespaces/x", None, false).any());
    }
}
