//! The real Kubernetes control plane and the real Pulumi that `scripts/realcluster`
//! builds from Go modules (see `realcluster/README.md`), for the tests that measure
//! planrun, its sandbox and its simulated tools against them.
//!
//! - [`tools`]: the built tools, found once per test process (`scripts/realcluster env`).
//! - [`shared`]: one cluster per test process, started on first use (`scripts/realcluster
//!   up --dir <tmp> --owner-pid <this process>`), so that it stops when the test process
//!   ends however it ends. Tests on it work in namespaces and names of their own, so they
//!   run side by side.
//! - [`RealCluster::own`]: a cluster of a test's own, for a test that installs
//!   cluster-scoped objects other tests would trip on (Flux's CRDs, ClusterRoles); it goes
//!   down when dropped (and with the test process at the latest).
//!
//! **The skip rule.** Every real-cluster test calls [`tools`], [`shared`] or
//! [`RealCluster::own`] first and returns when it gets `None`: that happens only when the
//! tools are not built, and says so, naming `scripts/realcluster build`. With
//! `PLANRUN_REALCLUSTER=required` in the environment (CI's `.ci/run` sets it, after
//! building the tools) a missing build fails the test instead: CI never skips them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use kube::config::{KubeConfigOptions, Kubeconfig};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The environment variable that turns a missing build into a failure (CI).
pub const REQUIRED_ENV: &str = "PLANRUN_REALCLUSTER";

/// The script's path in the repository.
pub fn script() -> PathBuf {
    Path::new(ROOT).join("scripts/realcluster")
}

/// The tools `scripts/realcluster build` made, by the names `scripts/realcluster env`
/// prints (`KUBECTL`, `PULUMI`, `REALCLUSTER_BIN`...).
#[derive(Debug)]
pub struct Tools {
    vars: BTreeMap<String, String>,
}

impl Tools {
    pub fn get(&self, name: &str) -> PathBuf {
        PathBuf::from(
            self.vars
                .get(name)
                .unwrap_or_else(|| panic!("`scripts/realcluster env` printed no {name}")),
        )
    }

    /// The built kubectl.
    pub fn kubectl(&self) -> PathBuf {
        self.get("KUBECTL")
    }
}

/// The built tools, or `None` (with a message saying how to build them) when they are
/// not built; fails instead when [`REQUIRED_ENV`] is `required`.
pub fn tools() -> Option<&'static Tools> {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    let found = TOOLS.get_or_init(find_tools);
    match found {
        Ok(tools) => Some(tools),
        Err(why) => {
            assert!(
                std::env::var(REQUIRED_ENV).as_deref() != Ok("required"),
                "{REQUIRED_ENV}=required but the real cluster's tools are missing: {why}"
            );
            eprintln!(
                "skipping: the real control plane and Pulumi are not built ({why}); \
                 run `scripts/realcluster build` (see realcluster/README.md)"
            );
            None
        }
    }
}

fn find_tools() -> Result<Tools, String> {
    let out = Command::new(script())
        .arg("env")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run scripts/realcluster: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    // `NAME=value` lines, values shell-quoted with printf %q: the build's paths have
    // no characters that need quoting, so a quoted value is a sign of a strange path.
    let mut vars = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| format!("unexpected line from scripts/realcluster env: {line}"))?;
        if value.contains(['\'', '\\', '"']) {
            return Err(format!(
                "a quoted path from scripts/realcluster env: {line}"
            ));
        }
        vars.insert(name.to_owned(), value.to_owned());
    }
    Ok(Tools { vars })
}

/// A running cluster made by `scripts/realcluster up`.
#[derive(Debug)]
pub struct RealCluster {
    /// Its state directory (`up --dir`): kubeconfig, pki, logs, env.
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    /// The kubeconfig's context (`realcluster`).
    pub context: String,
    own: bool,
}

/// The cluster every test of this process shares, started on first use; `None` when
/// the tools are not built (see the skip rule in the module doc).
pub async fn shared() -> Option<&'static RealCluster> {
    static SHARED: OnceLock<Result<RealCluster, String>> = OnceLock::new();
    tools()?;
    let cluster = tokio::task::spawn_blocking(move || {
        SHARED.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!(
                "planrun-it-realcluster-{}-shared",
                std::process::id()
            ));
            RealCluster::up(&dir, false)
        })
    })
    .await
    .expect("starting the shared cluster panicked");
    match cluster {
        Ok(cluster) => Some(cluster),
        Err(e) => panic!("the shared real cluster did not start: {e}"),
    }
}

impl RealCluster {
    /// A cluster of the caller's own (see the module doc); `None` when the tools are not
    /// built.
    pub async fn own() -> Option<RealCluster> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        tools()?;
        let dir = std::env::temp_dir().join(format!(
            "planrun-it-realcluster-{}-own{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let cluster = tokio::task::spawn_blocking(move || RealCluster::up(&dir, true))
            .await
            .expect("starting a cluster panicked");
        Some(cluster.unwrap_or_else(|e| panic!("a real cluster did not start: {e}")))
    }

    fn up(dir: &Path, own: bool) -> Result<RealCluster, String> {
        // Generous: several engineers' builds may share the two cores.
        let out = Command::new(script())
            .args(["up", "--timeout", "300", "--owner-pid"])
            .arg(std::process::id().to_string())
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run scripts/realcluster up: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "scripts/realcluster up failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let env = std::fs::read_to_string(dir.join("env"))
            .map_err(|e| format!("cannot read {}/env: {e}", dir.display()))?;
        let value = |name: &str| -> Result<String, String> {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(|v| v.trim_matches('\'').to_owned())
                .ok_or_else(|| format!("no {name} in {}/env", dir.display()))
        };
        Ok(RealCluster {
            dir: dir.to_path_buf(),
            kubeconfig: PathBuf::from(value("KUBECONFIG")?),
            context: value("REALCLUSTER_CONTEXT")?,
            own,
        })
    }

    /// The built kubectl on this cluster, with a discovery cache of its own.
    pub fn kubectl(&self) -> Kubectl {
        Kubectl {
            bin: tools()
                .expect("a cluster runs, so the tools are built")
                .kubectl(),
            kubeconfig: self.kubeconfig.clone(),
            cache: self.dir.join("kubectl-cache"),
        }
    }

    /// A kube-rs client for the cluster (made per test: a client belongs to the runtime
    /// that made it).
    pub async fn client(&self) -> kube::Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &KubeConfigOptions {
                context: Some(self.context.clone()),
                ..KubeConfigOptions::default()
            },
        )
        .await
        .unwrap();
        kube::Client::try_from(config).unwrap()
    }
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        if !self.own {
            return;
        }
        let out = Command::new(script())
            .arg("down")
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output();
        if let Ok(out) = out
            && !out.status.success()
        {
            eprintln!(
                "scripts/realcluster down --dir {} failed: {}",
                self.dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// kubectl with its own kubeconfig and discovery cache (never `~/.kube`).
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub bin: PathBuf,
    pub kubeconfig: PathBuf,
    pub cache: PathBuf,
}

impl Kubectl {
    /// Runs kubectl off the async runtime (a sandbox may be serving on it meanwhile).
    pub async fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None).await
    }

    /// Runs kubectl with `stdin` as its standard input.
    pub async fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .env_remove("KUBECONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let input = stdin.map(str::to_owned);
        let shown = args.join(" ");
        let out = tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().expect("cannot run kubectl");
            if let Some(input) = input {
                use std::io::Write;
                let mut pipe = child.stdin.take().expect("piped stdin");
                pipe.write_all(input.as_bytes()).expect("kubectl's stdin");
            }
            child.wait_with_output().expect("kubectl's output")
        })
        .await
        .unwrap();
        eprintln!(
            "kubectl {shown}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs kubectl and expects success; its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.status.success(), "kubectl {args:?} failed");
        String::from_utf8(out.stdout).unwrap()
    }
}

/// Installs the old Flux the way the seed describes it, with `kubectl apply`
/// (client-side) of `examples/rehearsal/old-flux.yaml`: its Flux objects once their
/// CRDs are Established, then waits for the controllers' rollout.
pub async fn install_old_flux(k: &Kubectl) {
    let seed = Path::new(ROOT).join("examples/rehearsal/old-flux.yaml");
    let seed = seed.to_str().unwrap();
    // The first apply creates the CRDs; their custom resources fail until served.
    let _ = k.run(&["apply", "-f", seed]).await;
    k.ok(&[
        "wait",
        "--for=condition=Established",
        "crd",
        "--all",
        "--timeout=120s",
    ])
    .await;
    k.ok(&["apply", "-f", seed]).await;
    k.ok(&[
        "-n",
        "flux-system",
        "rollout",
        "status",
        "deployment",
        "--timeout=180s",
    ])
    .await;
}

/// A local Pulumi backend and the oceanid project (`scripts/realcluster pulumi-env` and
/// `oceanid`) in a directory of a test's own, with the environment to run the real
/// `pulumi` (and planrun's `pulumi-up`) there. Pulumi's plugins run in process groups
/// of their own and outlive a killed CLI: when this goes, every process still running
/// with its `PULUMI_HOME` is killed, by pid.
#[derive(Debug)]
pub struct PulumiWorld {
    pub dir: PathBuf,
    /// The oceanid project (its stack `oceanid-cluster` has both config secrets).
    pub project: PathBuf,
    /// `PATH` (the built tools first), `PULUMI_*`.
    pub env: Vec<(String, String)>,
}

/// The oceanid stack's secrets as `scripts/realcluster oceanid` sets them by default:
/// they must never show.
pub const OCEANID_SECRETS: &[&str] = &["realcluster-test-key", "ghp_realclustertesttoken"];

impl PulumiWorld {
    /// Prepares the backend and the project in `dir` (which must exist).
    pub fn new(dir: &Path) -> PulumiWorld {
        let out = Command::new("bash")
            .arg("-c")
            .arg(r#"set -e; eval "$("$0" pulumi-env --dir "$1")"; "$0" oceanid --dir "$1" >"$1/project"; env -0"#)
            .arg(script())
            .arg(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/realcluster pulumi-env/oceanid failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = out
            .stdout
            .split(|b| *b == 0)
            .filter_map(|kv| std::str::from_utf8(kv).ok()?.split_once('='))
            .filter(|(k, _)| *k == "PATH" || k.starts_with("PULUMI_"))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let project = std::fs::read_to_string(dir.join("project")).unwrap();
        PulumiWorld {
            dir: dir.to_path_buf(),
            project: PathBuf::from(project.trim()),
            env,
        }
    }

    /// `program` with this world's environment, `KUBECONFIG` pointing at `cluster`.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>, cluster: &RealCluster) -> Command {
        let mut cmd = Command::new(program);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("KUBECONFIG", &cluster.kubeconfig)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the real `pulumi ARGS` in the project; its output.
    pub fn pulumi(&self, cluster: &RealCluster, args: &[&str]) -> Output {
        self.command("pulumi", cluster)
            .args(args)
            .args(["--stack", "oceanid-cluster", "--non-interactive"])
            .current_dir(&self.project)
            .output()
            .unwrap()
    }

    /// The metadata file beside the stack's checkpoint in the local backend (see
    /// `src/exec/pulumi/checkpoint.rs`).
    pub fn checkpoint_sidecar(&self) -> PathBuf {
        let backend = self
            .env
            .iter()
            .find(|(k, _)| k == "PULUMI_BACKEND_URL")
            .and_then(|(_, v)| v.strip_prefix("file://"))
            .expect("a local backend");
        Path::new(backend).join(".pulumi/stacks/oceanid-cluster/oceanid-cluster.json.attrs")
    }

    /// A values file merged over the chart's (see realcluster/README.md), named by the
    /// stack's `valuesFile` config.
    pub fn set_values(&self, cluster: &RealCluster, yaml: &str) {
        let file = self.dir.join("values.yaml");
        std::fs::write(&file, yaml).unwrap();
        let out = self.pulumi(
            cluster,
            &["config", "set", "valuesFile", file.to_str().unwrap()],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The processes running with this world's `PULUMI_HOME` (the CLI, its language
    /// host and provider plugins).
    pub fn processes(&self) -> Vec<u32> {
        let home = format!("PULUMI_HOME={}", self.dir.join("pulumi/home").display());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let zombie = stat
                    .rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
                !zombie
                    && std::fs::read(format!("/proc/{pid}/environ"))
                        .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == home.as_bytes()))
            })
            .collect()
    }

    /// The command lines of `pids`, for a failure to show.
    pub fn command_lines(pids: &[u32]) -> Vec<String> {
        pids.iter()
            .map(|p| {
                std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .unwrap_or_default()
                    .replace('\0', " ")
            })
            .collect()
    }

    /// Waits until none of [`Self::processes`] runs (a CLI's plugins take a moment to
    /// go after it); fails naming those still running after a generous minute.
    pub async fn none_left(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let left = self.processes();
            if left.is_empty() {
                return;
            }
            let named = Self::command_lines(&left);
            assert!(
                std::time::Instant::now() < deadline,
                "Pulumi processes still running: {named:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Kills [`Self::processes`] (SIGKILL, by pid); the pids it killed.
    pub fn kill_leftovers(&self) -> Vec<u32> {
        let pids = self.processes();
        for pid in &pids {
            if let Ok(pid) = i32::try_from(*pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        pids
    }
}

impl Drop for PulumiWorld {
    fn drop(&mut self) {
        let killed = self.kill_leftovers();
        if !killed.is_empty() {
            eprintln!(
                "killed Pulumi processes left over in {}: {killed:?}",
                self.dir.display()
            );
        }
    }
}
