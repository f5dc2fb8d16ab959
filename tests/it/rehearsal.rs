//! The Flux rebuild rehearsed end to end through the real binary: the README's
//! command on a fresh copy of the repository, every failure rehearsal and its
//! message, an interrupted rehearsal resumed to green, and the README's set-up
//! commands and task reference checked against CI and the schema.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn plan() -> PathBuf {
    root().join("plans/flux-rebuild.toml")
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

/// The commands of the README's "Set-up" section, one per `sh` block, in order.
fn setup_commands() -> Vec<String> {
    let text = readme();
    let start = text
        .find("\n## Set-up")
        .expect("the README has a Set-up section");
    let section = &text[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    section
        .split("```sh\n")
        .skip(1)
        .map(|block| block[..block.find("```").unwrap()].trim().to_owned())
        .collect()
}

/// planrun's arguments in the README's rehearsal command (`cargo run --release -- ARGS`).
fn readme_rehearsal_args() -> Vec<String> {
    let command = setup_commands()[0].clone();
    let args = command
        .strip_prefix("cargo run --release -- ")
        .unwrap_or_else(|| panic!("the first set-up command runs planrun: {command}"));
    args.split_whitespace().map(str::to_owned).collect()
}

pub fn planrun(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("planrun").unwrap();
    cmd.current_dir(dir).env("NO_COLOR", "1");
    cmd
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The rehearsal's files for the Flux plan under a state dir.
fn sandbox_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("flux-rebuild/sandbox")
}

fn cluster(state_dir: &Path) -> Vec<Value> {
    let text = std::fs::read(sandbox_dir(state_dir).join("cluster.json")).unwrap();
    let snap: Value = serde_json::from_slice(&text).unwrap();
    snap["objects"].as_array().unwrap().clone()
}

/// The latest run's directory of a plan rehearsed under `state_dir`.
fn latest_run_dir(state_dir: &Path, plan: &str) -> PathBuf {
    let dir = state_dir.join(plan);
    let id = std::fs::read_to_string(dir.join("latest")).unwrap();
    dir.join("runs").join(id.trim())
}

/// The objects of the `sandbox-final.yaml` of the latest run.
fn final_state(state_dir: &Path, plan: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(latest_run_dir(state_dir, plan).join("sandbox-final.yaml"))
        .unwrap();
    let list: Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(
        (list["apiVersion"].as_str(), list["kind"].as_str()),
        (Some("v1"), Some("List"))
    );
    list["items"].as_array().unwrap().clone()
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// The tools' invocations: (tool, first argument) pairs.
fn tool_calls(state_dir: &Path) -> Vec<(String, String)> {
    tool_calls_of(state_dir, "flux-rebuild")
}

/// The tools' invocations of the rehearsals of the plan named `plan`.
fn tool_calls_of(state_dir: &Path, plan: &str) -> Vec<(String, String)> {
    let log = state_dir.join(plan).join("sandbox/tools.log");
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["tool"].as_str().unwrap().to_owned(),
                v["args"][0].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn count(calls: &[(String, String)], tool: &str, first: &str) -> usize {
    calls
        .iter()
        .filter(|(t, a)| t == tool && (first.is_empty() || a == first))
        .count()
}

/// The seed's "Desired End State": six controllers ready at the Flux v2.7.0 tags,
/// every Flux CRD owned only by Pulumi's server-side apply, GitRepository and
/// Kustomization Ready.
fn assert_desired_end_state(objects: &[Value]) {
    let expected = [
        ("source-controller", "v1.7.0"),
        ("kustomize-controller", "v1.7.0"),
        ("helm-controller", "v1.4.0"),
        ("notification-controller", "v1.7.1"),
        ("image-automation-controller", "v1.0.1"),
        ("image-reflector-controller", "v1.0.1"),
    ];
    let deployments: Vec<&Value> = of_kind(objects, "Deployment")
        .into_iter()
        .filter(|d| d["metadata"]["namespace"] == "flux-system")
        .collect();
    assert_eq!(deployments.len(), 6, "six controllers");
    for (name, tag) in expected {
        let d = deployments
            .iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("deployment {name}"));
        let image = d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap();
        assert_eq!(image, format!("ghcr.io/fluxcd/{name}:{tag}"));
        assert_eq!(d["status"]["readyReplicas"], 1, "{name} ready");
    }
    let crds: Vec<_> = of_kind(objects, "CustomResourceDefinition")
        .into_iter()
        .filter(|c| {
            c["metadata"]["name"]
                .as_str()
                .unwrap()
                .ends_with(".toolkit.fluxcd.io")
        })
        .collect();
    assert_eq!(crds.len(), 14, "the fourteen Flux v2.7.0 CRDs");
    for crd in crds {
        let name = crd["metadata"]["name"].as_str().unwrap();
        for m in crd["metadata"]["managedFields"].as_array().unwrap() {
            let manager = m["manager"].as_str().unwrap();
            // The API server's own status writes are not a client's apply.
            if m["subresource"] == "status" {
                continue;
            }
            // pulumi-kubernetes >= 4.29 creates as `pulumi-kubernetes` (Update).
            assert!(
                (manager == "pulumi-kubernetes" && m["operation"] == "Update")
                    || (manager.starts_with("pulumi-kubernetes-") && m["operation"] == "Apply"),
                "{name} has manager {manager} ({})",
                m["operation"]
            );
        }
    }
    // What Flux deployed survived the rebuild: podinfo (the Kustomization apps's
    // inventory), the redis release and its storage Secret.
    let has = |kind: &str, ns: &str, name: &str| {
        objects.iter().any(|o| {
            o["kind"] == kind && o["metadata"]["namespace"] == ns && o["metadata"]["name"] == name
        })
    };
    for (kind, name) in [
        ("Deployment", "podinfo"),
        ("Service", "podinfo"),
        ("Deployment", "redis-master"),
        ("Secret", "sh.helm.release.v1.redis.v1"),
    ] {
        assert!(has(kind, "apps", name), "apps/{name} ({kind}) survives");
    }
    // No Flux cluster RBAC of the old install is left.
    for kind in ["ClusterRole", "ClusterRoleBinding"] {
        let left: Vec<&Value> = of_kind(objects, kind)
            .into_iter()
            .filter(|o| o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "flux")
            .collect();
        assert!(left.is_empty(), "old Flux {kind}s left: {left:?}");
    }
    for kind in ["GitRepository", "Kustomization"] {
        let objs = of_kind(objects, kind);
        assert_eq!(objs.len(), 1, "one {kind}");
        let ready = objs[0]["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        assert!(ready, "{kind} Ready: {}", objs[0]["status"]);
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == ".planrun" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn the_readme_rehearsal_ends_green_in_the_desired_end_state() {
    // A fresh checkout: the plan and the rehearsal assets, no earlier state.
    let tree = tempfile::tempdir().unwrap();
    for dir in ["plans", "examples/rehearsal"] {
        copy_tree(&root().join(dir), &tree.path().join(dir));
    }
    let out = planrun(tree.path())
        .args(readme_rehearsal_args())
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("run succeeded"), "{all}");
    assert!(all.contains("29 succeeded"), "{all}");
    assert!(all.contains("report: "), "{all}");
    // Pulumi recreated the Git credentials; only the other captured Secret is restored.
    assert!(
        all.contains("restore-flux-secrets succeeded")
            && all.contains("applied secrets/flux-system/sops-age (keys: age.agekey) from the capture of `capture-secrets` as planrun; present, left as they are: secrets/flux-system/flux-system"),
        "{all}"
    );
    for secret in [
        "REHEARSAL-ONLY-not-a-real-key-7f3a9c",
        "AGE-SECRET-KEY-1REHEARSALONLY",
    ] {
        assert!(!all.contains(secret), "a secret value in the output");
    }
    let state = tree.path().join("plans/.planrun/rehearsal");
    assert_desired_end_state(&cluster(&state));
    // The final state is in the run's directory too, without a secret value.
    let final_state = final_state(&state, "flux-rebuild");
    assert_desired_end_state(&final_state);
    let text =
        std::fs::read_to_string(latest_run_dir(&state, "flux-rebuild").join("sandbox-final.yaml"))
            .unwrap();
    for secret in [
        "REHEARSAL-ONLY-not-a-real-key-7f3a9c",
        "AGE-SECRET-KEY-1REHEARSALONLY",
    ] {
        assert!(
            !text.contains(secret),
            "a secret value in sandbox-final.yaml"
        );
    }
    assert!(text.contains("(masked)"), "Secrets are there, masked");
    // The plan's last task wrote to the repository copy's runbook.
    let log =
        std::fs::read_to_string(sandbox_dir(&state).join("repo/docs/flux-rebuild-log.md")).unwrap();
    assert!(log.contains("Flux rebuild run"), "{log}");
}

#[test]
fn the_readme_setup_commands_are_what_ci_and_the_rehearsal_test_run() {
    let commands = setup_commands();
    assert_eq!(commands.len(), 2, "two set-up commands: {commands:?}");
    // The rehearsal test above runs exactly these planrun arguments.
    assert_eq!(
        readme_rehearsal_args(),
        ["rehearse", "plans/flux-rebuild.toml"]
    );
    // CI runs the README's test command (pinned to the lock file).
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let ci_test = ci
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("cargo test"))
        .expect(".ci/run runs cargo test");
    assert_eq!(ci_test.replace(" --locked", ""), commands[1]);
}

/// A rehearsal whose terminal nobody reads once its run has started (see
/// `support::StuckTerminal`): the run goes on to its end, then waits to show its
/// summary; the first SIGTERM is passed on and ends the run's wait with its own code,
/// the second ends the rehearsal's with the run's code.
#[test]
fn a_rehearsal_on_a_terminal_nobody_reads_ends_on_stop_signals() {
    let state = tempfile::tempdir().unwrap();
    // Read while the rehearsal starts (it says where its files are), then not.
    let mut terminal = crate::support::StuckTerminal::read();
    let plan = plan();
    let state_dir = state.path().display().to_string();
    let mut rehearsal = terminal.planrun(
        &root(),
        &[
            "rehearse",
            &plan.display().to_string(),
            "--state-dir",
            &state_dir,
        ],
    );
    let started = state.path().join("flux-rebuild/latest");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !started.exists() {
        assert!(
            Instant::now() < deadline,
            "the rehearsal's run never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    terminal.stick();
    let ended = || {
        let Ok(id) = std::fs::read_to_string(state.path().join("flux-rebuild/latest")) else {
            return false;
        };
        let events = state
            .path()
            .join("flux-rebuild/runs")
            .join(id.trim())
            .join("events.jsonl");
        std::fs::read_to_string(events).is_ok_and(|e| {
            e.lines().any(|l| {
                serde_json::from_str::<Value>(l)
                    .is_ok_and(|e| e["event"] == "run-finished" && e["outcome"] == "succeeded")
            })
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ended() {
        assert!(Instant::now() < deadline, "the rehearsal's run never ended");
        std::thread::sleep(Duration::from_millis(50));
    }
    let term = || {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(rehearsal.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
    };
    term();
    rehearsal.wait_for_exit_on_stop();
    term();
    assert_eq!(rehearsal.exit_code(), Some(0));
}

/// A rehearsal with `--fault NAME` in its own state dir.
fn rehearse_fault(fault: &str) -> (Output, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    let out = planrun(&root())
        .arg("rehearse")
        .arg(plan())
        .args(["--fault", fault, "--state-dir"])
        .arg(state.path())
        .output()
        .unwrap();
    (out, state)
}

#[test]
fn wrong_tag_names_the_deployment_and_both_tags() {
    let (out, _state) = rehearse_fault("wrong-tag");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("flux-controllers-ready failed"), "{all}");
    assert!(
        all.contains("source-controller: tag v1.6.2, expected v1.7.0"),
        "{all}"
    );
    assert!(all.contains("this failure was rehearsed"), "{all}");
}

#[test]
fn csa_manager_names_the_crd_and_the_manager() {
    let (out, _state) = rehearse_fault("csa-manager");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("no-client-side-apply failed"), "{all}");
    assert!(
        all.contains(
            "customresourcedefinitions/helmreleases.helm.toolkit.fluxcd.io: forbidden manager kubectl-client-side-apply"
        ),
        "{all}"
    );
}

#[test]
fn a_stuck_namespace_names_the_finalizer_and_the_namespace_conditions() {
    let (out, state) = rehearse_fault("stuck-namespace");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("flux-namespace-gone failed"), "{all}");
    assert!(all.contains("namespaces/flux-system"), "{all}");
    assert!(all.contains("spec.finalizers [kubernetes]"), "{all}");
    assert!(all.contains("phase Terminating"), "{all}");
    assert!(
        all.contains("condition NamespaceDeletionDiscoveryFailure=True (DiscoveryFailed)"),
        "{all}"
    );
    // Nothing was deployed into the half-deleted namespace.
    assert_eq!(count(&tool_calls(state.path()), "pulumi", "up"), 0);
}

#[test]
fn a_refused_rehearsal_leaves_the_earlier_runs_final_state_as_it_was() {
    let (out, state) = rehearse_fault("wrong-tag");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let run = latest_run_dir(state.path(), "flux-rebuild");
    let kept = |name: &str| std::fs::read(run.join(name)).unwrap();
    let before = (kept("sandbox-final.yaml"), kept("report.md"));

    // Refused before any task starts: no run is made.
    let out = planrun(&root())
        .arg("rehearse")
        .arg(plan())
        .args(["--fault", "missing-secret", "--state-dir"])
        .arg(state.path())
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert_eq!(latest_run_dir(state.path(), "flux-rebuild"), run, "{all}");
    assert!(
        before == (kept("sandbox-final.yaml"), kept("report.md")),
        "the refused rehearsal wrote into the failed run before it: {all}"
    );
    assert!(!all.contains("the sandbox's final state:"), "{all}");
    assert!(
        all.contains("the run never began: no sandbox-final.yaml is written"),
        "{all}"
    );
}

/// The old Flux is still there, untouched: nothing was deleted.
fn assert_nothing_deleted(state: &Path) {
    let objects = cluster(state);
    assert!(
        of_kind(&objects, "Namespace")
            .iter()
            .any(|n| n["metadata"]["name"] == "flux-system"
                && n["metadata"].get("deletionTimestamp").is_none()),
        "the old Flux namespace is untouched"
    );
    assert_eq!(of_kind(&objects, "CustomResourceDefinition").len(), 13);
}

#[test]
fn a_missing_pulumi_secret_is_caught_before_anything_is_deleted() {
    let (out, state) = rehearse_fault("missing-secret");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("lacks required"), "{all}");
    assert!(all.contains("github.token"), "{all}");
    // The SSH key, inside the secret object `flux`, was found; the token, set in
    // neither form, gets both commands.
    let flat = all.replace(['│', ' ', '\n'], "");
    assert!(!flat.contains("config:flux.ssh_private_key"), "{all}");
    assert!(
        flat.contains("pulumiconfigset--secretgithub.token"),
        "{all}"
    );
    assert!(
        flat.contains("pulumiconfigset--path--secretgithub.token"),
        "{all}"
    );
    assert!(!all.contains("started"), "no task started: {all}");
    assert_nothing_deleted(state.path());
    assert_eq!(count(&tool_calls(state.path()), "pnpm", ""), 0);
}

#[test]
fn the_unsafe_order_with_live_controllers_prunes_the_apps_and_says_so() {
    let state = tempfile::tempdir().unwrap();
    let out = planrun(&root())
        .arg("rehearse")
        .arg(root().join("plans/flux-rebuild.unsafe-order.toml"))
        .args(["--fault", "live-controllers", "--state-dir"])
        .arg(state.path())
        .output()
        .unwrap();
    let all = text(&out);
    // The run itself goes green: the damage is silent, unless one reads what the
    // controllers did.
    assert_eq!(out.status.code(), Some(0), "{all}");
    let pruned = "kustomize-controller pruned apps/Deployment/podinfo, apps/Service/podinfo (Kustomization flux-system/apps deleted, prune: true)";
    let uninstalled = "helm-controller uninstalled release apps/redis (HelmRelease apps/redis deleted): deleted apps/Deployment/redis-master, apps/Service/redis-master; release records apps/sh.helm.release.v1.redis.v1";
    assert!(all.contains(pruned), "{all}");
    assert!(all.contains(uninstalled), "{all}");
    let run = latest_run_dir(state.path(), "flux-rebuild-unsafe-order");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    // kube-delete said, before deleting the CRDs, what the deletion would meet (the
    // report's line is cut after the CRDs deleted; the task's log has it all).
    let crds_log = std::fs::read_to_string(run.join("logs/delete-flux-crds.log")).unwrap();
    assert!(
        crds_log.contains("running Deployments that may act on finalizers.fluxcd.io (`fluxcd` in their images or label values): flux-system/helm-controller (1 ready, "),
        "{crds_log}"
    );
    // The namespace's own deletion would stop them first (the sandbox reports 1.33, its
    // Pods go first): what prunes here is the CRDs deleted beside it.
    assert!(
        report.contains("flux-system/source-controller would act on them but are stopped first (its namespace's Pods go first)"),
        "{report}"
    );
    assert!(
        report.contains("## Sandbox activity (rehearsal)"),
        "{report}"
    );
    assert!(
        report.contains(pruned) && report.contains(uninstalled),
        "{report}"
    );
    let objects = final_state(state.path(), "flux-rebuild-unsafe-order");
    let in_apps: Vec<String> = objects
        .iter()
        .filter(|o| o["metadata"]["namespace"] == "apps")
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        !in_apps
            .iter()
            .any(|o| o.ends_with("/podinfo") || o.contains("redis")),
        "podinfo and the redis release are gone: {in_apps:?}"
    );
}

#[test]
fn the_unsafe_order_without_controllers_leaves_flux_objects_terminating() {
    let state = tempfile::tempdir().unwrap();
    let out = planrun(&root())
        .arg("rehearse")
        .arg(root().join("plans/flux-rebuild.unsafe-order.toml"))
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("flux-crds-gone failed"), "{all}");
    assert!(
        all.contains("- kustomizations/flux-system/apps: finalizers [finalizers.fluxcd.io]"),
        "{all}"
    );
    assert_eq!(
        count(
            &tool_calls_of(state.path(), "flux-rebuild-unsafe-order"),
            "pulumi",
            "up"
        ),
        0
    );
}

#[test]
fn with_another_current_context_every_tool_acts_on_the_plans_cluster() {
    let (out, state) = rehearse_fault("other-context");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("the kubeconfig's current context is `staging`"),
        "{all}"
    );
    // pulumi (simulated, through KUBECONFIG) and every task acted on oceanid.
    assert!(
        all.contains("the other cluster (context staging) got no writes"),
        "{all}"
    );
    assert_desired_end_state(&cluster(state.path()));
}

#[test]
fn secrets_set_with_path_are_found_and_the_rehearsal_ends_green() {
    let (out, state) = rehearse_fault("path-secret");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert_desired_end_state(&cluster(state.path()));
}

#[test]
fn a_cluster_too_old_for_flux_stops_at_flux_check_pre_before_anything_is_deleted() {
    let (out, state) = rehearse_fault("old-kubernetes");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("flux-prerequisites failed"), "{all}");
    assert!(
        all.contains("✗ Kubernetes version v1.31.4 does not match >=1.32.0-0"),
        "{all}"
    );
    assert!(!all.contains("delete-flux-namespace started"), "{all}");
    assert!(!all.contains("delete-flux-crds started"), "{all}");
    assert_nothing_deleted(state.path());
    assert_eq!(count(&tool_calls(state.path()), "pulumi", "preview"), 0);
    assert_eq!(count(&tool_calls(state.path()), "pulumi", "up"), 0);
}

#[test]
fn a_stale_stack_state_is_refreshed_and_the_rebuild_ends_green() {
    let (out, state) = rehearse_fault("stale-state");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert_desired_end_state(&cluster(state.path()));
    let calls = tool_calls(state.path());
    assert_eq!(count(&calls, "pulumi", "refresh"), 1);
}

#[test]
fn without_the_refresh_a_stale_stack_state_recreates_nothing() {
    // The same plan with the preview's refresh turned off.
    let tree = tempfile::tempdir().unwrap();
    for dir in ["plans", "examples/rehearsal"] {
        copy_tree(&root().join(dir), &tree.path().join(dir));
    }
    let plan = tree.path().join("plans/flux-rebuild.toml");
    let text_of_plan = std::fs::read_to_string(&plan).unwrap();
    assert!(text_of_plan.contains("refresh = true\n"));
    std::fs::write(
        &plan,
        text_of_plan.replace("refresh = true\n", "refresh = false\n"),
    )
    .unwrap();
    let out = planrun(tree.path())
        .args([
            "rehearse",
            "plans/flux-rebuild.toml",
            "--fault",
            "stale-state",
        ])
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("flux-controllers-ready failed"), "{all}");
    let state = tree.path().join("plans/.planrun/rehearsal");
    let objects = cluster(&state);
    assert!(
        !of_kind(&objects, "Deployment")
            .iter()
            .any(|d| d["metadata"]["namespace"] == "flux-system"),
        "no Flux controller recreated"
    );
    let runs = state.join("flux-rebuild/runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let diff = std::fs::read_to_string(run.join("pulumi-preview.diff.txt")).unwrap();
    assert!(diff.contains("    31 unchanged\n"), "{diff}");
}

#[test]
fn an_unknown_fault_lists_the_known_ones() {
    let (out, _state) = rehearse_fault("nope");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    for name in [
        "wrong-tag",
        "csa-manager",
        "stuck-namespace",
        "missing-secret",
        "other-context",
        "hang",
        "path-secret",
        "stale-state",
        "old-kubernetes",
    ] {
        assert!(all.contains(name), "{all}");
    }
}

/// Waits (with a deadline) until `check` holds.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_interrupted_rehearsal_resumes_to_green_without_repeating_finished_tasks() {
    let state = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("planrun");
    let mut child = std::process::Command::new(&bin)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .arg("rehearse")
        .arg(plan())
        .args(["--fault", "hang", "--output", "json", "--state-dir"])
        .arg(state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read events until pulumi-up starts.
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut events = Vec::new();
    loop {
        let line = lines
            .next()
            .expect("the run ended before pulumi-up started")
            .unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        let started = event["event"] == "task-started" && event["task"] == "pulumi-up";
        events.push(event);
        if started {
            break;
        }
    }
    // Midway: the simulated `pulumi up` is running (and hangs), holding the
    // stack's lock (it watches Ctrl-C by then).
    let locks = sandbox_dir(state.path())
        .join("tools-state/.pulumi/locks/organization/oceanid-cluster/oceanid-cluster");
    wait_until("pulumi up to start", || {
        count(&tool_calls(state.path()), "pulumi", "up") == 1
            && std::fs::read_dir(&locks).is_ok_and(|mut d| d.next().is_some())
    });
    // A second rehearsal of the plan meanwhile is refused before it touches the
    // world the first one runs in.
    let second = planrun(&root())
        .arg("rehearse")
        .arg(plan())
        .arg("--state-dir")
        .arg(state.path())
        .output()
        .unwrap();
    let said = text(&second);
    assert_eq!(second.status.code(), Some(3), "{said}");
    assert!(
        said.contains("a rehearsal of plan `flux-rebuild` is already running"),
        "{said}"
    );
    assert!(
        std::fs::read_dir(&locks).is_ok_and(|mut d| d.next().is_some()),
        "the second rehearsal replaced the first one's world: {said}"
    );
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    events.extend(lines.map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap()));
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let finished = events.last().unwrap();
    assert_eq!(finished["event"], "run-finished");
    assert_eq!(finished["outcome"], "interrupted");
    // After the interruption only the `always` task ran, knowing the run was
    // interrupted; it runs again at the end of the resumed run.
    let done_before: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "task-succeeded" && e["task"] != "record-completion")
        .map(|e| e["task"].as_str().unwrap().to_owned())
        .collect();
    assert!(done_before.contains(&"delete-flux-namespace".to_owned()));
    let record = || {
        std::fs::read_to_string(sandbox_dir(state.path()).join("repo/docs/flux-rebuild-log.md"))
            .unwrap()
    };
    assert!(record().contains(" interrupted; report: "), "{}", record());

    let out = planrun(&root())
        .arg("rehearse")
        .arg(plan())
        .args(["--resume", "--output", "json", "--state-dir"])
        .arg(state.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let events: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Every task that had finished is skipped as done earlier, none started again.
    for task in &done_before {
        assert!(
            events.iter().any(|e| e["event"] == "task-skipped"
                && e["task"] == task.as_str()
                && e["reason"]["kind"] == "done-earlier"),
            "{task} done earlier"
        );
        assert!(
            !events
                .iter()
                .any(|e| e["event"] == "task-started" && e["task"] == task.as_str()),
            "{task} ran again"
        );
    }
    let finished = events.last().unwrap();
    assert_eq!(finished["outcome"], "succeeded", "{finished}");
    let log = record();
    let outcomes: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split(" ended ").nth(1))
        .map(|rest| rest.split(';').next().unwrap())
        .collect();
    assert_eq!(outcomes, ["interrupted", "succeeded"], "{log}");
    // The tools confirm it: one build, the interrupted `up` and the resumed one.
    let calls = tool_calls(state.path());
    assert_eq!(count(&calls, "pnpm", ""), 1);
    assert_eq!(count(&calls, "pulumi", "up"), 2);
    assert_desired_end_state(&cluster(state.path()));

    // The run to look at: the report charts both processes, `pulumi-up` cut off
    // then done; the graph colours every task of the plan by its state.
    let report =
        std::fs::read_to_string(latest_run_dir(state.path(), "flux-rebuild").join("report.md"))
            .unwrap();
    let blocks = crate::timeline::mermaid_blocks(&report);
    assert_eq!(blocks.len(), 1, "{report}");
    crate::timeline::check_gantt(&blocks[0]);
    assert!(
        blocks[0].contains("  section pulumi-up\n    1 interrupted :crit, "),
        "{}",
        blocks[0]
    );
    let graph = planrun(&root())
        .arg("graph")
        .arg(plan())
        .args(["--run", "latest", "--format", "mermaid", "--state-dir"])
        .arg(state.path())
        .output()
        .unwrap();
    let drawn = String::from_utf8_lossy(&graph.stdout).into_owned();
    assert!(graph.status.success(), "{}", text(&graph));
    crate::timeline::check_flowchart(&drawn);
    for (task, kind) in [
        ("remove-flux-finalizers", "kube-patch"),
        ("restore-flux-secrets", "kube-apply"),
        ("pulumi-up", "pulumi-up"),
    ] {
        assert!(
            drawn.contains(&format!("{task}<br/><small>{kind} · succeeded</small>")),
            "{task}: {drawn}"
        );
    }
    assert!(!drawn.contains(" pending\n"), "{drawn}");

    // A dry run afterwards writes no run: the latest run's report and final state
    // stay as they are.
    let run = latest_run_dir(state.path(), "flux-rebuild");
    let kept = |name: &str| std::fs::read(run.join(name)).unwrap();
    let before = (kept("report.md"), kept("sandbox-final.yaml"));
    let out = planrun(&root())
        .arg("rehearse")
        .arg(plan())
        .args(["--dry-run", "--state-dir"])
        .arg(state.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(latest_run_dir(state.path(), "flux-rebuild"), run);
    assert!(
        before == (kept("report.md"), kept("sandbox-final.yaml")),
        "a dry run wrote into the run before it"
    );
}

/// The fields of each `### \`type\`` table in the README's task reference.
fn readme_reference() -> std::collections::BTreeMap<String, Vec<String>> {
    let text = readme();
    let start = text.find("\n## Task reference").expect("a task reference");
    let section = &text[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut out = std::collections::BTreeMap::new();
    let mut current = None;
    for line in section.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            let name = heading.trim_matches('`').to_owned();
            out.insert(name.clone(), Vec::new());
            current = Some(name);
        } else if let (Some(name), Some(rest)) = (&current, line.strip_prefix("| `")) {
            let field = rest[..rest.find('`').unwrap()].to_owned();
            out.get_mut(name).unwrap().push(field);
        }
    }
    out
}

#[test]
fn the_readme_task_reference_matches_the_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/plan.schema.json")).unwrap(),
    )
    .unwrap();
    let branches = schema["properties"]["tasks"]["additionalProperties"]["allOf"]
        .as_array()
        .unwrap();
    let fields = |b: &Value| -> std::collections::BTreeSet<String> {
        b["then"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    let common = branches
        .iter()
        .map(fields)
        .reduce(|a, b| a.intersection(&b).cloned().collect())
        .unwrap();
    let reference = readme_reference();
    let sorted = |v: &Vec<String>| v.iter().cloned().collect::<std::collections::BTreeSet<_>>();
    assert_eq!(sorted(&reference["Every task"]), common, "common fields");
    let mut types = vec!["Every task".to_owned()];
    for b in branches {
        let name = b["if"]["properties"]["type"]["const"].as_str().unwrap();
        types.push(name.to_owned());
        let own: std::collections::BTreeSet<String> =
            fields(b).difference(&common).cloned().collect();
        let documented = reference
            .get(name)
            .unwrap_or_else(|| panic!("the README documents task type `{name}`"));
        assert_eq!(sorted(documented), own, "fields of `{name}`");
    }
    let documented: Vec<&String> = reference.keys().collect();
    types.sort();
    assert_eq!(
        documented,
        types.iter().collect::<Vec<_>>(),
        "no stale task types"
    );
}

/// Each task type's section says the duration it is expected to take until its own
/// runs tell (what orders ready tasks and estimates the time left).
#[test]
fn the_readme_gives_each_types_typical_duration() {
    let text = readme();
    for &t in planrun::plan::TaskType::ALL {
        let heading = format!("\n### `{}`\n", t.name());
        let start = text.find(&heading).expect("a section per type") + heading.len();
        let section = &text[start..start + text[start..].find("\n#").unwrap()];
        let typical = t.info().typical;
        let words = if typical.is_zero() {
            "instant".to_owned()
        } else {
            planrun_text::format_duration(typical)
        };
        assert!(
            section.contains(&format!(
                "Typical duration, until its own runs tell: {words}."
            )),
            "`{}`: {section}",
            t.name()
        );
    }
}

#[test]
fn a_failed_rehearsal_resumes_once_the_cause_is_gone() {
    let (out, state) = rehearse_fault("stuck-namespace");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // Rehearsals whose run never begins meanwhile leave the failed run's world for
    // its resume: one refused by its preflight, then a dry run.
    let saved = sandbox_dir(state.path()).join("cluster.json");
    let earlier = std::fs::read(&saved).unwrap();
    for (args, code) in [(&["--fault", "missing-secret"][..], 3), (&["--dry-run"], 0)] {
        let out = planrun(&root())
            .arg("rehearse")
            .arg(plan())
            .args(args)
            .arg("--state-dir")
            .arg(state.path())
            .output()
            .unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {all}");
        assert!(
            all.contains("the world of the latest run is back as it was"),
            "{args:?}: {all}"
        );
        assert!(
            std::fs::read(&saved).unwrap() == earlier,
            "{args:?} left another cluster in place of the failed run's: {all}"
        );
    }
    // Without the fault the namespace, restored Terminating, finishes going.
    let out = planrun(&root())
        .arg("rehearse")
        .arg(plan())
        .args(["--resume", "--state-dir"])
        .arg(state.path())
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("delete-flux-namespace done earlier"), "{all}");
    assert!(all.contains("flux-namespace-gone succeeded"), "{all}");
    assert_eq!(count(&tool_calls(state.path()), "pnpm", ""), 1);
    assert_desired_end_state(&cluster(state.path()));
}

#[test]
fn a_plan_without_a_rehearsal_file_says_where_it_looked() {
    let state = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("examples/db-migration.toml"),
        state.path().join("db-migration.toml"),
    )
    .unwrap();
    let out = planrun(&root())
        .arg("rehearse")
        .arg(state.path().join("db-migration.toml"))
        .args(["--var", "pg_password=x", "--state-dir"])
        .arg(state.path())
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    // miette wraps long lines (at hyphens too): compare without the wrapping.
    let flat = all.replace(['│', ' ', '\n'], "");
    assert!(
        flat.contains("migration.rehearsal.yamldoesnotexist"),
        "{all}"
    );
    assert!(flat.contains("--rehearsalFILE"), "{all}");
}

#[test]
fn the_readme_walkthrough_draws_and_names_every_task_of_the_plan() {
    let text = readme();
    let start = text
        .find("## The Flux rebuild, step by step")
        .expect("a walkthrough");
    let section = &text[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let graph = planrun(&root())
        .args(["graph", "--format", "mermaid"])
        .arg(plan())
        .output()
        .unwrap();
    let drawn = String::from_utf8(graph.stdout).unwrap();
    let block_start = section.find("```mermaid\n").expect("a mermaid graph") + "```mermaid\n".len();
    let block = &section[block_start..block_start + section[block_start..].find("```").unwrap()];
    assert_eq!(
        block, drawn,
        "the README's graph is stale: paste `planrun graph plans/flux-rebuild.toml --format mermaid`"
    );
    let walk = &section[block_start + block.len()..];
    let validated = planrun::validate::load_and_validate(&plan(), &[]).unwrap();
    for task in validated.tasks() {
        assert!(
            walk.contains(&format!("`{}`", task.id)),
            "the walkthrough does not name `{}`",
            task.id
        );
    }
}

/// Without a `repo:` entry a rehearsal runs the plan from a fresh copy of its
/// directory: a plan that appends to a file beside itself (by a relative path and
/// through `plan_dir`) leaves the real file unchanged; the copy leaves out version
/// control and planrun's state.
#[test]
fn a_rehearsal_never_touches_the_real_plan_directory() {
    let dir = tempfile::tempdir().unwrap();
    let plan_dir = dir.path().join("ops");
    std::fs::create_dir_all(plan_dir.join(".git")).unwrap();
    std::fs::write(plan_dir.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(plan_dir.join("notes.txt"), "original\n").unwrap();
    std::fs::write(
        plan_dir.join("local.toml"),
        r#"
[plan]
name = "local"

[tasks.relative]
type = "exec-script"
script = 'echo relative >> notes.txt'

[tasks.through-var]
type = "exec-script"
command = ["sh", "-c", "echo var >> '{{ plan_dir }}/notes.txt'"]
needs = ["relative"]
"#,
    )
    .unwrap();
    std::fs::write(plan_dir.join("local.rehearsal.yaml"), "scenario: {}\n").unwrap();
    let out = planrun(dir.path())
        .args(["rehearse", "ops/local.toml"])
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert_eq!(
        std::fs::read_to_string(plan_dir.join("notes.txt")).unwrap(),
        "original\n",
        "the real file is unchanged: {all}"
    );
    let copy = plan_dir.join(".planrun/rehearsal/local/sandbox/plan");
    assert_eq!(
        std::fs::read_to_string(copy.join("notes.txt")).unwrap(),
        "original\nrelative\nvar\n"
    );
    assert!(!copy.join(".git").exists(), "version control is not copied");
    assert!(!copy.join(".planrun").exists(), "nor planrun's state");
    assert!(
        all.contains("the plan runs from a copy of its directory"),
        "{all}"
    );
    // A resume runs the copy again, not the real directory.
    let out = planrun(dir.path())
        .args(["rehearse", "ops/local.toml", "--resume"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "nothing to resume: {}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(plan_dir.join("notes.txt")).unwrap(),
        "original\n"
    );
}

/// Issue 14, break 8: the rehearse process killed with SIGKILL the moment its run
/// journals `pulumi-up` as done. The saved cluster already holds what `pulumi up`
/// created (it is saved in the transaction of each change, before the change is
/// answered, so it never lags the journal); the run itself stops with its parent
/// (its guard), releasing the lock; and `--resume` ends green at once.
#[test]
fn a_killed_rehearsal_leaves_a_cluster_that_matches_its_journal_and_no_run_behind() {
    let state = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("planrun");
    let mut parent = std::process::Command::new(&bin)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .arg("rehearse")
        .arg(plan())
        .args(["--output", "json", "--state-dir"])
        .arg(state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = parent.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("the run ended before pulumi-up succeeded")
            .unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        if event["event"] == "task-succeeded" && event["task"] == "pulumi-up" {
            break;
        }
    }
    let parent_pid = i32::try_from(parent.id()).unwrap();
    let run = planrun::procs::children(parent_pid)
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{}/cmdline", p.pid))
                .is_ok_and(|c| c.contains("run\0") && !c.contains("__guard"))
        })
        .expect("the child run");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(parent_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    parent.wait().unwrap();
    // What pulumi up created is in the saved cluster.
    let objects = cluster(state.path());
    let crds = of_kind(&objects, "CustomResourceDefinition");
    let helm = crds
        .iter()
        .find(|c| c["metadata"]["name"] == "helmreleases.helm.toolkit.fluxcd.io")
        .expect("pulumi up's CRD is saved");
    assert!(
        helm["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["manager"]
                .as_str()
                .unwrap()
                .starts_with("pulumi-kubernetes")),
        "{helm}"
    );
    // The run did not outlive its parent.
    wait_until("the child run to stop with its parent", || {
        !planrun::procs::is_running(run.pid)
    });
    let out = planrun(&root())
        .arg("rehearse")
        .arg(plan())
        .args(["--resume", "--output", "json", "--state-dir"])
        .arg(state.path())
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_desired_end_state(&cluster(state.path()));
}

/// A dry run of the Flux plan before the window, on the old Flux: the checks that
/// can only hold once the deletes and `pulumi up` happened depend on those changes
/// and fail nothing, so the dry run exits 0 and can gate the window; nothing in the
/// sandbox changed.
#[test]
fn a_dry_run_of_the_flux_plan_on_the_old_flux_exits_0_and_lists_the_dependent_checks() {
    let state = tempfile::tempdir().unwrap();
    let out = planrun(&root())
        .arg("rehearse")
        .arg(plan())
        .args(["--dry-run", "--output", "json", "--state-dir"])
        .arg(state.path())
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let state_of = |task: &str| {
        events
            .iter()
            .find(|e| e["task"] == task && e.get("state").is_some())
            .unwrap_or_else(|| panic!("no end event for {task}: {all}"))
    };
    let gone = state_of("flux-namespace-gone");
    assert_eq!(gone["state"], "depends-on-a-change", "{gone}");
    assert_eq!(gone["depends_on"][0], "delete-flux-namespace", "{gone}");
    assert_eq!(
        state_of("flux-controllers-ready")["state"],
        "depends-on-a-change"
    );
    // What it would do, as data: the namespace and every Flux CRD it would delete,
    // the commands it would run.
    let ns = state_of("delete-flux-namespace");
    assert_eq!(ns["state"], "would-change");
    assert_eq!(
        ns["would"],
        serde_json::json!([{"action": "delete", "api_version": "v1", "kind": "Namespace", "name": "flux-system"}])
    );
    let crds = state_of("delete-flux-crds")["would"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(crds.len(), 13, "{crds:?}");
    for crd in &crds {
        assert_eq!(crd["action"], "delete");
        assert_eq!(crd["kind"], "CustomResourceDefinition");
        assert!(
            crd["name"]
                .as_str()
                .unwrap()
                .ends_with(".toolkit.fluxcd.io"),
            "{crd}"
        );
    }
    assert!(
        crds.iter()
            .any(|c| c["name"] == "kustomizations.kustomize.toolkit.fluxcd.io")
    );
    // Every Flux object whose finalizer it would remove, and the Secret restore
    // (what the capture holds is not written in a dry run).
    let unhold = state_of("remove-flux-finalizers");
    assert_eq!(unhold["state"], "would-change", "{unhold}");
    let patched = unhold["would"].as_array().unwrap();
    assert_eq!(patched.len(), 4, "{unhold}");
    assert!(patched.iter().all(|p| p["action"] == "patch"
        && p["remove_finalizers"] == serde_json::json!(["finalizers.fluxcd.io"])));
    assert!(
        patched.contains(&serde_json::json!({"action": "patch",
            "api_version": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "namespace": "apps", "name": "redis",
            "remove_finalizers": ["finalizers.fluxcd.io"]})),
        "{unhold}"
    );
    assert_eq!(state_of("restore-flux-secrets")["state"], "would-change");
    let build = state_of("build-cluster");
    assert_eq!(
        build["would"][0]["argv"],
        serde_json::json!(["pnpm", "--filter", "@oceanid/cluster", "build"])
    );
    let up = state_of("pulumi-up")["would"][0]["argv"].clone();
    let up: Vec<&str> = up
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        up.windows(2).any(|w| w == ["--stack", "oceanid-cluster"]),
        "{up:?}"
    );
    assert!(up.contains(&"--plan") && up.contains(&"up"), "{up:?}");
    let finished = events.last().unwrap();
    assert_eq!(finished["event"], "run-finished", "{finished}");
    assert_eq!(finished["outcome"], "succeeded", "{finished}");
    assert!(finished["counts"]["depends-on-a-change"].as_u64().unwrap() >= 2);
    assert!(finished["counts"].get("would-fail").is_none(), "{finished}");
    assert_nothing_deleted(state.path());
    assert_eq!(count(&tool_calls(state.path()), "pulumi", "up"), 0);
}

/// A dry run whose first check fails on the cluster as it is, with no change
/// before it, still exits 1: `old-kubernetes` fails `flux check --pre`.
#[test]
fn a_dry_run_whose_first_check_fails_exits_1() {
    let state = tempfile::tempdir().unwrap();
    let out = planrun(&root())
        .arg("rehearse")
        .arg(plan())
        .args(["--dry-run", "--fault", "old-kubernetes", "--state-dir"])
        .arg(state.path())
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("flux-prerequisites would fail"), "{all}");
    assert!(all.contains("depends on a change"), "{all}");
    assert_nothing_deleted(state.path());
}
