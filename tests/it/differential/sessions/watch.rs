//! Watches: replay from a list's resourceVersion, `resourceVersion=0`, a too-old
//! resourceVersion, bookmarks, `sendInitialEvents`, and objects entering and leaving a
//! label selector.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Obs, Side, cm_uri, configmap, crd, create, establish, expect_ok, rv, send};
use crate::differential::side::WatchLog;

/// Long enough for any event the sessions cause to arrive on a loaded machine.
const READ: Duration = Duration::from_secs(30);

/// Merge-patches ConfigMap `name`.
async fn merge(s: &Side, ns: &str, name: &str, patch: Value) -> Value {
    let raw = send(
        s,
        "PATCH",
        &cm_uri(ns, Some(name)),
        "application/merge-patch+json",
        &patch,
    )
    .await;
    expect_ok(s, "merge patch", &raw);
    raw.body
}

async fn delete(s: &Side, ns: &str, name: &str) -> Value {
    let raw = s.raw("DELETE", &cm_uri(ns, Some(name)), None, None).await;
    expect_ok(s, "delete", &raw);
    raw.body
}

fn list_rv(list: &Value) -> String {
    list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Each event's type and its object's name and data (bookmarks: kind and metadata).
fn events(log: &WatchLog) -> Value {
    log.events
        .iter()
        .map(|e| {
            let obj = &e["object"];
            match e["type"].as_str() {
                Some("BOOKMARK" | "ERROR") => e.clone(),
                _ => json!({"type": e["type"], "name": obj["metadata"]["name"],
                            "labels": obj["metadata"]["labels"], "data": obj["data"]}),
            }
        })
        .collect::<Vec<_>>()
        .into()
}

/// Create, update and delete after a list; a watch from the list's resourceVersion
/// replays all three in order, each with a newer resourceVersion.
pub async fn watch_from_list(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let sel = "labelSelector=w%3Dlist";
    let list = s.get_json(&format!("{}?{sel}", cm_uri(&ns, None))).await;
    let from = list_rv(&list);
    let raw = create(
        &s,
        &cm_uri(&ns, None),
        &configmap(&ns, "w", json!({"w": "list"}), json!({"v": "1"})),
    )
    .await;
    expect_ok(&s, "create", &raw);
    merge(&s, &ns, "w", json!({"data": {"v": "2"}})).await;
    delete(&s, &ns, "w").await;
    let log = s
        .watch(
            &format!(
                "{}?watch=true&{sel}&resourceVersion={from}",
                cm_uri(&ns, None)
            ),
            READ,
            |evs| evs.iter().any(|e| e["type"] == "DELETED"),
        )
        .await;
    o.put("status", log.status);
    o.put("events", events(&log));
    let rvs: Vec<u64> = log.events.iter().map(|e| rv(&e["object"])).collect();
    o.put(
        "rvs_increase_from_the_list",
        rvs.first()
            .is_some_and(|first| *first > from.parse::<u64>().unwrap())
            && rvs.windows(2).all(|w| w[0] < w[1]),
    );
    o.put("first_event", log.events.first().cloned());
    o.done()
}

/// `resourceVersion=0`: the current objects as ADDED, then live events; without
/// allowWatchBookmarks no bookmark; `timeoutSeconds` closes the stream.
pub async fn watch_from_zero(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    for name in ["z2", "z1"] {
        let raw = create(
            &s,
            &cm_uri(&ns, None),
            &configmap(&ns, name, json!({"w": "zero"}), json!({})),
        )
        .await;
        expect_ok(&s, "create", &raw);
    }
    let log = s
        .watch(
            &format!(
                "{}?watch=true&labelSelector=w%3Dzero&resourceVersion=0&timeoutSeconds=2",
                cm_uri(&ns, None)
            ),
            READ,
            |_| false,
        )
        .await;
    o.put("status", log.status);
    // The initial events come in the watch cache's order, which the real server does
    // not promise (and which varies): sorted here.
    let mut evs = events(&log).as_array().cloned().unwrap_or_default();
    evs.sort_by_key(|e| e["name"].as_str().unwrap_or("").to_owned());
    o.put("events", evs);
    o.put("closed_by_server", log.closed);
    o.done()
}

/// A resourceVersion older than the server keeps events for: a fresh CRD's custom
/// resources are watched from resourceVersion 1, long before the CRD existed (the
/// real API server's watch cache for the new resource starts at its creation; see
/// k8s.io/apiserver v0.36.3 pkg/storage/cacher/watch_cache.go, "too old resource
/// version"). The failure comes as an ERROR event (status 200), as from an uncached
/// watch (pkg/storage/cacher/cacher.go, newErrWatcher).
pub async fn watch_too_old(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let group = "tooold.diff.example";
    establish(&s, &crd(group, "Relic", "relics")).await;
    let uri = format!("/apis/{group}/v1/namespaces/{ns}/relics");
    let raw = create(
        &s,
        &uri,
        &json!({"apiVersion": format!("{group}/v1"), "kind": "Relic", "metadata": {"name": "r"}}),
    )
    .await;
    expect_ok(&s, "create", &raw);
    let log = watch_retrying(&s, &format!("{uri}?watch=true&resourceVersion=1")).await;
    o.put("status", log.status);
    let mut evs = log.events.clone();
    let server_rv = regex::Regex::new(r"\((\d+)\)$").unwrap();
    for e in &mut evs {
        if let Some(m) = e.pointer_mut("/object/message")
            && let Some(text) = m.as_str()
        {
            // "too old resource version: 1 (307)": the second number is the server's.
            *m = json!(server_rv.replace(text, "(<rv>)"));
        }
    }
    o.put("events", evs);
    o.put("closed_by_server", log.closed);
    o.done()
}

/// Reads a watch until its first event, retrying while the server answers 429: right
/// after a CRD is created the real API server's watch cache for it may still be
/// initialising ("storage is (re)initializing", Retry-After 1), as clients see it.
async fn watch_retrying(s: &Side, uri: &str) -> WatchLog {
    let deadline = tokio::time::Instant::now() + super::WAIT;
    loop {
        let log = s.watch(uri, READ, |evs| !evs.is_empty()).await;
        if log.status != 429 || tokio::time::Instant::now() >= deadline {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// allowWatchBookmarks with timeoutSeconds: BOOKMARK events carry only kind,
/// apiVersion and a resourceVersion at least as new as the last change; the real server
/// sends one 2 s before the deadline (k8s.io/apiserver v0.36.3
/// pkg/storage/cacher/cache_watcher.go, nextBookmarkTime) and then closes the stream.
pub async fn watch_bookmarks(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let list = s
        .get_json(&format!("{}?labelSelector=w%3Dbm", cm_uri(&ns, None)))
        .await;
    let from = list_rv(&list);
    let created = create(
        &s,
        &cm_uri(&ns, None),
        &configmap(&ns, "bm", json!({"w": "bm"}), json!({})),
    )
    .await;
    expect_ok(&s, "create", &created);
    let log = s
        .watch(
            &format!(
                "{}?watch=true&labelSelector=w%3Dbm&allowWatchBookmarks=true&timeoutSeconds=6&resourceVersion={from}",
                cm_uri(&ns, None)
            ),
            READ,
            |_| false,
        )
        .await;
    o.put("status", log.status);
    // The real server sends a bookmark every second in the last two (its timer's
    // granularity, with jitter): how many is not the point, that they come is.
    let mut types = log.types();
    types.dedup();
    o.put("types", types);
    let bookmarks: Vec<&Value> = log
        .events
        .iter()
        .filter(|e| e["type"] == "BOOKMARK")
        .collect();
    o.put("a_bookmark", bookmarks.first().map(|b| (*b).clone()));
    o.put(
        "bookmarks_not_older_than_the_change",
        bookmarks
            .iter()
            .all(|b| rv(&b["object"]) >= rv(&created.body)),
    );
    o.put("closed_by_server", log.closed);
    o.done()
}

/// sendInitialEvents=true (the watch-list protocol): the current objects as ADDED,
/// then a BOOKMARK annotated `k8s.io/initial-events-end`.
pub async fn watch_initial_events(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    for name in ["i1", "i2"] {
        let raw = create(
            &s,
            &cm_uri(&ns, None),
            &configmap(&ns, name, json!({"w": "init"}), json!({})),
        )
        .await;
        expect_ok(&s, "create", &raw);
    }
    let log = s
        .watch(
            &format!(
                "{}?watch=true&labelSelector=w%3Dinit&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
                cm_uri(&ns, None)
            ),
            READ,
            |evs| evs.iter().any(|e| e["type"] == "BOOKMARK"),
        )
        .await;
    o.put("status", log.status);
    o.put("events", events(&log));
    // Without allowWatchBookmarks: no end-of-initial-events bookmark.
    let log = s
        .watch(
            &format!(
                "{}?watch=true&labelSelector=w%3Dinit&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=2",
                cm_uri(&ns, None)
            ),
            READ,
            |_| false,
        )
        .await;
    o.put("without_bookmarks", events(&log));
    o.put("without_bookmarks_status", log.status);
    // A legacy watch from "0" with bookmarks gets the initial events and their end
    // bookmark too (the WatchList default).
    let log = s
        .watch(
            &format!(
                "{}?watch=true&labelSelector=w%3Dinit&resourceVersion=0&allowWatchBookmarks=true",
                cm_uri(&ns, None)
            ),
            READ,
            |evs| evs.iter().any(|e| e["type"] == "BOOKMARK"),
        )
        .await;
    o.put("from_zero_with_bookmarks", events(&log));
    o.done()
}

/// An object that stops matching a watch's label selector is DELETED for it, one that
/// starts matching is ADDED.
pub async fn watch_selector_transitions(s: Arc<Side>, ns: String) -> Value {
    let mut o = Obs::default();
    let raw = create(
        &s,
        &cm_uri(&ns, None),
        &configmap(&ns, "t", json!({"match": "yes"}), json!({"v": "0"})),
    )
    .await;
    expect_ok(&s, "create", &raw);
    let from = raw.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    merge(
        &s,
        &ns,
        "t",
        json!({"metadata": {"labels": {"match": "no"}}}),
    )
    .await;
    merge(&s, &ns, "t", json!({"data": {"v": "unseen"}})).await;
    merge(
        &s,
        &ns,
        "t",
        json!({"metadata": {"labels": {"match": "yes"}}}),
    )
    .await;
    merge(&s, &ns, "t", json!({"data": {"v": "2"}})).await;
    delete(&s, &ns, "t").await;
    let log = s
        .watch(
            &format!(
                "{}?watch=true&labelSelector=match%3Dyes&resourceVersion={from}",
                cm_uri(&ns, None)
            ),
            READ,
            |evs| evs.len() >= 4,
        )
        .await;
    o.put("events", events(&log));
    o.done()
}
