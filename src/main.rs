//! The `planrun` binary: parse the command line, run it, exit with the documented code.
//!
//! The engine is the `planrun` library ([`planrun::cli`] runs its commands). The two
//! commands that need the sandbox crate live here, in the binary, so that the library
//! never depends on it: `planrun sandbox` ([`sandbox_command`]) and `planrun
//! rehearse` ([`rehearse`]). The binary is also multi-call: started as `pulumi`,
//! `pnpm` or `flux` (a link), it acts as that simulated tool.

mod rehearse;
mod sandbox_command;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use planrun::cli::{self, EXAMPLES};
use planrun::exit_code;
use planrun_sandbox::simtools;

/// Run declarative maintenance plans: validated before anything runs, concurrent,
/// journaled, resumable.
#[derive(Debug, Parser)]
#[command(name = "planrun", version, after_help = EXAMPLES, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Engine(cli::Command),
    /// Serve the simulated Kubernetes API server until Ctrl-C, with a kubeconfig for it.
    #[command(
        after_help = "Examples:\n  planrun sandbox --scenario examples/sandbox-scenario.yaml\n  planrun sandbox --seed examples/rehearsal/old-flux.yaml --port 6443 --context oceanid"
    )]
    Sandbox(planrun_sandbox::SandboxArgs),
    /// Rehearse a plan end to end on the embedded sandbox cluster, with pulumi, pnpm
    /// and flux simulated (what they do comes from the plan's rehearsal file).
    #[command(
        after_help = "Examples:\n  planrun rehearse plans/flux-rebuild.toml\n  planrun rehearse plans/flux-rebuild.toml --fault wrong-tag\n  planrun rehearse plans/flux-rebuild.toml --fault hang   # then Ctrl-C, then:\n  planrun rehearse plans/flux-rebuild.toml --resume"
    )]
    Rehearse(rehearse::RehearseArgs),
    /// Print a shell completion script (subcommands, options, values).
    #[command(
        after_help = "Examples:\n  planrun completions bash > ~/.local/share/bash-completion/completions/planrun\n  planrun completions zsh > ~/.zfunc/_planrun\n  planrun completions fish > ~/.config/fish/completions/planrun.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    // Multi-call: started as `pulumi`, `pnpm` or `flux` (a symlink), act as that tool.
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    if simtools::tool_of_argv0(&argv0).is_some() {
        return simtools::main(&argv0, args.collect());
    }
    miette::set_hook(Box::new(|_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .terminal_links(false)
                .context_lines(2)
                .build(),
        )
    }))
    .expect("the miette hook is installed once, first thing");
    let args = cli::expand_shorthand(&Cli::command(), std::env::args_os().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit_code::INVALID as u8
            } else {
                0
            });
        }
    };
    let result = match cli.command {
        Command::Engine(command) => cli::run(command),
        Command::Sandbox(args) => sandbox_command::run(args),
        Command::Rehearse(args) => rehearse::run(&args),
        Command::Completions { shell } => {
            use std::io::Write;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "planrun", &mut script);
            // A closed pipe (`| head`) is not an error.
            let _ = std::io::stdout().lock().write_all(&script);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(report) = error.report() {
                planrun::console::say_diagnostic(&format!("{report:?}"));
            }
            ExitCode::from(exit_code::of(&error) as u8)
        }
    }
}
