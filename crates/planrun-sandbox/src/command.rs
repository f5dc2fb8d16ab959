//! `planrun sandbox`'s arguments, and a sandbox started from them with a kubeconfig
//! for it.

use std::path::PathBuf;

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
