//! `planrun sandbox`: the simulated cluster, served until Ctrl-C (or SIGTERM, SIGHUP).

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
    let started = start_from_args(&args).await?;
    let (sandbox, path) = (started.sandbox, started.kubeconfig);
    planrun::console::out(&format!(
        "sandbox API server listening on {}\nkubeconfig written to {} (context {})\nuse it with planrun or kubectl:\nexport KUBECONFIG={}\npress Ctrl-C to stop\n",
        sandbox.url(),
        path.display(),
        args.context,
        planrun_text::shell_quote(&path.display().to_string())
    ))
    .into_diagnostic()?;
    signals.recv().await;
    sandbox.shutdown().await;
    // The private directory of the kubeconfig goes with the sandbox.
    drop(started.scratch);
    Ok(())
}
