//! Cross-checks of the sandbox with the real kubectl (skipped, saying so, when kubectl is
//! not installed): both clients must see the same state, and no request of theirs may get
//! a 404/405 that a real API server would have answered.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use planrun_sandbox::{Sandbox, Scenario};

use crate::support::{FLUX_CRDS, assert_all_served, start_sandbox};

const FLUX: &str = r#"
apiVersion: v1
kind: Namespace
metadata: { name: flux-system }
---
apiVersion: v1
kind: Namespace
metadata: { name: stuck }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: source-controller, namespace: flux-system }
spec:
  replicas: 1
  selector: { matchLabels: { app: source-controller } }
  template:
    metadata: { labels: { app: source-controller } }
    spec: { containers: [{ name: manager, image: "ghcr.io/fluxcd/source-controller:v1.0.0" }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: kustomize-controller, namespace: flux-system }
spec:
  replicas: 1
  selector: { matchLabels: { app: kustomize-controller } }
  template:
    metadata: { labels: { app: kustomize-controller } }
    spec: { containers: [{ name: manager, image: "ghcr.io/fluxcd/kustomize-controller:v1.0.0" }] }
"#;

fn kubectl_installed() -> bool {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipping: kubectl is not installed (build it with `scripts/realcluster build`)");
    }
    found
}

struct Kubectl {
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    fn new(sb: &Sandbox, dir: &Path) -> Self {
        let kubeconfig = dir.join("kubeconfig");
        sb.write_kubeconfig(&kubeconfig, "sandbox").unwrap();
        Self {
            kubeconfig,
            cache: dir.join("cache"),
        }
    }

    /// Run kubectl off the async runtime (the sandbox serves on it meanwhile).
    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .env_remove("KUBECONFIG");
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        eprintln!(
            "kubectl {}: {}\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.status.success(), "kubectl {args:?} failed");
        String::from_utf8(out.stdout).unwrap()
    }
}

fn names(stdout: &str) -> Vec<String> {
    let mut v: Vec<String> = stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.rsplit('/').next().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

/// Requests a real API server would have answered, but the sandbox did not serve.
/// Prints every request (for a failing run's log), asserts none was left unserved and
/// shuts the sandbox down.
async fn finish(sb: Sandbox) {
    for r in &sb.requests() {
        eprintln!(
            "{} {}?{} -> {} {:?}",
            r.method, r.path, r.query, r.status, r.reason
        );
    }
    assert_all_served(&sb);
    sb.shutdown().await;
}

/// The names kube-rs lists, in its order.
async fn kube_names<K>(api: &Api<K>) -> Vec<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default())
        .await
        .unwrap()
        .iter()
        .map(|n| n.name_any())
        .collect()
}

async fn start() -> (Sandbox, Client) {
    let scenario = Scenario::from_yaml(
        r#"
namespace_finalize_delay: 300ms
crd_finalize_delay: 100ms
deployment_ready_delay: 300ms
namespaces:
  stuck: { stuck: true }
conditions:
  - kind: GitRepository
    message: stored artifact for revision 'main@sha1:0123'
    after: 300ms
"#,
        Path::new("."),
    )
    .unwrap();
    let sb = start_sandbox(scenario, &[FLUX_CRDS, FLUX]).await;
    let client = sb.client().await.unwrap();
    (sb, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_and_kube_see_the_same_state() {
    if !kubectl_installed() {
        return;
    }
    let (sb, client) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::new(&sb, dir.path());

    let nss: Api<Namespace> = Api::all(client.clone());
    let kube_ns = kube_names(&nss).await;
    assert_eq!(names(&k.ok(&["get", "ns", "-o", "name"]).await), kube_ns);
    assert!(k.ok(&["get", "ns"]).await.contains("flux-system"));

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let kube_crds = kube_names(&crds).await;
    assert_eq!(names(&k.ok(&["get", "crd", "-o", "name"]).await), kube_crds);
    assert!(
        k.ok(&["get", "crd"])
            .await
            .contains("gitrepositories.source.toolkit.fluxcd.io")
    );

    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "flux-system");
    let kube_deploys = kube_names(&deploys).await;
    assert_eq!(
        names(
            &k.ok(&["get", "deploy", "-n", "flux-system", "-o", "name"])
                .await
        ),
        kube_deploys
    );
    assert!(
        k.ok(&["get", "deploy", "-n", "flux-system"])
            .await
            .contains("source-controller")
    );

    finish(sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_wait_rollout_and_delete() {
    if !kubectl_installed() {
        return;
    }
    let (sb, client) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::new(&sb, dir.path());
    let manifest = dir.path().join("apply.yaml");
    std::fs::write(
        &manifest,
        r#"
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: { name: flux-system, namespace: flux-system }
spec: { interval: 1m, url: "https://example.com/fleet" }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: flux-system }
data: { a: "1" }
"#,
    )
    .unwrap();
    k.ok(&["apply", "--server-side", "-f", manifest.to_str().unwrap()])
        .await;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), "flux-system");
    let cm = cms.get("settings").await.unwrap();
    let m = &cm.managed_fields()[0];
    assert_eq!(
        (m.manager.as_deref(), m.operation.as_deref()),
        (Some("kubectl"), Some("Apply"))
    );

    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "gitrepository/flux-system",
        "-n",
        "flux-system",
        "--timeout=30s",
    ])
    .await;
    k.ok(&[
        "rollout",
        "status",
        "deployment/source-controller",
        "-n",
        "flux-system",
        "--timeout=30s",
    ])
    .await;

    let listed = k
        .ok(&[
            "get",
            "gitrepository,kustomization",
            "-n",
            "flux-system",
            "-o",
            "name",
        ])
        .await;
    assert!(
        listed.contains("gitrepository.source.toolkit.fluxcd.io/flux-system"),
        "{listed}"
    );

    // A stuck namespace: a second delete conflicts, and waiting times out like kubectl's.
    k.ok(&["delete", "ns", "stuck", "--wait=false"]).await;
    let again = k.run(&["delete", "ns", "stuck", "--wait=false"]).await;
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("The system is ensuring all content is removed from this namespace")
    );
    let waited = k
        .run(&["wait", "--for=delete", "ns/stuck", "--timeout=1s"])
        .await;
    assert_eq!(waited.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&waited.stderr)
            .contains("timed out waiting for the condition on namespaces/stuck")
    );

    k.ok(&["delete", "ns", "flux-system", "--wait=false"]).await;
    k.ok(&["wait", "--for=delete", "ns/flux-system", "--timeout=30s"])
        .await;
    let nss: Api<Namespace> = Api::all(client.clone());
    assert!(nss.get_opt("flux-system").await.unwrap().is_none());
    // Already gone: wait succeeds at once.
    k.ok(&["wait", "--for=delete", "ns/flux-system", "--timeout=5s"])
        .await;

    finish(sb).await;
}

/// Issue 14, break 13: kubectl sends the kinds of its `create` commands in protobuf
/// (`application/vnd.kubernetes.protobuf`) and does not fall back to JSON on a 415:
/// the sandbox reads them, as a real API server does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_sends_protobuf_and_the_sandbox_reads_it() {
    if !kubectl_installed() {
        return;
    }
    let sb = start_sandbox(Scenario::default(), &[] as &[&str]).await;
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::new(&sb, dir.path());
    k.ok(&["create", "namespace", "foo"]).await;
    k.ok(&[
        "create",
        "configmap",
        "cm",
        "-n",
        "foo",
        "--from-literal=a=1",
    ])
    .await;
    k.ok(&[
        "create",
        "secret",
        "generic",
        "s",
        "-n",
        "foo",
        "--from-literal=p=hunter22",
    ])
    .await;
    let state = sb.state();
    assert!(state.get("v1", "Namespace", "", "foo").is_some());
    assert_eq!(
        state.get("v1", "ConfigMap", "foo", "cm").unwrap()["data"]["a"],
        "1"
    );
    let secret = state.get("v1", "Secret", "foo", "s").unwrap();
    assert_eq!(secret["data"]["p"], "aHVudGVyMjI=");
    assert_eq!(secret["type"], "Opaque");
    let created = sb
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.status == 201)
        .count();
    assert_eq!(created, 3);
    finish(sb).await;
}
