//! `planrun sandbox`: serve a sandbox until Ctrl-C and hand out a kubeconfig for it.

use std::path::PathBuf;

use miette::IntoDiagnostic;

use super::error::SandboxError;
use super::scenario::Scenario;
use super::seed::Manifest;
use super::server::{Sandbox, SandboxConfig};

/// Arguments of `planrun sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Manifest files to seed (multi-document YAML); repeatable.
    #[arg(long = "seed", value_name = "FILE")]
    pub seeds: Vec<PathBuf>,
    /// Scenario file: delays, stuck finalizers, conditions, faults, seeds.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Where to write the kubeconfig (default: sandbox.kubeconfig in the system temp dir).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Name of the kubeconfig context.
    #[arg(long, value_name = "NAME", default_value = "planrun-sandbox")]
    pub context: String,
}

/// Start a sandbox from the arguments, write its kubeconfig, and report how to use it.
pub async fn start_from_args(args: &SandboxArgs) -> Result<(Sandbox, PathBuf), SandboxError> {
    let scenario = match &args.scenario {
        Some(p) => Scenario::load(p)?,
        None => Scenario::default(),
    };
    let seeds = args
        .seeds
        .iter()
        .map(|p| Manifest::from_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    let sandbox = Sandbox::start(SandboxConfig {
        port: args.port,
        seeds,
        scenario,
    })
    .await?;
    let path = args.kubeconfig.clone().unwrap_or_else(|| {
        std::env::temp_dir()
            .join("planrun-sandbox")
            .join("sandbox.kubeconfig")
    });
    sandbox.write_kubeconfig(&path, &args.context)?;
    Ok((sandbox, path))
}

/// Serve until Ctrl-C (or SIGTERM), then shut down.
pub async fn serve_until_signal(sandbox: Sandbox) {
    wait_for_signal().await;
    sandbox.shutdown().await;
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `planrun sandbox`: serve until Ctrl-C, printing the `export KUBECONFIG=...` line.
pub async fn run_sandbox_command(args: SandboxArgs) -> Result<(), miette::Report> {
    let (sandbox, path) = start_from_args(&args).await?;
    println!("sandbox API server listening on {}", sandbox.url());
    println!(
        "kubeconfig written to {} (context {})",
        path.display(),
        args.context
    );
    println!("use it with planrun or kubectl:");
    println!(
        "export KUBECONFIG={}",
        planrun_text::shell_quote(&path.display().to_string())
    );
    println!("press Ctrl-C to stop");
    use std::io::Write;
    std::io::stdout().flush().into_diagnostic()?;
    serve_until_signal(sandbox).await;
    Ok(())
}
