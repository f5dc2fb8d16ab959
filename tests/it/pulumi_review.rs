//! The Pulumi side of a rebuild as the real tools behave, through planrun against the
//! simulated CLI and the sandbox: required config in every form the CLI stores it
//! (flat or `--path`, secret or not) with the command that sets a missing key as it
//! is missing; the stack's provider pointed at another cluster refused; and the
//! review gate: a refresh and a preview whose diff is saved and shown, a confirm that
//! refuses without `--yes` when no terminal can ask, `up --plan` bound to the
//! reviewed plan, a stale or missing plan refused with the way out, and no secret
//! value in any output or file.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use planrun::exec::pulumi::{self, PulumiError, RunCluster};
use planrun::redact::Redactor;
use planrun_sandbox::{Manifest, Sandbox, SandboxConfig, Scenario};
use serde_json::Value;

use crate::pulumi::{PASSPHRASE, SSH_LINE, STACK, Sim, TOKEN, files_under};

/// A stack whose config was set in every form: a flat secret, a secret inside an
/// object (`--path`), a plain value inside an object, a flat plain value.
fn every_form(extra: &str) -> String {
    format!(
        r#"
pulumi:
  passphrase: "{PASSPHRASE}"
  stacks:
    {STACK}:
      config:
        github.token: {{ value: "{TOKEN}", secret: true }}
        flux.ssh_private_key: {{ value: "-----BEGIN KEY-----\n{SSH_LINE}\n-----END KEY-----", secret: true, path: true }}
        app.replicas: {{ value: "3", path: true }}
        region: {{ value: eu }}
{extra}
"#
    )
}

fn passphrase_env() -> Vec<(String, String)> {
    vec![("PULUMI_CONFIG_PASSPHRASE".into(), PASSPHRASE.into())]
}

#[tokio::test]
async fn every_form_of_a_required_key_is_found_secrets_masked_first() {
    let sim = Sim::new(&every_form(""));
    let mut project = sim.project();
    project.require_config = [
        "github.token",
        "flux.ssh_private_key",
        "app.replicas",
        "region",
    ]
    .map(String::from)
    .to_vec();
    let redactor = Redactor::new();
    let check = pulumi::preflight_with(&project, &redactor, &passphrase_env(), None)
        .await
        .unwrap();
    assert_eq!((check.required, check.secrets), (4, 2));
    // The key inside the secret object could only be found with the secrets shown.
    let argvs = sim.argvs();
    assert_eq!(argvs.len(), 2, "{argvs:?}");
    assert!(argvs[1].ends_with("--json --show-secrets"), "{argvs:?}");
    assert_eq!(redactor.redact(SSH_LINE), planrun::redact::MASK);
    assert_eq!(redactor.redact(TOKEN), planrun::redact::MASK);
}

#[tokio::test]
async fn a_missing_key_gets_the_command_that_matches_how_it_is_missing() {
    let sim = Sim::new(&every_form(""));
    std::fs::create_dir_all(sim.project.join("src")).unwrap();
    std::fs::write(
        sim.project.join("src/index.ts"),
        "const cfg = new pulumi.Config();\nconst slack = cfg.requireSecretObject<{ webhook: string }>(\"slack\");\n",
    )
    .unwrap();
    let mut project = sim.project();
    project.require_config = [
        "flux.known_hosts",
        "github.user",
        "pagerduty.key",
        "slack.webhook",
        "app.replicas",
    ]
    .map(String::from)
    .to_vec();
    let redactor = Redactor::new();
    let e = pulumi::preflight_with(&project, &redactor, &passphrase_env(), None)
        .await
        .unwrap_err();
    let PulumiError::MissingConfig { keys, fix, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(
        keys,
        &[
            "flux.known_hosts",
            "github.user",
            "pagerduty.key",
            "slack.webhook"
        ]
    );
    let cwd = sim.project.display().to_string();
    let cmd = |path: bool, key: &str| {
        format!(
            "pulumi config set {}--secret {key} --stack {STACK} --cwd {cwd}",
            if path { "--path " } else { "" }
        )
    };
    let expected = format!(
        "set each missing key (the command asks for the value):\n\
         \x20 flux.known_hosts: the object `flux` exists (set with --path): {}\n\
         \x20 github.user: set flat like `github.token`: {}\n\
         \x20 pagerduty.key: set as the program reads it, a flat key: {}\n\
         \x20   or inside the object `pagerduty`: {}\n\
         \x20 slack.webhook: the program reads it inside the object `slack` (src/index.ts:2): {}",
        cmd(true, "flux.known_hosts"),
        cmd(false, "github.user"),
        cmd(false, "pagerduty.key"),
        cmd(true, "pagerduty.key"),
        cmd(true, "slack.webhook"),
    );
    assert_eq!(fix, &expected);
    // No value in the error, whatever was decrypted to find out.
    let shown = format!("{e:?} {}", e.with_help());
    assert!(
        !shown.contains(SSH_LINE) && !shown.contains(TOKEN),
        "{shown}"
    );
}

#[tokio::test]
async fn a_stack_config_pointing_the_provider_elsewhere_is_refused() {
    let sim = Sim::new(&every_form(
        "        kubernetes:context: { value: staging }\n",
    ));
    let cluster = RunCluster {
        context: "oceanid".into(),
        server: "https://10.0.0.1:6443".into(),
    };
    let e = pulumi::preflight_with(
        &sim.project(),
        &Redactor::new(),
        &passphrase_env(),
        Some(&cluster),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, PulumiError::OtherCluster { .. }), "{e:?}");
    let text = e.with_help();
    assert!(
        text.contains(
            "stack `oceanid-cluster` sets `kubernetes:context` to `staging`, but this run acts on context `oceanid`"
        ),
        "{text}"
    );
    assert!(
        text.contains("pulumi config rm kubernetes:context --stack oceanid-cluster"),
        "{text}"
    );
    // The run's own context is fine.
    let same = RunCluster {
        context: "staging".into(),
        ..cluster
    };
    pulumi::preflight_with(
        &sim.project(),
        &Redactor::new(),
        &passphrase_env(),
        Some(&same),
    )
    .await
    .unwrap();
}

/// The objects the program declares: a namespace and a ConfigMap.
const PROGRAM: &str = r#"
apiVersion: v1
kind: Namespace
metadata: { name: flux-system }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: flux-settings, namespace: flux-system }
data: { interval: 1m }
"#;

/// A plan: something deleted, the preview (after a refresh), the gate showing it,
/// the update bound to it.
fn write_gate_plan(sim: &Sim) -> PathBuf {
    let plan = format!(
        r#"
[plan]
name = "gate"
context = "sandbox"

[tasks.delete-old]
type = "exec-script"
command = ["touch", "deleted"]

[tasks.flux-preview]
type = "pulumi-preview"
stack = "{STACK}"
cwd = "{cwd}"
binary = "{binary}"
refresh = true
require_config = ["flux.ssh_private_key", "github.token"]
needs = ["delete-old"]

[tasks.review]
type = "confirm"
message = "Apply exactly this?"
show_preview = "flux-preview"
needs = ["flux-preview"]

[tasks.flux-up]
type = "pulumi-up"
stack = "{STACK}"
cwd = "{cwd}"
binary = "{binary}"
plan_from = "flux-preview"
needs = ["review"]
"#,
        cwd = sim.project.display(),
        binary = sim.bin.join("pulumi").display(),
    );
    let path = sim.root.join("gate.toml");
    std::fs::write(&path, plan).unwrap();
    path
}

/// The gate plan's world: the program, the stack's config (secrets set with
/// `--path`) and state, a sandbox seeded with `seeds`, and its kubeconfig.
struct Gate {
    sim: Sim,
    sandbox: Sandbox,
    kubeconfig: PathBuf,
}

impl Gate {
    async fn new(state_lists_the_program: bool, seeds: &[&str]) -> Self {
        let state = if state_lists_the_program {
            "      state: [program.yaml]\n"
        } else {
            ""
        };
        // The program prints the secrets: they must be masked wherever they land.
        let sim = Sim::new(&format!(
            r#"
pulumi:
  passphrase: "{PASSPHRASE}"
  program: [program.yaml]
  stacks:
    {STACK}:
      config:
        github.token: {{ value: "{TOKEN}", secret: true, path: true }}
        flux.ssh_private_key: {{ value: "{SSH_LINE}", secret: true, path: true }}
{state}  preview:
    stdout: "using token {TOKEN} and key {SSH_LINE}"
"#
        ));
        std::fs::write(sim.bin.join("program.yaml"), PROGRAM).unwrap();
        write_gate_plan(&sim);
        let sandbox = Sandbox::start(SandboxConfig {
            port: 0,
            seeds: seeds.iter().map(|s| Manifest::inline(*s)).collect(),
            scenario: Scenario::default(),
        })
        .await
        .unwrap();
        let kubeconfig = sim.root.join("kubeconfig");
        sandbox.write_kubeconfig(&kubeconfig, "sandbox").unwrap();
        Self {
            sim,
            sandbox,
            kubeconfig,
        }
    }

    /// `planrun run gate.toml ARGS`, off the runtime that serves the sandbox.
    async fn planrun(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_planrun"));
        cmd.current_dir(&self.sim.root)
            .args(["run", "gate.toml"])
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
            .env("NO_COLOR", "1");
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    /// Runs the stand-in directly (out of band).
    async fn pulumi(&self, args: &[&str]) {
        let mut cmd = std::process::Command::new(self.sim.bin.join("pulumi"));
        cmd.args(args)
            .args(["--stack", STACK, "--yes", "--skip-preview"])
            .current_dir(&self.sim.project)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }

    /// The latest run's directory.
    fn run_dir(&self) -> PathBuf {
        let plan_dir = self.sim.root.join(".planrun/gate");
        let latest = std::fs::read_to_string(plan_dir.join("latest")).unwrap();
        plan_dir.join("runs").join(latest.trim())
    }

    async fn configmap_exists(&self) -> bool {
        use k8s_openapi::api::core::v1::ConfigMap;
        let client = self.sandbox.client().await.unwrap();
        kube::Api::<ConfigMap>::namespaced(client, "flux-system")
            .get_opt("flux-settings")
            .await
            .unwrap()
            .is_some()
    }

    /// No secret value in any output or file of the runs.
    fn assert_no_secret_anywhere(&self, outputs: &[&Output]) {
        let mut texts: Vec<String> = outputs.iter().map(|o| text(o)).collect();
        for file in files_under(&self.sim.root.join(".planrun")) {
            texts.push(String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned());
        }
        assert!(texts.len() > 5);
        for text in &texts {
            for secret in [TOKEN, SSH_LINE, PASSPHRASE] {
                assert!(!text.contains(secret), "{secret} leaked into: {text}");
            }
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_gate_shows_the_saved_diff_refuses_without_yes_and_up_applies_exactly_that_plan() {
    // The state still lists the objects deleted out of band: the refresh drops them.
    let g = Gate::new(true, &[]).await;
    let first = g.planrun(&[]).await;
    let all = text(&first);
    assert_eq!(first.status.code(), Some(1), "{all}");
    assert!(
        all.contains("confirmation needed and no terminal to ask on: Apply exactly this?"),
        "{all}"
    );
    let run_dir = g.run_dir();
    let diff = std::fs::read_to_string(run_dir.join("flux-preview.diff.txt")).unwrap();
    assert!(
        diff.starts_with("Previewing update (oceanid-cluster):\n"),
        "{diff}"
    );
    assert!(
        diff.contains("    + kubernetes:core/v1:ConfigMap: (create)\n"),
        "{diff}"
    );
    // The program's output is on the CLI's stderr: in the task's log, masked.
    let preview_log = std::fs::read_to_string(run_dir.join("logs/flux-preview.log")).unwrap();
    assert!(
        preview_log.contains("using token ******** and key ********"),
        "{preview_log}"
    );
    assert!(diff.contains("    + 2 to create\n"), "{diff}");
    for file in [
        "flux-preview.diff.txt",
        "flux-preview.plan.json",
        "flux-preview.plan.sha256",
    ] {
        assert_eq!(mode(&run_dir.join(file)), 0o600, "{file}");
    }
    let plan = std::fs::read(run_dir.join("flux-preview.plan.json")).unwrap();
    let recorded = std::fs::read_to_string(run_dir.join("flux-preview.plan.sha256")).unwrap();
    assert_eq!(recorded.trim().len(), 64);
    let _: Value = serde_json::from_slice(&plan).unwrap();
    // The gate's log shows what it asked about.
    let gate_log = std::fs::read_to_string(run_dir.join("logs/review.log")).unwrap();
    assert!(
        gate_log.contains("--- the preview of `flux-preview`"),
        "{gate_log}"
    );
    assert!(gate_log.contains(recorded.trim()), "{gate_log}");
    // Refreshed, previewed, nothing updated.
    let argvs = g.sim.argvs();
    assert!(argvs.iter().any(|a| a.starts_with("refresh ")), "{argvs:?}");
    let preview = argvs.iter().find(|a| a.starts_with("preview ")).unwrap();
    assert!(preview.contains("--diff"), "{preview}");
    assert!(!preview.contains("--json"), "the human diff: {preview}");
    assert!(preview.contains("--save-plan"), "{preview}");
    assert!(!argvs.iter().any(|a| a.starts_with("up ")), "{argvs:?}");
    assert!(!g.configmap_exists().await);

    // Answered in advance: the update applies the reviewed plan.
    let second = g.planrun(&["--resume", "--yes"]).await;
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let up = g
        .sim
        .argvs()
        .into_iter()
        .find(|a| a.starts_with("up "))
        .expect("an update");
    let plan_path = run_dir.join("flux-preview.plan.json");
    assert!(
        up.contains(&format!("--plan {}", plan_path.display())),
        "{up}"
    );
    assert!(g.configmap_exists().await);
    g.assert_no_secret_anywhere(&[&first, &second]);
    g.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_plan_the_state_moved_away_from_is_refused_with_the_way_back_to_the_preview() {
    // Cluster and state agree: the preview plans no change.
    let g = Gate::new(true, &[PROGRAM]).await;
    let out = g.planrun(&[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // Meanwhile, out of band: the objects go, and a refresh drops them from the state.
    assert!(
        g.sandbox
            .state()
            .delete("v1", "ConfigMap", "flux-system", "flux-settings")
            .unwrap()
    );
    g.pulumi(&["refresh"]).await;

    let out = g.planrun(&["--resume", "--yes"]).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("`pulumi up --plan` refused to update stack `oceanid-cluster`"),
        "{all}"
    );
    assert!(
        all.contains(
            "kubernetes:core/v1:ConfigMap flux-system/flux-settings: resource \
             urn:pulumi:oceanid-cluster::cluster::kubernetes:core/v1:ConfigMap::flux-system/flux-settings \
             violates plan: properties changed: =+apiVersion[{v1}], =+data[{map[interval:{1m}]}]"
        ),
        "{all}"
    );
    let flat = all.replace(['│', ' ', '\n'], "");
    assert!(flat.contains("--resume--rerunflux-preview"), "{all}");
    assert!(!g.configmap_exists().await);

    // The way out it names: the preview again, reviewed, then the update.
    let out = g
        .planrun(&["--resume", "--rerun", "flux-preview", "--yes"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(g.configmap_exists().await);
    g.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_missing_plan_on_resume_says_to_run_the_preview_again() {
    let g = Gate::new(false, &[]).await;
    let out = g.planrun(&[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    std::fs::remove_file(g.run_dir().join("flux-preview.plan.json")).unwrap();
    let out = g.planrun(&["--resume", "--yes"]).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("the plan `flux-preview` saved is missing"),
        "{all}"
    );
    let flat = all.replace(['│', ' ', '\n'], "");
    assert!(flat.contains("--resume--rerunflux-preview"), "{all}");
    assert!(!g.sim.argvs().iter().any(|a| a.starts_with("up ")));

    // A plan changed since its review is refused the same way.
    let out = g.planrun(&["--resume", "--rerun", "flux-preview"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    std::fs::write(g.run_dir().join("flux-preview.plan.json"), "{}").unwrap();
    let out = g.planrun(&["--resume", "--yes"]).await;
    let all = text(&out);
    assert!(all.contains("saved changed since it was reviewed"), "{all}");
    g.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_dry_run_runs_only_the_preview() {
    let g = Gate::new(true, &[]).await;
    let out = g.planrun(&["--dry-run"]).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let argvs = g.sim.argvs();
    assert!(
        !argvs.iter().any(|a| a.starts_with("refresh ")),
        "{argvs:?}"
    );
    assert!(!argvs.iter().any(|a| a.starts_with("up ")), "{argvs:?}");
    let preview = argvs.iter().find(|a| a.starts_with("preview ")).unwrap();
    assert!(
        preview.ends_with("--refresh"),
        "refreshed in memory only: {preview}"
    );
    g.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_stack_whose_provider_points_elsewhere_stops_the_run_before_anything() {
    let g = Gate::new(false, &[]).await;
    let behaviour = std::fs::read_to_string(g.sim.bin.join(planrun_sandbox::simtools::CONFIG_FILE))
        .unwrap()
        .replace(
            "      config:\n",
            "      config:\n        kubernetes:context: { value: production }\n",
        );
    std::fs::write(
        g.sim.bin.join(planrun_sandbox::simtools::CONFIG_FILE),
        behaviour,
    )
    .unwrap();
    let out = g.planrun(&["--yes"]).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    let flat = all.replace(['│', '\n'], " ");
    assert!(flat.contains("kubernetes:context"), "{all}");
    assert!(!g.sim.root.join("deleted").exists(), "nothing ran");
    g.sandbox.shutdown().await;
}
