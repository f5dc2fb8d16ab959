//! The sandbox API server through kube-rs: discovery, CRUD, selectors, watch, lifecycles,
//! server-side apply, faults and the request log.

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::{self, Discovery, Scope};
use kube::runtime::wait::{Condition, await_condition};
use kube::runtime::{WatchStreamExt, conditions, watcher};
use kube::{Client, ResourceExt};
use planrun_sandbox::{Delay, FaultRule, Sandbox, Scenario};
use serde_json::json;

use crate::support::{self, DEADLINE, FLUX_CRDS, assert_all_served, start_sandbox};

fn fast() -> Scenario {
    support::fast(50)
}

async fn start(scenario: Scenario, seeds: &[&str]) -> (Sandbox, Client) {
    let sb = start_sandbox(scenario, seeds).await;
    let client = sb.client().await.unwrap();
    (sb, client)
}

/// Waits, at most [`DEADLINE`], until `cond` holds for the object `name` and returns it.
async fn wait_for<K>(api: &Api<K>, name: &str, cond: impl Condition<K>) -> Option<K>
where
    K: Clone + std::fmt::Debug + Send + serde::de::DeserializeOwned + kube::Resource + 'static,
{
    tokio::time::timeout(DEADLINE, await_condition(api.clone(), name, cond))
        .await
        .unwrap()
        .unwrap()
}

fn gvk(group: &str, version: &str, kind: &str) -> GroupVersionKind {
    GroupVersionKind::gvk(group, version, kind)
}

async fn dynamic_api(client: &Client, g: &GroupVersionKind, ns: &str) -> Api<DynamicObject> {
    let (ar, caps) = discovery::pinned_kind(client, g).await.unwrap();
    if caps.scope == Scope::Namespaced {
        Api::namespaced_with(client.clone(), ns, &ar)
    } else {
        Api::all_with(client.clone(), &ar)
    }
}

#[tokio::test]
async fn version_and_discovery_plain_and_aggregated() {
    let (sb, client) = start(fast(), &[]).await;
    let v = client.apiserver_version().await.unwrap();
    assert_eq!((v.major.as_str(), v.minor.as_str()), ("1", "33"));
    for d in [
        Discovery::new(client.clone()).run().await.unwrap(),
        Discovery::new(client.clone())
            .run_aggregated()
            .await
            .unwrap(),
    ] {
        let kinds: Vec<String> = d
            .groups()
            .flat_map(|g| g.recommended_resources())
            .map(|(ar, _)| format!("{}/{}", ar.api_version, ar.kind))
            .collect();
        for want in [
            "v1/Namespace",
            "v1/ConfigMap",
            "v1/Secret",
            "apps/v1/Deployment",
            "apiextensions.k8s.io/v1/CustomResourceDefinition",
        ] {
            assert!(
                kinds.contains(&want.to_owned()),
                "{want} missing from {kinds:?}"
            );
        }
    }
    assert_all_served(&sb);
    sb.shutdown().await;
}

#[tokio::test]
async fn namespace_crud_and_status_errors() {
    let (sb, client) = start(fast(), &[]).await;
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata":{"name":"team-a","labels":{"env":"test"}}}))
            .unwrap();
    let created = api.create(&PostParams::default(), &ns).await.unwrap();
    assert!(created.uid().is_some());
    assert!(created.creation_timestamp().is_some());
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    let err = api.create(&PostParams::default(), &ns).await.unwrap_err();
    let kube::Error::Api(s) = err else {
        panic!("{err}")
    };
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(s.message, "namespaces \"team-a\" already exists");
    let err = api.get("nope").await.unwrap_err();
    let kube::Error::Api(s) = err else {
        panic!("{err}")
    };
    assert!(s.is_not_found());
    assert_eq!(s.message, "namespaces \"nope\" not found");
    assert!(api.get_opt("nope").await.unwrap().is_none());

    let names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert_eq!(
        names,
        vec![
            "default",
            "kube-node-lease",
            "kube-public",
            "kube-system",
            "team-a"
        ]
    );
    let labelled = api
        .list(&ListParams::default().labels("env=test"))
        .await
        .unwrap();
    assert_eq!(labelled.items.len(), 1);
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=default"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    assert!(
        by_name
            .metadata
            .resource_version
            .is_some_and(|rv| !rv.is_empty())
    );

    // Delete: Terminating first, a second delete answers it as it is, then it goes away.
    let uid = created.metadata.uid.clone().unwrap();
    let deleted = api
        .delete("team-a", &DeleteParams::background())
        .await
        .unwrap();
    let left = deleted
        .left()
        .expect("namespaces answer a delete with the object");
    assert_eq!(left.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert!(left.metadata.deletion_timestamp.is_some());
    match api.delete("team-a", &DeleteParams::default()).await {
        // The finalizer may already have run on a slow machine.
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Ok(again) => {
            let again = again.left().expect("the namespace, still there");
            assert_eq!(again.status.unwrap().phase.as_deref(), Some("Terminating"));
        }
        other => panic!("unexpected {other:?}"),
    }
    wait_for(&api, "team-a", conditions::is_deleted(&uid)).await;
    assert_all_served(&sb);
    sb.shutdown().await;
}

#[tokio::test]
async fn configmaps_secrets_selectors_and_delete_collection() {
    let (sb, client) = start(fast(), &[]).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for (name, tier) in [("a", "web"), ("b", "web"), ("c", "db")] {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata":{"name":name,"labels":{"tier":tier}},"data":{"k":name}}),
        )
        .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items.iter().map(|c| c.name_any()).collect::<Vec<_>>()
    };
    let listed = async |lp: ListParams| names(cms.list(&lp).await.unwrap());
    assert_eq!(
        listed(ListParams::default().labels("tier=web")).await,
        ["a", "b"]
    );
    assert_eq!(
        listed(ListParams::default().labels("tier!=web")).await,
        ["c"]
    );
    assert_eq!(
        listed(ListParams::default().labels("tier in (db)")).await,
        ["c"]
    );
    assert_eq!(
        listed(ListParams::default().labels("!tier")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        listed(ListParams::default().fields("metadata.name!=a")).await,
        ["b", "c"]
    );
    // Pagination.
    let page = cms.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(names(page.clone()), ["a", "b"]);
    let token = page.metadata.continue_.clone().unwrap();
    assert_eq!(
        listed(ListParams::default().limit(2).continue_token(&token)).await,
        ["c"]
    );
    // An unsupported field label is a 400.
    let Err(kube::Error::Api(s)) = cms.list(&ListParams::default().fields("data.k=a")).await else {
        panic!()
    };
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"));
    // Object in a missing namespace.
    let other: Api<ConfigMap> = Api::namespaced(client.clone(), "missing");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata":{"name":"x"}})).unwrap();
    let Err(kube::Error::Api(s)) = other.create(&PostParams::default(), &cm).await else {
        panic!()
    };
    assert_eq!(
        (s.code, s.message.as_str()),
        (404, "namespaces \"missing\" not found")
    );

    // Secrets: stringData becomes base64 data.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let s: Secret =
        serde_json::from_value(json!({"metadata":{"name":"creds"},"stringData":{"token":"foo"}}))
            .unwrap();
    let s = secrets.create(&PostParams::default(), &s).await.unwrap();
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    assert_eq!(s.data.unwrap()["token"].0, b"foo");

    // Delete collection by label; delete of a configmap answers with a Status.
    let gone = cms
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("tier=web"),
        )
        .await
        .unwrap();
    assert_eq!(gone.left().unwrap().items.len(), 2);
    let r = cms.delete("c", &DeleteParams::default()).await.unwrap();
    assert!(r.is_right(), "a configmap delete answers a Status");
    assert!(
        cms.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_all_served(&sb);
    sb.shutdown().await;
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata":{"name":name},"data":{"k":name}})).unwrap()
}

async fn next_event<S>(s: &mut S) -> WatchEvent<ConfigMap>
where
    S: futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin,
{
    tokio::time::timeout(DEADLINE, s.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

fn added_name(e: &WatchEvent<ConfigMap>) -> String {
    match e {
        WatchEvent::Added(o) => o.name_any(),
        other => panic!("expected ADDED, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_replay_expired_bookmarks_timeout_and_initial_events() {
    let mut sc = fast();
    sc.bookmark_interval = Delay::millis(100);
    let (sb, client) = start(sc, &[]).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    let after_a = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    cms.create(&PostParams::default(), &cm("b")).await.unwrap();

    // resourceVersion "0": the current state as synthetic ADDED events.
    let mut from_zero = cms
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    assert_eq!(added_name(&next_event(&mut from_zero).await), "a");
    assert_eq!(added_name(&next_event(&mut from_zero).await), "b");

    // Replay after a resourceVersion, then live events in order.
    let mut replay = cms
        .watch(&WatchParams::default().disable_bookmarks(), &after_a)
        .await
        .unwrap()
        .boxed();
    assert_eq!(added_name(&next_event(&mut replay).await), "b");
    cms.create(&PostParams::default(), &cm("c")).await.unwrap();
    assert_eq!(added_name(&next_event(&mut replay).await), "c");
    cms.patch(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"data":{"k":"changed"}})),
    )
    .await
    .unwrap();
    let WatchEvent::Modified(m) = next_event(&mut replay).await else {
        panic!()
    };
    assert_eq!(m.data.unwrap()["k"], "changed");
    cms.delete("c", &DeleteParams::default()).await.unwrap();
    let WatchEvent::Deleted(d) = next_event(&mut replay).await else {
        panic!()
    };
    assert_eq!(d.name_any(), "c");

    // Bookmarks carry kind, apiVersion and a resourceVersion.
    loop {
        match next_event(&mut from_zero).await {
            WatchEvent::Bookmark(b) => {
                assert_eq!(
                    (b.types.kind.as_str(), b.types.api_version.as_str()),
                    ("ConfigMap", "v1")
                );
                assert!(!b.metadata.resource_version.is_empty());
                break;
            }
            WatchEvent::Error(e) => panic!("{e:?}"),
            _ => {}
        }
    }

    // timeoutSeconds ends the stream cleanly.
    let mut short = cms
        .watch(&WatchParams::default().timeout(1).disable_bookmarks(), "0")
        .await
        .unwrap()
        .boxed();
    let mut ended = false;
    for _ in 0..10 {
        match tokio::time::timeout(DEADLINE, short.next()).await.unwrap() {
            None => {
                ended = true;
                break;
            }
            Some(e) => {
                e.unwrap();
            }
        }
    }
    assert!(ended);

    // After a compaction, an old resourceVersion answers 410 Expired.
    sb.state().compact();
    let mut old = cms
        .watch(&WatchParams::default(), &after_a)
        .await
        .unwrap()
        .boxed();
    let WatchEvent::Error(e) = next_event(&mut old).await else {
        panic!()
    };
    assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));

    // sendInitialEvents: the state, then the initial-events-end bookmark.
    let mut streaming = cms
        .watch(&WatchParams::streaming_lists(), "")
        .await
        .unwrap()
        .boxed();
    assert_eq!(added_name(&next_event(&mut streaming).await), "a");
    assert_eq!(added_name(&next_event(&mut streaming).await), "b");
    let WatchEvent::Bookmark(b) = next_event(&mut streaming).await else {
        panic!()
    };
    assert_eq!(
        b.metadata
            .annotations
            .get("k8s.io/initial-events-end")
            .map(String::as_str),
        Some("true")
    );
    assert_all_served(&sb);
    sb.shutdown().await;
}

#[tokio::test]
async fn watcher_survives_410_and_a_dropped_stream() {
    let (sb, client) = start(fast(), &[]).await;
    let state = sb.state();
    state.add_fault(FaultRule {
        kind: Some("configmaps".into()),
        watch: Some(true),
        count: Some(1),
        expire_watch: true,
        ..Default::default()
    });
    state.add_fault(FaultRule {
        kind: Some("ConfigMap".into()),
        watch: Some(true),
        skip: 1,
        count: Some(1),
        drop_after_events: Some(1),
        ..Default::default()
    });
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut seen = watcher(cms.clone(), watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .boxed();
    let faulted_watches = || {
        state
            .requests()
            .iter()
            .filter(|r| r.watch && r.faulted)
            .count()
    };
    let mut i = 0;
    while i < 3 || faulted_watches() < 2 {
        i += 1;
        assert!(i < 30, "faults never fired: {:?}", state.requests());
        let name = format!("x{i}");
        cms.create(&PostParams::default(), &cm(&name))
            .await
            .unwrap();
        loop {
            // The watcher reports the 410 and the drop as errors, then recovers by itself.
            match tokio::time::timeout(DEADLINE, seen.next())
                .await
                .unwrap()
                .unwrap()
            {
                Ok(obj) if obj.name_any() == name => break,
                _ => {}
            }
        }
    }
    assert_all_served(&sb);
    sb.shutdown().await;
}

#[tokio::test]
async fn crds_serve_custom_resources_and_leave_discovery_when_deleted() {
    let (sb, client) = start(fast(), &[FLUX_CRDS]).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = "gitrepositories.source.toolkit.fluxcd.io";
    wait_for(&crds, name, conditions::is_crd_established()).await;
    let repos = dynamic_api(
        &client,
        &gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        "default",
    )
    .await;
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "flux-system"}, "spec": {"url": "https://example.com/repo", "interval": "1m"}})).unwrap();
    let created = repos.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    // Another served version reaches the same object.
    let beta = dynamic_api(
        &client,
        &gvk("source.toolkit.fluxcd.io", "v1beta2", "GitRepository"),
        "default",
    )
    .await;
    let got = beta.get("flux-system").await.unwrap();
    assert_eq!(
        got.types.unwrap().api_version,
        "source.toolkit.fluxcd.io/v1beta2"
    );
    // A custom resource with a finalizer holds the CRD in Terminating until it is released.
    let held: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "held", "finalizers": ["finalizers.fluxcd.io"]}, "spec": {}}))
    .unwrap();
    repos.create(&PostParams::default(), &held).await.unwrap();

    let live = crds.get(name).await.unwrap();
    // No finalizer until the delete adds the cleanup one (apiextensions-apiserver
    // v0.36.3 `pkg/registry/customresourcedefinition/etcd.go`, `REST.Delete`).
    assert_eq!(live.metadata.finalizers, None);
    let crd_uid = live.metadata.uid.unwrap();
    let deleted = crds
        .delete(name, &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert!(deleted.metadata.deletion_timestamp.is_some());
    assert_eq!(deleted.metadata.deletion_grace_period_seconds, None);
    assert_eq!(
        deleted.metadata.finalizers.as_deref(),
        Some(&["customresourcecleanup.apiextensions.k8s.io".to_owned()][..])
    );
    let terminating = deleted
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Terminating")
        .unwrap();
    assert_eq!(terminating.status, "True");
    // The plain object goes; the held one lingers with a deletionTimestamp.
    wait_for(
        &repos,
        "flux-system",
        conditions::is_deleted(created.metadata.uid.as_deref().unwrap()),
    )
    .await;
    let lingering = wait_for(&repos, "held", |o: Option<&DynamicObject>| {
        o.is_some_and(|o| o.metadata.deletion_timestamp.is_some())
    })
    .await;
    assert!(lingering.is_some());
    assert!(
        crds.get_opt(name).await.unwrap().is_some(),
        "the CRD waits for its custom resources"
    );
    sb.state()
        .remove_finalizer(
            "source.toolkit.fluxcd.io/v1",
            "GitRepository",
            "default",
            "held",
            "finalizers.fluxcd.io",
        )
        .unwrap();
    wait_for(&crds, name, conditions::is_deleted(&crd_uid)).await;

    // The kind left discovery and its URLs are gone.
    let d = Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    assert!(!d.has_group("source.toolkit.fluxcd.io"));
    assert!(d.has_group("kustomize.toolkit.fluxcd.io"));
    assert!(repos.list(&ListParams::default()).await.is_err());
    let log = sb.requests();
    let last = log.last().unwrap();
    assert_eq!((last.status, last.reason.as_deref()), (404, None));
    sb.shutdown().await;
}

#[tokio::test]
async fn finalizers_hold_objects_and_namespaces_and_stuck_namespaces_stay() {
    let mut sc = fast();
    sc.namespaces.insert(
        "stuck".into(),
        planrun_sandbox::NamespaceKnob {
            stuck: true,
            finalize_delay: None,
        },
    );
    let (sb, client) = start(sc, &["{apiVersion: v1, kind: Namespace, metadata: {name: app}}\n---\n{apiVersion: v1, kind: Namespace, metadata: {name: stuck}}"]).await;
    let state = sb.state();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "app");
    let mut held = cm("held");
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    cms.create(&PostParams::default(), &cm("plain"))
        .await
        .unwrap();
    let pending = cms
        .delete("held", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert!(
        cms.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    // New finalizers cannot be added while deleting.
    let Err(kube::Error::Api(s)) = cms
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata":{"finalizers":["example.com/hold","x/y"]}})),
        )
        .await
    else {
        panic!()
    };
    assert_eq!(s.code, 422);

    // Namespace deletion: contents go, the held object lingers, the namespace waits for it.
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns_uid = nss.get("app").await.unwrap().metadata.uid.unwrap();
    nss.delete("app", &DeleteParams::background())
        .await
        .unwrap();
    nss.delete("stuck", &DeleteParams::background())
        .await
        .unwrap();
    let plain_uid = cms.get("plain").await.map(|c| c.metadata.uid.unwrap());
    if let Ok(uid) = plain_uid {
        wait_for(&cms, "plain", conditions::is_deleted(&uid)).await;
    }
    let ns = nss.get("app").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    state
        .remove_finalizer("v1", "ConfigMap", "app", "held", "example.com/hold")
        .unwrap();
    wait_for(&nss, "app", conditions::is_deleted(&ns_uid)).await;
    // The stuck namespace was deleted first and is still Terminating.
    let stuck = nss.get("stuck").await.unwrap();
    assert_eq!(stuck.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert_eq!(stuck.spec.unwrap().finalizers.unwrap(), vec!["kubernetes"]);
    // Creating content in a Terminating namespace is forbidden.
    let in_stuck: Api<ConfigMap> = Api::namespaced(client.clone(), "stuck");
    let Err(kube::Error::Api(s)) = in_stuck.create(&PostParams::default(), &cm("x")).await else {
        panic!()
    };
    assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
    assert_all_served(&sb);
    sb.shutdown().await;
}

fn deployment(name: &str, replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]}}}
    })
}

#[tokio::test]
async fn deployments_get_a_status_that_becomes_ready() {
    let (sb, client) = start(fast(), &[]).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pp = PatchParams::apply("pulumi-kubernetes");
    let d = deploys
        .patch("web", &pp, &Patch::Apply(deployment("web", 2)))
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let done = wait_for(&deploys, "web", conditions::is_deployment_completed())
        .await
        .unwrap();
    let st = done.status.unwrap();
    assert_eq!(
        (
            st.observed_generation,
            st.replicas,
            st.ready_replicas,
            st.available_replicas,
            st.updated_replicas
        ),
        (Some(1), Some(2), Some(2), Some(2), Some(2))
    );
    let available = st
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Available")
        .unwrap();
    assert_eq!(available.status, "True");

    // A spec change bumps generation and rolls out again; a status write does not.
    let d = deploys
        .patch("web", &pp, &Patch::Apply(deployment("web", 3)))
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(2));
    let done = wait_for(&deploys, "web", |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref())
            .is_some_and(|s| s.observed_generation == Some(2) && s.available_replicas == Some(3))
    })
    .await
    .unwrap();
    assert_eq!(done.metadata.generation, Some(2));
    let managers: Vec<String> = done
        .managed_fields()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(managers.contains(&"pulumi-kubernetes".to_owned()));
    // Never-ready deployments stay unavailable.
    sb.state()
        .update_scenario(|s| s.deployment_ready_delay = Delay::Never);
    deploys
        .patch("stuck", &pp, &Patch::Apply(deployment("stuck", 1)))
        .await
        .unwrap();
    let st = wait_for(&deploys, "stuck", |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref())
            .is_some_and(|s| s.observed_generation == Some(1))
    })
    .await
    .unwrap()
    .status
    .unwrap();
    assert_eq!(
        (st.available_replicas, st.unavailable_replicas),
        (None, Some(1))
    );
    let r = deploys
        .delete("web", &DeleteParams::background())
        .await
        .unwrap();
    assert!(r.is_right(), "deployments answer a delete with a Status");
    // In foreground the deployment waits for its ReplicaSets and Pods: the answer is
    // the deployment, marked.
    let r = deploys
        .delete("stuck", &DeleteParams::foreground())
        .await
        .unwrap();
    let waiting = r.left().expect("the deployment, still there");
    assert!(waiting.metadata.deletion_timestamp.is_some());
    assert_eq!(
        waiting.metadata.finalizers.as_deref(),
        Some(&["foregroundDeletion".to_string()][..])
    );
    // Validation: a deployment without a selector is Invalid.
    let Err(kube::Error::Api(s)) = deploys.patch("bad", &pp, &Patch::Apply(json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"bad"},"spec":{}}))).await else { panic!() };
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert_all_served(&sb);
    sb.shutdown().await;
}

#[tokio::test]
async fn server_side_apply_managed_fields_merge_patch_dry_run_and_preconditions() {
    let legacy = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: legacy, namespace: default, labels: {owner: old}}\ndata: {k: old, keep: yes}\n";
    let (sb, client) = start(fast(), &[legacy]).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let seeded = cms.get("legacy").await.unwrap();
    assert_eq!(
        seeded.managed_fields()[0].manager.as_deref(),
        Some("kubectl-client-side-apply")
    );
    let applied = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"legacy"},"data":{"k":"new"}});
    let Err(kube::Error::Api(s)) = cms
        .patch(
            "legacy",
            &PatchParams::apply("pulumi-kubernetes"),
            &Patch::Apply(&applied),
        )
        .await
    else {
        panic!()
    };
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        s.message,
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.k"
    );
    let forced = cms
        .patch(
            "legacy",
            &PatchParams::apply("pulumi-kubernetes").force(),
            &Patch::Apply(&applied),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["k"], "new");
    let owners = |c: &ConfigMap| {
        c.managed_fields()
            .iter()
            .map(|m| (m.manager.clone().unwrap(), m.operation.clone().unwrap()))
            .collect::<Vec<_>>()
    };
    // Apply entries first, as the API server sorts them.
    assert_eq!(
        owners(&forced),
        vec![
            ("pulumi-kubernetes".into(), "Apply".into()),
            ("kubectl-client-side-apply".into(), "Update".into())
        ]
    );
    // Taking over every field removes the legacy manager.
    let all = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"legacy","labels":{"owner":"pulumi"}},"data":{"k":"new","keep":"yes"}});
    let taken = cms
        .patch(
            "legacy",
            &PatchParams::apply("pulumi-kubernetes").force(),
            &Patch::Apply(&all),
        )
        .await
        .unwrap();
    // data.keep was applied with the same value: ownership is shared; and the maps the
    // client-side apply created stay its own (`"."`): forcing moves conflicting fields
    // only, as a real API server does.
    assert_eq!(
        owners(&taken),
        vec![
            ("pulumi-kubernetes".into(), "Apply".into()),
            ("kubectl-client-side-apply".into(), "Update".into())
        ]
    );
    let legacy_fields = serde_json::to_value(&taken.managed_fields()[1].fields_v1).unwrap();
    assert_eq!(
        legacy_fields,
        json!({"f:data":{".":{},"f:keep":{}},"f:metadata":{"f:labels":{}}})
    );
    // Fields the manager stops applying are removed, unless another manager owns them too.
    let fewer = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"legacy"},"data":{"k":"new"}});
    let pruned = cms
        .patch(
            "legacy",
            &PatchParams::apply("pulumi-kubernetes"),
            &Patch::Apply(&fewer),
        )
        .await
        .unwrap();
    assert_eq!(
        pruned.data.clone().unwrap().keys().collect::<Vec<_>>(),
        ["k", "keep"]
    );
    assert!(pruned.metadata.labels.is_none_or(|l| l.is_empty()));
    // A merge patch records an Update by its manager.
    let mp = PatchParams {
        field_manager: Some("editor".into()),
        ..Default::default()
    };
    let edited = cms
        .patch("legacy", &mp, &Patch::Merge(json!({"data":{"extra":"1"}})))
        .await
        .unwrap();
    assert!(owners(&edited).contains(&("editor".into(), "Update".into())));
    // Dry runs change nothing.
    let rv = edited.metadata.resource_version.clone();
    let dry = cms.patch("legacy", &PatchParams::apply("pulumi-kubernetes").dry_run(), &Patch::Apply(json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"legacy"},"data":{"k":"dry"}}))).await.unwrap();
    assert_eq!(dry.data.unwrap()["k"], "dry");
    assert_eq!(
        cms.get("legacy").await.unwrap().metadata.resource_version,
        rv
    );
    cms.delete("legacy", &DeleteParams::default().dry_run())
        .await
        .unwrap();
    assert!(cms.get_opt("legacy").await.unwrap().is_some());
    // Preconditions.
    let wrong = DeleteParams::default().preconditions(kube::api::Preconditions {
        uid: Some("nope".into()),
        resource_version: None,
    });
    let Err(kube::Error::Api(s)) = cms.delete("legacy", &wrong).await else {
        panic!()
    };
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(
        s.message
            .contains("the UID in the precondition (nope) does not match the UID in record"),
        "{}",
        s.message
    );
    // Stale resourceVersion on replace.
    let mut stale = seeded.clone();
    stale.metadata.managed_fields = None;
    let Err(kube::Error::Api(s)) = cms.replace("legacy", &PostParams::default(), &stale).await
    else {
        panic!()
    };
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    // Apply creates, answering 201 with an Apply entry.
    let fresh = cms.patch("fresh", &PatchParams::apply("pulumi-kubernetes"), &Patch::Apply(json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"fresh"},"data":{"a":"b"}}))).await.unwrap();
    assert_eq!(
        owners(&fresh),
        vec![("pulumi-kubernetes".into(), "Apply".into())]
    );
    assert_all_served(&sb);
    sb.shutdown().await;
}

#[tokio::test]
async fn scenario_conditions_make_custom_resources_ready() {
    let scenario = Scenario::from_yaml(
        r#"
conditions:
  - kind: GitRepository
    message: stored artifact for revision 'main@sha1:0123'
    after: 50ms
    manager: source-controller
  - kind: Kustomization
    namespace: flux-system
    reason: ReconciliationSucceeded
    message: "Applied revision: main@sha1:0123"
"#,
        std::path::Path::new("."),
    )
    .unwrap();
    let (sb, client) = start(
        scenario,
        &[
            FLUX_CRDS,
            "{apiVersion: v1, kind: Namespace, metadata: {name: flux-system}}",
        ],
    )
    .await;
    for (g, k, name) in [
        ("source.toolkit.fluxcd.io", "GitRepository", "flux-system"),
        (
            "kustomize.toolkit.fluxcd.io",
            "Kustomization",
            "flux-system",
        ),
    ] {
        let api = dynamic_api(&client, &gvk(g, "v1", k), "flux-system").await;
        let obj = json!({"apiVersion": format!("{g}/v1"), "kind": k, "metadata": {"name": name}, "spec": {"interval": "10m"}});
        api.patch(
            name,
            &PatchParams::apply("pulumi-kubernetes"),
            &Patch::Apply(obj),
        )
        .await
        .unwrap();
        let ready = wait_for(&api, name, |o: Option<&DynamicObject>| {
            o.and_then(|o| o.data["status"]["conditions"].as_array().cloned())
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        })
        .await
        .unwrap();
        assert_eq!(ready.data["status"]["observedGeneration"], 1);
    }
    // A test can flip a condition directly.
    sb.state()
        .set_condition(
            "source.toolkit.fluxcd.io/v1",
            "GitRepository",
            "flux-system",
            "flux-system",
            "Ready",
            "False",
            "GitOperationFailed",
            "auth failed",
        )
        .unwrap();
    let repos = dynamic_api(
        &client,
        &gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        "flux-system",
    )
    .await;
    let got = repos.get("flux-system").await.unwrap();
    assert_eq!(
        got.data["status"]["conditions"][0]["reason"],
        "GitOperationFailed"
    );
    assert_all_served(&sb);
    sb.shutdown().await;
}

#[tokio::test]
async fn injected_faults_and_the_request_log() {
    let (sb, client) = start(fast(), &[]).await;
    let state = sb.state();
    state.add_fault(FaultRule {
        path: Some("^/api/v1/namespaces$".into()),
        watch: Some(false),
        count: Some(1),
        status: Some(503),
        ..Default::default()
    });
    state.add_fault(FaultRule {
        kind: Some("ConfigMap".into()),
        method: Some("POST".into()),
        count: Some(1),
        status: Some(429),
        retry_after: Some(1),
        ..Default::default()
    });
    state.add_fault(FaultRule {
        kind: Some("secrets".into()),
        count: Some(1),
        status: Some(500),
        latency: Some(Delay::millis(20)),
        ..Default::default()
    });
    // kube 5 retries 429/503/504 by itself: one 503 is invisible to the caller.
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.list(&ListParams::default()).await.unwrap();
    let mut config = kube::Config::new(sb.url().parse().unwrap());
    config.default_retry = false;
    let client = Client::try_from(config).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let Err(kube::Error::Api(s)) = cms.create(&PostParams::default(), &cm("a")).await else {
        panic!()
    };
    assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));
    assert_eq!(s.details.unwrap().retry_after_seconds, 1);
    cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let Err(kube::Error::Api(s)) = secrets.get("x").await else {
        panic!()
    };
    assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"));
    let Err(kube::Error::Api(s)) = secrets.get("x").await else {
        panic!()
    };
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));

    let log = sb.requests();
    let summary: Vec<(String, String, u16, bool)> = log
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.status, r.faulted))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("GET".into(), "/api/v1/namespaces".into(), 503, true),
            ("GET".into(), "/api/v1/namespaces".into(), 200, false),
            (
                "POST".into(),
                "/api/v1/namespaces/default/configmaps".into(),
                429,
                true
            ),
            (
                "POST".into(),
                "/api/v1/namespaces/default/configmaps".into(),
                201,
                false
            ),
            (
                "GET".into(),
                "/api/v1/namespaces/default/secrets/x".into(),
                500,
                true
            ),
            (
                "GET".into(),
                "/api/v1/namespaces/default/secrets/x".into(),
                404,
                false
            ),
        ]
    );
    assert_eq!(log[5].reason.as_deref(), Some("NotFound"));
    sb.shutdown().await;
}

#[tokio::test]
async fn kubeconfig_is_accepted_by_kube() {
    let (sb, _) = start(fast(), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    sb.write_kubeconfig(&path, "sandbox-test").unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("sandbox-test"));
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
    let client = Client::try_from(config).unwrap();
    let nss: Api<Namespace> = Api::all(client);
    assert!(nss.get_opt("default").await.unwrap().is_some());
    sb.shutdown().await;
}

#[tokio::test]
async fn apply_creates_fully_defaulted_objects() {
    let (sb, client) = start(fast(), &[]).await;
    let nss: Api<Namespace> = Api::all(client.clone());
    let pp = PatchParams::apply("pulumi-kubernetes");
    let ns = nss
        .patch(
            "applied",
            &pp,
            &Patch::Apply(
                json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"applied"}}),
            ),
        )
        .await
        .unwrap();
    assert!(ns.metadata.uid.is_some() && ns.metadata.creation_timestamp.is_some());
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Active"));
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: serde_json::Value =
        serde_yaml::from_str(FLUX_CRDS.split("---").nth(1).unwrap()).unwrap();
    let name = crd["metadata"]["name"].as_str().unwrap().to_owned();
    crds.patch(&name, &pp, &Patch::Apply(crd)).await.unwrap();
    wait_for(&crds, &name, conditions::is_crd_established()).await;
    assert_all_served(&sb);
    sb.shutdown().await;
}

#[tokio::test]
async fn the_example_scenario_rehearses_an_old_flux_install() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sandbox-scenario.yaml");
    let mut scenario = Scenario::load(&path).unwrap();
    // Same behaviour, shorter waits.
    scenario.namespaces.clear();
    scenario.namespace_finalize_delay = Delay::millis(50);
    scenario.finalizer_clear_delay = Delay::millis(50);
    scenario.deployment_ready_delay = Delay::millis(50);
    for c in &mut scenario.conditions {
        c.after = Delay::millis(50);
    }
    let (sb, client) = start(scenario, &[]).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "flux-system");
    for name in [
        "source-controller",
        "kustomize-controller",
        "helm-controller",
    ] {
        wait_for(&deploys, name, conditions::is_deployment_completed()).await;
    }
    let ks = dynamic_api(
        &client,
        &gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
        "flux-system",
    )
    .await;
    wait_for(&ks, "flux-system", |o: Option<&DynamicObject>| {
        o.is_some_and(|o| o.data["status"]["conditions"][0]["status"] == "True")
    })
    .await;
    let secret: Secret = Api::namespaced(client.clone(), "flux-system")
        .get("flux-system")
        .await
        .unwrap();
    assert!(
        secret.data.unwrap()["identity"]
            .0
            .starts_with(b"-----BEGIN")
    );
    // Deleting the namespace: the Flux objects' finalizers are cleared by the simulated
    // controllers, then the namespace goes.
    let nss: Api<Namespace> = Api::all(client.clone());
    let uid = nss.get("flux-system").await.unwrap().metadata.uid.unwrap();
    nss.delete("flux-system", &DeleteParams::background())
        .await
        .unwrap();
    wait_for(&nss, "flux-system", conditions::is_deleted(&uid)).await;
    assert!(
        ks.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // The one injected 503 was retried by kube on its own.
    assert!(sb.requests().iter().any(|r| r.status == 503 && r.faulted));
    sb.shutdown().await;
}

#[tokio::test]
async fn the_sandbox_command_writes_a_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/kubeconfig");
    let args = planrun_sandbox::SandboxArgs {
        port: 0,
        seeds: vec![
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sandbox-old-flux.yaml"),
        ],
        scenario: None,
        kubeconfig: Some(path.clone()),
        context: "rehearsal".into(),
    };
    let started = planrun_sandbox::start_from_args(&args).await.unwrap();
    let sb = started.sandbox;
    assert_eq!(started.kubeconfig, path);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("rehearsal"));
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
    let client = Client::try_from(config).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    assert_eq!(
        crds.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );
    sb.shutdown().await;
}

/// Issue 14, break 11: without `--kubeconfig`, the kubeconfig goes to a fresh
/// private directory (not a predictable path a link could be planted at), removed
/// with the sandbox; with it, a link planted there is replaced, not followed.
#[tokio::test]
async fn the_sandbox_kubeconfig_is_private_and_never_written_through_a_link() {
    let args = planrun_sandbox::SandboxArgs {
        port: 0,
        seeds: vec![],
        scenario: None,
        kubeconfig: None,
        context: "c".into(),
    };
    let first = planrun_sandbox::start_from_args(&args).await.unwrap();
    let second = planrun_sandbox::start_from_args(&args).await.unwrap();
    assert_ne!(first.kubeconfig, second.kubeconfig, "fresh each time");
    let dir = first.kubeconfig.parent().unwrap().to_path_buf();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dir).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
    first.sandbox.shutdown().await;
    drop(first.scratch);
    assert!(!dir.exists(), "removed with the sandbox");
    second.sandbox.shutdown().await;

    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    std::fs::write(&target, "keep").unwrap();
    let link = tmp.path().join("kubeconfig");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let args = planrun_sandbox::SandboxArgs {
        kubeconfig: Some(link.clone()),
        ..args
    };
    let third = planrun_sandbox::start_from_args(&args).await.unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    assert!(
        !std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    third.sandbox.shutdown().await;
}

/// Issue 14, break 9: a reaction fires in the store transaction of the write that
/// brings its object into its state, before that write is answered: the next read,
/// whatever the timing, already sees it. Twenty fresh sandboxes, twenty times the
/// same outcome (what `--fault csa-manager` relies on; one rehearsal of the fault is
/// in the rehearsal tests).
#[tokio::test]
async fn a_reaction_fires_before_the_write_that_triggers_it_is_answered() {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/rehearsal/faults/helmreleases-crd-kubectl-apply.yaml");
    let crd_name = "helmreleases.helm.toolkit.fluxcd.io";
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": crd_name},
        "spec": {
            "group": "helm.toolkit.fluxcd.io",
            "scope": "Namespaced",
            "names": {"kind": "HelmRelease", "plural": "helmreleases", "singular": "helmrelease", "listKind": "HelmReleaseList"},
            "versions": [{"name": "v2", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    });
    for round in 0..20 {
        let (sb, client) = start(fast(), &[]).await;
        let reaction: planrun_sandbox::Reaction = serde_yaml::from_str(&format!(
            "when: {{api_version: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, name: {crd_name}, manager: '^pulumi-kubernetes'}}\napply: {}\nsay: stray kubectl apply",
            manifest.display()
        ))
        .unwrap();
        let mut said = sb.state().arm_reactions(vec![reaction]).unwrap();
        let crds: Api<CustomResourceDefinition> = Api::all(client);
        // As Pulumi does: server-side apply under its manager.
        crds.patch(
            crd_name,
            &PatchParams::apply("pulumi-kubernetes-4f1c2a90"),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
        let managers: Vec<String> = crds
            .get(crd_name)
            .await
            .unwrap()
            .managed_fields()
            .iter()
            .filter_map(|m| m.manager.clone())
            .collect();
        assert!(
            managers.iter().any(|m| m == "kubectl-client-side-apply"),
            "round {round}: {managers:?}"
        );
        assert_eq!(
            said.try_recv().unwrap(),
            format!("stray kubectl apply (CustomResourceDefinition {crd_name})")
        );
        sb.shutdown().await;
    }
}
