//! The simulated Pulumi CLI (the `planrun` binary started as `pulumi`) against the
//! sandbox cluster, as the real CLI and the pulumi-kubernetes provider behave: the
//! managers of a create and of an update for both provider behaviours,
//! AlreadyExists, a stack state that hides deleted objects until a refresh, the
//! config listing, the diff display, and plans binding `up --plan`.

use std::path::PathBuf;
use std::process::Output;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, PostParams};
use planrun_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

use crate::pulumi::{STACK, Sim};

/// A CRD, a namespace, a Deployment: what a chart renders, in order.
const PROGRAM: &str = r#"
apiVersion: v1
kind: Namespace
metadata: { name: flux-system }
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gitrepositories.source.toolkit.fluxcd.io
  labels: { app.kubernetes.io/part-of: flux }
spec:
  group: source.toolkit.fluxcd.io
  names: { kind: GitRepository, listKind: GitRepositoryList, plural: gitrepositories, singular: gitrepository }
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: source-controller, namespace: flux-system }
spec:
  replicas: 1
  selector: { matchLabels: { app: source-controller } }
  template:
    metadata: { labels: { app: source-controller } }
    spec:
      containers:
      - { name: manager, image: "ghcr.io/fluxcd/source-controller:v1.7.0" }
"#;

/// The stand-in with the program, a project, a sandbox and its kubeconfig.
struct World {
    sim: Sim,
    kubeconfig: PathBuf,
    sandbox: Sandbox,
}

impl World {
    async fn new(pulumi: &str) -> Self {
        let sim = Sim::new(&format!("pulumi:\n  program: [program.yaml]\n{pulumi}"));
        std::fs::write(sim.bin.join("program.yaml"), PROGRAM).unwrap();
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let kubeconfig = sim.root.join("kubeconfig");
        sandbox.write_kubeconfig(&kubeconfig, "sandbox").unwrap();
        Self {
            sim,
            kubeconfig,
            sandbox,
        }
    }

    /// Runs `pulumi ARGS --stack S --non-interactive` in the project, off the async
    /// runtime (the stand-in talks to the sandbox this test serves).
    async fn pulumi(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(self.sim.bin.join("pulumi"));
        cmd.args(args)
            .args(["--stack", STACK, "--non-interactive"])
            .current_dir(&self.sim.project)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("PULUMI_CONFIG_PASSPHRASE");
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.pulumi(args).await;
        let text = text(&out);
        assert!(out.status.success(), "pulumi {args:?}: {text}");
        text
    }

    async fn managers(&self, what: &str) -> Vec<(String, String)> {
        let client = self.sandbox.client().await.unwrap();
        let fields = match what {
            "deployment" => {
                Api::<Deployment>::namespaced(client, "flux-system")
                    .get("source-controller")
                    .await
                    .unwrap()
                    .metadata
                    .managed_fields
            }
            _ => {
                Api::<CustomResourceDefinition>::all(client)
                    .get("gitrepositories.source.toolkit.fluxcd.io")
                    .await
                    .unwrap()
                    .metadata
                    .managed_fields
            }
        };
        fields
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f.subresource.is_none())
            .map(|f| (f.manager.unwrap(), f.operation.unwrap()))
            .collect()
    }

    /// The URNs of the stack's state (`pulumi stack export`).
    async fn state_urns(&self) -> Vec<String> {
        let export: Value = serde_json::from_str(&self.ok(&["stack", "export"]).await).unwrap();
        export["deployment"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["urn"]
                    .as_str()
                    .unwrap()
                    .rsplit("::")
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    fn change_program(&self, from: &str, to: &str) {
        let path = self.sim.bin.join("program.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn pair(manager: &str, operation: &str) -> (String, String) {
    (manager.to_owned(), operation.to_owned())
}

#[tokio::test]
async fn since_4_29_a_create_is_a_plain_create_and_an_update_takes_over_by_apply() {
    let w = World::new("").await;
    let out = w.ok(&["up", "--yes", "--skip-preview"]).await;
    assert!(out.contains("+ 4 created"), "{out}");
    assert_eq!(
        w.managers("deployment").await,
        [pair("pulumi-kubernetes", "Update")]
    );
    assert_eq!(
        w.managers("crd").await,
        [pair("pulumi-kubernetes", "Update")]
    );

    // Nothing changed: nothing to do.
    let out = w.ok(&["up", "--yes", "--skip-preview"]).await;
    assert!(out.contains("4 unchanged"), "{out}");

    // A change: the apply manager takes the create's fields over, then applies.
    w.change_program("source-controller:v1.7.0", "source-controller:v1.7.1");
    w.change_program(
        "app.kubernetes.io/part-of: flux }",
        "app.kubernetes.io/part-of: flux, x: y }",
    );
    let out = w.ok(&["up", "--yes", "--skip-preview"]).await;
    assert!(out.contains("~ 2 updated"), "{out}");
    let deployment = w.managers("deployment").await;
    assert_eq!(deployment.len(), 1, "{deployment:?}");
    assert!(
        deployment[0].0.starts_with("pulumi-kubernetes-") && deployment[0].1 == "Apply",
        "{deployment:?}"
    );
    // A CRD is replaced by a PUT under that manager: its create entry stays.
    let crd = w.managers("crd").await;
    assert_eq!(crd[0], pair("pulumi-kubernetes", "Update"), "{crd:?}");
    assert!(
        crd[1].0.starts_with("pulumi-kubernetes-") && crd[1].1 == "Update",
        "{crd:?}"
    );
    w.sandbox.shutdown().await;
}

#[tokio::test]
async fn before_4_29_a_create_is_a_server_side_apply() {
    let w = World::new("  provider_version: \"4.28.0\"\n").await;
    w.ok(&["up", "--yes", "--skip-preview"]).await;
    for what in ["deployment", "crd"] {
        let managers = w.managers(what).await;
        assert_eq!(managers.len(), 1, "{managers:?}");
        let (manager, operation) = &managers[0];
        assert!(manager.starts_with("pulumi-kubernetes-"), "{manager}");
        assert_eq!(manager.len(), "pulumi-kubernetes-".len() + 8);
        assert_eq!(operation, "Apply");
    }
    w.sandbox.shutdown().await;
}

#[tokio::test]
async fn an_object_that_exists_is_not_adopted_unless_upsert_is_on() {
    let w = World::new("").await;
    let client = w.sandbox.client().await.unwrap();
    let ns: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "flux-system"}})).unwrap();
    Api::all(client)
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let out = w.pulumi(&["up", "--yes", "--skip-preview"]).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(255), "{all}");
    assert!(
        all.contains(
            "resource \"urn:pulumi:oceanid-cluster::cluster::kubernetes:core/v1:Namespace::flux-system\" \
             was not successfully created by the Kubernetes API server: namespaces \"flux-system\" already exists"
        ),
        "{all}"
    );
    assert!(
        all.contains("Intentional upsert: set upsertExistingObjects"),
        "{all}"
    );
    w.sandbox.shutdown().await;

    let w = World::new("  upsert_existing_objects: true\n").await;
    let client = w.sandbox.client().await.unwrap();
    Api::all(client)
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let out = w.ok(&["up", "--yes", "--skip-preview"]).await;
    assert!(out.contains("+ 4 created"), "{out}");
    w.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_stale_state_recreates_nothing_until_a_refresh_drops_what_is_gone() {
    // The state lists the objects (an earlier `up`); the cluster lost them since.
    let w = World::new(&format!(
        "  stacks:\n    {STACK}:\n      state: [program.yaml]\n"
    ))
    .await;
    assert_eq!(
        w.state_urns().await,
        [
            "cluster-oceanid-cluster",
            "flux-system",
            "gitrepositories.source.toolkit.fluxcd.io",
            "flux-system/source-controller"
        ]
    );
    let out = w.ok(&["up", "--yes", "--skip-preview"]).await;
    assert!(out.contains("4 unchanged"), "{out}");
    let client = w.sandbox.client().await.unwrap();
    assert!(
        Api::<Deployment>::namespaced(client.clone(), "flux-system")
            .get_opt("source-controller")
            .await
            .unwrap()
            .is_none(),
        "nothing was created"
    );

    let out = w.ok(&["refresh", "--yes", "--skip-preview"]).await;
    assert!(out.contains("- 3 deleted"), "{out}");
    assert_eq!(w.state_urns().await, ["cluster-oceanid-cluster"]);
    let out = w.ok(&["up", "--yes", "--skip-preview"]).await;
    assert!(out.contains("+ 3 created"), "{out}");
    assert!(
        Api::<Deployment>::namespaced(client.clone(), "flux-system")
            .get_opt("source-controller")
            .await
            .unwrap()
            .is_some()
    );

    // Deleted out of band once more: `up --refresh` refreshes first.
    Api::<Deployment>::namespaced(client, "flux-system")
        .delete("source-controller", &DeleteParams::default())
        .await
        .unwrap();
    let out = w.ok(&["up", "--yes", "--skip-preview", "--refresh"]).await;
    assert!(out.contains("+ 1 created"), "{out}");
    w.sandbox.shutdown().await;
}

#[tokio::test]
async fn config_json_elides_secrets_and_secret_objects_and_get_path_finds_leaves() {
    let w = World::new(&format!(
        "  passphrase: pw\n  stacks:\n    {STACK}:\n      config:\n\
         \x20       github.token: {{ value: ghp_secret_1, secret: true }}\n\
         \x20       flux.ssh_private_key: {{ value: KEY_secret_2, secret: true, path: true }}\n\
         \x20       flux.branch: {{ value: main, path: true }}\n\
         \x20       region: {{ value: eu }}\n"
    ))
    .await;
    let listing: Value = serde_json::from_str(&w.ok(&["config", "--json"]).await).unwrap();
    assert_eq!(
        listing,
        serde_json::json!({
            "cluster:flux": {"secret": true},
            "cluster:github.token": {"secret": true},
            "cluster:region": {"value": "eu", "secret": false},
        })
    );
    // Decrypting needs the passphrase.
    let out = w.pulumi(&["config", "--json", "--show-secrets"]).await;
    assert!(
        text(&out).contains("passphrase must be set"),
        "{}",
        text(&out)
    );
    let mut cmd = std::process::Command::new(w.sim.bin.join("pulumi"));
    cmd.args([
        "config",
        "get",
        "--path",
        "flux.ssh_private_key",
        "--stack",
        STACK,
    ])
    .current_dir(&w.sim.project)
    .env("PULUMI_CONFIG_PASSPHRASE", "pw");
    let out = cmd.output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "KEY_secret_2\n");
    // Not a flat key: the real CLI's error names it.
    let out = w.pulumi(&["config", "get", "flux.ssh_private_key"]).await;
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: configuration key 'flux.ssh_private_key' not found for stack 'oceanid-cluster'\n"
    );
    w.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_saved_plan_binds_up_and_is_refused_once_the_state_changed() {
    let w = World::new(&format!(
        "  stacks:\n    {STACK}:\n      state: [program.yaml]\n"
    ))
    .await;
    // Refreshed (the objects are gone), previewed with the diff, the plan saved.
    w.ok(&["refresh", "--yes", "--skip-preview"]).await;
    let diff = w
        .ok(&[
            "preview",
            "--diff",
            "--color",
            "never",
            "--save-plan",
            "plan.json",
        ])
        .await;
    assert!(
        diff.starts_with("Previewing update (oceanid-cluster):\n"),
        "{diff}"
    );
    assert!(
        diff.contains(
            "    + kubernetes:apps/v1:Deployment: (create)\n\
             \x20       [urn=urn:pulumi:oceanid-cluster::cluster::kubernetes:apps/v1:Deployment::flux-system/source-controller]\n\
             \x20       apiVersion: \"apps/v1\"\n"
        ),
        "{diff}"
    );
    assert!(
        diff.contains("Resources:\n    + 3 to create\n    1 unchanged\n"),
        "{diff}"
    );
    assert!(
        diff.contains("Run `pulumi up --plan='plan.json'` to constrain the update"),
        "{diff}"
    );
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(w.sim.project.join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(plan["resourcePlans"].as_object().unwrap().len(), 4);

    // The state changed since: another preview's plan said "same" for all of it.
    let w2 = World::new(&format!(
        "  stacks:\n    {STACK}:\n      state: [program.yaml]\n"
    ))
    .await;
    w2.ok(&["preview", "--save-plan", "stale.json"]).await;
    w2.ok(&["refresh", "--yes", "--skip-preview"]).await;
    let out = w2
        .pulumi(&[
            "up",
            "--yes",
            "--skip-preview",
            "--plan",
            "stale.json",
            "--json",
        ])
        .await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(255), "{all}");
    assert!(
        all.contains("violates plan: properties changed: =+apiVersion[{v1}]"),
        "{all}"
    );
    // Nothing was created.
    assert_eq!(w2.state_urns().await, ["cluster-oceanid-cluster"]);

    // The fresh plan binds the update.
    let out = w
        .ok(&["up", "--yes", "--skip-preview", "--plan", "plan.json"])
        .await;
    assert!(out.contains("+ 3 created"), "{out}");
    w.sandbox.shutdown().await;
    w2.sandbox.shutdown().await;
}

/// The plan of a lone `pulumi-up` against the world's stack; `on_pending` as given.
fn pending_plan(w: &World, on_pending: &str) -> String {
    format!(
        "[plan]\nname = \"pending\"\n\n[tasks.up]\ntype = \"pulumi-up\"\nstack = \"{STACK}\"\ncwd = \"cluster\"\nbinary = \"{}\"\ntimeout = \"2m\"\non_pending = \"{on_pending}\"\n",
        w.sim.bin.join("pulumi").display()
    )
}

/// `planrun ARGS` in the world's root, against its sandbox.
fn planrun_in(w: &World, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("planrun"));
    cmd.current_dir(&w.sim.root)
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", &w.kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::null());
    cmd
}

/// The stack's lock files (a self-managed backend rooted at the tools' state).
fn lock_files(w: &World) -> Vec<PathBuf> {
    let dir = w
        .sim
        .bin
        .join("state/.pulumi/locks/organization/cluster")
        .join(STACK);
    std::fs::read_dir(dir)
        .map(|e| e.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// Pulumi's interrupted update: `pulumi up` is killed (kill -9) while the provider
/// creates the CRD (its write hangs before it reaches the cluster). The stack then exports that create as a pending operation and
/// keeps its lock, as the real CLI leaves them; a resume finds both, stops
/// (`on_pending = "stop"`, the default) with the exact commands and does not
/// update; with `on_pending = "refresh"` it cancels, refreshes with
/// `--clear-pending-creates` and updates to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_killed_mid_create_leaves_a_pending_create_that_a_resume_stops_at_or_refreshes() {
    let w = World::new("  up: { hang_at_step: 2 }\n").await;
    std::fs::write(w.sim.root.join("plan.toml"), pending_plan(&w, "stop")).unwrap();
    let first = planrun_in(&w, &["plan.toml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The CRD's create is pending once the namespace is created; then kill -9 the
    // CLI (its pid is in the lock it holds).
    let state = w.sim.bin.join("state/pulumi").join(format!("{STACK}.json"));
    let started = std::time::Instant::now();
    let pid = loop {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no pending create"
        );
        // The hanging create (the CRD's), not the namespace's passing by.
        let pending = std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|v| {
                v["deployment"]["pending_operations"][0]["resource"]["type"]
                    == "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
            });
        let lock = lock_files(&w).first().and_then(|p| {
            let v: Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
            v["pid"].as_i64()
        });
        if let (true, Some(pid)) = (pending, lock) {
            break pid;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || first.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // The export's shape: the create pending, as pulumi/pulumi's DeploymentV3.
    let export: Value = serde_json::from_str(&w.ok(&["stack", "export"]).await).unwrap();
    assert_eq!(export["version"], 3);
    let pending = export["deployment"]["pending_operations"]
        .as_array()
        .unwrap();
    assert_eq!(pending.len(), 1, "{export}");
    assert_eq!(pending[0]["type"], "creating");
    let urn = pending[0]["resource"]["urn"].as_str().unwrap().to_owned();
    assert!(
        urn.ends_with("::kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition::gitrepositories.source.toolkit.fluxcd.io"),
        "{urn}"
    );
    let done = export["deployment"]["resources"].as_array().unwrap();
    assert!(
        !done.iter().any(|r| r["urn"] == urn.as_str()),
        "a pending create is not in the state: {export}"
    );
    assert_eq!(lock_files(&w).len(), 1, "the killed CLI left its lock");
    // Another update is refused by the lock, as checkForLock says.
    let refused = w.pulumi(&["up", "--yes"]).await;
    assert!(
        text(&refused).contains("the stack is currently locked by 1 lock(s)"),
        "{}",
        text(&refused)
    );

    // The resume stops before the update, saying what it found and what to run.
    std::fs::write(
        w.sim.bin.join(planrun_sandbox::simtools::CONFIG_FILE),
        "pulumi:\n  program: [program.yaml]\n",
    )
    .unwrap();
    let ups_before = w
        .sim
        .argvs()
        .iter()
        .filter(|a| a.starts_with("up "))
        .count();
    let out = planrun_in(&w, &["plan.toml", "--resume"]).output().unwrap();
    let said = text(&out).replace(['│', '\n'], " ");
    let said = said.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(out.status.code(), Some(1), "{said}");
    for expected in [
        format!("stack {STACK} has 1 pending operation from an interrupted update:"),
        format!("* {urn}, interrupted while creating"),
        format!("stack {STACK} is locked: "),
        format!("(pid {pid})"),
        format!("cancel --stack {STACK} --cwd "),
        format!("refresh --clear-pending-creates --stack {STACK} --cwd "),
        format!(
            "refresh --import-pending-creates {urn} gitrepositories.source.toolkit.fluxcd.io --stack {STACK}"
        ),
    ] {
        assert!(said.contains(&expected), "no `{expected}` in: {said}");
    }
    let ups_after = w
        .sim
        .argvs()
        .iter()
        .filter(|a| a.starts_with("up "))
        .count();
    assert_eq!(
        ups_after, ups_before,
        "no update while the stack is not clean"
    );

    // With on_pending = "refresh": cancel, refresh clearing the pending create, up.
    std::fs::write(w.sim.root.join("plan.toml"), pending_plan(&w, "refresh")).unwrap();
    let out = planrun_in(&w, &["plan.toml", "--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let argvs = w.sim.argvs();
    let tail: Vec<&str> = argvs
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(|a| a.split(" --").next().unwrap())
        .collect();
    assert_eq!(tail, ["cancel", "refresh", "up"], "{argvs:#?}");
    assert!(
        argvs
            .iter()
            .any(|a| a.starts_with("refresh ") && a.contains("--clear-pending-creates")),
        "{argvs:#?}"
    );
    assert!(lock_files(&w).is_empty());
    let export: Value = serde_json::from_str(&w.ok(&["stack", "export"]).await).unwrap();
    assert!(
        export["deployment"].get("pending_operations").is_none(),
        "{export}"
    );
    let resources = export["deployment"]["resources"].as_array().unwrap();
    assert!(
        resources.iter().any(|r| r["urn"] == urn.as_str()),
        "the update created what was pending: {export}"
    );
    assert_eq!(
        w.state_urns().await.len(),
        4,
        "the stack and the three objects"
    );
    w.sandbox.shutdown().await;
}
