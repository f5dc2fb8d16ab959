//! The Flux rebuild end to end on a real control plane with the real Pulumi:
//! `plans/flux-rebuild.toml` as it is, run by `planrun run --yes` against the old Flux
//! the seed describes (applied client-side with the built kubectl), deploying the
//! oceanid test project (`realcluster/oceanid/`) with the built pulumi and
//! pulumi-kubernetes and the built flux CLI; `pnpm` is planrun's stand-in. The run is interrupted with SIGINT while `pulumi up` runs and
//! resumed to green, ending in the Desired End State checked with kubectl.
//!
//! Once the rebuilt Flux's Pods run, Flux's own source-controller and
//! kustomize-controller run for them ([`LiveController`]): source-controller clones the
//! GitRepository Pulumi created from a Git repository the test serves over HTTP
//! ([`GitServer`], `git http-backend`; the chart's `sync.url` points there) and stores
//! the artifact, and kustomize-controller fetches it from source-controller's storage
//! server and applies it. Nothing in Flux's status is written by the test.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use kube::api::{Api, ListParams};
use nix::sys::signal::Signal;
use serde_json::Value;

use crate::flux_controllers_real::{ARTIFACT, Controller, LiveController, controller_pod_runs};
use crate::git_http::GitServer;
use crate::pulumi_real::{all_text, assert_no_secret, pulumi_cli, signal, text};
use crate::realcluster::{Kubectl, PulumiWorld, RealCluster, install_old_flux, tools};
use crate::support::managers;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Generous: the whole rebuild on two loaded cores.
const DEADLINE: Duration = Duration::from_secs(600);

/// How long a run may take: [`DEADLINE`], or `PLANRUN_E2E_DEADLINE_SECS` to find a
/// hang sooner.
fn run_deadline() -> Duration {
    std::env::var("PLANRUN_E2E_DEADLINE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(DEADLINE, Duration::from_secs)
}

/// What the stand-in `pnpm` answers (the rehearsal file's rule).
const SIM_TOOLS: &str = r#"
pnpm:
  rules:
    - args: [--filter, "@oceanid/cluster", build]
      stdout: "> @oceanid/cluster build"
"#;

/// The repository the plan works in: the oceanid project as `cluster/` (the plan's
/// `repo_dir`), with the files the plan checks and runs.
fn repository(dir: &Path, world: &PulumiWorld) -> std::path::PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::os::unix::fs::symlink(&world.project, repo.join("cluster")).unwrap();
    let example = Path::new(ROOT).join("examples/rehearsal/oceanid/cluster");
    for file in [
        "src/gitops/fluxBootstrap.ts",
        "scripts/flux-health-check.sh",
    ] {
        let to = world.project.join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(example.join(file), to).unwrap();
    }
    repo
}

/// `pnpm` as a link to planrun (its stand-in) and `flux` to the built flux CLI, in a
/// directory for `PATH`.
fn stand_ins(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let bin = dir.join("stand-ins");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_planrun"), bin.join("pnpm")).unwrap();
    let flux = tools()
        .expect("a cluster runs, so the tools are built")
        .get("FLUX_CLI");
    std::os::unix::fs::symlink(flux, bin.join("flux")).unwrap();
    let config = dir.join("planrun-sim.yaml");
    std::fs::write(&config, SIM_TOOLS).unwrap();
    (bin, config)
}

/// The cluster's kubeconfig with its context named as the plan's guard expects.
fn oceanid_kubeconfig(cluster: &RealCluster, dir: &Path) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::copy(&cluster.kubeconfig, &path).unwrap();
    let k = cluster.kubectl();
    let out = std::process::Command::new(&k.bin)
        .arg("--kubeconfig")
        .arg(&path)
        .args(["config", "rename-context", &cluster.context, "oceanid"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    path
}

/// `controller` for the rebuilt Flux: started once a Pod of its Deployment runs in a
/// `flux-system` other than the old one (uid `old`); `None` if `stop` comes first.
async fn run_rebuilt_controller(
    controller: Controller,
    kubeconfig: std::path::PathBuf,
    client: kube::Client,
    log: std::path::PathBuf,
    old: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Option<LiveController> {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let rebuilt = namespaces
            .get_opt("flux-system")
            .await
            .ok()
            .flatten()
            .is_some_and(|ns| ns.metadata.uid.as_deref() != Some(old.as_str()));
        if rebuilt && controller_pod_runs(&client, controller.name()).await {
            return Some(LiveController::start(&controller, &kubeconfig, client, log).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// Whether the journal's events (`--output json`) say `task` started.
fn started(log: &Path, task: &str) -> bool {
    std::fs::read_to_string(log).is_ok_and(|t| {
        t.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|e| e["event"] == "task-started" && e["task"] == task)
    })
}

/// The taint that keeps new Pods off every node (`true`), or its removal: Pods already
/// running stay (NoSchedule).
async fn taint_nodes(k: &Kubectl, held: bool) {
    let taint = if held {
        "planrun.test/rollout=held:NoSchedule"
    } else {
        "planrun.test/rollout=held:NoSchedule-"
    };
    k.ok(&["taint", "nodes", "--all", taint]).await;
}

/// `planrun ARGS` in the world's environment with `env` over it, its output to `log`,
/// in a process group of its own (a SIGINT reaches planrun alone, as a Ctrl-C would).
fn spawn_run(
    world: &PulumiWorld,
    cluster: &RealCluster,
    args: &[String],
    env: &[(&str, std::ffi::OsString)],
    log: &Path,
) -> Child {
    use std::os::unix::process::CommandExt;
    let out = std::fs::File::create(log).unwrap();
    let mut cmd = world.command(env!("CARGO_BIN_EXE_planrun"), cluster);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .process_group(0);
    cmd.spawn().unwrap()
}

/// Waits for a run to end; when it does not within [`DEADLINE`], fails with its log
/// and the Pulumi processes still running.
async fn ended(
    run: &mut Child,
    log: &Path,
    world: &PulumiWorld,
    k: &Kubectl,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + run_deadline();
    loop {
        if let Some(status) = run.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let processes = PulumiWorld::command_lines(&world.processes());
            let _ = run.kill();
            let cluster = k
                .run(&[
                    "get",
                    "deployments,replicasets,pods",
                    "-n",
                    "flux-system",
                    "-o",
                    "wide",
                ])
                .await;
            panic!(
                "planrun {} did not end within {:?}; Pulumi processes: {processes:#?}\n\
                 flux-system:\n{}{}\n{}",
                run.id(),
                run_deadline(),
                String::from_utf8_lossy(&cluster.stdout),
                String::from_utf8_lossy(&cluster.stderr),
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flux_rebuild_end_to_end_interrupted_during_pulumi_up_and_resumed() {
    // A cluster of its own: Flux's CRDs and cluster RBAC are cluster-wide.
    let Some(cluster) = RealCluster::own().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let world = PulumiWorld::new(dir.path());
    let k = cluster.kubectl();

    // The old install, as `kubectl apply` (client-side) made it.
    install_old_flux(&k).await;

    let repo = repository(dir.path(), &world);
    let (bin, sim_config) = stand_ins(dir.path());
    let kubeconfig = oceanid_kubeconfig(&cluster, dir.path());
    let path = std::env::join_paths(
        std::iter::once(bin.clone()).chain(std::env::split_paths(
            &world
                .env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
        )),
    )
    .unwrap();
    let plan = Path::new(ROOT).join("plans/flux-rebuild.toml");
    let repo_var = format!("repo_dir={}", repo.display());
    let state = dir.path().join("state");
    let args = |mode: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = vec![
            "run".into(),
            plan.display().to_string(),
            "--yes".into(),
            "--output".into(),
            "json".into(),
            "--var".into(),
            repo_var.clone(),
            "--state-dir".into(),
            state.display().to_string(),
        ];
        args.extend(mode.iter().map(|m| (*m).to_owned()));
        args
    };
    let env = [
        ("KUBECONFIG", kubeconfig.clone().into_os_string()),
        ("PATH", path),
        ("PLANRUN_SIM_CONFIG", sim_config.into_os_string()),
    ];

    // The repository the rebuilt Flux syncs from.
    let git = GitServer::serve(&dir.path().join("git"), ARTIFACT);
    world.set_values(&cluster, &format!("sync: {{url: '{}'}}\n", git.url()));
    let revision = format!("main@sha1:{}", git.head());

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let old = k
        .ok(&[
            "get",
            "namespace",
            "flux-system",
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .await;
    let source = tokio::spawn(run_rebuilt_controller(
        Controller::source(&dir.path().join("source-storage")),
        cluster.kubeconfig.clone(),
        cluster.client().await,
        dir.path().join("source-controller.log"),
        old.clone(),
        stop.clone(),
    ));
    let controller = tokio::spawn(run_rebuilt_controller(
        Controller::kustomize(),
        cluster.kubeconfig.clone(),
        cluster.client().await,
        dir.path().join("kustomize-controller.log"),
        old,
        stop.clone(),
    ));

    // The first run, interrupted once `pulumi up` has begun creating Flux. No new Pod
    // is scheduled until then (the nodes are tainted), so the new controllers' rollout,
    // which pulumi awaits, cannot end before the interruption: on kwok's nodes it can
    // otherwise take less than the poll below (seen: 0.4 s).
    taint_nodes(&k, true).await;
    let log1 = dir.path().join("run1.log");
    let mut run = spawn_run(&world, &cluster, &args(&["--restart"]), &env, &log1);
    let deadline = Instant::now() + run_deadline();
    let deploys: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(cluster.client().await, "flux-system");
    loop {
        if let Some(status) = run.try_wait().unwrap() {
            panic!(
                "the run ended ({status}) before pulumi up could be interrupted:\n{}",
                std::fs::read_to_string(&log1).unwrap()
            );
        }
        let up_running = started(&log1, "pulumi-up") && pulumi_cli(&world).is_some();
        let created = deploys
            .list(&ListParams::default())
            .await
            .map(|l| l.items.len())
            .unwrap_or(0);
        // Once the six controllers exist, while pulumi still awaits their rollout.
        // Earlier, the resume's refused update may have a Deployment's create in
        // flight when it meets the first refusal: the engine stops taking steps but
        // waits for that create, and the provider awaits the rollout (seen to outlast
        // ten minutes under load), where a Secret's create ends at once.
        if up_running && created >= 6 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pulumi up never began:\n{}",
            std::fs::read_to_string(&log1).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    signal(run.id(), Signal::SIGINT);
    let status = ended(&mut run, &log1, &world, &k).await;
    taint_nodes(&k, false).await;
    let said1 = std::fs::read_to_string(&log1).unwrap();
    assert_eq!(status.code(), Some(130), "{said1}");
    // Pulumi had its SIGINT and its grace, and ended with its plugins.
    world.none_left().await;

    // Resumed: the finished tasks stay done. Where the Ctrl-C landed decides what the
    // reviewed plan (everything "create") meets:
    // - the interrupted update created part of Flux: those resources are no longer
    //   creates, so the real `pulumi up --plan` refuses them, and planrun says to
    //   review a new preview rather than apply what nobody reviewed; done as told (the
    //   preview again, its diff now updating what exists, confirmed by --yes), the rest
    //   of the plan runs to green;
    // - every resource it finished is recorded as planned (seen on a loaded machine):
    //   each is now the same as planned, which a planned create allows (pulumi/pulumi
    //   `pkg/resource/deploy/step.go` `ConstrainedTo`), the rest are the planned
    //   creates, and the resume runs to green at once.
    let log2 = dir.path().join("run2.log");
    let mut run = spawn_run(&world, &cluster, &args(&["--resume"]), &env, &log2);
    let status = ended(&mut run, &log2, &world, &k).await;
    let said2 = std::fs::read_to_string(&log2).unwrap();
    world.none_left().await;
    let said3 = match status.code() {
        Some(1) => {
            assert!(
                said2
                    .contains("is not allowed by the plan: this resource is constrained to create"),
                "{said2}"
            );
            assert!(said2.contains("--resume --rerun pulumi-preview"), "{said2}");
            let log3 = dir.path().join("run3.log");
            let mut run = spawn_run(
                &world,
                &cluster,
                &args(&["--resume", "--rerun", "pulumi-preview"]),
                &env,
                &log3,
            );
            let status = ended(&mut run, &log3, &world, &k).await;
            let said3 = std::fs::read_to_string(&log3).unwrap();
            assert_eq!(
                status.code(),
                Some(0),
                "{said1}\n---- resumed:\n{said2}\n---- rerun:\n{said3}"
            );
            said3
        }
        Some(0) => {
            let up = said2
                .lines()
                .find(|l| l.contains("--- pulumi up: "))
                .unwrap_or_else(|| panic!("no update summary:\n{said2}"));
            for change in ["updated", "replaced", "deleted"] {
                assert!(!up.contains(change), "{up}");
            }
            String::new()
        }
        _ => panic!("{said1}\n---- resumed ({status}):\n{said2}"),
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let source = source
        .await
        .unwrap()
        .expect("the rebuilt Flux's source-controller never ran");
    let controller = controller
        .await
        .unwrap()
        .expect("the rebuilt Flux's kustomize-controller never ran");
    world.none_left().await;
    for said in [&said1, &said2, &said3] {
        assert_no_secret("the output", said);
    }
    // The real flux CLI checked the rebuilt Flux, and the health check saw the real
    // controller's Ready.
    let last = if said3.is_empty() { &said2 } else { &said3 };
    for line in [
        "all checks passed",
        "flux-health-check: Flux healthy in flux-system",
    ] {
        assert!(last.contains(line), "{line}:\n{last}");
    }
    assert_no_secret("the run directory", &all_text(&state));

    // The Desired End State, as kubectl sees it.
    let deployments: Value = serde_json::from_str(
        &k.ok(&["-n", "flux-system", "get", "deployments", "-o", "json"])
            .await,
    )
    .unwrap();
    let mut tags: Vec<(String, String, bool)> = deployments["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let image = d["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or("");
            let available = d["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Available" && c["status"] == "True")
            });
            (
                d["metadata"]["name"].as_str().unwrap().to_owned(),
                image.rsplit(':').next().unwrap().to_owned(),
                available,
            )
        })
        .collect();
    tags.sort();
    let want = [
        ("helm-controller", "v1.4.0"),
        ("image-automation-controller", "v1.0.1"),
        ("image-reflector-controller", "v1.0.1"),
        ("kustomize-controller", "v1.7.0"),
        ("notification-controller", "v1.7.1"),
        ("source-controller", "v1.7.0"),
    ];
    assert_eq!(
        tags,
        want.iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned(), true))
            .collect::<Vec<_>>()
    );
    let crds: Value = serde_json::from_str(
        &k.ok(&["get", "crd", "--show-managed-fields", "-o", "json"])
            .await,
    )
    .unwrap();
    let flux_crds: Vec<&Value> = crds["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with(".toolkit.fluxcd.io"))
        })
        .collect();
    assert_eq!(flux_crds.len(), 14);
    // Pulumi's managers own them; besides, only the API server's own status writes
    // (`kube-apiserver`, subresource status: names accepted, Established).
    for crd in flux_crds {
        let owners = managers(crd);
        assert!(
            owners
                .iter()
                .any(|(m, _)| m.starts_with("pulumi-kubernetes")),
            "{}: {owners:?}",
            crd["metadata"]["name"]
        );
        for entry in crd["metadata"]["managedFields"].as_array().unwrap() {
            let manager = entry["manager"].as_str().unwrap_or("");
            assert!(
                manager.starts_with("pulumi-kubernetes")
                    || (manager == "kube-apiserver" && entry["subresource"] == "status"),
                "{}: {entry}",
                crd["metadata"]["name"]
            );
        }
    }
    let sources = k
        .ok(&[
            "-n",
            "flux-system",
            "get",
            "gitrepositories,kustomizations",
            "-o",
            "name",
        ])
        .await;
    assert!(
        sources.contains("gitrepository.source.toolkit.fluxcd.io/flux-system"),
        "{sources}"
    );
    assert!(
        sources.contains("kustomization.kustomize.toolkit.fluxcd.io/flux-system"),
        "{sources}"
    );
    // The real source-controller stored the commit the server serves, and the real
    // kustomize-controller reconciled the Kustomization Pulumi created (the plan's
    // `kustomizations-ready` waited for its Ready) and applied it; both ran throughout.
    let repository: Value = serde_json::from_str(
        &k.ok(&[
            "-n",
            "flux-system",
            "get",
            "gitrepository",
            "flux-system",
            "-o",
            "json",
        ])
        .await,
    )
    .unwrap();
    assert_eq!(
        repository["status"]["artifact"]["revision"],
        revision.as_str(),
        "{repository}\n{}",
        source.log()
    );
    assert!(
        repository["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")),
        "{repository}"
    );
    assert!(
        controller.applied("flux-system", &revision).await,
        "{}",
        controller.log()
    );
    assert_eq!(source.stopped(), None);
    assert_eq!(controller.stopped(), None);
    let applied = k
        .ok(&[
            "-n",
            "apps",
            "get",
            "configmap",
            "oceanid-settings",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(applied.trim(), "configmap/oceanid-settings");
}
