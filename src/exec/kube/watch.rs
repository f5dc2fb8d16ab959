//! Waiting by watch: list, then watch from the list's resourceVersion; a dropped
//! watch resumes, an expired one re-lists (kube's `watcher` does both). Each watch
//! request lasts at most [`WATCH_SECONDS`], so that a healthy connection is never
//! silent for as long as a dead one is given (`SILENCE_LIMIT`). Transient
//! errors back off inside the deadline; permanent ones end the wait at once.
//!
//! One wait may watch several kinds at once (a selection of several kinds): one
//! watcher per kind, merged into one stream, with the objects of all of them in one
//! map. The condition is checked only once every watcher has seen a full list.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use kube::Resource;
use kube::api::{Api, ResourceExt};
use kube::runtime::watcher;
use serde::de::DeserializeOwned;

use super::connection::WATCH_SECONDS;
use super::env::TaskEnv;
use super::error::KubeError;
use super::retry::{self, Backoff, Class};

/// Objects by key: `namespace/name` (or `name`), prefixed by the source's `prefix`.
pub(crate) type Objects<K> = BTreeMap<String, K>;

/// What one watcher watches.
pub(crate) struct Source<K> {
    pub(crate) api: Api<K>,
    pub(crate) config: watcher::Config,
    /// The resource's name for messages (`gitrepositories.source.toolkit.fluxcd.io`).
    pub(crate) resource: String,
    /// Put before each object's key, so that the objects of several kinds share one
    /// map (`""` when there is one source).
    pub(crate) prefix: String,
}

/// What a kind that is no longer served (its URL answers 404) means for the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unserved {
    /// None of its objects exist: the wait goes on with the other kinds.
    Empty,
    /// The wait cannot succeed: it ends with [`WatchEnd::NotServed`].
    Ends,
}

/// How a wait ended, short of a permanent error.
pub(crate) enum WatchEnd<K> {
    /// `done` returned true for these objects.
    Done(Objects<K>),
    /// The deadline passed; the objects last seen (`synced`: every kind was listed).
    TimedOut {
        objects: Objects<K>,
        synced: bool,
        last_error: Option<String>,
    },
    /// A kind's URL answered 404: its CRD is gone. Carries the resource's name.
    NotServed(String),
}

pub(crate) fn key<K: Resource>(obj: &K) -> String {
    match obj.namespace() {
        Some(ns) => format!("{ns}/{}", obj.name_any()),
        None => obj.name_any(),
    }
}

/// One source's watch events, with the source's index.
type Tagged<K> = BoxStream<'static, (usize, Result<watcher::Event<K>, watcher::Error>)>;

/// Where one source stands.
#[derive(Default)]
struct SourceState {
    /// Keys this source put in the map (so a re-list replaces them).
    keys: BTreeSet<String>,
    /// A list is in progress (its objects wait in `pending`).
    listing: bool,
    synced: bool,
    /// Answered 404 and stopped ([`Unserved::Empty`]).
    gone: bool,
}

/// Watches every source until `done` holds for the matching objects (checked after
/// every full list and every change, once all sources were listed) or the deadline
/// passes.
pub(crate) async fn watch_until<K, M, D>(
    env: &TaskEnv<'_>,
    sources: Vec<Source<K>>,
    unserved: Unserved,
    matches: M,
    mut done: D,
) -> Result<WatchEnd<K>, KubeError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    M: Fn(&K) -> bool,
    D: FnMut(&Objects<K>) -> bool,
{
    let names: Vec<(String, String)> = sources
        .iter()
        .map(|s| (s.resource.clone(), s.prefix.clone()))
        .collect();
    let streams: Vec<Tagged<K>> = sources
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            watcher(s.api, s.config.timeout(WATCH_SECONDS))
                .map(move |e| (i, e))
                .boxed()
        })
        .collect();
    let mut stream = stream::select_all(streams);
    let mut states: Vec<SourceState> = names.iter().map(|_| SourceState::default()).collect();
    let mut pending: Vec<BTreeMap<String, K>> = names.iter().map(|_| BTreeMap::new()).collect();
    let mut objects: Objects<K> = BTreeMap::new();
    let mut last_error = None;
    let mut backoff = Backoff::default();
    let mut retries = 0u32;
    let synced = |states: &[SourceState]| states.iter().all(|s| s.synced || s.gone);
    if names.is_empty() {
        return Ok(if done(&objects) {
            WatchEnd::Done(objects)
        } else {
            WatchEnd::TimedOut {
                objects,
                synced: true,
                last_error,
            }
        });
    }
    loop {
        let next = tokio::select! {
            biased;
            () = tokio::time::sleep_until(env.deadline) => {
                let synced = synced(&states);
                return Ok(WatchEnd::TimedOut { objects, synced, last_error });
            }
            next = stream.next() => next,
        };
        let Some((i, event)) = next else {
            // Every watcher never ends by itself; treat it as a dropped watch.
            return Err(KubeError::Client {
                verb: "watch",
                resource: names
                    .iter()
                    .map(|(r, _)| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                message: "the watch stream ended unexpectedly".into(),
            });
        };
        if states[i].gone {
            continue;
        }
        let (resource, prefix) = &names[i];
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                if retry::watch_source(&e).is_some_and(retry::is_404) {
                    // Discovery is out of date: the next task asks it again.
                    env.conn.kinds().forget().await;
                    match unserved {
                        Unserved::Ends => return Ok(WatchEnd::NotServed(resource.clone())),
                        Unserved::Empty => {
                            let state = &mut states[i];
                            state.gone = true;
                            state.listing = false;
                            for key in std::mem::take(&mut state.keys) {
                                objects.remove(&key);
                            }
                            pending[i].clear();
                            if synced(&states) && done(&objects) {
                                return Ok(WatchEnd::Done(objects));
                            }
                            continue;
                        }
                    }
                }
                let text = retry::describe_watch(&e);
                let Class::Transient { retry_after } = retry::classify_watch(&e) else {
                    return Err(match retry::watch_source(&e) {
                        Some(inner) => retry::fail("watch", resource, inner),
                        None => KubeError::Client {
                            verb: "watch",
                            resource: resource.clone(),
                            message: text,
                        },
                    });
                };
                let delay = backoff.next_delay(retry_after);
                retries += 1;
                env.detail(&retry::retry_detail(
                    retry::Failing::of_watch(&e),
                    retries,
                    delay,
                    &format!("watch {resource}: {text}"),
                ));
                last_error = Some(text);
                tokio::select! {
                    biased;
                    () = tokio::time::sleep_until(env.deadline) => {
                        let synced = synced(&states);
                        return Ok(WatchEnd::TimedOut { objects, synced, last_error });
                    }
                    () = tokio::time::sleep(delay) => {}
                }
                continue;
            }
        };
        backoff.reset();
        retries = 0;
        let state = &mut states[i];
        match event {
            watcher::Event::Init => {
                state.listing = true;
                pending[i].clear();
            }
            watcher::Event::InitApply(obj) => {
                if matches(&obj) {
                    pending[i].insert(format!("{prefix}{}", key(&obj)), obj);
                }
            }
            watcher::Event::InitDone => {
                for k in std::mem::take(&mut state.keys) {
                    objects.remove(&k);
                }
                state.listing = false;
                for (k, obj) in std::mem::take(&mut pending[i]) {
                    state.keys.insert(k.clone());
                    objects.insert(k, obj);
                }
                state.synced = true;
            }
            watcher::Event::Apply(obj) => {
                if matches(&obj) {
                    let k = format!("{prefix}{}", key(&obj));
                    state.keys.insert(k.clone());
                    objects.insert(k, obj);
                }
            }
            watcher::Event::Delete(obj) => {
                let k = format!("{prefix}{}", key(&obj));
                state.keys.remove(&k);
                objects.remove(&k);
            }
        }
        let listing = states.iter().any(|s| s.listing);
        if synced(&states) && !listing && done(&objects) {
            return Ok(WatchEnd::Done(objects));
        }
    }
}
