//! Simulated external tools: stand-ins for `pulumi`, `pnpm` and `flux` so tests and
//! rehearsals run on machines where none of them is installed. `pulumi` and `flux
//! check` follow the real tools against the sandbox cluster; `pnpm` and the other
//! `flux` commands answer by the behaviour file's rules.
//!
//! The `planrun` binary is multi-call: started under the name `pulumi`, `pnpm` or
//! `flux` (a symlink made by [`install`]), it acts as that tool. What the tool does
//! (exit code, output, delay, Kubernetes objects `pulumi up` applies) comes from a
//! behaviour file named by [`CONFIG_ENV`] (else [`CONFIG_FILE`] beside the links);
//! every invocation is appended to the file named by [`LOG_ENV`] (else [`LOG_FILE`]
//! beside the links) so a test can assert exactly what planrun ran. What the tools
//! keep between invocations (Pulumi stacks' state) lives in the directory named by
//! [`STATE_ENV`] (else [`STATE_DIR`] beside the links).

mod behaviour;
mod flux;
mod generic;
mod install;
mod invocation;
mod manifests;
mod pulumi;
mod reply;

pub use behaviour::{
    Behaviour, ConfigEntry, FailedResource, Operation, PulumiBehaviour, Rule, StackBehaviour,
    ToolBehaviour,
};
pub use install::{COMMANDS_ENV, TOOLS, install, tool_of_argv0};
pub use invocation::{Invocation, read_log};
pub use pulumi::DEFAULT_FIELD_MANAGER_PREFIX;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The environment variable naming the behaviour file (YAML).
pub const CONFIG_ENV: &str = "PLANRUN_SIM_CONFIG";
/// The environment variable naming the invocation log (JSON Lines, appended).
pub const LOG_ENV: &str = "PLANRUN_SIM_LOG";

/// The environment variable naming the tools' state directory.
pub const STATE_ENV: &str = "PLANRUN_SIM_STATE";
/// Name of the state directory beside the tool links when [`STATE_ENV`] is not set.
pub const STATE_DIR: &str = "state";

/// Name of the behaviour file looked for beside the tool links when [`CONFIG_ENV`] is
/// not set.
pub const CONFIG_FILE: &str = "planrun-sim.yaml";
/// Name of the invocation log written beside the tool links when [`LOG_ENV`] is not
/// set.
pub const LOG_FILE: &str = "planrun-sim.log";

/// Runs the simulated tool `argv0` names (one of [`TOOLS`]) with `args` (argv
/// without argv[0]).
pub fn main(argv0: &OsStr, args: Vec<OsString>) -> ExitCode {
    let Some(tool) = tool_of_argv0(argv0) else {
        eprintln!(
            "planrun: `{}` is not a simulated tool",
            argv0.to_string_lossy()
        );
        return ExitCode::from(2);
    };
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let home = tool_dir(argv0);
    let log = env_path(LOG_ENV).or_else(|| home.as_ref().map(|d| d.join(LOG_FILE)));
    let state_dir = env_path(STATE_ENV)
        .or_else(|| home.as_ref().map(|d| d.join(STATE_DIR)))
        .unwrap_or_else(|| PathBuf::from(STATE_DIR));
    if let Some(log) = &log
        && let Err(e) = invocation::record(log, &tool, &args)
    {
        eprintln!("planrun simulated {tool}: cannot record the invocation: {e}");
        return ExitCode::from(2);
    }
    let config =
        env_path(CONFIG_ENV).or_else(|| home.map(|d| d.join(CONFIG_FILE)).filter(|p| p.is_file()));
    let behaviour = match config {
        Some(path) => Behaviour::load(&path),
        None => Ok(Behaviour::default()),
    };
    let behaviour = match behaviour {
        Ok(b) => b,
        Err(e) => {
            eprintln!("planrun simulated {tool}: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match tool.as_str() {
        "pulumi" => pulumi::run(&behaviour, &state_dir, &args),
        "pnpm" => generic::run(&behaviour.pnpm, &args),
        "flux" => flux::run(&behaviour.flux, &args),
        command => generic::run_command(&behaviour, command, &args),
    };
    ExitCode::from(u8::try_from(code & 0xff).unwrap_or(255))
}

/// A path from the environment, if set and not empty.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// The directory holding the tool link this process was started through: from
/// argv[0], or, for a bare name, the first `PATH` entry that has it.
fn tool_dir(argv0: &OsStr) -> Option<PathBuf> {
    let path = Path::new(argv0);
    if path.components().count() > 1 {
        let dir = path.parent()?;
        return Some(std::env::current_dir().ok()?.join(dir));
    }
    let search = std::env::var_os("PATH")?;
    std::env::split_paths(&search).find(|dir| dir.join(path).exists())
}
