//! The simulated `flux check` (the `planrun` binary started as `flux`) against the
//! sandbox: what fluxcd/flux2 v2.7.0 `cmd/flux/check.go` prints for the cluster's
//! real state, and its exit codes.

use std::path::{Path, PathBuf};
use std::process::Output;

use planrun_sandbox::simtools;
use planrun_sandbox::{Manifest, Sandbox, SandboxConfig, Scenario};

use crate::support;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The stand-in and a sandbox with `scenario` and `seeds`.
struct World {
    _tmp: tempfile::TempDir,
    bin: PathBuf,
    kubeconfig: PathBuf,
    sandbox: Sandbox,
}

impl World {
    async fn new(scenario: Scenario, seeds: Vec<Manifest>) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let bin = simtools::install(
            &tmp.path().join("bin"),
            Path::new(env!("CARGO_BIN_EXE_planrun")),
            &[],
        )
        .unwrap();
        let sandbox = Sandbox::start(SandboxConfig {
            port: 0,
            seeds,
            scenario,
        })
        .await
        .unwrap();
        let kubeconfig = tmp.path().join("kubeconfig");
        sandbox.write_kubeconfig(&kubeconfig, "sandbox").unwrap();
        Self {
            _tmp: tmp,
            bin,
            kubeconfig,
            sandbox,
        }
    }

    async fn flux(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(self.bin.join("flux"));
        cmd.args(args).env("KUBECONFIG", &self.kubeconfig);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn on_version(version: &str) -> Scenario {
    Scenario {
        kubernetes_version: version.into(),
        ..support::fast(50)
    }
}

#[tokio::test]
async fn check_pre_checks_only_the_server_version() {
    let w = World::new(on_version("1.33"), Vec::new()).await;
    let out = w
        .flux(&["check", "--pre", "--namespace", "flux-system"])
        .await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stderr(&out),
        "► checking prerequisites\n✔ Kubernetes 1.33.0 >=1.32.0-0\n✔ prerequisites checks passed\n"
    );
    assert!(out.stdout.is_empty());
    w.sandbox.shutdown().await;

    let w = World::new(on_version("1.31.4"), Vec::new()).await;
    let out = w.flux(&["check", "--pre"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "► checking prerequisites\n✗ Kubernetes version v1.31.4 does not match >=1.32.0-0\n"
    );
    w.sandbox.shutdown().await;
}

#[tokio::test]
async fn check_without_pre_checks_the_installed_controllers_and_crds() {
    let w = World::new(
        on_version("1.33"),
        vec![Manifest::from_file(&root().join("examples/rehearsal/flux-v2.7.0.yaml")).unwrap()],
    )
    .await;
    let out = w
        .flux(&["check", "--poll-interval", "100ms", "--timeout", "20s"])
        .await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..6],
        [
            "► checking prerequisites",
            "✔ Kubernetes 1.33.0 >=1.32.0-0",
            "► checking version in cluster",
            "✔ distribution: flux-v2.7.0",
            "✔ bootstrapped: false",
            "► checking controllers",
        ]
    );
    for (name, tag) in [
        ("helm-controller", "v1.4.0"),
        ("source-controller", "v1.7.0"),
        ("image-automation-controller", "v1.0.1"),
    ] {
        assert!(
            text.contains(&format!(
                "✔ {name}: deployment ready\n► ghcr.io/fluxcd/{name}:{tag}\n"
            )),
            "{text}"
        );
    }
    assert!(text.contains("► checking crds\n"), "{text}");
    assert!(
        text.contains("✔ gitrepositories.source.toolkit.fluxcd.io/v1\n"),
        "{text}"
    );
    assert_eq!(lines.last(), Some(&"✔ all checks passed"));
    w.sandbox.shutdown().await;
}

#[tokio::test]
async fn check_without_flux_installed_fails_naming_what_is_missing() {
    let w = World::new(on_version("1.33"), Vec::new()).await;
    let out = w.flux(&["check", "--timeout", "1s"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "► checking prerequisites\n\
         ✔ Kubernetes 1.33.0 >=1.32.0-0\n\
         ► checking version in cluster\n\
         ✗ checking failed: customresourcedefinitions.apiextensions.k8s.io \"gitrepositories.source.toolkit.fluxcd.io\" not found\n\
         ► checking controllers\n\
         ✗ no controllers found in the 'flux-system' namespace with the label selector 'app.kubernetes.io/part-of=flux'\n\
         ► checking crds\n\
         ✗ no crds found with the label selector 'app.kubernetes.io/part-of=flux'\n\
         ✗ check failed\n"
    );
    w.sandbox.shutdown().await;
}
