//! planrun's stand-in `flux` (the rehearsal's, `planrun_sandbox::simtools::flux`)
//! against the real flux CLI of Flux v2.7.0 (built by `scripts/realcluster build`), on
//! the same real cluster in the states the Flux plan meets it: no Flux, the old
//! install running, its controllers stopped. `flux check` and `flux check --pre` must
//! say the same, byte for byte, on stdout and stderr, and exit alike.

use std::path::Path;
use std::process::{Command, Output};

use crate::realcluster::{Kubectl, RealCluster, install_old_flux, tools};

/// What the two CLIs are asked in every state.
const QUESTIONS: &[&[&str]] = &[
    &["check", "--pre"],
    &["check", "--pre", "--namespace", "flux-system"],
    &["check", "--namespace", "flux-system"],
];

fn run(flux: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(flux)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("PLANRUN_SIM_CONFIG")
        .output()
        .unwrap()
}

/// Each question's answer from both, where they differ.
fn differences(real: &Path, stand_in: &Path, kubeconfig: &Path, state: &str) -> Vec<String> {
    let mut out = Vec::new();
    for args in QUESTIONS {
        let (r, s) = (run(real, kubeconfig, args), run(stand_in, kubeconfig, args));
        let shown = |o: &Output| {
            format!(
                "exit {:?}\n--- stdout\n{}--- stderr\n{}",
                o.status.code(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        };
        if (r.status.code(), &r.stdout, &r.stderr) != (s.status.code(), &s.stdout, &s.stderr) {
            out.push(format!(
                "{state}: flux {}\n=== real\n{}=== stand-in\n{}",
                args.join(" "),
                shown(&r),
                shown(&s)
            ));
        }
    }
    out
}

async fn pods_gone(k: &Kubectl) {
    k.ok(&[
        "-n",
        "flux-system",
        "wait",
        "--for=delete",
        "pod",
        "-l",
        "app.kubernetes.io/part-of=flux",
        "--timeout=120s",
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stand_in_flux_check_answers_as_the_real_cli() {
    // A cluster of its own: it installs Flux's CRDs.
    let Some(cluster) = RealCluster::own().await else {
        return;
    };
    let real = tools()
        .expect("a cluster runs, so the tools are built")
        .get("FLUX_CLI");
    let dir = tempfile::tempdir().unwrap();
    let stand_in = dir.path().join("flux");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_planrun"), &stand_in).unwrap();
    let k = cluster.kubectl();
    let kubeconfig = cluster.kubeconfig.clone();

    let mut found = differences(&real, &stand_in, &kubeconfig, "no Flux");
    install_old_flux(&k).await;
    found.extend(differences(&real, &stand_in, &kubeconfig, "the old Flux"));
    // The plan's first steps: the controllers' Deployments deleted, their Pods gone.
    k.ok(&[
        "-n",
        "flux-system",
        "delete",
        "deployments",
        "-l",
        "app.kubernetes.io/part-of=flux",
    ])
    .await;
    pods_gone(&k).await;
    found.extend(differences(
        &real,
        &stand_in,
        &kubeconfig,
        "the controllers stopped",
    ));
    assert!(found.is_empty(), "{}", found.join("\n\n"));
    // Not the same by accident: the three states are told apart.
    let answer = |args: &[&str]| run(&real, &kubeconfig, args);
    let stopped = answer(&["check", "--namespace", "flux-system"]);
    assert_eq!(stopped.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&stopped.stderr).contains("no controllers found"),
        "{stopped:?}"
    );
}
