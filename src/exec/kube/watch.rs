//! Waiting by watch: list, then watch from the list's resourceVersion; a dropped
//! watch resumes, an expired one re-lists (kube's `watcher` does both). Transient
//! errors back off inside the deadline; permanent ones end the wait at once.

use std::collections::BTreeMap;
use std::fmt::Debug;

use futures::StreamExt;
use kube::Resource;
use kube::api::{Api, ResourceExt};
use kube::runtime::watcher;
use serde::de::DeserializeOwned;

use super::env::TaskEnv;
use super::error::KubeError;
use super::retry::{self, Backoff, Class};

/// Objects by `namespace/name` (or `name`).
pub(crate) type Objects<K> = BTreeMap<String, K>;

/// How a wait ended, short of a permanent error.
pub(crate) enum WatchEnd<K> {
    /// `done` returned true for these objects.
    Done(Objects<K>),
    /// The deadline passed; the objects last seen (`synced`: a full list was seen).
    TimedOut {
        objects: Objects<K>,
        synced: bool,
        last_error: Option<String>,
    },
    /// The kind's URL answered 404: its CRD is gone, so no object of it exists.
    NotServed,
}

pub(crate) fn key<K: Resource>(obj: &K) -> String {
    match obj.namespace() {
        Some(ns) => format!("{ns}/{}", obj.name_any()),
        None => obj.name_any(),
    }
}

/// Watches `api` until `done` holds for the matching objects (checked after every full
/// list and every change) or the deadline passes.
pub(crate) async fn watch_until<K, M, D>(
    env: &TaskEnv<'_>,
    api: Api<K>,
    config: watcher::Config,
    resource: &str,
    matches: M,
    mut done: D,
) -> Result<WatchEnd<K>, KubeError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    M: Fn(&K) -> bool,
    D: FnMut(&Objects<K>) -> bool,
{
    let stream = watcher(api, config);
    let mut stream = std::pin::pin!(stream);
    let mut objects: Objects<K> = BTreeMap::new();
    let mut buffer: Option<Objects<K>> = None;
    let mut synced = false;
    let mut last_error = None;
    let mut backoff = Backoff::default();
    let mut retries = 0u32;
    let timed_out = |objects, synced, last_error| {
        Ok(WatchEnd::TimedOut {
            objects,
            synced,
            last_error,
        })
    };
    loop {
        let next = tokio::select! {
            biased;
            () = tokio::time::sleep_until(env.deadline) => {
                return timed_out(objects, synced, last_error);
            }
            next = stream.next() => next,
        };
        let event = match next {
            Some(Ok(event)) => event,
            Some(Err(e)) => {
                if retry::watch_source(&e).is_some_and(retry::is_404) {
                    return Ok(WatchEnd::NotServed);
                }
                let text = retry::describe_watch(&e);
                let Class::Transient { retry_after } = retry::classify_watch(&e) else {
                    return Err(match retry::watch_source(&e) {
                        Some(inner) => retry::fail("watch", resource, inner),
                        None => KubeError::Client {
                            verb: "watch",
                            resource: resource.to_string(),
                            message: text,
                        },
                    });
                };
                let delay = backoff.next_delay(retry_after);
                retries += 1;
                let answered = matches!(e, watcher::Error::WatchError(_))
                    || retry::watch_source(&e).is_some_and(|s| matches!(s, kube::Error::Api(_)));
                env.detail(&retry::retry_detail(
                    answered,
                    retries,
                    delay,
                    &format!("watch {resource}: {text}"),
                ));
                last_error = Some(text);
                tokio::select! {
                    biased;
                    () = tokio::time::sleep_until(env.deadline) => {
                        return timed_out(objects, synced, last_error);
                    }
                    () = tokio::time::sleep(delay) => {}
                }
                continue;
            }
            None => {
                // The watcher never ends by itself; treat it as a dropped watch.
                return Err(KubeError::Client {
                    verb: "watch",
                    resource: resource.to_string(),
                    message: "the watch stream ended unexpectedly".into(),
                });
            }
        };
        backoff.reset();
        retries = 0;
        match event {
            watcher::Event::Init => buffer = Some(BTreeMap::new()),
            watcher::Event::InitApply(obj) => {
                if matches(&obj) {
                    buffer
                        .get_or_insert_with(BTreeMap::new)
                        .insert(key(&obj), obj);
                }
            }
            watcher::Event::InitDone => {
                objects = buffer.take().unwrap_or_default();
                synced = true;
            }
            watcher::Event::Apply(obj) => {
                if matches(&obj) {
                    objects.insert(key(&obj), obj);
                }
            }
            watcher::Event::Delete(obj) => {
                objects.remove(&key(&obj));
            }
        }
        if synced && buffer.is_none() && done(&objects) {
            return Ok(WatchEnd::Done(objects));
        }
    }
}
