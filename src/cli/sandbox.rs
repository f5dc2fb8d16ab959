//! `planrun sandbox`: the simulated cluster, served until Ctrl-C.

use crate::error::Error;
use crate::sandbox::{SandboxArgs, run_sandbox_command};

pub fn run(args: SandboxArgs) -> Result<(), Error> {
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Error::Internal(miette::miette!("cannot start the async runtime: {e}")))?;
    runtime
        .block_on(run_sandbox_command(args))
        .map_err(Error::Invalid)
}
