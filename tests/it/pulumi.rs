//! `pulumi-up` against the simulated Pulumi CLI (the `planrun` binary started as
//! `pulumi`): the exact command lines, the config preflight, failures, timeouts, and
//! secrets that must not surface anywhere.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use planrun::events::CancelReason;
use planrun::events::{Event, EventSender};
use planrun::exec::pulumi::{self, PulumiError, Settings};
use planrun::exec::{Attempt, FailureClass, RunResources, TaskError};
use planrun::layout::PlanDir;
use planrun::redact::Redactor;
use planrun::validate::{PulumiProject, PulumiUp};
use planrun_sandbox::simtools::{self, Invocation};

pub(crate) const STACK: &str = "oceanid-cluster";
pub(crate) const TOKEN: &str = "ghp_S3cretT0kenValue42";
pub(crate) const SSH_LINE: &str = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU";
pub(crate) const PASSPHRASE: &str = "correct-horse-battery";

/// A directory with the stand-ins, a behaviour file beside them, a Pulumi project and
/// a run directory.
pub(crate) struct Sim {
    _tmp: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) bin: PathBuf,
    pub(crate) project: PathBuf,
}

impl Sim {
    pub(crate) fn new(behaviour: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let bin = simtools::install(
            &root.join("bin"),
            Path::new(env!("CARGO_BIN_EXE_planrun")),
            &[],
        )
        .unwrap();
        std::fs::write(bin.join(simtools::CONFIG_FILE), behaviour).unwrap();
        let project = root.join("cluster");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(
            project.join("Pulumi.yaml"),
            "name: cluster\nruntime: nodejs\n",
        )
        .unwrap();
        Self {
            _tmp: tmp,
            root,
            bin,
            project,
        }
    }

    pub(crate) fn project(&self) -> PulumiProject {
        PulumiProject {
            stack: STACK.into(),
            cwd: self.project.clone(),
            require_config: vec!["flux.ssh_private_key".into(), "github.token".into()],
            args: vec![],
            binary: self.bin.join("pulumi").display().to_string(),
        }
    }

    fn task(&self) -> PulumiUp {
        PulumiUp {
            project: self.project(),
            preview: true,
            refresh: false,
            plan_from: None,
            on_pending: planrun::validate::OnPending::Stop,
        }
    }

    pub(crate) fn invocations(&self) -> Vec<Invocation> {
        simtools::read_log(&self.bin.join(simtools::LOG_FILE)).unwrap()
    }

    pub(crate) fn argvs(&self) -> Vec<String> {
        self.invocations()
            .iter()
            .map(|i| i.args.join(" "))
            .collect()
    }

    fn ctx(&self, dry_run: bool) -> (Arc<Attempt>, std::sync::mpsc::Receiver<Event>) {
        self.ctx_with_env(dry_run, &[])
    }

    /// An attempt of the task; its children also get `env`.
    fn ctx_with_env(
        &self,
        dry_run: bool,
        env: &[(&str, &str)],
    ) -> (Arc<Attempt>, std::sync::mpsc::Receiver<Event>) {
        let run_dir = PlanDir::new(&self.root.join("state"), "flux-rebuild").run("run-1");
        std::fs::create_dir_all(run_dir.logs_dir()).unwrap();
        let (events, rx) = EventSender::channel();
        let mut run = RunResources::new(run_dir.path().to_path_buf(), events);
        run.dry_run = dry_run;
        run.assume_yes = true;
        run.child_env = vec![("PULUMI_CONFIG_PASSPHRASE".into(), PASSPHRASE.into())];
        run.child_env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let log = Some(run_dir.log_path("pulumi-up"));
        (
            Arc::new(Attempt::new(Arc::new(run), "pulumi-up", 1, log)),
            rx,
        )
    }

    fn log_text(&self, ctx: &Attempt) -> String {
        std::fs::read_to_string(ctx.log_path().unwrap()).unwrap()
    }
}

/// The stack with both required secrets, a passphrase, and `extra` for the
/// operations.
fn behaviour(extra: &str) -> String {
    format!(
        r#"
pulumi:
  passphrase: "{PASSPHRASE}"
  stacks:
    {STACK}:
      config:
        flux.ssh_private_key:
          secret: true
          value: "-----BEGIN OPENSSH PRIVATE KEY-----\n{SSH_LINE}\n-----END OPENSSH PRIVATE KEY-----\n"
        github.token: {{ value: "{TOKEN}", secret: true }}
        region: {{ value: "eu-west-1" }}
{extra}
"#
    )
}

fn common() -> String {
    format!("--stack {STACK} --cwd {{cwd}} --non-interactive --color never")
}

fn settings() -> Settings {
    Settings {
        grace: Some(Duration::from_secs(10)),
        config_timeout: Duration::from_secs(60),
    }
}

/// Waits (up to a deadline) until `f` holds.
async fn wait_for(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Whether process `pid` has a handler for SIGINT (so a SIGINT now is handled, not
/// fatal).
fn catches_sigint(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & (1 << (nix::libc::SIGINT - 1)) != 0)
}

fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

#[tokio::test]
async fn previews_then_updates_with_the_documented_argv_and_reports_the_change_summary() {
    let sim = Sim::new(&behaviour(
        "  preview: { changes: { create: 12, same: 3 } }\n  up: { changes: { create: 12, same: 3 } }",
    ));
    let (ctx, _rx) = sim.ctx(false);
    let outcome = pulumi::execute_with(&sim.task(), &ctx, &settings())
        .await
        .unwrap();
    assert_eq!(
        outcome.summary.as_deref(),
        Some("pulumi up for stack oceanid-cluster: 12 created, 3 unchanged")
    );
    let common = common().replace("{cwd}", &sim.project.display().to_string());
    assert_eq!(
        sim.argvs(),
        [
            format!("config {common} --json"),
            format!("config {common} --json --show-secrets"),
            format!("preview {common} --diff --suppress-progress --json"),
            // What an interrupted update may have left, looked for before the update.
            format!("stack export {common}"),
            format!(
                "whoami --json --cwd {} --non-interactive",
                sim.project.display()
            ),
            format!("up {common} --yes --skip-preview --suppress-progress --json"),
        ]
    );
    for invocation in sim.invocations() {
        assert_eq!(invocation.cwd, sim.project.display().to_string());
        assert!(
            invocation
                .env
                .contains(&"PULUMI_CONFIG_PASSPHRASE".to_owned()),
            "{invocation:?}"
        );
    }
    let log = sim.log_text(&ctx);
    assert!(
        log.contains("resources: 12 to create, 3 unchanged"),
        "{log}"
    );
    assert!(
        log.contains("--- pulumi up: 12 created, 3 unchanged"),
        "{log}"
    );
}

#[tokio::test]
async fn refreshes_first_and_under_dry_run_only_previews() {
    let sim = Sim::new(&behaviour(
        "  preview: { changes: { create: 2 } }\n  refresh: { changes: { same: 4 } }",
    ));
    let mut task = sim.task();
    task.refresh = true;
    task.preview = false;
    task.project.args = vec!["--parallel".into(), "4".into()];
    let common = common().replace("{cwd}", &sim.project.display().to_string());

    let (ctx, _rx) = sim.ctx(false);
    pulumi::execute_with(&task, &ctx, &settings())
        .await
        .unwrap();
    assert_eq!(
        sim.argvs()[2..],
        [
            format!("refresh {common} --yes --skip-preview --suppress-progress --json"),
            format!("stack export {common}"),
            format!(
                "whoami --json --cwd {} --non-interactive",
                sim.project.display()
            ),
            format!("up {common} --yes --suppress-progress --json --parallel 4"),
        ]
    );

    std::fs::remove_file(sim.bin.join(simtools::LOG_FILE)).unwrap();
    let (ctx, _rx) = sim.ctx(true);
    let outcome = pulumi::execute_with(&task, &ctx, &settings())
        .await
        .unwrap();
    assert_eq!(
        outcome.summary.as_deref(),
        Some("previewed stack oceanid-cluster (dry run, nothing changed): 2 to create")
    );
    let argvs = sim.argvs();
    assert_eq!(
        argvs[2..],
        [format!(
            "preview {common} --diff --suppress-progress --json --refresh --parallel 4"
        )]
    );
    assert!(argvs.iter().all(|a| !a.starts_with("up ")));
}

#[tokio::test]
async fn a_missing_config_key_stops_the_plan_before_anything_runs() {
    let sim = Sim::new(&format!(
        r#"
pulumi:
  stacks:
    {STACK}:
      config:
        flux.ssh_private_key: {{ value: "k", secret: true }}
"#
    ));
    let marker = sim.root.join("deleted");
    let plan_path = write_flux_like_plan(&sim, &marker.display().to_string(), "");
    let plan = planrun::validate::load_and_validate(&plan_path, &[]).unwrap();

    let err = pulumi::preflight_plan(&plan, None).await.unwrap_err();
    assert_eq!(err.task, "pulumi-up");
    let PulumiError::MissingConfig { keys, fix, .. } = &err.error else {
        panic!("{err:?}");
    };
    assert_eq!(keys, &["github.token"]);
    assert!(
        fix.contains(&format!(
            "pulumi config set --secret github.token --stack {STACK} --cwd {}",
            sim.project.display()
        )),
        "{fix}"
    );
    assert!(err.error.to_string().contains("github.token"));
    // Only the value-free listing ran; nothing was deleted.
    assert_eq!(sim.invocations().len(), 1);
    assert_eq!(sim.invocations()[0].args[0], "config");
    assert!(!sim.invocations()[0].args.contains(&"--show-secrets".into()));
    assert!(!marker.exists());
}

#[tokio::test]
async fn preflight_explains_missing_cli_login_stack_and_passphrase() {
    let sim = Sim::new(&behaviour(""));
    let redactor = Redactor::new();

    let mut task = sim.project();
    task.binary = sim.root.join("nowhere/pulumi").display().to_string();
    let e = pulumi::preflight(&task, &redactor).await.unwrap_err();
    assert!(matches!(e, PulumiError::NotInstalled { .. }));
    assert!(e.with_help().contains("get.pulumi.com"));

    let mut task = sim.project();
    task.stack = "nope".into();
    let e = pulumi::preflight(&task, &redactor).await.unwrap_err();
    assert!(
        matches!(&e, PulumiError::StackNotFound { stack, .. } if stack == "nope"),
        "{e:?}"
    );

    // The secrets exist but cannot be decrypted: found now, not after the deletes.
    let e = pulumi::preflight(&sim.project(), &redactor)
        .await
        .unwrap_err();
    assert!(matches!(e, PulumiError::Passphrase { .. }), "{e:?}");
    assert!(e.with_help().contains("PULUMI_CONFIG_PASSPHRASE"));

    let env = [("PULUMI_CONFIG_PASSPHRASE".to_owned(), PASSPHRASE.to_owned())];
    let check = pulumi::preflight_with(&sim.project(), &redactor, &env, None)
        .await
        .unwrap();
    assert_eq!((check.required, check.secrets), (2, 2));
    assert_eq!(redactor.redact(TOKEN), planrun::redact::MASK);

    let logged_out = Sim::new("pulumi: { logged_in: false }");
    let e = pulumi::preflight(&logged_out.project(), &redactor)
        .await
        .unwrap_err();
    assert!(matches!(e, PulumiError::NotLoggedIn { .. }), "{e:?}");
    assert!(e.with_help().contains("pulumi login"));
}

#[tokio::test]
async fn a_failed_update_names_the_failed_resources_and_its_last_lines() {
    let sim = Sim::new(&behaviour(
        r#"  up:
    stdout: "deploying flux"
    changes: { create: 10 }
    failed:
      - type: "kubernetes:apps/v1:Deployment"
        name: "flux-system/source-controller"
        message: "timed out waiting for the rollout: 0/1 replicas ready""#,
    ));
    let (ctx, _rx) = sim.ctx(false);
    let err = pulumi::execute_with(&sim.task(), &ctx, &settings())
        .await
        .unwrap_err();
    let TaskError {
        class: FailureClass::Failed,
        message,
        excerpt,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(
        message.starts_with("`pulumi up` failed for stack `oceanid-cluster` (exit code 255)"),
        "{message}"
    );
    assert!(
        message.contains(
            "failed resources: kubernetes:apps/v1:Deployment flux-system/source-controller"
        ),
        "{message}"
    );
    assert!(message.contains("0/1 replicas ready"), "{message}");
    assert!(
        excerpt.iter().any(|l| l.contains("deploying flux")),
        "{excerpt:?}"
    );
    assert!(
        excerpt.iter().any(|l| l == "resources: 10 created"),
        "{excerpt:?}"
    );
}

/// Starts the task, waits until the simulated `pulumi up` runs and handles SIGINT,
/// then times it out.
async fn time_out_during_up(
    sim: &Sim,
    settings: Settings,
) -> (
    Result<planrun::exec::TaskOutcome, TaskError>,
    Arc<Attempt>,
    u32,
) {
    let (ctx, _rx) = sim.ctx(false);
    let task = sim.task();
    let cancel = ctx.cancel.clone();
    let run_ctx = ctx.clone();
    let handle =
        tokio::spawn(async move { pulumi::execute_with(&task, &run_ctx, &settings).await });
    let mut pid = 0;
    assert!(
        wait_for(|| {
            match sim.invocations().iter().find(|i| i.args[0] == "up") {
                Some(up) => {
                    pid = up.pid;
                    catches_sigint(pid)
                }
                None => false,
            }
        })
        .await,
        "the simulated pulumi up never started"
    );
    cancel.cancel(CancelReason::Timeout);
    (handle.await.unwrap(), ctx, pid)
}

#[tokio::test]
async fn a_timeout_interrupts_the_update_and_says_the_stack_may_need_cancel() {
    let sim = Sim::new(&behaviour("  up: { delay_ms: 600000 }"));
    let (result, ctx, pid) = time_out_during_up(&sim, settings()).await;
    let TaskError {
        class: FailureClass::Cancelled(reason),
        excerpt,
        ..
    } = result.unwrap_err()
    else {
        panic!("not cancelled");
    };
    assert_eq!(reason, CancelReason::Timeout);
    assert!(
        excerpt
            .iter()
            .any(|l| l.contains("pulumi cancel --stack oceanid-cluster --yes")),
        "{excerpt:?}"
    );
    assert!(process_gone(pid));
    let log = sim.log_text(&ctx);
    // It was asked to stop (SIGINT) and cancelled on its own, before any SIGKILL.
    assert!(log.contains("^C received; cancelling"), "{log}");
    assert!(log.contains("error: update canceled"), "{log}");
}

#[tokio::test]
async fn an_update_that_ignores_sigint_is_killed_after_the_grace_period() {
    let sim = Sim::new(&behaviour(
        "  up: { delay_ms: 600000, ignore_interrupt: true }",
    ));
    let settings = Settings {
        grace: Some(Duration::from_millis(300)),
        ..settings()
    };
    let (result, ctx, pid) = time_out_during_up(&sim, settings).await;
    let TaskError {
        class: FailureClass::Cancelled(reason),
        excerpt,
        ..
    } = result.unwrap_err()
    else {
        panic!("not cancelled");
    };
    assert_eq!(reason, CancelReason::Timeout);
    assert!(excerpt.iter().any(|l| l.contains("pulumi refresh")));
    assert!(
        wait_for(|| process_gone(pid)).await,
        "pulumi {pid} still runs"
    );
    assert!(!sim.log_text(&ctx).contains("^C received"));
}

#[tokio::test]
async fn secret_values_appear_in_no_output_and_no_file_of_the_run() {
    let printed =
        format!("token {TOKEN}\\nkey line {SSH_LINE}\\npassphrase {PASSPHRASE}\\nall done");
    let sim = Sim::new(&behaviour(&format!(
        "  preview: {{ stdout: \"{printed}\" }}\n  up: {{ stdout: \"{printed}\", stderr: \"warning: {TOKEN}\", changes: {{ create: 1 }} }}"
    )));
    let (ctx, rx) = sim.ctx(false);
    let outcome = pulumi::execute_with(&sim.task(), &ctx, &settings())
        .await
        .unwrap();

    // A failed run prints its errors as well: they are masked too.
    let failing = Sim::new(&behaviour(&format!(
        "  up: {{ failed: [{{ type: \"kubernetes:core/v1:Secret\", name: \"flux-system/flux\", message: \"bad token {TOKEN}\" }}] }}"
    )));
    let (failing_ctx, failing_rx) = failing.ctx(false);
    let err = pulumi::execute_with(&failing.task(), &failing_ctx, &settings())
        .await
        .unwrap_err();

    let mut texts = vec![format!("{outcome:?}"), format!("{err:?}"), err.to_string()];
    let log = sim.log_text(&ctx);
    assert!(log.contains("token ********"), "{log}");
    assert!(log.contains("all done"), "{log}");
    // Every sender is gone once the contexts are: the receivers then end.
    drop(ctx);
    drop(failing_ctx);
    texts.extend(rx.iter().map(|e| serde_json::to_string(&e).unwrap()));
    texts.extend(
        failing_rx
            .iter()
            .map(|e| serde_json::to_string(&e).unwrap()),
    );
    for root in [&sim.root, &failing.root] {
        for file in files_under(&root.join("state")) {
            texts.push(std::fs::read_to_string(&file).unwrap());
        }
        texts.push(std::fs::read_to_string(root.join("bin").join(simtools::LOG_FILE)).unwrap());
    }
    assert!(texts.len() > 10);
    for text in &texts {
        for secret in [TOKEN, SSH_LINE, PASSPHRASE] {
            assert!(!text.contains(secret), "{secret} leaked into: {text}");
        }
    }
}

pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_simulated_cli_rejects_flags_the_real_one_lacks() {
    let sim = Sim::new(&behaviour(""));
    let out = std::process::Command::new(sim.bin.join("pulumi"))
        .args(["preview", "--stack", STACK, "--yes"])
        .current_dir(&sim.project)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: unknown flag: --yes\n"
    );
}

#[test]
fn simulated_pnpm_and_flux_answer_by_rule_and_record_every_call() {
    let sim = Sim::new(
        r#"
pnpm:
  rules:
    - args: [--filter, "@oceanid/cluster", build]
      stdout: "built cluster"
  default: { exit: 1, stderr: "no such script" }
flux:
  rules:
    - prefix: [get, kustomizations]
      stdout: "flux-system main@sha1:4f1c2a9 False True"
"#,
    );
    let run = |tool: &str, args: &[&str]| {
        std::process::Command::new(sim.bin.join(tool))
            .args(args)
            .current_dir(&sim.root)
            .output()
            .unwrap()
    };
    let out = run("pnpm", &["--filter", "@oceanid/cluster", "build"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "built cluster\n");
    let out = run("pnpm", &["test"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "no such script\n");
    let out = run("flux", &["get", "kustomizations", "-n", "flux-system"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "flux-system main@sha1:4f1c2a9 False True\n"
    );
    let calls: Vec<(String, String)> = sim
        .invocations()
        .into_iter()
        .map(|i| (i.tool, i.args.join(" ")))
        .collect();
    assert_eq!(
        calls,
        [
            ("pnpm".into(), "--filter @oceanid/cluster build".into()),
            ("pnpm".into(), "test".into()),
            ("flux".into(), "get kustomizations -n flux-system".into()),
        ]
    );
}

/// A plan that deletes (a script touching a marker) and then runs `pulumi-up` with
/// preview.
fn flux_like_plan(sim: &Sim) -> PathBuf {
    write_flux_like_plan(sim, "deleted", "preview = true\n")
}

/// Writes `plan.toml` in the sim's root: a script touching `marker`, then `pulumi-up`
/// (with the `pulumi_extra` lines) requiring two config keys.
fn write_flux_like_plan(sim: &Sim, marker: &str, pulumi_extra: &str) -> PathBuf {
    let plan = format!(
        r#"
[plan]
name = "flux-rebuild"

[tasks.delete-flux]
type = "exec-script"
command = ["touch", "{marker}"]

[tasks.pulumi-up]
type = "pulumi-up"
stack = "{STACK}"
cwd = "{cwd}"
binary = "{binary}"
{pulumi_extra}require_config = ["flux.ssh_private_key", "github.token"]
needs = ["delete-flux"]
"#,
        cwd = sim.project.display(),
        binary = sim.bin.join("pulumi").display(),
    );
    let path = sim.root.join("plan.toml");
    std::fs::write(&path, plan).unwrap();
    path
}

fn planrun_run(sim: &Sim, passphrase: Option<&str>) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_planrun"));
    cmd.current_dir(&sim.root)
        .args(["run", "plan.toml", "--output", "json"])
        .env_remove("PULUMI_CONFIG_PASSPHRASE");
    if let Some(p) = passphrase {
        cmd.env("PULUMI_CONFIG_PASSPHRASE", p);
    }
    cmd.output().unwrap()
}

#[test]
fn planrun_run_refuses_a_plan_whose_stack_lacks_config_before_deleting_anything() {
    let sim = Sim::new(&format!(
        "pulumi:\n  stacks:\n    {STACK}:\n      config:\n        flux.ssh_private_key: {{ value: k, secret: true }}\n"
    ));
    flux_like_plan(&sim);
    let out = planrun_run(&sim, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("github.token"), "{stderr}");
    // miette wraps long lines: compare without the wrapping.
    let flat = stderr.replace(['│', ' ', '\n'], "");
    assert!(
        flat.contains("pulumiconfigset--secretgithub.token"),
        "{stderr}"
    );
    assert!(!sim.root.join("deleted").exists());
    assert_eq!(sim.argvs().len(), 1);
}

#[test]
fn planrun_run_reports_the_change_summary_and_masks_secrets_in_every_file() {
    let printed = format!("token {TOKEN}\\nkey {SSH_LINE}\\npass {PASSPHRASE}");
    let sim = Sim::new(&behaviour(&format!(
        "  preview: {{ stdout: \"{printed}\", changes: {{ create: 20 }} }}\n  up: {{ stdout: \"{printed}\", changes: {{ create: 20, same: 1 }} }}"
    )));
    flux_like_plan(&sim);
    let out = planrun_run(&sim, Some(PASSPHRASE));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(sim.root.join("deleted").exists());
    assert!(
        stdout.contains("pulumi up for stack oceanid-cluster: 20 created, 1 unchanged"),
        "{stdout}"
    );
    let files = files_under(&sim.root.join(".planrun"));
    let report = files
        .iter()
        .find(|f| f.ends_with("report.md"))
        .expect("a run report");
    let report_text = std::fs::read_to_string(report).unwrap();
    assert!(
        report_text.contains("20 created, 1 unchanged"),
        "{report_text}"
    );
    let mut texts = vec![stdout, stderr];
    texts.extend(files.iter().map(|f| std::fs::read_to_string(f).unwrap()));
    texts.push(std::fs::read_to_string(sim.bin.join(simtools::LOG_FILE)).unwrap());
    assert!(texts.iter().any(|t| t.contains("token ********")));
    for text in &texts {
        for secret in [TOKEN, SSH_LINE, PASSPHRASE] {
            assert!(!text.contains(secret), "{secret} leaked into: {text}");
        }
    }
}
