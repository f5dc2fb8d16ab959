//! One side of the comparison: the sandbox or the real API server, reached the same
//! ways (kube-rs, raw HTTP through kube-rs's client, and the built kubectl).

use std::time::Duration;

use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::{Value, json};

use crate::realcluster::Kubectl;

/// The longest a plain answer's body may take.
const BODY_LIMIT: Duration = Duration::from_secs(60);

/// A backend every session runs against.
pub struct Side {
    /// `sandbox` or `real`.
    pub name: &'static str,
    pub client: kube::Client,
    pub kubectl: Kubectl,
}

/// A raw answer: status, content type, body (JSON when it parses, else text) and the
/// texts of its `Warning` headers, in order.
#[derive(Debug, Clone)]
pub struct Raw {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
    pub warnings: Vec<String>,
}

impl Raw {
    /// Status, content type (without parameters) and body, for an observation.
    pub fn seen(&self) -> Value {
        json!({"status": self.status, "content_type": self.content_type, "body": self.body})
    }
}

/// What a watch delivered: the HTTP status, its events in order, and whether the
/// server closed the stream (rather than the session stopping to read).
#[derive(Debug, Clone, Default)]
pub struct WatchLog {
    pub status: u16,
    pub events: Vec<Value>,
    pub closed: bool,
}

impl WatchLog {
    /// The events' types in order.
    pub fn types(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| e["type"].as_str().unwrap_or("?").to_owned())
            .collect()
    }
}

impl Side {
    /// Sends one request; the body (if any) is JSON unless `content_type` says otherwise.
    pub async fn raw(
        &self,
        method: &str,
        uri: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Raw {
        self.raw_with(method, uri, &[], content_type, body).await
    }

    /// As [`Side::raw`], with extra headers.
    pub async fn raw_with(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Raw {
        let mut req = http::Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Body::from(body.unwrap_or_default())).unwrap();
        let resp = self
            .client
            .send(req)
            .await
            .unwrap_or_else(|e| panic!("{}: {method} {uri}: {e}", self.name));
        let status = resp.status().as_u16();
        let content_type = content_type_of(resp.headers());
        let warnings = warnings_of(resp.headers());
        // A body that never ends (a watch nobody asked for) fails the session, not the
        // whole test.
        let bytes = tokio::time::timeout(BODY_LIMIT, resp.into_body().collect())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{}: {method} {uri}: no end of the body within {BODY_LIMIT:?}",
                    self.name
                )
            })
            .unwrap()
            .to_bytes();
        Raw {
            status,
            content_type,
            body: parse_body(&bytes),
            warnings,
        }
    }

    /// GET and the JSON body; fails on a non-2xx answer.
    pub async fn get_json(&self, uri: &str) -> Value {
        let raw = self.raw("GET", uri, None, None).await;
        assert!(
            (200..300).contains(&raw.status),
            "{}: GET {uri}: {raw:?}",
            self.name
        );
        raw.body
    }

    /// Reads a watch (`uri` carries `watch=true`) until `enough` says the events seen
    /// suffice, the server closes it, or `limit` passes.
    pub async fn watch(
        &self,
        uri: &str,
        limit: Duration,
        enough: impl Fn(&[Value]) -> bool,
    ) -> WatchLog {
        let req = http::Request::builder()
            .method("GET")
            .uri(uri)
            .body(Body::from(Vec::new()))
            .unwrap();
        let resp = self
            .client
            .send(req)
            .await
            .unwrap_or_else(|e| panic!("{}: watch {uri}: {e}", self.name));
        let mut log = WatchLog {
            status: resp.status().as_u16(),
            ..WatchLog::default()
        };
        let mut body = resp.into_body();
        let mut buf: Vec<u8> = Vec::new();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if enough(&log.events) {
                return log;
            }
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => return log,
                Ok(None) => {
                    log.closed = true;
                    take_lines(&mut buf, &mut log.events, true);
                    return log;
                }
                Ok(Some(frame)) => frame,
            };
            let Ok(frame) = frame else {
                log.closed = true;
                return log;
            };
            if let Ok(data) = frame.into_data() {
                buf.extend_from_slice(&data);
                take_lines(&mut buf, &mut log.events, false);
            }
        }
    }
}

/// Moves the complete JSON lines of `buf` (all of it when `end`) into `events`.
fn take_lines(buf: &mut Vec<u8>, events: &mut Vec<Value>, end: bool) {
    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = buf.drain(..=pos).collect();
        push_event(&line, events);
    }
    if end && !buf.is_empty() {
        let rest = std::mem::take(buf);
        push_event(&rest, events);
    }
}

fn push_event(line: &[u8], events: &mut Vec<Value>) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    events.push(serde_json::from_str(text).unwrap_or_else(|_| json!({"unparsed": text})));
}

/// The texts of `Warning: 299 - "<text>"` headers (RFC 7234; the text quoted as Go's
/// `%q` does, which JSON reads).
fn warnings_of(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::WARNING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| {
            let quoted = v.splitn(3, ' ').nth(2).unwrap_or(v);
            serde_json::from_str(quoted).unwrap_or_else(|_| quoted.to_owned())
        })
        .collect()
}

fn content_type_of(headers: &http::HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned()
}

fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}
