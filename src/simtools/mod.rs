//! Simulated external tools: stand-ins for `pulumi`, `pnpm` and `flux` so tests and
//! rehearsals run on machines where none of them is installed.
//!
//! The `planrun` binary is multi-call: started under the name `pulumi`, `pnpm` or
//! `flux` (a symlink made by [`install`]), it acts as that tool. What the tool does
//! (exit code, output, delay, Kubernetes objects `pulumi up` applies) comes from a
//! behaviour file named by [`CONFIG_ENV`]; every invocation is appended to the file
//! named by [`LOG_ENV`] so a test can assert exactly what planrun ran.

mod apply;
mod behaviour;
mod generic;
mod install;
mod invocation;
mod pulumi;
mod reply;

pub use behaviour::{
    Behaviour, ConfigEntry, FailedResource, Operation, PulumiBehaviour, Rule, StackBehaviour,
    ToolBehaviour,
};
pub use install::{TOOLS, install, tool_of_argv0};
pub use invocation::{Invocation, read_log};
pub use pulumi::DEFAULT_FIELD_MANAGER_PREFIX;

use std::ffi::OsString;
use std::process::ExitCode;

/// The environment variable naming the behaviour file (YAML).
pub const CONFIG_ENV: &str = "PLANRUN_SIM_CONFIG";
/// The environment variable naming the invocation log (JSON Lines, appended).
pub const LOG_ENV: &str = "PLANRUN_SIM_LOG";

/// Runs simulated `tool` (one of [`TOOLS`]) with `args` (argv without argv[0]).
pub fn main(tool: &str, args: Vec<OsString>) -> ExitCode {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Err(e) = invocation::record(tool, &args) {
        eprintln!("planrun simulated {tool}: cannot record the invocation: {e}");
        return ExitCode::from(2);
    }
    let behaviour = match Behaviour::from_env() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("planrun simulated {tool}: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match tool {
        "pulumi" => pulumi::run(&behaviour, &args),
        "pnpm" => generic::run(&behaviour.pnpm, &args),
        "flux" => generic::run(&behaviour.flux, &args),
        other => {
            eprintln!("planrun: `{other}` is not a simulated tool");
            2
        }
    };
    ExitCode::from(u8::try_from(code & 0xff).unwrap_or(255))
}
