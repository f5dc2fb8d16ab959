//! One notification, delivered: an HTTP POST of a JSON body, with a timeout per
//! try and retries with backoff (1s, 2s, 4s... at most 30s) after a connection
//! error, a timeout, 429 or a 5xx; another 4xx is final. Errors never carry the
//! URL (the caller masks them again anyway).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::message::Message;
use crate::cancel::Cancel;
use crate::validate::Webhook;

/// The first delay between tries; doubled each time.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How much of an error response's body an error quotes.
const BODY_QUOTE: usize = 200;

/// A notification that arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The tries it took.
    pub tries: u32,
    pub status: u16,
}

/// Posts `message` to `webhook`, trying again as the module docs say; stops early
/// when `cancel` fires. The error says what the last try got.
pub async fn deliver(
    webhook: &Webhook,
    message: &Message,
    cancel: &Cancel,
) -> Result<Delivered, String> {
    let body = message.body(webhook);
    let mut delay = FIRST_BACKOFF;
    let mut tries = 0;
    loop {
        tries += 1;
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(webhook.timeout, post(&webhook.url, &body)) => outcome,
            _ = cancel.cancelled() => return Err(format!("stopped after {tries} tries")),
        };
        let (error, retry) = match outcome {
            Ok(Ok((status, _))) if (200..300).contains(&status) => {
                return Ok(Delivered { tries, status });
            }
            Ok(Ok((status, text))) => (
                format!("HTTP {status}{}", quote(&text)),
                status == 429 || status >= 500,
            ),
            Ok(Err(e)) => (e, true),
            Err(_) => (
                format!("no answer within {}s", webhook.timeout.as_secs()),
                true,
            ),
        };
        if !retry || tries > webhook.retries {
            let plural = if tries == 1 { "try" } else { "tries" };
            return Err(format!("not delivered after {tries} {plural}: {error}"));
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = cancel.cancelled() => return Err(format!("stopped after {tries} tries: {error}")),
        }
        delay = (delay * 2).min(MAX_BACKOFF);
    }
}

/// One POST; the status and the start of the body.
async fn post(url: &str, body: &str) -> Result<(u16, String), String> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("no TLS roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let request = Request::post(url)
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, concat!("planrun/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(Bytes::from(body.to_owned())))
        // The error would quote the URL: say what kind of problem it is only.
        .map_err(|_| "the URL is not a valid URI".to_owned())?;
    let response = client
        .request(request)
        .await
        .map_err(|e| connect_error(&e))?;
    let status = response.status().as_u16();
    let text = match response.into_body().collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    Ok((status, text))
}

/// A client error in words, without the URL.
fn connect_error(e: &hyper_util::client::legacy::Error) -> String {
    let mut out = if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

fn quote(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let cut: String = text.chars().take(BODY_QUOTE).collect();
    format!(": {}", cut.replace('\n', " "))
}
