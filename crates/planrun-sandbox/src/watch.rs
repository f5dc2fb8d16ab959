//! Watch streams: JSON lines flushed per event, replay from the event log, 410 Expired,
//! bookmarks, `timeoutSeconds` and `sendInitialEvents`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::resources::ResourceDef;
use super::selector::Selectors;
use super::shared::Shared;
use super::status::ApiError;
use super::store::{Change, EventType, Store};

/// The parameters of one watch request.
#[derive(Debug, Clone, Default)]
pub struct WatchParams {
    /// Namespace, or all.
    pub namespace: Option<String>,
    /// Selectors.
    pub selectors: Selectors,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: bool,
    /// Fault: abort after this many events.
    pub drop_after_events: Option<u64>,
    /// Fault: answer with 410.
    pub expire: bool,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut s = serde_json::to_string(&json!({"type": kind, "object": object}))
        .expect("JSON values serialize");
    s.push('\n');
    Bytes::from(s)
}

fn in_namespace(ns: Option<&str>, obj: &Value) -> bool {
    ns.is_none_or(|n| obj.pointer("/metadata/namespace").and_then(Value::as_str) == Some(n))
}

/// What a watcher with these parameters sees of one event.
fn translate(p: &WatchParams, def: &ResourceDef, ev: &Change) -> Option<(&'static str, Value)> {
    if ev.res != def.key() || !in_namespace(p.namespace.as_deref(), &ev.object) {
        return None;
    }
    let now = p.selectors.matches(&ev.object);
    let before = ev.prev.as_ref().is_some_and(|o| p.selectors.matches(o));
    let kind = match (ev.kind, before, now) {
        (EventType::Added, _, true) => EventType::Added,
        (EventType::Modified, true, true) => EventType::Modified,
        (EventType::Modified, false, true) => EventType::Added,
        (EventType::Modified, true, false) => {
            // Leaving the selector: the last state the watcher was shown, at the event's
            // resourceVersion (k8s.io/apiserver v0.36.3 pkg/storage/cacher/cache_watcher.go,
            // convertToWatchEvent).
            let mut last = ev.prev.clone().unwrap_or_else(|| ev.object.clone());
            if let Some(m) = last.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert("resourceVersion".to_owned(), json!(ev.rv.to_string()));
            }
            return Some((EventType::Deleted.as_str(), last));
        }
        (EventType::Deleted, _, true) => EventType::Deleted,
        _ => return None,
    };
    Some((kind.as_str(), ev.object.clone()))
}

fn bookmark(def: &ResourceDef, version: &str, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": def.kind, "apiVersion": def.api_version(version), "metadata": meta})
}

/// Start a watch and answer with its stream.
pub fn watch(shared: &Arc<Shared>, def: ResourceDef, version: String, p: WatchParams) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    let mut first: Vec<Bytes> = Vec::new();
    let start = shared.with_store(
        |store| -> Result<(u64, broadcast::Receiver<Arc<Change>>), ApiError> {
            if p.expire {
                let rv = store.resource_version();
                return Err(ApiError::expired(rv.saturating_sub(1), rv));
            }
            let rv_param = p.resource_version.as_deref().unwrap_or("");
            let current = store.resource_version();
            let present = |obj: Value| Store::present(&def, &version, obj);
            if rv_param.is_empty() || rv_param == "0" || p.send_initial_events {
                let items = store.list(&def, p.namespace.as_deref(), &p.selectors);
                for obj in items {
                    first.push(line("ADDED", &present(obj)));
                }
                if p.send_initial_events && p.bookmarks {
                    first.push(line("BOOKMARK", &bookmark(&def, &version, current, true)));
                }
            } else {
                let n: u64 = rv_param.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version: {rv_param:?}"))
                })?;
                // A kind's events go back only to when the server began serving it: a
                // custom resource's watch cache starts when its CRD appears
                // (k8s.io/apiserver v0.36.3 pkg/storage/cacher/watch_cache.go,
                // getAllEventsSinceLocked: "too old resource version").
                let floor = store.serving_since(&def);
                if n < floor {
                    return Err(ApiError::expired(n, floor));
                }
                for ev in store.events_since(n)? {
                    if let Some((kind, obj)) = translate(&p, &def, &ev) {
                        first.push(line(kind, &present(obj)));
                    }
                }
            }
            Ok((current, store.subscribe()))
        },
    );
    let (start_rv, events) = match start {
        Ok(x) => x,
        Err(e) => {
            // A real API server answers 200 and reports the failure as an ERROR event.
            let body = Body::from(line("ERROR", &e.to_status()));
            return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
        }
    };
    let cancel = shared.cancel.clone();
    let interval = {
        let d = shared.with_store(|s| s.scenario.bookmark_interval);
        d.duration()
    };
    tokio::spawn(stream_events(
        tx, first, events, start_rv, def, version, p, cancel, interval,
    ));
    let mut resp = Response::new(Body::from_stream(ReceiverStream::new(rx)));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

#[expect(clippy::too_many_arguments, reason = "the parts of one watch")]
async fn stream_events(
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    first: Vec<Bytes>,
    mut events: broadcast::Receiver<Arc<Change>>,
    start_rv: u64,
    def: ResourceDef,
    version: String,
    p: WatchParams,
    cancel: tokio_util::sync::CancellationToken,
    bookmark_interval: Option<Duration>,
) {
    let mut sent: u64 = 0;
    let dropped = |sent: u64| p.drop_after_events.is_some_and(|n| sent >= n);
    if dropped(sent) {
        return drop_stream(&tx).await;
    }
    for b in first {
        if tx.send(Ok(b)).await.is_err() {
            return;
        }
        sent += 1;
        if dropped(sent) {
            return drop_stream(&tx).await;
        }
    }
    let timeout = p.timeout.unwrap_or(Duration::from_secs(1800));
    let start = tokio::time::Instant::now();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let tick = bookmark_interval
        .filter(|_| p.bookmarks)
        .unwrap_or(Duration::from_secs(3600));
    let mut ticker = tokio::time::interval_at(start + tick, tick);
    // One bookmark 2 s before the deadline, so that a client resumes from a recent
    // resourceVersion (k8s.io/apiserver v0.36.3 pkg/storage/cacher/cache_watcher.go,
    // nextBookmarkTime).
    let before_deadline = timeout.checked_sub(Duration::from_secs(2));
    let last_call = tokio::time::sleep_until(start + before_deadline.unwrap_or(timeout));
    tokio::pin!(last_call);
    let last_call_due = p.bookmarks && before_deadline.is_some();
    let mut progress = start_rv;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = &mut deadline => return,
            () = tx.closed() => return,
            () = &mut last_call, if last_call_due => {
                // And every second after, until the deadline (the cacher's bookmark
                // timer ticks every second; a time past is due at once).
                last_call.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(1));
                if tx.send(Ok(line("BOOKMARK", &bookmark(&def, &version, progress, false)))).await.is_err() {
                    return;
                }
            }
            _ = ticker.tick(), if p.bookmarks => {
                if tx.send(Ok(line("BOOKMARK", &bookmark(&def, &version, progress, false)))).await.is_err() {
                    return;
                }
            }
            ev = events.recv() => match ev {
                Ok(ev) => {
                    if ev.rv <= start_rv {
                        continue;
                    }
                    progress = ev.rv;
                    if let Some((kind, obj)) = translate(&p, &def, &ev) {
                        let obj = Store::present(&def, &version, obj);
                        if tx.send(Ok(line(kind, &obj))).await.is_err() {
                            return;
                        }
                        sent += 1;
                        if dropped(sent) {
                            return drop_stream(&tx).await;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let e = ApiError::expired(progress, progress + 1);
                    let _ = tx.send(Ok(line("ERROR", &e.to_status()))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// Ends a watch stream abruptly, as an injected fault asks.
async fn drop_stream(tx: &mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let _ = tx
        .send(Err(std::io::Error::other(
            "watch dropped by an injected fault",
        )))
        .await;
}
