//! The Kubernetes half of the Flux teardown against a real control plane
//! (`scripts/realcluster`: kube-apiserver, kube-controller-manager with its garbage
//! collector and namespace controller, kwok's pods). The old Flux seed is applied
//! with the real kubectl (client-side apply, as the old install was), then a plan
//! stops the controllers, waits for their pods, removes `finalizers.fluxcd.io` from
//! every object of every `fluxcd.io` group in every namespace, deletes the CRDs, the
//! namespace and Flux's cluster RBAC, and restores a captured Secret; a script child
//! runs the real kubectl while the user's current context is another cluster.
//! Throughout, Flux's own source-controller and kustomize-controller run as their Pods
//! let them ([`LiveFlux`]), having applied the apps: the plan must stop them before
//! anything of Flux is deleted, or kustomize-controller prunes the apps.
//!
//! On a cluster of its own from the harness (`realcluster`), which skips it, saying
//! so, when nothing is built (`scripts/realcluster build`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::flux_controllers_real::{LiveFlux, deployed};
use crate::realcluster::{RealCluster, install_old_flux};
use crate::support::managers;

/// The tasks of `plans/flux-rebuild.toml` this test runs as they are: the capture,
/// the whole teardown and the restore.
const KEPT: [&str; 10] = [
    "capture-secrets",
    "stop-flux-controllers",
    "flux-controllers-stopped",
    "remove-flux-finalizers",
    "delete-flux-crds",
    "flux-crds-gone",
    "delete-flux-namespace",
    "flux-namespace-gone",
    "delete-flux-rbac",
    "restore-flux-secrets",
];

/// The Kubernetes half of the Flux plan, taken from `plans/flux-rebuild.toml` with
/// `needs` kept within it; in Pulumi's place (it recreates the namespace) a task
/// that applies the namespace, and before the teardown a script that runs kubectl.
/// The guard's context is the test cluster's.
fn teardown_plan() -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/flux-rebuild.toml"),
    )
    .unwrap();
    let mut plan: toml::Table = text.parse().unwrap();
    let all = plan["tasks"].as_table().unwrap().clone();
    let mut tasks = toml::Table::new();
    for id in KEPT {
        let mut task = all[id].as_table().unwrap().clone();
        if let Some(needs) = task.get_mut("needs").and_then(|n| n.as_array_mut()) {
            needs.retain(|n| KEPT.contains(&n.as_str().unwrap()));
        }
        tasks.insert(id.to_owned(), task.into());
    }
    let extra: toml::Table = r#"
[which-context]
type = "exec-script"
script = 'echo "context $(kubectl config current-context)"; kubectl get namespace flux-system -o name'
read_only = true

[recreate-namespace]
type = "kube-apply"
files = ["namespace.yaml"]
needs = ["delete-flux-rbac"]
"#
    .parse()
    .unwrap();
    tasks.extend(extra);
    tasks["stop-flux-controllers"]["needs"]
        .as_array_mut()
        .unwrap()
        .push("which-context".into());
    tasks["restore-flux-secrets"]["needs"] = vec!["recreate-namespace"].into();
    plan["plan"]["context"] = "realcluster".into();
    plan["tasks"] = tasks.into();
    toml::to_string(&plan).unwrap()
}

/// The user's kubeconfig: the cluster's, plus a second context, current, pointing
/// at a port nothing listens on.
fn with_other_current_context(cluster: &RealCluster, path: &Path) {
    let k = cluster.kubectl();
    std::fs::copy(&cluster.kubeconfig, path).unwrap();
    let path = path.to_str().unwrap();
    for args in [
        vec![
            "config",
            "set-cluster",
            "staging",
            "--server",
            "https://127.0.0.1:9",
        ],
        vec![
            "config",
            "set-context",
            "staging",
            "--cluster",
            "staging",
            "--user",
            "realcluster-admin",
        ],
        vec!["config", "use-context", "staging"],
    ] {
        let mut full = vec!["--kubeconfig", path];
        full.extend(args);
        let status = Command::new(&k.bin).args(&full).output().unwrap();
        assert!(status.status.success(), "kubectl {full:?}");
    }
}

/// Each task's summary and the output lines of each task, from `--output json`.
fn results(stdout: &str) -> (BTreeMap<String, String>, BTreeMap<String, Vec<String>>) {
    let mut summaries = BTreeMap::new();
    let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        let task = event["task"].as_str().unwrap_or_default().to_owned();
        match event["event"].as_str() {
            Some("task-succeeded") => {
                summaries.insert(task, event["summary"].as_str().unwrap_or("").to_owned());
            }
            Some("task-output") => lines
                .entry(task)
                .or_default()
                .push(event["line"].as_str().unwrap_or("").to_owned()),
            _ => {}
        }
    }
    (summaries, lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flux_teardown_on_a_real_control_plane() {
    // A cluster of its own: it installs and deletes Flux's CRDs and cluster RBAC.
    let Some(cluster) = RealCluster::own().await else {
        return;
    };
    let k = cluster.kubectl();
    let dir = tempfile::tempdir().unwrap();
    // The old install, as `kubectl apply` (client-side) made it.
    install_old_flux(&k).await;
    let pods = k
        .ok(&[
            "-n",
            "flux-system",
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/part-of=flux",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(pods.lines().count(), 6, "six controller pods run: {pods}");
    let flux = LiveFlux::start(&cluster, dir.path()).await;
    let applied = deployed(&k).await;

    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("plan.toml"), teardown_plan()).unwrap();
    std::fs::write(
        work.join("namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n",
    )
    .unwrap();
    let user_config = work.join("config");
    with_other_current_context(&cluster, &user_config);
    let path = std::env::join_paths(
        std::iter::once(k.bin.parent().unwrap().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let mut run = Command::new(assert_cmd::cargo::cargo_bin!("planrun"));
    run.current_dir(&work)
        .env("KUBECONFIG", &user_config)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .args([
            "run",
            "plan.toml",
            "--context",
            "realcluster",
            "--yes",
            "--output",
            "json",
            "--state-dir",
            "state",
        ]);
    let out = tokio::task::spawn_blocking(move || run.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    let (summaries, lines) = results(&stdout);

    // The script's kubectl acted on the run's cluster, not the current context's.
    assert_eq!(
        lines["which-context"],
        vec!["context realcluster", "namespace/flux-system"],
        "{all}"
    );
    // The four Flux objects (in flux-system and apps) lost their finalizer.
    assert_eq!(
        summaries["remove-flux-finalizers"],
        "removed finalizers.fluxcd.io from 4 objects in 2 namespaces",
        "{all}"
    );
    assert!(
        summaries["delete-flux-crds"].starts_with("deleted 13 objects: "),
        "{all}"
    );
    assert!(
        summaries["delete-flux-rbac"].starts_with("deleted 5 objects: "),
        "{all}"
    );
    assert_eq!(
        summaries["restore-flux-secrets"],
        "applied 2 objects: secrets/flux-system/flux-system (keys: identity, known_hosts); secrets/flux-system/sops-age (keys: age.agekey) from the capture of `capture-secrets` as planrun",
        "{all}"
    );
    for secret in [
        "REHEARSAL-ONLY-not-a-real-key-7f3a9c",
        "AGE-SECRET-KEY-1REHEARSALONLY",
    ] {
        assert!(!all.contains(secret), "a secret value in the output");
    }

    // What the cluster says now.
    let crds = k.ok(&["get", "crd", "-o", "name"]).await;
    assert!(!crds.contains("fluxcd.io"), "{crds}");
    let rbac = k
        .ok(&[
            "get",
            "clusterroles,clusterrolebindings",
            "-l",
            "app.kubernetes.io/part-of=flux",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(rbac, "", "no Flux cluster RBAC left");
    let secret: Value = serde_json::from_str(
        &k.ok(&[
            "-n",
            "flux-system",
            "get",
            "secret",
            "sops-age",
            "--show-managed-fields",
            "-o",
            "json",
        ])
        .await,
    )
    .unwrap();
    assert_eq!(managers(&secret), vec![("planrun", "Apply")]);
    assert!(
        secret["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none(),
        "the old client-side apply record (which holds the value) is not restored"
    );
    // The controllers were stopped by the plan's first step, and nothing was pruned:
    // what Flux deployed is still there.
    for controller in [&flux.controller, &flux.source] {
        let why = controller.stopped().unwrap_or_default();
        assert!(why.starts_with("its Pod was deleted; "), "{why}");
    }
    assert_eq!(applied.len(), 4, "{applied:?}");
    assert_eq!(deployed(&k).await, applied);
    let log = flux.controller.log();
    assert!(!log.contains("apps/podinfo deleted"), "{log}");
}
