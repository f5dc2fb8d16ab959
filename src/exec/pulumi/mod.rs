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

pub use error::{INSTALL_HELP, PulumiError, classify};
pub use output::OperationLog;
pub use run::{
    ConfigCheck, DEFAULT_GRACE, GRACE_ENV, PreflightError, SECRET_ENV, Settings, execute,
    execute_with, mask_environment, preflight, preflight_plan, preflight_with,
};
pub use summary::ChangeSummary;
