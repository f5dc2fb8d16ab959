//! `pulumi-up` and `pulumi-preview`: drive the real Pulumi CLI as a child process,
//! non-interactively, reading its `--json` output (and, for a preview a person
//! reviews, its diff display) for the change summary and the failures.

mod argv;
mod capture;
mod checkpoint;
mod config;
mod error;
mod lock;
mod operation;
mod output;
mod pending;
mod preview;
mod run;
mod summary;
mod target;

pub use error::PulumiError;
pub use preview::{execute as execute_preview, execute_with as execute_preview_with};
pub use run::{
    ConfigCheck, Settings, execute, execute_with, preflight, preflight_plan, preflight_with,
};
pub use target::RunCluster;
