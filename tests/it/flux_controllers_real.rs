//! Flux's own kustomize-controller on a real control plane: what it does when its
//! objects are deleted while it runs, which the sandbox's simulated controller
//! (`planrun_sandbox::flux`) models and the Flux plan's teardown order is built around.
//!
//! The controller is fluxcd/kustomize-controller v1.7.3 (Flux v2.7.x; the oldest the Go
//! module proxy serves), built by `scripts/realcluster build` from its Go module. It
//! runs beside the old Flux of [`install_old_flux`], as a local process standing for
//! the container of the Pod of the Deployment `flux-system/kustomize-controller` (kwok
//! runs no containers). [`LiveController`] plays the kubelet's part for it: the container
//! is stopped with SIGTERM as soon as its Pod is being deleted, and with SIGKILL after
//! the Pod's grace period (kubernetes/kubernetes v1.36.3
//! `pkg/kubelet/kuberuntime/kuberuntime_container.go`, `killContainer`), and the Pod's
//! object goes only once it has stopped ([`KUBELET_HOLD`]); on SIGTERM
//! the controller's manager stops taking work (`ctrl.SetupSignalHandler` in
//! kustomize-controller's `main.go`).
//!
//! Its source is Flux's own source-controller, fluxcd/source-controller v1.8.5 (the
//! oldest the proxy serves), run the same way for the Pod of
//! `flux-system/source-controller`: it clones the GitRepository from a repository the
//! test serves over HTTP ([`GitServer`]) and serves the artifact to kustomize-controller
//! from its storage server on 127.0.0.1. The controllers write every status and
//! inventory: nothing here is written in their names.
//!
//! The sandbox's side of the same behaviours: `sandbox_controllers` (a running
//! kustomize-controller prunes the inventory of a deleted Kustomization, keeping what
//! says `prune: disabled`; without one, the finalizer holds the object and its
//! namespace) and `rehearsal` (the unsafe order with live controllers prunes the apps).
//! The Flux plan's teardown with this controller live is `flux_teardown_real`; the
//! whole rebuild with it reconciling the new Flux, `flux_rebuild_real`.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::git_http::GitServer;
use crate::realcluster::{Kubectl, RealCluster, install_old_flux, tools};

/// The Pods' grace period: the Deployment sets none, so the API server's default.
const GRACE: Duration = Duration::from_secs(30);
/// How long the tests wait for the controller or the cluster to act.
const PATIENCE: Duration = Duration::from_secs(150);

/// The files of the Git repository Flux syncs from: what the Kustomizations
/// `flux-system/apps` (path `./apps/oceanid`) and `flux-system/flux-system`
/// (`./clusters/oceanid`) apply. `keep-me` asks not to be pruned.
pub const ARTIFACT: &[(&str, &str)] = &[
    (
        "apps/oceanid/podinfo.yaml",
        "apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo, namespace: apps, labels: {app.kubernetes.io/name: podinfo}}
spec:
  replicas: 2
  selector: {matchLabels: {app.kubernetes.io/name: podinfo}}
  template:
    metadata: {labels: {app.kubernetes.io/name: podinfo}}
    spec:
      containers:
      - name: podinfod
        image: ghcr.io/stefanprodan/podinfo:6.7.1
        ports: [{name: http, containerPort: 9898}]
---
apiVersion: v1
kind: Service
metadata: {name: podinfo, namespace: apps, labels: {app.kubernetes.io/name: podinfo}}
spec:
  selector: {app.kubernetes.io/name: podinfo}
  ports: [{name: http, port: 9898, targetPort: http}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: keep-me
  namespace: apps
  annotations: {kustomize.toolkit.fluxcd.io/prune: disabled}
data: {note: kept when the Kustomization goes}
",
    ),
    (
        "clusters/oceanid/settings.yaml",
        "apiVersion: v1
kind: ConfigMap
metadata: {name: oceanid-settings, namespace: apps}
data: {cluster: oceanid}
",
    ),
];

/// Runs the controller (`$@`) under a wrapper that stops it when the test process is
/// gone however it ended (its stdin, a pipe only the test holds, ends), and on SIGTERM
/// passes the signal on and waits for it, so the wrapper's exit is the controller's.
const OUTLIVE_NOTHING: &str = r#"
"$@" </dev/null &
c=$!
trap 'kill -TERM "$c" 2>/dev/null; wait "$c"; exit' TERM
read -r _ || true
kill -TERM "$c" 2>/dev/null
wait "$c"
"#;

/// The flags every Flux controller's Deployment gives it in Flux's manifests, and no
/// listeners (metrics, health).
const CONTROLLER_FLAGS: [&str; 4] = [
    "--watch-all-namespaces=true",
    "--log-level=debug",
    "--metrics-addr=0",
    "--health-addr=0",
];

/// A Flux controller the tests run: its Deployment's name in `flux-system` (its Pods
/// are labelled `app=<name>`), the built binary (a `scripts/realcluster env` name) and
/// its own flags besides [`CONTROLLER_FLAGS`].
pub struct Controller {
    name: &'static str,
    tool: &'static str,
    args: Vec<String>,
}

impl Controller {
    /// kustomize-controller.
    pub fn kustomize() -> Controller {
        Controller {
            name: "kustomize-controller",
            tool: "KUSTOMIZE_CONTROLLER",
            args: Vec::new(),
        }
    }

    /// source-controller storing its artifacts in `storage` and serving them on
    /// 127.0.0.1 at a free port, the address it writes into their URLs (in a cluster,
    /// its Service's: fluxcd/pkg/artifact `config.Options`, `--storage-addr` and
    /// `--storage-adv-addr`).
    pub fn source(storage: &Path) -> Controller {
        // It refuses a storage path that is not a directory.
        std::fs::create_dir_all(storage).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Controller {
            name: "source-controller",
            tool: "SOURCE_CONTROLLER",
            args: vec![
                format!("--storage-path={}", storage.display()),
                format!("--storage-addr=127.0.0.1:{port}"),
                format!("--storage-adv-addr=127.0.0.1:{port}"),
            ],
        }
    }

    /// The Deployment's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// A Flux controller running (see the module doc) until its Pod is deleted or this is
/// dropped.
pub struct LiveController {
    name: &'static str,
    client: kube::Client,
    /// The controller's wrapper ([`OUTLIVE_NOTHING`]), leader of their process group.
    child: Arc<Mutex<Child>>,
    /// The wrapper's stdin: its end is the news that the test process is gone.
    _lifeline: Option<std::process::ChildStdin>,
    /// Why the controller stopped, once it has.
    stopped: Arc<Mutex<Option<String>>>,
    kubelet: tokio::task::JoinHandle<()>,
    log: PathBuf,
}

impl LiveController {
    /// Starts `controller` on the cluster of `kubeconfig` (`client` is its client),
    /// where a Pod of its Deployment in `flux-system` runs; its log goes to `log`.
    pub async fn start(
        controller: &Controller,
        kubeconfig: &Path,
        client: kube::Client,
        log: PathBuf,
    ) -> LiveController {
        let name = controller.name;
        assert!(
            controller_pod_runs(&client, name).await,
            "the Deployment flux-system/{name} has no running Pod"
        );
        hold_pods(&client, name, true).await;
        let out = std::fs::File::create(&log).unwrap();
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(OUTLIVE_NOTHING)
            .arg(name)
            .arg(
                tools()
                    .expect("a cluster runs, so the tools are built")
                    .get(controller.tool),
            )
            .args(CONTROLLER_FLAGS)
            .args(&controller.args)
            .env("KUBECONFIG", kubeconfig)
            .env("RUNTIME_NAMESPACE", "flux-system")
            .stdin(Stdio::piped())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap();
        let lifeline = child.stdin.take();
        let child = Arc::new(Mutex::new(child));
        let stopped = Arc::new(Mutex::new(None));
        let kubelet = tokio::spawn(kubelet(
            client.clone(),
            name,
            child.clone(),
            stopped.clone(),
        ));
        LiveController {
            name,
            client,
            child,
            _lifeline: lifeline,
            stopped,
            kubelet,
            log,
        }
    }

    /// The Kustomization `flux-system/NAME`, if it exists.
    pub async fn kustomization(&self, name: &str) -> Option<Value> {
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
        ));
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), "flux-system", &resource);
        let obj = api.get_opt(name).await.ok()??;
        Some(serde_json::to_value(obj).unwrap())
    }

    /// Why the controller stopped, or `None` while it runs.
    pub fn stopped(&self) -> Option<String> {
        self.stopped.lock().unwrap().clone()
    }

    /// The controller's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `what` until it gives a value, for at most [`PATIENCE`]; fails showing
    /// the controller's log.
    pub async fn until<T>(&self, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; {}'s log:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Whether the Kustomization `flux-system/NAME` has applied `revision`.
    pub async fn applied(&self, name: &str, revision: &str) -> bool {
        self.kustomization(name)
            .await
            .is_some_and(|ks| ks["status"]["lastAppliedRevision"] == revision)
    }
}

impl Drop for LiveController {
    fn drop(&mut self) {
        self.kubelet.abort();
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(child.try_wait(), Ok(None)) {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

/// The old Flux install of [`install_old_flux`] brought to life: its GitRepository
/// pointed at a repository the test serves ([`GitServer`]), source-controller running
/// and having stored it, and kustomize-controller running, having applied it for both
/// Kustomizations.
pub struct LiveFlux {
    pub controller: LiveController,
    pub source: LiveController,
    _git: GitServer,
}

impl LiveFlux {
    /// `dir` holds the repository, source-controller's storage and the controllers'
    /// logs.
    pub async fn start(cluster: &RealCluster, dir: &Path) -> LiveFlux {
        let k = cluster.kubectl();
        serve_oci_repositories_v1(&k).await;
        let git = GitServer::serve(&dir.join("git"), ARTIFACT);
        k.ok(&[
            "-n",
            "flux-system",
            "patch",
            "gitrepository",
            "flux-system",
            "--type=merge",
            "-p",
            &json!({"spec": {"url": git.url()}}).to_string(),
        ])
        .await;
        let source = LiveController::start(
            &Controller::source(&dir.join("source-storage")),
            &cluster.kubeconfig,
            cluster.client().await,
            dir.join("source-controller.log"),
        )
        .await;
        let controller = LiveController::start(
            &Controller::kustomize(),
            &cluster.kubeconfig,
            cluster.client().await,
            dir.join("kustomize-controller.log"),
        )
        .await;
        let revision = format!("main@sha1:{}", git.head());
        for name in ["apps", "flux-system"] {
            controller
                .until(&format!("Kustomization {name} applied"), async || {
                    controller.applied(name, &revision).await.then_some(())
                })
                .await;
        }
        LiveFlux {
            controller,
            source,
            _git: git,
        }
    }
}

/// Whether a Pod of the Deployment `flux-system/NAME` runs and is not being deleted.
pub async fn controller_pod_runs(client: &kube::Client, name: &str) -> bool {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "flux-system");
    let Ok(list) = pods
        .list(&ListParams::default().labels(&format!("app={name}")))
        .await
    else {
        // The API server did not answer: the kubelet keeps what runs.
        return true;
    };
    list.items.iter().any(|p| {
        p.metadata.deletion_timestamp.is_none()
            && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
}

/// The finalizer that keeps a controller's Pod until its process has stopped: the
/// kubelet deletes a Pod's object only once its containers have terminated
/// (kubernetes/kubernetes v1.36.3 `pkg/kubelet/status/status_manager.go`,
/// `canBeDeleted`), so the namespace controller, which waits for a namespace's Pods
/// to be gone, never goes on while the controller still runs. kwok's pod-delete
/// stage would delete the object at once.
const KUBELET_HOLD: &str = "planrun.test/kubelet";

/// Puts [`KUBELET_HOLD`] on every Pod of the Deployment `flux-system/NAME`, or takes
/// it off.
async fn hold_pods(client: &kube::Client, name: &str, hold: bool) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "flux-system");
    let list = pods
        .list(&ListParams::default().labels(&format!("app={name}")))
        .await
        .unwrap();
    let finalizers = if hold {
        json!([KUBELET_HOLD])
    } else {
        json!(null)
    };
    for pod in list.items {
        let patch = json!({"metadata": {"finalizers": finalizers}});
        match pods
            .patch(
                &pod.metadata.name.unwrap_or_default(),
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => panic!("cannot set the finalizers of a {name} Pod: {e}"),
        }
    }
}

/// The kubelet's part: stop the controller when its Pod is being deleted (SIGTERM,
/// SIGKILL after the grace period), then let the Pod go; note when it ends on its
/// own.
async fn kubelet(
    client: kube::Client,
    name: &'static str,
    child: Arc<Mutex<Child>>,
    stopped: Arc<Mutex<Option<String>>>,
) {
    let exited = || child.lock().unwrap().try_wait().ok().flatten();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(status) = exited() {
            *stopped.lock().unwrap() = Some(format!("exited by itself: {status}"));
            return;
        }
        if controller_pod_runs(&client, name).await {
            continue;
        }
        let pgid = Pid::from_raw(child.lock().unwrap().id() as i32);
        let _ = killpg(pgid, Signal::SIGTERM);
        let deadline = tokio::time::Instant::now() + GRACE;
        let status = loop {
            if let Some(status) = exited() {
                break status.to_string();
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = killpg(pgid, Signal::SIGKILL);
                break "killed after the grace period".to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        hold_pods(&client, name, false).await;
        *stopped.lock().unwrap() = Some(format!("its Pod was deleted; {status}"));
        return;
    }
}

/// The old install (Flux v2.4) serves OCIRepository as v1beta2 only, and
/// kustomize-controller v1.7 and source-controller v1.8 watch its v1 (`internal/controller/kustomization_manager.go`):
/// the CRD gets v1 as well, as Flux v2.6 and later install it, and the test waits
/// until the API server serves it.
async fn serve_oci_repositories_v1(k: &Kubectl) {
    let version = json!([{"op": "add", "path": "/spec/versions/-", "value": {
        "name": "v1", "served": true, "storage": false,
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
        "subresources": {"status": {}},
    }}]);
    k.ok(&[
        "patch",
        "crd",
        "ocirepositories.source.toolkit.fluxcd.io",
        "--type=json",
        "-p",
        &version.to_string(),
    ])
    .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !k
        .run(&["get", "ocirepositories.v1.source.toolkit.fluxcd.io", "-A"])
        .await
        .status
        .success()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "OCIRepository v1 not served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The names (`Kind/name`) of the objects the artifact put in `apps` that are there.
pub async fn deployed(k: &Kubectl) -> Vec<String> {
    let out = k
        .ok(&[
            "-n",
            "apps",
            "get",
            "deployments,services,configmaps",
            "-o",
            "jsonpath={range .items[*]}{.kind}/{.metadata.name}{\"\\n\"}{end}",
        ])
        .await;
    let mut names: Vec<String> = out
        .lines()
        .filter(|l| {
            ["podinfo", "keep-me", "oceanid-settings"]
                .iter()
                .any(|n| l.ends_with(&format!("/{n}")))
        })
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

/// The inventory entries (`id`) of a Kustomization.
fn inventory(ks: &Value) -> Vec<String> {
    let mut ids: Vec<String> = ks["status"]["inventory"]["entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// What the artifact puts in `apps`, as [`deployed`] names it.
const APPLIED: [&str; 4] = [
    "ConfigMap/keep-me",
    "ConfigMap/oceanid-settings",
    "Deployment/podinfo",
    "Service/podinfo",
];

/// A cluster of the test's own (it installs and deletes Flux's CRDs) with the old
/// Flux installed and brought to life, its kubectl and the directory of the artifact
/// and the log; `None` when the tools are not built. Bind them in this order, so
/// that the controller stops first and the cluster last.
async fn live_flux_world() -> Option<(RealCluster, Kubectl, tempfile::TempDir, LiveFlux)> {
    let cluster = RealCluster::own().await?;
    let k = cluster.kubectl();
    let dir = tempfile::tempdir().unwrap();
    install_old_flux(&k).await;
    let flux = LiveFlux::start(&cluster, dir.path()).await;
    Some((cluster, k, dir, flux))
}

/// The runbook's second command, `kubectl delete crd` of Flux's CRDs, while Flux runs:
/// the API server deletes every Kustomization with its CRD, and the running
/// controller, finalizing each, prunes its inventory; what says `prune: disabled` stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_kustomize_controller_prunes_the_inventory_when_its_crd_goes() {
    let Some((_cluster, k, _dir, live)) = live_flux_world().await else {
        return;
    };
    let flux = &live.controller;
    // The controller's own inventory, with its own ids.
    let apps = flux.kustomization("apps").await.unwrap();
    assert_eq!(
        inventory(&apps),
        [
            "apps_keep-me__ConfigMap",
            "apps_podinfo__Service",
            "apps_podinfo_apps_Deployment"
        ],
        "{apps}"
    );
    assert_eq!(deployed(&k).await, APPLIED);

    k.ok(&[
        "delete",
        "crd",
        "kustomizations.kustomize.toolkit.fluxcd.io",
        "--timeout=150s",
    ])
    .await;
    let left = flux
        .until("the inventories pruned", async || {
            let left = deployed(&k).await;
            (left.len() == 1).then_some(left)
        })
        .await;
    assert_eq!(left, ["ConfigMap/keep-me"], "prune: disabled is kept");
    assert_eq!(flux.stopped(), None, "the controller ran throughout");
    assert_eq!(
        live.source.stopped(),
        None,
        "source-controller ran throughout"
    );
    let log = flux.log();
    for deleted in [
        "Deployment/apps/podinfo deleted",
        "Service/apps/podinfo deleted",
        "ConfigMap/apps/oceanid-settings deleted",
    ] {
        assert!(log.contains(deleted), "{deleted}: {log}");
    }
}

/// The runbook's first command, `kubectl delete namespace flux-system`, while Flux
/// runs: the namespace controller deletes the namespace's Pods first and waits until
/// they are gone before it deletes anything else (OrderedNamespaceDeletion, GA and
/// locked on since 1.34: kubernetes/kubernetes v1.36.3
/// `pkg/controller/namespace/deletion/namespaced_resources_deleter.go`,
/// `deleteAllContent`). So the controller is stopped before its Kustomizations are
/// deleted, prunes nothing, and nothing removes their finalizer: they and the
/// namespace hang in Terminating, as the sandbox has them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_flux_system_stops_the_controller_before_its_objects_and_hangs() {
    let Some((_cluster, k, _dir, live)) = live_flux_world().await else {
        return;
    };
    let flux = &live.controller;

    k.ok(&["delete", "namespace", "flux-system", "--wait=false"])
        .await;
    for controller in [flux, &live.source] {
        let why = controller
            .until("the controller stopped", async || controller.stopped())
            .await;
        assert!(why.starts_with("its Pod was deleted; "), "{why}");
    }
    for name in ["apps", "flux-system"] {
        let held = flux
            .until(&format!("Kustomization {name} deleted"), async || {
                let ks = flux.kustomization(name).await?;
                ks["metadata"]
                    .get("deletionTimestamp")
                    .is_some()
                    .then_some(ks)
            })
            .await;
        assert_eq!(
            held["metadata"]["finalizers"],
            json!(["finalizers.fluxcd.io"]),
            "{held}"
        );
    }
    let message = flux
        .until("the namespace reporting the finalizers", async || {
            let ns: Value = serde_json::from_str(
                &k.ok(&["get", "namespace", "flux-system", "-o", "json"])
                    .await,
            )
            .ok()?;
            ns["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "NamespaceFinalizersRemaining" && c["status"] == "True")
                .map(|c| c["message"].as_str().unwrap_or_default().to_owned())
        })
        .await;
    assert!(message.contains("finalizers.fluxcd.io in "), "{message}");
    // Nothing was pruned.
    assert_eq!(deployed(&k).await, APPLIED);
    let log = flux.log();
    assert!(!log.contains("apps/podinfo deleted"), "{log}");
}
