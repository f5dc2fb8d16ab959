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
    /// Where to write the kubeconfig (default: in a fresh private directory in the
    /// system temp dir, removed when the sandbox stops).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Name of the kubeconfig context.
    #[arg(long, value_name = "NAME", default_value = "planrun-sandbox")]
    pub context: String,
}

/// A started sandbox, where its kubeconfig is, and the private directory holding it
/// when none was asked for (removed when dropped).
pub struct Started {
    pub sandbox: Sandbox,
    pub kubeconfig: PathBuf,
    pub scratch: Option<tempfile::TempDir>,
}

/// Start a sandbox from the arguments, write its kubeconfig, and report how to use it.
pub async fn start_from_args(args: &SandboxArgs) -> Result<Started, SandboxError> {
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
    // A fresh private directory, not a predictable path others could plant a link at.
    let (path, scratch) = match &args.kubeconfig {
        Some(path) => (path.clone(), None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("planrun-sandbox-")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir()
                .map_err(|source| SandboxError::Write {
                    path: std::env::temp_dir().display().to_string(),
                    source,
                })?;
            (dir.path().join("sandbox.kubeconfig"), Some(dir))
        }
    };
    sandbox.write_kubeconfig(&path, &args.context)?;
    Ok(Started {
        sandbox,
        kubeconfig: path,
        scratch,
    })
}
