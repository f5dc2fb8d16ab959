//! The sandbox's controllers: Deployments run ReplicaSets and Pods (Ready after the
//! rollout delay; a deleted pod Terminating, then gone); the garbage collector
//! follows owner references (background, foreground, orphan); and the simulated
//! kustomize-controller and helm-controller act on deleted Flux objects only while
//! a pod of theirs runs.

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use planrun_sandbox::{Delay, FluxControllers, Sandbox, SandboxState, Scenario};
use serde_json::{Value, json};

use crate::support::{DEADLINE, FLUX_CRDS, start_sandbox};

/// Waits, change after change of the sandbox (at most [`DEADLINE`]), until `cond`
/// holds; returns what it saw.
async fn until<T>(state: &SandboxState, what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let mut changes = state.changes();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        match tokio::time::timeout_at(deadline, changes.next()).await {
            Ok(true) => {}
            _ => panic!("timed out waiting for {what}"),
        }
    }
}

/// Waits until the object `(api_version, kind, namespace, name)` is gone.
async fn until_gone(
    state: &SandboxState,
    what: &str,
    (api_version, kind, ns, name): (&str, &str, &str, &str),
) {
    until(state, what, || {
        state
            .get(api_version, kind, ns, name)
            .is_none()
            .then_some(())
    })
    .await;
}

/// Waits until the simulated kustomize-controller notes that it is not there to
/// finalize the deleted Kustomization `flux-system/apps`. The activity log is no
/// object: this polls it, with a deadline.
async fn until_noted_held(state: &SandboxState) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !state.activity().iter().any(|a| {
        a.text.starts_with(
            "Kustomization flux-system/apps is being deleted but kustomize-controller is not running",
        )
    }) {
        assert!(tokio::time::Instant::now() < deadline, "no note: {:?}", state.activity());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn names(objects: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = objects
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

fn pods(state: &SandboxState, ns: &str) -> Vec<Value> {
    state.list("v1", "Pod", Some(ns))
}

fn deleting(o: &Value) -> bool {
    o["metadata"].get("deletionTimestamp").is_some()
}

fn ready(o: &Value) -> bool {
    o["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn scenario() -> Scenario {
    Scenario {
        deployment_ready_delay: Delay::millis(300),
        pod_termination_delay: Delay::millis(300),
        namespace_finalize_delay: Delay::millis(200),
        crd_finalize_delay: Delay::millis(100),
        ..Scenario::default()
    }
}

/// A sandbox with the namespace `web`; its state, a client, and web's Deployments.
async fn web() -> (
    Sandbox,
    SandboxState,
    kube::Client,
    Api<k8s_openapi::api::apps::v1::Deployment>,
) {
    let sb = start_sandbox(
        scenario(),
        &["{apiVersion: v1, kind: Namespace, metadata: {name: web}}"],
    )
    .await;
    let state = sb.state();
    let client = sb.client().await.unwrap();
    let api = Api::namespaced(client.clone(), "web");
    (sb, state, client, api)
}

fn deployment(ns: &str, name: &str, image: &str, replicas: i64) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}, app.kubernetes.io/part-of: flux}}}}\n    spec: {{containers: [{{name: manager, image: '{image}'}}]}}\n"
    )
}

/// A Deployment whose pods run as a ServiceAccount that does not exist gets none: the
/// API server refuses them, and the refusal stands on the ReplicaSet and the
/// Deployment as `ReplicaFailure`, with the words the real control plane writes
/// (`realcluster` shows them); once the account exists, the pods come.
#[tokio::test]
async fn pods_wait_for_their_service_account() {
    let (sb, state, client, api) = web().await;
    let manifest: Value = serde_yaml::from_str(&deployment("web", "app", "nginx:1.27", 1).replace(
        "spec: {containers:",
        "spec: {serviceAccountName: app, containers:",
    ))
    .unwrap();
    api.patch("app", &PatchParams::apply("test"), &Patch::Apply(&manifest))
        .await
        .unwrap();
    assert!(pods(&state, "web").is_empty());
    let rs = state.list("apps/v1", "ReplicaSet", Some("web"));
    let rs_name = rs[0]["metadata"]["name"].as_str().unwrap().to_owned();
    let failure = |obj: &Value| {
        obj["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "ReplicaFailure").cloned())
    };
    let expected = format!(
        "pods \"{rs_name}-\" is forbidden: error looking up service account web/app: serviceaccount \"app\" not found"
    );
    for obj in [
        rs[0].clone(),
        state.get("apps/v1", "Deployment", "web", "app").unwrap(),
    ] {
        let c = failure(&obj).expect("a ReplicaFailure condition");
        assert_eq!(
            (&c["status"], &c["reason"], c["message"].as_str()),
            (
                &json!("True"),
                &json!("FailedCreate"),
                Some(expected.as_str())
            ),
            "{obj:#}"
        );
    }
    // The account comes: the replicaset controller's next try creates the pod, and
    // the failure goes.
    create_account(client.clone()).await;
    until(&state, "the pod created and the failure gone", || {
        let d = state.get("apps/v1", "Deployment", "web", "app")?;
        (pods(&state, "web").len() == 1 && failure(&d).is_none()).then_some(())
    })
    .await;
    sb.shutdown().await;
}

/// The ServiceAccount `web/app` the pods of these tests name.
async fn create_account(client: kube::Client) {
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client, "web");
    accounts
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": "app"}})).unwrap(),
        )
        .await
        .unwrap();
}

/// A ReplicaSet saved while its pods were refused (a rehearsal's saved cluster,
/// restored on resume) tries again once seeded: the timers of its retries were not
/// saved with it.
#[tokio::test]
async fn a_replica_set_saved_with_its_pods_refused_tries_again() {
    let sb = start_sandbox(
        scenario(),
        &[
            "{apiVersion: v1, kind: Namespace, metadata: {name: web}}",
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: app-1, namespace: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: app}}\n  template:\n    metadata: {labels: {app: app}}\n    spec: {serviceAccountName: app, containers: [{name: manager, image: 'nginx:1.27'}]}\nstatus:\n  replicas: 0\n  conditions: [{type: ReplicaFailure, status: 'True', reason: FailedCreate, message: refused}]\n",
        ],
    )
    .await;
    let state = sb.state();
    assert!(pods(&state, "web").is_empty());
    create_account(sb.client().await.unwrap()).await;
    until(&state, "the pod created", || {
        (pods(&state, "web").len() == 1).then_some(())
    })
    .await;
    sb.shutdown().await;
}

#[tokio::test]
async fn a_deployment_runs_its_pods_and_they_go_with_it() {
    let (sb, state, _, api) = web().await;
    let manifest: Value = serde_yaml::from_str(&deployment("web", "app", "nginx:1.27", 2)).unwrap();
    api.patch("app", &PatchParams::apply("test"), &Patch::Apply(&manifest))
        .await
        .unwrap();
    // One ReplicaSet, two pods with the template's labels, owned by it; Pending first.
    let rs = state.list("apps/v1", "ReplicaSet", Some("web"));
    assert_eq!(rs.len(), 1);
    let rs_name = rs[0]["metadata"]["name"].as_str().unwrap().to_owned();
    assert!(rs_name.starts_with("app-"), "{rs_name}");
    assert_eq!(
        rs[0]["metadata"]["ownerReferences"][0]["kind"],
        "Deployment"
    );
    let first = pods(&state, "web");
    assert_eq!(first.len(), 2);
    for p in &first {
        assert_eq!(p["metadata"]["labels"]["app"], "app");
        assert_eq!(
            p["metadata"]["ownerReferences"][0]["name"],
            rs_name.as_str()
        );
        assert_eq!(
            p["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
            true
        );
        assert!(!ready(p), "Pending at first");
    }
    until(&state, "pods Ready and the deployment available", || {
        let d = state.get("apps/v1", "Deployment", "web", "app")?;
        (pods(&state, "web").iter().all(ready) && d["status"]["readyReplicas"] == 2).then_some(())
    })
    .await;
    // A deleted pod terminates and is replaced.
    let victim = first[0]["metadata"]["name"].as_str().unwrap().to_owned();
    state.delete("v1", "Pod", "web", &victim).unwrap();
    let terminating = state.get("v1", "Pod", "web", &victim).unwrap();
    assert!(deleting(&terminating), "Terminating, not gone at once");
    until(&state, "a replacement pod", || {
        (pods(&state, "web").iter().filter(|p| !deleting(p)).count() == 2).then_some(())
    })
    .await;
    until_gone(
        &state,
        "the deleted pod gone",
        ("v1", "Pod", "web", &victim),
    )
    .await;
    // Scaled to 0: its pods terminate, then go.
    let zero: Value = serde_yaml::from_str(&deployment("web", "app", "nginx:1.27", 0)).unwrap();
    api.patch("app", &PatchParams::apply("test"), &Patch::Apply(&zero))
        .await
        .unwrap();
    assert!(pods(&state, "web").iter().all(deleting));
    until(&state, "no pod left", || {
        pods(&state, "web").is_empty().then_some(())
    })
    .await;
    // Deleted (background, as kubectl does): ReplicaSet and pods go with it.
    let one: Value = serde_yaml::from_str(&deployment("web", "app", "nginx:1.27", 1)).unwrap();
    api.patch("app", &PatchParams::apply("test"), &Patch::Apply(&one))
        .await
        .unwrap();
    api.delete("app", &DeleteParams::background())
        .await
        .unwrap();
    assert!(state.get("apps/v1", "Deployment", "web", "app").is_none());
    until(&state, "ReplicaSet gone, pod terminating", || {
        let rs = state.list("apps/v1", "ReplicaSet", Some("web"));
        let p = pods(&state, "web");
        (rs.is_empty() && (p.is_empty() || p.iter().all(deleting))).then_some(())
    })
    .await;
    until(&state, "pods gone", || {
        pods(&state, "web").is_empty().then_some(())
    })
    .await;
    sb.shutdown().await;
}

#[tokio::test]
async fn foreground_waits_for_the_pods_and_orphan_keeps_them() {
    let sb = start_sandbox(
        scenario(),
        &[
            "{apiVersion: v1, kind: Namespace, metadata: {name: web}}",
            &deployment("web", "fg", "nginx:1.27", 1),
            &deployment("web", "orphan", "nginx:1.27", 1),
        ],
    )
    .await;
    let state = sb.state();
    // Seeded workloads have been running: Ready at once.
    assert!(
        pods(&state, "web").iter().all(ready),
        "{:?}",
        pods(&state, "web")
    );
    let client = sb.client().await.unwrap();
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client, "web");
    api.delete("fg", &DeleteParams::foreground()).await.unwrap();
    let waiting = until(&state, "the fg pod terminating", || {
        let d = state.get("apps/v1", "Deployment", "web", "fg")?;
        let p = pods(&state, "web");
        p.iter()
            .any(|p| deleting(p) && p["metadata"]["name"].as_str().unwrap().starts_with("fg-"))
            .then_some(d)
    })
    .await;
    assert!(deleting(&waiting), "the deployment waits for its pods");
    until_gone(&state, "fg gone", ("apps/v1", "Deployment", "web", "fg")).await;
    assert!(
        pods(&state, "web")
            .iter()
            .all(|p| !p["metadata"]["name"].as_str().unwrap().starts_with("fg-"))
    );
    api.delete("orphan", &DeleteParams::orphan()).await.unwrap();
    until_gone(
        &state,
        "orphan gone",
        ("apps/v1", "Deployment", "web", "orphan"),
    )
    .await;
    let rs = state.list("apps/v1", "ReplicaSet", Some("web"));
    assert_eq!(names(&rs).len(), 1, "the orphaned ReplicaSet stays");
    assert!(rs[0]["metadata"].get("ownerReferences").is_none());
    assert_eq!(pods(&state, "web").len(), 1, "and keeps its pod");
    sb.shutdown().await;
}

const FLUX_NS: &str = "{apiVersion: v1, kind: Namespace, metadata: {name: flux-system}}";
const APPS: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: apps}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: apps
  labels: {kustomize.toolkit.fluxcd.io/name: apps, kustomize.toolkit.fluxcd.io/namespace: flux-system}
spec:
  replicas: 1
  selector: {matchLabels: {app: podinfo}}
  template:
    metadata: {labels: {app: podinfo}}
    spec: {containers: [{name: podinfo, image: 'ghcr.io/stefanprodan/podinfo:6.7.0'}]}
---
apiVersion: v1
kind: Service
metadata:
  name: podinfo
  namespace: apps
  labels: {kustomize.toolkit.fluxcd.io/name: apps, kustomize.toolkit.fluxcd.io/namespace: flux-system}
spec: {ports: [{port: 9898}], selector: {app: podinfo}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: keep-me
  namespace: apps
  labels: {kustomize.toolkit.fluxcd.io/name: apps, kustomize.toolkit.fluxcd.io/namespace: flux-system, kustomize.toolkit.fluxcd.io/prune: disabled}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system, finalizers: [finalizers.fluxcd.io]}
spec: {path: ./apps, prune: true, interval: 10m}
status:
  inventory:
    entries:
    - {id: apps_podinfo_apps_Deployment, v: v1}
    - {id: apps_podinfo__Service, v: v1}
    - {id: apps_keep-me__ConfigMap, v: v1}
";

fn flux_scenario() -> Scenario {
    Scenario {
        controllers: FluxControllers {
            kustomize: Some("flux-system/kustomize-controller".into()),
            helm: Some("flux-system/helm-controller".into()),
            source: None,
            delay: Delay::millis(50),
        },
        ..scenario()
    }
}

async fn flux_world() -> Sandbox {
    start_sandbox(
        flux_scenario(),
        &[
            FLUX_CRDS,
            FLUX_NS,
            &deployment(
                "flux-system",
                "kustomize-controller",
                "ghcr.io/fluxcd/kustomize-controller:v1.4.0",
                1,
            ),
            APPS,
        ],
    )
    .await
}

/// kustomize-controller v1.7.0 `finalizerShouldDeleteResources`: nothing is pruned
/// when the deletion policy keeps the inventory (MirrorPrune with `prune: false`)
/// or the inventory is empty; the finalizer goes all the same, and the log says why.
#[tokio::test]
async fn a_kustomization_that_keeps_its_inventory_is_finalized_without_pruning() {
    let sb = flux_world().await;
    let state = sb.state();
    state
        .apply_yaml(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n\
             metadata: {name: apps, namespace: flux-system, finalizers: [finalizers.fluxcd.io]}\n\
             spec: {path: ./apps, prune: false, interval: 10m}\n\
             status: {inventory: {entries: [{id: apps_podinfo_apps_Deployment, v: v1}]}}\n\
             ---\n\
             apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n\
             metadata: {name: empty, namespace: flux-system, finalizers: [finalizers.fluxcd.io]}\n\
             spec: {path: ./empty, prune: true, interval: 10m}\n",
        )
        .unwrap();
    for name in ["apps", "empty"] {
        state
            .delete(
                "kustomize.toolkit.fluxcd.io/v1",
                "Kustomization",
                "flux-system",
                name,
            )
            .unwrap();
    }
    until(&state, "both Kustomizations finalized", || {
        state
            .list(
                "kustomize.toolkit.fluxcd.io/v1",
                "Kustomization",
                Some("flux-system"),
            )
            .is_empty()
            .then_some(())
    })
    .await;
    assert!(
        state
            .get("apps/v1", "Deployment", "apps", "podinfo")
            .is_some(),
        "prune: false keeps the inventory"
    );
    let mut activity: Vec<String> = state.activity().into_iter().map(|a| a.text).collect();
    activity.sort();
    assert_eq!(
        activity,
        vec![
            "kustomize-controller removed finalizers.fluxcd.io from Kustomization flux-system/apps without pruning: its deletion policy keeps the inventory (Kustomization flux-system/apps deleted, prune: false)",
            "kustomize-controller removed finalizers.fluxcd.io from Kustomization flux-system/empty without pruning: its inventory is empty (Kustomization flux-system/empty deleted, prune: true)",
        ]
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn a_running_kustomize_controller_prunes_the_inventory_of_a_deleted_kustomization() {
    let sb = flux_world().await;
    let state = sb.state();
    state
        .delete(
            "kustomize.toolkit.fluxcd.io/v1",
            "Kustomization",
            "flux-system",
            "apps",
        )
        .unwrap();
    until_gone(
        &state,
        "the Kustomization finalized",
        (
            "kustomize.toolkit.fluxcd.io/v1",
            "Kustomization",
            "flux-system",
            "apps",
        ),
    )
    .await;
    assert!(
        state
            .get("apps/v1", "Deployment", "apps", "podinfo")
            .is_none()
    );
    assert!(state.get("v1", "Service", "apps", "podinfo").is_none());
    assert!(
        state.get("v1", "ConfigMap", "apps", "keep-me").is_some(),
        "prune: disabled is kept"
    );
    let activity: Vec<String> = state.activity().into_iter().map(|a| a.text).collect();
    assert_eq!(
        activity,
        vec![
            "kustomize-controller pruned apps/Deployment/podinfo, apps/Service/podinfo (Kustomization flux-system/apps deleted, prune: true)"
        ]
    );
    sb.shutdown().await;
}

/// Deleting the controller's own namespace while it runs: its Pod goes first, so it
/// prunes nothing and the Kustomization hangs with its finalizer, as on the real
/// control plane with the real controller
/// (`flux_controllers_real::deleting_flux_system_stops_the_controller_before_its_objects_and_hangs`).
#[tokio::test]
async fn deleting_the_namespace_of_a_live_controller_stops_it_before_it_prunes() {
    let sb = flux_world().await;
    let state = sb.state();
    state.delete("v1", "Namespace", "", "flux-system").unwrap();
    let held = until(&state, "the Kustomization deleted", || {
        let ks = state.get(
            "kustomize.toolkit.fluxcd.io/v1",
            "Kustomization",
            "flux-system",
            "apps",
        )?;
        deleting(&ks).then_some(ks)
    })
    .await;
    assert_eq!(held["metadata"]["finalizers"][0], "finalizers.fluxcd.io");
    until_noted_held(&state).await;
    assert!(
        !state.activity().iter().any(|a| a.text.contains("pruned")),
        "{:?}",
        state.activity()
    );
    for (api_version, kind, name) in [
        ("apps/v1", "Deployment", "podinfo"),
        ("v1", "Service", "podinfo"),
    ] {
        assert!(
            state.get(api_version, kind, "apps", name).is_some(),
            "{kind}/{name}"
        );
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn without_a_running_controller_the_finalizer_stays_and_the_namespace_hangs() {
    let sb = flux_world().await;
    let state = sb.state();
    // Stop the controller first: its pod terminates, then goes.
    state
        .delete(
            "apps/v1",
            "Deployment",
            "flux-system",
            "kustomize-controller",
        )
        .unwrap();
    until(&state, "the controller's pod gone", || {
        pods(&state, "flux-system").is_empty().then_some(())
    })
    .await;
    state.delete("v1", "Namespace", "", "flux-system").unwrap();
    let hanging = until(&state, "the namespace finalizing", || {
        let ns = state.get("v1", "Namespace", "", "flux-system")?;
        let ks = state.get(
            "kustomize.toolkit.fluxcd.io/v1",
            "Kustomization",
            "flux-system",
            "apps",
        )?;
        (deleting(&ks) && ns["status"]["phase"] == "Terminating").then_some(ks)
    })
    .await;
    assert_eq!(hanging["metadata"]["finalizers"][0], "finalizers.fluxcd.io");
    // Nothing was pruned, and the rehearsal can say why.
    until_noted_held(&state).await;
    assert!(
        state
            .get("apps/v1", "Deployment", "apps", "podinfo")
            .is_some()
    );
    assert!(
        state.get("v1", "Namespace", "", "flux-system").is_some(),
        "hangs in Terminating"
    );
    // Removing the finalizer lets everything go.
    state
        .remove_finalizer(
            "kustomize.toolkit.fluxcd.io/v1",
            "Kustomization",
            "flux-system",
            "apps",
            "finalizers.fluxcd.io",
        )
        .unwrap();
    until_gone(
        &state,
        "the namespace gone",
        ("v1", "Namespace", "", "flux-system"),
    )
    .await;
    assert!(
        state
            .get("apps/v1", "Deployment", "apps", "podinfo")
            .is_some()
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn a_running_helm_controller_uninstalls_the_release_of_a_deleted_helm_release() {
    let helm_crd = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: helmreleases.helm.toolkit.fluxcd.io}
spec:
  group: helm.toolkit.fluxcd.io
  names: {kind: HelmRelease, listKind: HelmReleaseList, plural: helmreleases, singular: helmrelease}
  scope: Namespaced
  versions:
  - {name: v2, served: true, storage: true, subresources: {status: {}}, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
";
    let release = "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: redis, namespace: apps, finalizers: [finalizers.fluxcd.io]}
spec: {interval: 10m, chart: {spec: {chart: redis}}}
status: {storageNamespace: apps}
---
apiVersion: v1
kind: Secret
metadata: {name: sh.helm.release.v1.redis.v1, namespace: apps, labels: {owner: helm, name: redis, version: '1'}}
type: helm.sh/release.v1
data: {release: SDRzSUFBQUFBQUFB}
---
apiVersion: v1
kind: Service
metadata: {name: redis, namespace: apps, annotations: {meta.helm.sh/release-name: redis, meta.helm.sh/release-namespace: apps}}
spec: {ports: [{port: 6379}]}
";
    let sb = start_sandbox(
        flux_scenario(),
        &[
            helm_crd,
            FLUX_NS,
            "{apiVersion: v1, kind: Namespace, metadata: {name: apps}}",
            &deployment(
                "flux-system",
                "helm-controller",
                "ghcr.io/fluxcd/helm-controller:v1.1.0",
                1,
            ),
            release,
        ],
    )
    .await;
    let state = sb.state();
    state
        .delete("helm.toolkit.fluxcd.io/v2", "HelmRelease", "apps", "redis")
        .unwrap();
    until_gone(
        &state,
        "the HelmRelease finalized",
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease", "apps", "redis"),
    )
    .await;
    assert!(state.get("v1", "Service", "apps", "redis").is_none());
    assert!(
        state
            .get("v1", "Secret", "apps", "sh.helm.release.v1.redis.v1")
            .is_none()
    );
    let activity: Vec<String> = state.activity().into_iter().map(|a| a.text).collect();
    assert_eq!(
        activity,
        vec![
            "helm-controller uninstalled release apps/redis (HelmRelease apps/redis deleted): deleted apps/Service/redis; release records apps/sh.helm.release.v1.redis.v1"
        ]
    );
    sb.shutdown().await;
}

/// A sandbox of `scenario` whose namespace `web` (a Deployment of two Pods and a
/// ConfigMap) is being deleted, its Pods terminating.
async fn web_namespace_deleted(scenario: Scenario) -> (Sandbox, SandboxState) {
    let sb = start_sandbox(
        scenario,
        &[
            "{apiVersion: v1, kind: Namespace, metadata: {name: web}}",
            &deployment("web", "app", "nginx:1.27", 2),
            "{apiVersion: v1, kind: ConfigMap, metadata: {name: settings, namespace: web}}",
        ],
    )
    .await;
    let state = sb.state();
    until(&state, "two pods", || {
        (pods(&state, "web").len() == 2).then_some(())
    })
    .await;
    state.delete("v1", "Namespace", "", "web").unwrap();
    until(&state, "the pods terminating", || {
        let p = pods(&state, "web");
        (!p.is_empty() && p.iter().all(deleting)).then_some(())
    })
    .await;
    (sb, state)
}

/// The namespace controller deletes a namespace's Pods first, and the rest of its
/// content only once they are gone (OrderedNamespaceDeletion); the ReplicaSet cannot
/// replace them in a Terminating namespace.
#[tokio::test]
async fn a_deleted_namespace_loses_its_pods_before_the_rest_of_its_content() {
    let (sb, state) = web_namespace_deleted(scenario()).await;
    assert_eq!(pods(&state, "web").len(), 2, "none replaced");
    for (api_version, kind, name) in [
        ("v1", "ConfigMap", "settings"),
        ("apps/v1", "Deployment", "app"),
    ] {
        let obj = state.get(api_version, kind, "web", name).unwrap();
        assert!(!deleting(&obj), "{kind}/{name} waits for the pods: {obj}");
    }
    until_gone(&state, "the namespace gone", ("v1", "Namespace", "", "web")).await;
    assert!(state.list("v1", "ConfigMap", Some("web")).is_empty());
    sb.shutdown().await;
}

/// Before 1.33 the OrderedNamespaceDeletion gate is off by default: the namespace
/// controller deletes every kind in the same pass, Pods or not.
#[tokio::test]
async fn before_1_33_a_deleted_namespace_loses_all_its_content_at_once() {
    let (sb, state) = web_namespace_deleted(Scenario {
        kubernetes_version: "1.32.13".into(),
        ..scenario()
    })
    .await;
    for (api_version, kind, name) in [
        ("v1", "ConfigMap", "settings"),
        ("apps/v1", "Deployment", "app"),
    ] {
        assert!(
            state.get(api_version, kind, "web", name).is_none(),
            "{kind}/{name} deleted beside the pods"
        );
    }
    until_gone(&state, "the namespace gone", ("v1", "Namespace", "", "web")).await;
    sb.shutdown().await;
}

#[tokio::test]
async fn kubectl_style_deletion_of_a_namespace_takes_its_pods_down_first() {
    let sb = start_sandbox(
        scenario(),
        &[
            "{apiVersion: v1, kind: Namespace, metadata: {name: web}}",
            &deployment("web", "app", "nginx:1.27", 2),
        ],
    )
    .await;
    let state = sb.state();
    let client = sb.client().await.unwrap();
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    api.delete("web", &DeleteParams::background())
        .await
        .unwrap();
    until_gone(&state, "the namespace gone", ("v1", "Namespace", "", "web")).await;
    assert!(pods(&state, "web").is_empty());
    sb.shutdown().await;
}
