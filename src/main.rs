//! The `planrun` binary: parse the command line, run it, exit with the documented code.

use std::process::ExitCode;

use clap::Parser;
use planrun::cli::{self, Cli};
use planrun::exit_code;

fn main() -> ExitCode {
    // Multi-call: started as `pulumi`, `pnpm` or `flux` (a symlink), act as that tool.
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    if planrun::simtools::tool_of_argv0(&argv0).is_some() {
        return planrun::simtools::main(&argv0, args.collect());
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
    let cli = match Cli::try_parse_from(cli::expand_shorthand(std::env::args_os().collect())) {
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
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(report) = error.report() {
                eprintln!("{report:?}");
            }
            ExitCode::from(exit_code::of(&error) as u8)
        }
    }
}
