//! planrun's Pulumi tasks against the real Pulumi CLI and pulumi-kubernetes provider
//! (built by `scripts/realcluster build`) deploying the oceanid test project to a real
//! control plane: preview and the reviewed update, the config preflight on the real
//! CLI's output, a concurrent update, Ctrl-C during `up`, and kill -9 during `up` then
//! resume. Each test that deploys has a cluster of its own (Flux's CRDs are
//! cluster-wide). Skipped, saying why, when the tools are not built.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};

use crate::realcluster::{self, OCEANID_SECRETS, PulumiWorld, RealCluster};

/// Generous: Pulumi and the control plane share two loaded cores.
const DEADLINE: Duration = Duration::from_secs(240);

/// Values that keep the controllers' pods Pending: `pulumi up` waits on their rollout.
const HANG: &str = "nodeSelector: {none: \"true\"}\n";

fn planrun_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_planrun"))
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A plan of Pulumi tasks on the world's project, written into `dir`.
fn plan(dir: &Path, world: &PulumiWorld, tasks: &str) -> PathBuf {
    let path = dir.join("plan.toml");
    std::fs::write(
        &path,
        format!(
            "[plan]\nname = \"pulumi-real\"\n\n[vars]\nproject = {:?}\n\n{tasks}",
            world.project.display().to_string()
        ),
    )
    .unwrap();
    path
}

const REVIEWED_UP: &str = r#"
[tasks.preview]
type = "pulumi-preview"
stack = "oceanid-cluster"
cwd = "{{ project }}"
require_config = ["flux.ssh_private_key", "github.token"]
timeout = "10m"

[tasks.up]
type = "pulumi-up"
stack = "oceanid-cluster"
cwd = "{{ project }}"
plan_from = "preview"
timeout = "10m"
needs = ["preview"]
"#;

const PLAIN_UP: &str = r#"
[tasks.up]
type = "pulumi-up"
stack = "oceanid-cluster"
cwd = "{{ project }}"
require_config = ["flux.ssh_private_key", "github.token"]
timeout = "10m"
"#;

/// `planrun ARGS` with the world's environment, off the async runtime.
async fn planrun(world: &PulumiWorld, cluster: &RealCluster, args: &[&str]) -> Output {
    let mut cmd = world.command(planrun_bin(), cluster);
    cmd.args(args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn spawn_planrun(world: &PulumiWorld, cluster: &RealCluster, args: &[&str], log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    world
        .command(planrun_bin(), cluster)
        .args(args)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap()
}

/// Every file under `dir`, as text.
pub fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    for entry in walk(dir) {
        if let Ok(t) = std::fs::read(&entry) {
            out.push_str(&String::from_utf8_lossy(&t));
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

/// Text as one line: miette wraps long messages and help at the terminal's width.
pub fn flat(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn assert_no_secret(what: &str, text: &str) {
    for secret in OCEANID_SECRETS {
        assert!(
            !text.contains(secret),
            "{what} shows a secret value: {text}"
        );
    }
}

/// Waits until Pulumi has created or updated the six controllers (the update is in
/// flight, waiting on their rollout).
async fn controllers_written(cluster: &RealCluster, label: &str) {
    let deploys: Api<Deployment> = Api::namespaced(cluster.client().await, "flux-system");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let written = deploys
            .list(&ListParams::default().labels(label))
            .await
            .map(|l| l.items.len())
            .unwrap_or(0);
        if written == 6 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Pulumi never wrote the controllers"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "pid {} did not end", child.id());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).unwrap();
}

/// The pulumi CLI among the world's processes (not its plugins).
pub fn pulumi_cli(world: &PulumiWorld) -> Option<u32> {
    world.processes().into_iter().find(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "pulumi")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reviewed_update_deploys_flux_with_the_real_pulumi() {
    let Some(cluster) = RealCluster::own().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let world = PulumiWorld::new(dir.path());
    let plan = plan(dir.path(), &world, REVIEWED_UP);
    let plan = plan.to_str().unwrap();

    let out = planrun(&world, &cluster, &["run", plan, "--yes"]).await;
    let said = text(&out);
    eprintln!("{said}");
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("preview succeeded"), "{said}");
    assert!(said.contains("created"), "{said}");
    // Flux as the chart has it: 14 CRDs, six controllers, all Pulumi's by apply.
    let client = cluster.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let flux: Vec<CustomResourceDefinition> = crds
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|c| {
            c.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.ends_with(".toolkit.fluxcd.io"))
        })
        .collect();
    assert_eq!(flux.len(), 14);
    for crd in &flux {
        let managers: Vec<_> = crd
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|m| m.manager.clone())
            .collect();
        assert!(
            managers.iter().any(|m| m.starts_with("pulumi-kubernetes-")),
            "{managers:?}"
        );
    }
    // The secrets never show: not in the output, the journal, the logs, the report or
    // the saved plan.
    assert_no_secret("the output", &said);
    assert_no_secret("the run directory", &all_text(&dir.path().join(".planrun")));

    // Nothing to do the second time.
    let out = planrun(&world, &cluster, &["run", plan, "--yes", "--restart"]).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("unchanged"), "{said}");
    world.none_left().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preflight_reads_flat_and_path_secrets_from_the_real_cli() {
    let Some(_) = realcluster::tools() else {
        return;
    };
    // The preflight runs before any task and needs the backend only.
    let Some(cluster) = realcluster::shared().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let world = PulumiWorld::new(dir.path());
    // A task before the update fails at once: reaching it proves the preflight passed.
    let tasks = format!(
        "[tasks.first]\ntype = \"exec-script\"\ncommand = [\"false\"]\n{}needs = [\"first\"]\n",
        PLAIN_UP
    );
    let plan = plan(dir.path(), &world, &tasks);
    let plan = plan.to_str().unwrap();
    let out = planrun(&world, cluster, &["run", plan, "--yes"]).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("first failed"), "{said}");
    assert_no_secret("the output", &said);

    // Without the flat key: refused before anything runs, with the fix.
    let rm = world.pulumi(cluster, &["config", "rm", "github.token"]);
    assert!(rm.status.success(), "{}", text(&rm));
    let out = planrun(&world, cluster, &["run", plan, "--yes", "--restart"]).await;
    let said = flat(&text(&out));
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.contains("stack `oceanid-cluster` lacks required config: github.token"),
        "{said}"
    );
    assert!(
        said.contains("pulumi config set --secret github.token"),
        "{said}"
    );
    assert!(!said.contains("first failed"), "{said}");

    // Without the path key (the object `flux` keeps another key): refused too.
    let set = world.pulumi(
        cluster,
        &[
            "config",
            "set",
            "--secret",
            "github.token",
            "ghp_realclustertesttoken",
        ],
    );
    assert!(set.status.success(), "{}", text(&set));
    let set = world.pulumi(cluster, &["config", "set", "--path", "flux.other", "x"]);
    assert!(set.status.success(), "{}", text(&set));
    let rm = world.pulumi(cluster, &["config", "rm", "--path", "flux.ssh_private_key"]);
    assert!(rm.status.success(), "{}", text(&rm));
    let out = planrun(&world, cluster, &["run", plan, "--yes", "--restart"]).await;
    let said = flat(&text(&out));
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.contains("lacks required config: flux.ssh_private_key"),
        "{said}"
    );
    assert_no_secret("the output", &said);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_update_is_refused_naming_the_update_that_holds_the_stack() {
    let Some(cluster) = RealCluster::own().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let world = PulumiWorld::new(dir.path());
    world.set_values(&cluster, HANG);
    // Someone else's update, hanging on the rollout.
    let mut other = world
        .command("pulumi", &cluster)
        .args([
            "up",
            "--yes",
            "--skip-preview",
            "--stack",
            "oceanid-cluster",
        ])
        .current_dir(&world.project)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    controllers_written(&cluster, "app.kubernetes.io/part-of=flux").await;

    let plan = plan(dir.path(), &world, PLAIN_UP);
    let out = planrun(&world, &cluster, &["run", plan.to_str().unwrap(), "--yes"]).await;
    let said = flat(&text(&out));
    assert_eq!(out.status.code(), Some(1), "{said}");
    let pid = other.id();
    assert!(
        said.contains(&format!(
            "stack `oceanid-cluster` is locked by an update still running: pid {pid} on this machine"
        )),
        "{said}"
    );
    assert!(said.contains(&format!("kill -INT {pid}")), "{said}");

    // Pulumi's own answer to SIGINT: it cancels and ends, nothing left behind.
    signal(pid, nix::sys::signal::Signal::SIGINT);
    wait_exit(&mut other).await;
    world.none_left().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_up_lets_pulumi_stop_cleanly() {
    let Some(cluster) = RealCluster::own().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let world = PulumiWorld::new(dir.path());
    world.set_values(&cluster, HANG);
    let plan = plan(dir.path(), &world, PLAIN_UP);
    let log = dir.path().join("run.log");
    let mut run = spawn_planrun(
        &world,
        &cluster,
        &["run", plan.to_str().unwrap(), "--yes"],
        &log,
    );
    controllers_written(&cluster, "app.kubernetes.io/part-of=flux").await;
    assert!(pulumi_cli(&world).is_some(), "pulumi is not running");

    signal(run.id(), nix::sys::signal::Signal::SIGINT);
    let status = wait_exit(&mut run).await;
    let said = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(130), "{said}");
    assert!(said.contains("up interrupted"), "{said}");
    // Pulumi had its SIGINT and its grace: it ended with its plugins, released the
    // stack and left nothing pending.
    world.none_left().await;
    let export = world.pulumi(&cluster, &["stack", "export"]);
    let state: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    assert!(
        state["deployment"]["pending_operations"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{}",
        state["deployment"]["pending_operations"]
    );
    let preview = world.pulumi(&cluster, &["preview"]);
    assert!(
        preview.status.success(),
        "the stack stayed locked: {}",
        text(&preview)
    );
    assert_no_secret("the output", &said);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_up_then_resume_says_what_holds_the_stack() {
    let Some(cluster) = RealCluster::own().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let world = PulumiWorld::new(dir.path());
    // Flux deployed; then an update that hangs (an update, not a create: a create cut
    // off would leave fields owned by a manager no later update uses, see
    // realcluster/README.md).
    let up = world.pulumi(&cluster, &["up", "--yes", "--skip-preview"]);
    assert!(up.status.success(), "{}", text(&up));
    world.set_values(
        &cluster,
        &format!("{HANG}commonLabels: {{rollout: \"2\"}}\n"),
    );
    let plan = plan(dir.path(), &world, PLAIN_UP);
    let plan = plan.to_str().unwrap();
    let log = dir.path().join("run.log");
    let mut run = spawn_planrun(&world, &cluster, &["run", plan, "--yes"], &log);
    controllers_written(&cluster, "rollout=2").await;
    let pulumi = pulumi_cli(&world).expect("pulumi runs");

    // planrun is killed. The update it started is in its own process group: it goes
    // on until it next writes to its output (the pipe to planrun is closed, SIGPIPE ends
    // it), so it may or may not still run when the resume comes.
    signal(run.id(), nix::sys::signal::Signal::SIGKILL);
    wait_exit(&mut run).await;
    if world.processes().contains(&pulumi) {
        let out = planrun(&world, &cluster, &["run", plan, "--yes", "--resume"]).await;
        let said = flat(&text(&out));
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(said.contains("cut off mid-run and runs again"), "{said}");
        if world.processes().contains(&pulumi) {
            assert!(
                said.contains(&format!(
                    "locked by an update still running: pid {pulumi} on this machine"
                )),
                "{said}"
            );
        }
        // Then the machine "crashes": pulumi is killed too.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pulumi as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    } else {
        eprintln!("pulumi {pulumi} ended with planrun (SIGPIPE on its output)");
    }
    // Its lock and pending operations stay; its plugins are orphans.
    let deadline = Instant::now() + DEADLINE;
    while world.processes().contains(&pulumi) {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let orphans = world.kill_leftovers();
    eprintln!("plugins left running by the killed pulumi: {orphans:?}");

    // A kill while pulumi saves the stack leaves the metadata file beside its
    // checkpoint cut short, and the stack unreadable (src/exec/pulumi/checkpoint.rs).
    // Dying of SIGPIPE, pulumi dies on the output it writes right after a save, so
    // this kill may have done it; if it did not, it is done here.
    let sidecar = world.checkpoint_sidecar();
    let export = world.pulumi(&cluster, &["stack", "export"]);
    if export.status.success() {
        std::fs::write(&sidecar, "").unwrap();
    } else {
        let said = text(&export);
        assert!(said.contains("failed to load checkpoint"), "{said}");
        eprintln!("the kill left the checkpoint unreadable: {said}");
    }
    let out = planrun(&world, &cluster, &["run", plan, "--yes", "--resume"]).await;
    // The preflight finds it, before any task runs (exit 3); paths may be wrapped.
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    let said: String = said.split_whitespace().filter(|w| *w != "│").collect();
    for want in [
        format!("itsmetadatafile{}isemptyorcutshort", sidecar.display()),
        format!("`rm--{}`", sidecar.display()),
    ] {
        assert!(said.contains(&want), "{want:?} in {said}");
    }
    std::fs::remove_file(&sidecar).unwrap();

    let export = world.pulumi(&cluster, &["stack", "export"]);
    let state: serde_json::Value = serde_json::from_slice(&export.stdout)
        .unwrap_or_else(|e| panic!("pulumi stack export: {e}: {}", text(&export)));
    let pending = state["deployment"]["pending_operations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!pending.is_empty(), "no pending operations after a kill -9");

    // planrun says what the cut-off update left (its lock, the operations it had
    // under way), does not start the update, and names the commands that clear them.
    let out = planrun(&world, &cluster, &["run", plan, "--yes", "--resume"]).await;
    let said = flat(&text(&out));
    assert_eq!(out.status.code(), Some(1), "{said}");
    for want in [
        // One operation or more: as many as the kill cut off.
        "pending operation",
        "from an interrupted update",
        "interrupted while updating",
        &format!("(pid {pulumi})"),
        "the update was not started",
        "pulumi cancel --stack oceanid-cluster",
        "pulumi refresh --clear-pending-creates --stack oceanid-cluster",
    ] {
        assert!(said.contains(want), "{want:?} in {said}");
    }

    // The operator does as told, the cause is fixed, and the resume ends green.
    for command in [
        &["cancel", "--yes"][..],
        &["refresh", "--clear-pending-creates", "--yes"],
    ] {
        let out = world.pulumi(&cluster, command);
        assert!(out.status.success(), "{command:?}: {}", text(&out));
    }
    world.set_values(&cluster, "commonLabels: {rollout: \"3\"}\n");
    let out = planrun(&world, &cluster, &["run", plan, "--yes", "--resume"]).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    world.none_left().await;
    assert_no_secret("the output", &said);
}
