//! The command line of the engine's commands: clap definitions and one handler file
//! per command. The binary adds `sandbox` and `rehearse` (they need the sandbox
//! crate, which the library does not depend on).

mod explain;
mod graph;
mod list;
mod new;
mod resume;
mod run;
mod runs;
mod schema;
mod status;
mod validate;
mod verify;

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::error::Error;
pub use crate::report::OutputFormat;

/// The examples ending `planrun --help`.
pub const EXAMPLES: &str = "\
Examples:
  planrun rehearse plans/flux-rebuild.toml      rehearse it on the embedded sandbox cluster
  planrun plans/flux-rebuild.toml               run a plan (same as `planrun run ...`)
  planrun plans/flux-rebuild.toml --resume      continue after an interruption
  planrun plans/flux-rebuild.toml --rerun flux-controllers-ready
                                                run a task and what needs it again
  planrun status plans/flux-rebuild.toml        where the latest run stands
  planrun validate plans/flux-rebuild.toml      check a plan; nothing runs
  planrun list plans/flux-rebuild.toml          tasks in execution order, what each does
  planrun graph plans/flux-rebuild.toml --format mermaid
  planrun new plans/rotate-certs --from cert-manager-reinstall
                                                a new plan and its rehearsal, from a template
  planrun explain wait-absent                   a task type's keys, docs and an example
  planrun schema > schemas/plan.schema.json     the JSON Schema editors use";

/// The engine's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a plan (`planrun PLAN` is short for `planrun run PLAN`).
    #[command(
        after_help = "Examples:\n  planrun plans/flux-rebuild.toml\n  planrun run plans/flux-rebuild.toml --dry-run\n  planrun run plans/flux-rebuild.toml --jobs 4 --output json"
    )]
    Run(run::RunArgs),
    /// Continue the latest unfinished run (`planrun run PLAN --resume`).
    #[command(
        after_help = "Examples:\n  planrun resume plans/flux-rebuild.toml\n  planrun resume plans/flux-rebuild.toml --rerun flux-namespace-gone"
    )]
    Resume(run::RunArgs),
    /// Check a plan: syntax, keys, types, variables, dependencies, cycles. Nothing runs.
    #[command(
        after_help = "Example:\n  planrun validate plans/flux-rebuild.toml --var stack=staging"
    )]
    Validate(PlanArgs),
    /// List tasks in execution order with their needs and what each will do.
    #[command(after_help = "Example:\n  planrun list plans/flux-rebuild.toml")]
    List(PlanArgs),
    /// Print the dependency graph as Graphviz dot or Mermaid, coloured by a run's
    /// states with --run.
    #[command(
        after_help = "Examples:\n  planrun graph plans/flux-rebuild.toml | dot -Tsvg > plan.svg\n  planrun graph plans/flux-rebuild.toml --format mermaid\n  planrun graph plans/flux-rebuild.toml --run latest | dot -Tsvg > run.svg"
    )]
    Graph(GraphArgs),
    /// Write a new plan from a template, with a rehearsal file beside it that
    /// rehearses green as written.
    #[command(
        after_help = "Examples:\n  planrun new plans/flux-rebuild-staging --from flux-rebuild\n  planrun new plans/rotate-certs\n  planrun validate plans/rotate-certs.toml && planrun rehearse plans/rotate-certs.toml"
    )]
    New(new::NewArgs),
    /// Explain a task type: its keys with their docs, and an example task (from the
    /// schema); without TYPE, list the types.
    #[command(after_help = "Examples:\n  planrun explain\n  planrun explain wait-absent")]
    Explain(explain::ExplainArgs),
    /// Print the JSON Schema of plan files.
    #[command(after_help = "Example:\n  planrun schema > schemas/plan.schema.json")]
    Schema,
    /// Show where the latest run (or --run ID) stands, task by task.
    #[command(
        after_help = "Examples:\n  planrun status plans/flux-rebuild.toml\n  planrun status plans/flux-rebuild.toml --run 20261126T063612Z-0a1b"
    )]
    Status(status::StatusArgs),
    /// List the plan's runs with outcome and times.
    #[command(after_help = "Example:\n  planrun runs plans/flux-rebuild.toml")]
    Runs(runs::RunsArgs),
    /// The process guard a run starts (internal): stops the run's process groups
    /// once its input, a pipe from planrun, ends.
    #[command(name = crate::exec::process::GUARD_COMMAND, hide = true)]
    Guard {
        /// The marker of the run's processes.
        token: String,
        /// Milliseconds between SIGTERM and SIGKILL for marked processes.
        grace_ms: u64,
    },
}

/// A plan file and variable overrides.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// The plan file (TOML).
    pub plan: PathBuf,
    /// Override a variable: --var name=value (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = crate::validate::parse_override)]
    pub vars: Vec<(String, String)>,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = graph::Format::Dot)]
    pub format: graph::Format,
    /// Colour each task by its state in this run: `latest`, or an id from `planrun
    /// runs`.
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Where runs are kept, for --run [default: .planrun beside the plan].
    #[arg(long, value_name = "DIR", requires = "run")]
    pub state_dir: Option<PathBuf>,
}

/// Runs an engine command.
pub fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Run(args) => run::run(&args),
        Command::Resume(mut args) => {
            args.resume.resume = !args.resume.restart;
            run::run(&args)
        }
        Command::Validate(args) => validate::run(&args),
        Command::List(args) => list::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Schema => schema::run(),
        Command::Explain(args) => explain::run(&args),
        Command::New(args) => new::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Runs(args) => runs::run(&args),
        Command::Guard { token, grace_ms } => {
            crate::exec::process::guard_main(&token, grace_ms);
            Ok(())
        }
    }
}

/// `planrun PLAN [ARGS]` -> `planrun run PLAN [ARGS]`: when the first argument is
/// not a subcommand of `cmd` or an option but looks like a file (it exists, or has a
/// `.` or `/` in it), `run` is inserted before it.
pub fn expand_shorthand(
    cmd: &clap::Command,
    args: Vec<std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let Some(first) = args.get(1).and_then(|a| a.to_str()) else {
        return args;
    };
    let is_subcommand = first == "help"
        || cmd
            .get_subcommands()
            .any(|s| s.get_name() == first || s.get_all_aliases().any(|a| a == first));
    let looks_like_file =
        std::path::Path::new(first).exists() || first.contains('.') || first.contains('/');
    if is_subcommand || first.starts_with('-') || !looks_like_file {
        return args;
    }
    let mut out = Vec::with_capacity(args.len() + 1);
    out.push(args[0].clone());
    out.push("run".into());
    out.extend(args[1..].iter().cloned());
    out
}

/// A command's output to stdout (see [`console::out`](crate::console::out)).
pub(crate) fn print(text: &str) -> Result<(), Error> {
    crate::console::out(text)
        .map_err(|e| Error::Internal(miette::miette!("cannot write the output: {e}")))
}

/// Loads and validates the plan named by `args` to check, list or draw it (a
/// variable whose environment variable is not set gets a stand-in, with a
/// warning); an unreadable or invalid plan is a usage error (exit 2): nothing ran.
pub fn load(args: &PlanArgs) -> Result<crate::validate::ValidatedPlan, Error> {
    crate::validate::load_to_check(&args.plan, &args.vars).map_err(Error::Invalid)
}
