//! The invocation log: one JSON line per run of a simulated tool, appended with
//! `O_APPEND` in a single write so concurrent tools never interleave.
//!
//! Only the *names* of selected environment variables are kept, never values:
//! the log is written next to secrets and must not hold any.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One run of a simulated tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invocation {
    /// `pulumi`, `pnpm` or `flux`.
    pub tool: String,
    /// The arguments after the program name.
    pub args: Vec<String>,
    pub cwd: String,
    /// Names of the environment variables set that matter to the tools (`PULUMI_*`,
    /// `PLANRUN_*`, `KUBECONFIG`), sorted.
    pub env: Vec<String>,
    pub pid: u32,
}

/// Whether an environment variable's name is recorded.
fn recorded(name: &str) -> bool {
    name.starts_with("PULUMI_") || name.starts_with("PLANRUN_") || name == "KUBECONFIG"
}

/// Appends this process's invocation to the log at `path`.
pub fn record(path: &Path, tool: &str, args: &[String]) -> std::io::Result<()> {
    let mut env: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| recorded(k))
        .collect();
    env.sort();
    let invocation = Invocation {
        tool: tool.to_owned(),
        args: args.to_vec(),
        cwd: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        env,
        pid: std::process::id(),
    };
    let mut line = serde_json::to_vec(&invocation).map_err(std::io::Error::other)?;
    line.push(b'\n');
    // Private: arguments may carry secrets (`pulumi config set --secret`).
    let mut file = std::fs::File::options()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(&line)
}

/// Reads an invocation log (missing file: no invocations).
pub fn read_log(path: &Path) -> std::io::Result<Vec<Invocation>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_names_that_matter_only() {
        assert!(recorded("PULUMI_CONFIG_PASSPHRASE"));
        assert!(recorded("KUBECONFIG"));
        assert!(recorded("PLANRUN_TASK"));
        assert!(!recorded("HOME"));
        assert!(!recorded("GITHUB_TOKEN"));
    }
}
