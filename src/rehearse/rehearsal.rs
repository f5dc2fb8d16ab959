//! One rehearsal: start the sandbox (seeded, or restored for `--resume`), write the
//! kubeconfig, put the simulated tools first on `PATH`, then run the plan with
//! `planrun run ... --yes` as a child process (the real run path: engine, journal,
//! reporters, report) and keep the sandbox's state saved while it runs.
//!
//! A rehearsal never touches the real plan directory: with a `repo:` entry the plan's
//! scripts and writes go to a fresh copy of the template (the entry's variable points
//! at it); without one, the plan itself runs from a fresh copy of its directory, so
//! `plan_dir`, relative paths and script working directories all point into the copy.
//!
//! The child runs in its own process group, so a Ctrl-C reaches only this process,
//! which passes it on: the first interrupts the run gracefully, a second kills it,
//! exactly as for `planrun run`. The sandbox outlives the child so its final state
//! is saved for `--resume` and for inspection.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use miette::Report;

use super::error::RehearseError;
use super::snapshot::Snapshot;
use super::spec::{Reaction, RehearsalSpec};
use super::world::World;
use planrun::cli::OutputFormat;
use planrun::error::Error;
use planrun::layout;
use planrun::signals::StopSignals;
use planrun_sandbox::{Sandbox, SandboxConfig, SandboxState, Scenario};

/// How often the sandbox's state is saved while it changes.
const SAVE_EVERY: Duration = Duration::from_millis(250);
/// How often reactions look for their object besides on each change.
const REACT_EVERY: Duration = Duration::from_millis(20);

/// What `planrun rehearse` was asked.
#[derive(Debug, Clone)]
pub struct RehearseOptions {
    pub plan: PathBuf,
    pub vars: Vec<(String, String)>,
    pub rehearsal: Option<PathBuf>,
    pub fault: Option<String>,
    pub resume: bool,
    pub jobs: Option<usize>,
    pub output: OutputFormat,
    pub state_dir: Option<PathBuf>,
    pub grace: Option<String>,
}

/// Runs the rehearsal; `Ok` carries the run's exit code.
pub fn rehearse(opts: &RehearseOptions) -> Result<i32, Error> {
    let plan =
        planrun::validate::load_and_validate(&opts.plan, &opts.vars).map_err(Error::Invalid)?;
    let spec_path = opts
        .rehearsal
        .clone()
        .unwrap_or_else(|| RehearsalSpec::beside(&opts.plan));
    if !spec_path.is_file() {
        return Err(invalid(RehearseError::NoRehearsal { path: spec_path }));
    }
    let mut spec = RehearsalSpec::load(&spec_path).map_err(invalid)?;
    let fault = match &opts.fault {
        Some(name) => Some(spec.faults.get(name).cloned().unwrap_or_default()),
        None => None,
    };
    if let Some(name) = &opts.fault {
        spec = spec.with_fault(name).map_err(invalid)?;
    }
    let name = plan.header().name.clone();
    let context = spec
        .context
        .clone()
        .or_else(|| plan.header().context.clone())
        .unwrap_or_else(|| "planrun-rehearsal".to_owned());
    let state_dir = opts
        .state_dir
        .clone()
        .unwrap_or_else(|| layout::default_rehearsal_state_dir(&opts.plan));
    let world = World::new(&state_dir, &name);

    // The run's variables: the rehearsal's, the repository copy, the plan's own value
    // for what another fault would change (so a resume without the fault undoes it),
    // and the command line's last.
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for var in spec.fault_vars() {
        if let Some(v) = plan.vars().iter().find(|v| v.name == var) {
            vars.insert(var, v.value.clone());
        }
    }
    vars.extend(spec.vars.clone());
    if let Some(repo) = &spec.repo {
        vars.insert(repo.var.clone(), world.repo().display().to_string());
    }
    vars.extend(opts.vars.iter().cloned());

    let scenario_text = spec.scenario_yaml().map_err(invalid)?;
    let mut scenario = Scenario::from_yaml(&scenario_text, &spec.base_dir)
        .map_err(|e| invalid(RehearseError::from(e)))?;
    let restore = if opts.resume {
        let path = world.cluster();
        if !path.is_file() {
            return Err(refused(RehearseError::NothingToResume { path }));
        }
        scenario.seeds.clear();
        Some(Snapshot::load(&path).map_err(invalid)?)
    } else {
        let template = spec.repo.as_ref().map(|r| spec.resolve(&r.template));
        world.reset(template.as_deref()).map_err(internal)?;
        if spec.repo.is_none() {
            world
                .copy_plan_dir(&plan_dir(&opts.plan), &world.state_dir)
                .map_err(internal)?;
        }
        None
    };
    // The plan file the run reads: the original with a repository template, else
    // its copy (refreshed on resume, so that a fixed plan is what resumes).
    let run_plan = match (&spec.repo, opts.plan.file_name()) {
        (None, Some(file)) => {
            let copy = world.plan_copy().join(file);
            std::fs::copy(&opts.plan, &copy).map_err(|source| {
                internal(RehearseError::PlanCopy {
                    path: opts.plan.clone(),
                    source,
                })
            })?;
            copy
        }
        _ => opts.plan.clone(),
    };
    world
        .install_tools(&spec.tools_yaml().map_err(invalid)?)
        .map_err(internal)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(Report::msg(format!("cannot start the runtime: {e}"))))?;
    let code = runtime.block_on(async {
        let sandbox = Sandbox::start(SandboxConfig::with_scenario(scenario))
            .await
            .map_err(|e| internal(e.into()))?;
        if let Some(snapshot) = &restore {
            snapshot.restore(&sandbox.state()).map_err(internal)?;
        }
        sandbox
            .write_kubeconfig(&world.kubeconfig(), &context)
            .map_err(|e| internal(e.into()))?;
        let mode = if opts.resume { "--resume" } else { "--restart" };
        announce(opts, &world, &sandbox, &context, restore.is_some());
        if spec.repo.is_none() {
            eprintln!(
                "rehearsal: the plan runs from a copy of its directory, {}",
                world.plan_copy().display()
            );
        }
        let code = conduct(
            opts,
            &run_plan,
            &world,
            &sandbox,
            &vars,
            mode,
            &spec.reactions,
        )
        .await;
        Snapshot::take(&sandbox.state())
            .save(&world.cluster())
            .map_err(internal)?;
        sandbox.shutdown().await;
        code
    })?;
    runtime.shutdown_background();
    conclude(
        opts,
        &world,
        code,
        fault.as_ref().map(|f| f.description.as_str()),
    );
    Ok(code)
}

fn announce(
    opts: &RehearseOptions,
    world: &World,
    sandbox: &Sandbox,
    context: &str,
    restored: bool,
) {
    let what = if restored {
        "restored as the last rehearsal left it"
    } else {
        "seeded"
    };
    eprintln!(
        "rehearsal: sandbox cluster {what}, serving at {} (context {context}); pulumi, pnpm and flux simulated",
        sandbox.url()
    );
    if let Some(fault) = &opts.fault {
        eprintln!("rehearsal: with fault `{fault}`");
    }
    eprintln!("rehearsal: files in {}", world.dir.display());
}

fn conclude(opts: &RehearseOptions, world: &World, code: i32, fault: Option<&str>) {
    let plan = opts.plan.display();
    eprintln!(
        "rehearsal: sandbox cluster saved to {}; simulated tool calls in {}",
        world.cluster().display(),
        world.tools_log().display()
    );
    match code {
        0 => eprintln!("rehearsal: succeeded"),
        planrun::exit_code::INTERRUPTED => eprintln!(
            "rehearsal: interrupted; continue it with `planrun rehearse {plan} --resume` (finished tasks do not run again)"
        ),
        _ => {
            if let (Some(name), Some(description)) = (&opts.fault, fault) {
                eprintln!(
                    "rehearsal: this failure was rehearsed (--fault {name}: {})",
                    description.trim()
                );
            }
        }
    }
}

/// Runs the plan (`plan`: the file to run) as a child and serves it until it exits;
/// returns its exit code.
async fn conduct(
    opts: &RehearseOptions,
    plan: &std::path::Path,
    world: &World,
    sandbox: &Sandbox,
    vars: &BTreeMap<String, String>,
    mode: &str,
    reactions: &[Reaction],
) -> Result<i32, Error> {
    let exe = std::env::current_exe().map_err(|e| internal(RehearseError::Spawn(e)))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("run")
        .arg(plan)
        .args(["--yes", mode, "--output"])
        .arg(output_name(opts.output))
        .arg("--state-dir")
        .arg(&world.state_dir);
    if let Some(jobs) = opts.jobs {
        cmd.arg("--jobs").arg(jobs.to_string());
    }
    if let Some(grace) = &opts.grace {
        cmd.arg("--grace").arg(grace);
    }
    for (name, value) in vars {
        cmd.arg("--var").arg(format!("{name}={value}"));
    }
    cmd.env("KUBECONFIG", world.kubeconfig())
        .env("PATH", world.path_env())
        .env(planrun_sandbox::simtools::CONFIG_ENV, world.behaviour())
        .env(planrun_sandbox::simtools::LOG_ENV, world.tools_log())
        .env(planrun_sandbox::simtools::STATE_ENV, world.tools_state())
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| internal(RehearseError::Spawn(e)))?;
    let pid = child.id();

    let mut signals = StopSignals::install().map_err(|e| internal(RehearseError::Spawn(e)))?;
    let state = sandbox.state();
    let mut fired = vec![false; reactions.len()];
    // Reactions look at the cluster on every change (someone else acts the moment
    // an object gets there, before the plan's next task can look), and now and then.
    let mut changes = state.changes();
    let mut watching = true;
    let mut react = tokio::time::interval(REACT_EVERY);
    let mut save = tokio::time::interval(SAVE_EVERY);
    let mut saved_version = None;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            signal = signals.recv() => forward(pid, signal),
            changed = changes.next(), if watching => {
                watching = changed;
                run_reactions(&state, reactions, &mut fired);
            }
            _ = react.tick() => run_reactions(&state, reactions, &mut fired),
            _ = save.tick() => {
                let version = state.resource_version();
                if saved_version != Some(version) {
                    // Best effort while running; the final save after the run counts.
                    let _ = Snapshot::take(&state).save(&world.cluster());
                    saved_version = Some(version);
                }
            }
        }
    };
    let status = status.map_err(|e| internal(RehearseError::Spawn(e)))?;
    Ok(exit_code_of(status))
}

/// The directory of a plan file (`.` for a bare file name).
fn plan_dir(plan: &std::path::Path) -> PathBuf {
    match plan.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn exit_code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        _ => planrun::exit_code::TASK_FAILED,
    }
}

fn forward(pid: Option<u32>, sig: nix::sys::signal::Signal) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
    }
}

/// Fires every reaction whose object is in the awaited state, once.
fn run_reactions(state: &SandboxState, reactions: &[Reaction], fired: &mut [bool]) {
    for (reaction, fired) in reactions.iter().zip(fired.iter_mut()) {
        let w = &reaction.when;
        if *fired
            || !w.holds(
                state
                    .get(&w.api_version, &w.kind, &w.namespace, &w.name)
                    .as_ref(),
            )
        {
            continue;
        }
        *fired = true;
        let mut problems = Vec::new();
        if let Some(apply) = &reaction.apply {
            let applied = std::fs::read_to_string(apply)
                .map_err(|e| e.to_string())
                .and_then(|yaml| state.apply_yaml(&yaml).map_err(|e| e.to_string()));
            if let Err(e) = applied {
                problems.push(format!("cannot apply {}: {e}", apply.display()));
            }
        }
        for c in &reaction.conditions {
            if let Err(e) = state.set_condition(
                &w.api_version,
                &w.kind,
                &w.namespace,
                &w.name,
                &c.type_,
                &c.status,
                &c.reason,
                &c.message,
            ) {
                problems.push(format!("cannot set condition {}: {}", c.type_, e.message));
            }
        }
        let say = reaction
            .say
            .clone()
            .unwrap_or_else(|| format!("reaction on {} {}", w.kind, w.name));
        if problems.is_empty() {
            eprintln!("rehearsal: {say} ({} {})", w.kind, w.name);
        } else {
            eprintln!("rehearsal: {say}: {}", problems.join("; "));
        }
    }
}

fn output_name(format: OutputFormat) -> String {
    use clap::ValueEnum;
    format
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_else(|| "human".to_owned())
}

fn invalid(e: RehearseError) -> Error {
    Error::Invalid(Report::new(e))
}

fn refused(e: RehearseError) -> Error {
    Error::Refused(Report::new(e))
}

fn internal(e: RehearseError) -> Error {
    Error::Internal(Report::new(e))
}
