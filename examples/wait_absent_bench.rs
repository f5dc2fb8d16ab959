//! Benchmark: latency from the deletion of the last object to the end of a
//! `wait-absent`, side by side with `kubectl wait --for=delete`, on one sandbox.
//!
//! Each trial creates a ConfigMap held by a finalizer, deletes it (it lingers with a
//! deletionTimestamp), starts the waiter as a child process, waits until the sandbox
//! has registered the waiter's watch, then removes the finalizer (the object goes)
//! and measures until the waiter process exits. planrun's waiter is this example
//! re-run with `--wait`, so both sides pay for a process exit.
//!
//! ```text
//! cargo run --release --example wait_absent_bench -- [--trials 30] [--kubectl kubectl]
//! ```

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use planrun::exec::kube::{ConnectOptions, Connection, Quiet, TaskEnv, wait_absent};
use planrun::validate::{Selection, Target, WaitAbsent};
use planrun_sandbox::{Manifest, Sandbox, SandboxConfig, Scenario};

const NAMESPACE: &str = "bench";
const FINALIZER: &str = "example.com/bench";
/// Longest a single trial may take before the benchmark gives up.
const TRIAL_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Planrun,
    Kubectl,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Planrun => "planrun wait-absent",
            Tool::Kubectl => "kubectl wait --for=delete",
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new()?;
    if args.first().map(String::as_str) == Some("--wait") {
        let [_, kubeconfig, name] = args.as_slice() else {
            return Err("usage: --wait KUBECONFIG NAME".into());
        };
        return runtime.block_on(wait(Path::new(kubeconfig), name));
    }
    let mut trials = 30usize;
    let mut kubectl = "kubectl".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--trials" => trials = it.next().ok_or("--trials needs a number")?.parse()?,
            "--kubectl" => kubectl = it.next().ok_or("--kubectl needs a path")?.clone(),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    runtime.block_on(bench(trials, &kubectl))
}

/// The planrun side: one `wait-absent` task, as the engine would run it.
async fn wait(kubeconfig: &Path, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let conn = Connection::open(&ConnectOptions {
        kubeconfig: Some(kubeconfig.to_path_buf()),
        context: None,
    })
    .await?;
    let env = TaskEnv::new(&conn, &Quiet, TRIAL_DEADLINE);
    let spec = WaitAbsent {
        selection: Selection::of_kind("ConfigMap", Some(NAMESPACE), Target::Name(name.into())),
    };
    wait_absent(&env, &spec).await?;
    Ok(())
}

async fn bench(trials: usize, kubectl: &str) -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::start(SandboxConfig {
        port: 0,
        seeds: vec![Manifest::inline(format!(
            "{{apiVersion: v1, kind: Namespace, metadata: {{name: {NAMESPACE}}}}}"
        ))],
        scenario: Scenario::default(),
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    sandbox.write_kubeconfig(&kubeconfig, "bench")?;
    let cache = dir.path().join("kubectl-cache");
    let me = std::env::current_exe()?;
    let mut results: Vec<(Tool, Vec<f64>)> =
        vec![(Tool::Planrun, Vec::new()), (Tool::Kubectl, Vec::new())];
    for trial in 0..trials {
        // Alternate which tool goes first, so neither always runs on a warmer server.
        let order = if trial % 2 == 0 {
            [Tool::Planrun, Tool::Kubectl]
        } else {
            [Tool::Kubectl, Tool::Planrun]
        };
        for tool in order {
            let name = format!(
                "bench-{}-{trial}",
                if tool == Tool::Planrun { "p" } else { "k" }
            );
            let mut cmd = match tool {
                Tool::Planrun => {
                    let mut c = tokio::process::Command::new(&me);
                    c.arg("--wait").arg(&kubeconfig).arg(&name);
                    c
                }
                Tool::Kubectl => {
                    let mut c = tokio::process::Command::new(kubectl);
                    c.arg("--kubeconfig")
                        .arg(&kubeconfig)
                        .arg("--cache-dir")
                        .arg(&cache)
                        .args(["wait", "--for=delete", "-n", NAMESPACE])
                        .arg(format!("configmap/{name}"))
                        .arg("--timeout=60s");
                    c
                }
            };
            let ms = trial_latency(&sandbox, &name, &mut cmd).await?;
            results
                .iter_mut()
                .find(|(t, _)| *t == tool)
                .expect("both tools are listed")
                .1
                .push(ms);
        }
    }
    println!("wait-absent latency, last deletion -> waiter exit, {trials} trials each (ms)");
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>8}",
        "tool", "median", "p90", "min", "max"
    );
    for (tool, mut v) in results {
        v.sort_by(f64::total_cmp);
        println!(
            "{:<28} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
            tool.name(),
            percentile(&v, 0.5),
            percentile(&v, 0.9),
            v[0],
            v[v.len() - 1]
        );
    }
    sandbox.shutdown().await;
    Ok(())
}

/// One trial: the object lingers, the waiter watches, the object goes; milliseconds
/// from its removal to the waiter's exit.
async fn trial_latency(
    sandbox: &Sandbox,
    name: &str,
    cmd: &mut tokio::process::Command,
) -> Result<f64, Box<dyn std::error::Error>> {
    let state = sandbox.state();
    state.apply_yaml(&format!(
        "{{apiVersion: v1, kind: ConfigMap, metadata: {{name: {name}, namespace: {NAMESPACE}, finalizers: [{FINALIZER}]}}}}"
    ))?;
    state.delete("v1", "ConfigMap", NAMESPACE, name)?;
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let deadline = Instant::now() + TRIAL_DEADLINE;
    // The waiter is ready once the server has registered its watch on this object.
    while !sandbox
        .requests()
        .iter()
        .any(|r| r.watch && r.status == 200 && r.query.contains(name))
    {
        if Instant::now() > deadline {
            return Err(format!("{name}: the waiter never started watching").into());
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!("{name}: the waiter exited early: {status}").into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let start = Instant::now();
    state.remove_finalizer("v1", "ConfigMap", NAMESPACE, name, FINALIZER)?;
    let status = tokio::time::timeout(TRIAL_DEADLINE, child.wait()).await??;
    let elapsed = start.elapsed();
    if !status.success() {
        return Err(format!("{name}: the waiter failed: {status}").into());
    }
    Ok(elapsed.as_secs_f64() * 1000.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}
