//! `pulumi-up`: drives the real Pulumi CLI as a child process, non-interactively,
//! reading its `--json` output for the change summary and the failures.

mod argv;
mod capture;
mod config;
mod error;
mod operation;
mod output;
mod run;
mod summary;

pub use error::PulumiError;
pub use run::{
    ConfigCheck, Settings, execute, execute_with, preflight, preflight_plan, preflight_with,
};
