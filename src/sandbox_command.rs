//! `planrun sandbox`: the simulated cluster, served until Ctrl-C (or SIGTERM, SIGHUP).

use std::io::Write;

use miette::IntoDiagnostic;

use planrun::error::Error;
use planrun::signals::StopSignals;
use planrun_sandbox::{SandboxArgs, start_from_args};

pub fn run(args: SandboxArgs) -> Result<(), Error> {
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Error::Internal(miette::miette!("cannot start the async runtime: {e}")))?;
    runtime.block_on(serve(args)).map_err(Error::Invalid)
}

/// Serves until a stop signal, printing the `export KUBECONFIG=...` line.
async fn serve(args: SandboxArgs) -> Result<(), miette::Report> {
    let mut signals = StopSignals::install().into_diagnostic()?;
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
    std::io::stdout().flush().into_diagnostic()?;
    signals.recv().await;
    sandbox.shutdown().await;
    Ok(())
}
