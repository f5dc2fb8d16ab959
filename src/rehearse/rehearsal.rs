//! One rehearsal: start the sandbox (seeded, or restored for `--resume`), write the
//! kubeconfig, put the simulated tools first on `PATH`, then run the plan with
//! `planrun run ... --yes` as a child process (the real run path: engine, journal,
//! reporters, report).
//!
//! The sandbox saves its state in the same transaction as every change, before the
//! request that made it is answered: the saved cluster never lags the run's
//! journal, so a `--resume` after any interruption (a `kill -9` of this process
//! included) continues against the cluster the journaled tasks left. Reactions fire
//! in that same transaction, so a rehearsal's outcome never depends on timing.
//!
//! A rehearsal never touches the real plan directory: with a `repo:` entry the plan's
//! scripts and writes go to a fresh copy of the template (the entry's variable points
//! at it); without one, the plan itself runs from a fresh copy of its directory, so
//! `plan_dir`, relative paths and script working directories all point into the copy.
//!
//! The child runs in its own process group, so a Ctrl-C reaches only this process,
//! which passes it on: the first interrupts the run gracefully, a second kills it,
//! exactly as for `planrun run`. A process guard stops the child (and so its tasks)
//! if this process dies first: no run goes on retrying a sandbox that is gone.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use miette::Report;

use super::cluster;
use super::error::RehearseError;
use super::outcome;
use super::spec::{Reaction, RehearsalSpec};
use super::world::World;
use planrun::cli::OutputFormat;
use planrun::console::{say, say_aside, settle};
use planrun::error::Error;
use planrun::exec::process::{GroupRegistry, ProcessGroup, ProcessGuard};
use planrun::journal::{LockError, PlanState};
use planrun::layout;
use planrun::signals::StopSignals;
use planrun_sandbox::{Sandbox, SandboxConfig, Scenario, Snapshot};

/// What the child run gets, beyond its own grace for its tasks, to journal its end
/// once stopped because this process died.
const CHILD_MARGIN: Duration = Duration::from_secs(5);

/// What `planrun rehearse` was asked.
#[derive(Debug, Clone)]
pub struct RehearseOptions {
    pub plan: PathBuf,
    pub vars: Vec<(String, String)>,
    pub rehearsal: Option<PathBuf>,
    pub fault: Option<String>,
    pub resume: bool,
    /// `planrun run --dry-run`: the run changes nothing.
    pub dry_run: bool,
    pub jobs: Option<usize>,
    pub output: OutputFormat,
    pub state_dir: Option<PathBuf>,
    pub grace: Option<String>,
    /// Rehearse on this kubeconfig's cluster instead of the embedded sandbox.
    pub kubeconfig: Option<PathBuf>,
    /// The context of `kubeconfig` to rehearse on.
    pub context: Option<String>,
    /// The real tools from `PATH` instead of the simulated ones.
    pub real_tools: bool,
}

/// Runs the rehearsal; `Ok` carries the run's exit code.
pub fn rehearse(opts: &RehearseOptions) -> Result<i32, Error> {
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
    // The plan as the rehearsal runs it: with the rehearsal's variables (a secret's
    // stand-in, say), the command line's last.
    let mut given: Vec<(String, String)> = spec
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    given.extend(opts.vars.iter().cloned());
    let plan = planrun::validate::load_and_validate(&opts.plan, &given).map_err(Error::Invalid)?;
    // A cluster the user named, checked before anything is written.
    let target = match &opts.kubeconfig {
        Some(file) => Some(
            cluster::choose(
                file,
                opts.context.as_deref(),
                plan.header().context.as_deref(),
            )
            .map_err(|e| match e {
                RehearseError::ProductionContext { .. } | RehearseError::SameServer { .. } => {
                    refused(e)
                }
                e => invalid(e),
            })?,
        ),
        None => None,
    };
    if target.is_some()
        && let (Some(name), Some(patch)) = (
            &opts.fault,
            fault.as_ref().and_then(|f| f.scenario.as_ref()),
        )
    {
        let keys = cluster::cluster_decides(patch);
        if !keys.is_empty() {
            return Err(invalid(RehearseError::FaultNeedsSandbox {
                name: name.clone(),
                keys: keys.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", "),
            }));
        }
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
    // One rehearsal of a plan at a time, so that none replaces the world another
    // one runs in; held until this process ends.
    let plan_state = PlanState::new(&world.state_dir, &name);
    let _rehearsing = plan_state.lock_rehearsal()?;
    // The runs as they are before the run starts: a run refused before it started
    // leaves them so, and then no run's directory is this rehearsal's.
    let before = outcome::RunsMark::now(&world.state_dir, &name);
    if world.settle(before.latest_id()).map_err(internal)? {
        say(
            "rehearsal: the world of the latest run is back: the rehearsal that replaced it ended before its run began",
        );
    }
    // A run of the plan in the rehearsal's state directory that outlived its
    // rehearsal (killed) still works in this world: leave it be.
    let run_lock = plan_state.dir().lock_path();
    if let Some(holder) = planrun::journal::live_holder(&run_lock) {
        return Err(LockError::Held {
            what: format!("a run of plan `{name}` in the rehearsal's state directory"),
            path: run_lock,
            holder: Some(holder),
        }
        .into());
    }

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
    let restore = if opts.resume && target.is_none() {
        let path = world.cluster();
        if !path.is_file() {
            return Err(refused(RehearseError::NothingToResume { path }));
        }
        scenario.seeds.clear();
        Some(Snapshot::load(&path).map_err(|message| {
            invalid(RehearseError::Snapshot {
                path: path.clone(),
                message,
            })
        })?)
    } else if opts.resume {
        // A real cluster is as the interrupted run left it.
        None
    } else {
        let template = spec.repo.as_ref().map(|r| spec.resolve(&r.template));
        world
            .reset(template.as_deref(), before.latest_id())
            .map_err(internal)?;
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
    let commands = if opts.real_tools {
        say(
            "rehearsal: the real pulumi, pnpm and flux from PATH; the rehearsal file's `tools` are not used",
        );
        Vec::new()
    } else {
        world
            .install_tools(&spec.tools_yaml().map_err(invalid)?)
            .map_err(internal)?
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(Report::msg(format!("cannot start the runtime: {e}"))))?;
    let mut child_args: Vec<String> = if opts.dry_run {
        // A dry run writes no run: it only reads the latest one to preview a resume.
        let mut args = vec!["--dry-run".to_owned()];
        if opts.resume {
            args.push("--resume".to_owned());
        }
        args
    } else {
        let mode = if opts.resume { "--resume" } else { "--restart" };
        vec!["--yes".to_owned(), mode.to_owned()]
    };
    for (name, value) in &vars {
        child_args.extend(["--var".to_owned(), format!("{name}={value}")]);
    }
    if let Some((kubeconfig, target)) = &target {
        for (key, why) in cluster::cluster_decides(&spec.scenario) {
            say(&format!(
                "rehearsal: scenario key `{key}` does not apply to a real cluster ({why}): ignored"
            ));
        }
        if spec.other_cluster.is_some() {
            say("rehearsal: `other_cluster` does not apply to a real cluster: ignored");
        }
        let code = runtime.block_on(on_cluster(
            opts,
            &run_plan,
            &world,
            (kubeconfig, target),
            &context,
            &scenario,
            &spec.reactions,
            (&child_args, &commands),
        ))?;
        runtime.shutdown_background();
        let ending = Ending {
            activity: Vec::new(),
            objects: Vec::new(),
            other: None,
        };
        let fault = fault.as_ref().map(|f| f.description.as_str());
        return Ok(conclude(opts, &world, &before, code, fault, &ending));
    }
    let (code, ending) = runtime.block_on(async {
        let sandbox = Sandbox::start(SandboxConfig::with_scenario(scenario))
            .await
            .map_err(|e| internal(e.into()))?;
        let state = sandbox.state();
        if let Some(snapshot) = &restore {
            state
                .restore(snapshot)
                .map_err(|e| internal(RehearseError::from(e)))?;
        }
        // From here every change is saved before it is answered.
        state.persist_to(&world.cluster());
        // The user's current context may be another cluster: then the kubeconfig
        // has both, the other current, and the run is told the plan's context.
        let other = match &spec.other_cluster {
            Some(o) => Some((
                o.context.clone(),
                Sandbox::start(SandboxConfig::default())
                    .await
                    .map_err(|e| internal(e.into()))?,
            )),
            None => None,
        };
        let mut run_args = Vec::new();
        match &other {
            Some((name, cluster)) => {
                planrun_sandbox::write_kubeconfig_of(
                    &world.kubeconfig(),
                    &[(&context, &sandbox.url()), (name, &cluster.url())],
                    name,
                )
                .map_err(|e| internal(e.into()))?;
                run_args.extend(["--context".to_owned(), context.clone()]);
            }
            None => sandbox
                .write_kubeconfig(&world.kubeconfig(), &context)
                .map_err(|e| internal(e.into()))?,
        }
        announce(opts, &world, &sandbox, &context, restore.is_some());
        if let Some((name, cluster)) = &other {
            say(&format!(
                "rehearsal: the kubeconfig's current context is `{name}`, another cluster at {}; the run is given --context {context}",
                cluster.url()
            ));
        }
        if spec.repo.is_none() {
            say(&format!(
                "rehearsal: the plan runs from a copy of its directory, {}",
                world.plan_copy().display()
            ));
        }
        let mut child_args = child_args.clone();
        child_args.extend(run_args);
        let code = conduct(
            opts,
            &run_plan,
            &world,
            Stage::Sandbox {
                sandbox: &sandbox,
                reactions: &spec.reactions,
            },
            &child_args,
            &commands,
        )
        .await;
        if let Some(problem) = state.persist_error() {
            say(&format!(
                "rehearsal: warning: {problem}; a --resume may start from an older cluster"
            ));
        }
        let ending = Ending {
            activity: state.activity(),
            objects: state.all_objects(),
            other: other.as_ref().map(|(name, cluster)| {
                let requests = cluster.requests();
                let writes = requests
                    .iter()
                    .filter(|r| r.method != "GET")
                    .map(|r| format!("{} {}", r.method, r.path))
                    .collect();
                (name.clone(), requests.len(), writes)
            }),
        };
        sandbox.shutdown().await;
        if let Some((_, cluster)) = other {
            cluster.shutdown().await;
        }
        Ok::<_, Error>((code?, ending))
    })?;
    runtime.shutdown_background();
    let code = conclude(
        opts,
        &world,
        &before,
        code,
        fault.as_ref().map(|f| f.description.as_str()),
        &ending,
    );
    Ok(code)
}

/// The rehearsal on a cluster the user named: its kubeconfig for the run, the seeds
/// (unless resuming), then the run with the scenario's conditions and the reactions
/// enacted.
#[expect(clippy::too_many_arguments, reason = "the parts of one rehearsal")]
async fn on_cluster(
    opts: &RehearseOptions,
    run_plan: &std::path::Path,
    world: &World,
    (kubeconfig, target): (&kube::config::Kubeconfig, &cluster::Target),
    context: &str,
    scenario: &Scenario,
    reactions: &[Reaction],
    (args, commands): (&[String], &[String]),
) -> Result<i32, Error> {
    cluster::write_run_kubeconfig(kubeconfig, target, context, &world.kubeconfig())
        .map_err(internal)?;
    let client = cluster::connect(&world.kubeconfig(), context)
        .await
        .map_err(internal)?;
    say(&format!(
        "rehearsal: on the cluster of context `{}` in {} ({}), given to the run as context `{context}`; {}",
        target.context,
        target.file.display(),
        target.server,
        if opts.real_tools {
            "the real tools"
        } else {
            "pulumi, pnpm and flux simulated"
        }
    ));
    if let Some(fault) = &opts.fault {
        say(&format!("rehearsal: with fault `{fault}`"));
    }
    say(&format!("rehearsal: files in {}", world.dir.display()));
    let tell = |line: String| say(&format!("rehearsal: {line}"));
    if opts.resume || opts.dry_run {
        say("rehearsal: the cluster as it is now");
    } else {
        cluster::seed(&client, scenario, &tell)
            .await
            .map_err(refused)?;
    }
    if !scenario.conditions.is_empty() {
        say(&format!(
            "rehearsal: the scenario's conditions are set by the rehearsal (as the controllers it stands for would): {}",
            scenario
                .conditions
                .iter()
                .map(|c| format!("{} {}={}", c.kind, c.condition_type, c.status))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let stage = Stage::Cluster {
        client,
        enactor: cluster::Enactor::new(scenario.conditions.clone(), reactions.to_vec()),
    };
    conduct(opts, run_plan, world, stage, args, commands).await
}

/// Where the run happens, and what the rehearsal does beside it.
enum Stage<'a> {
    /// The embedded sandbox: reactions armed on its state.
    Sandbox {
        sandbox: &'a Sandbox,
        reactions: &'a [Reaction],
    },
    /// A real cluster: conditions and reactions enacted through its API.
    Cluster {
        client: kube::Client,
        enactor: cluster::Enactor,
    },
}

/// What the sandbox looked like and did, once the run was over.
struct Ending {
    activity: Vec<planrun_sandbox::Activity>,
    objects: Vec<serde_json::Value>,
    /// The other cluster: its context, how many requests it got, and its writes.
    other: Option<(String, usize, Vec<String>)>,
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
    say(&format!(
        "rehearsal: sandbox cluster {what}, serving at {} (context {context}); pulumi, pnpm and flux simulated",
        sandbox.url()
    ));
    if let Some(fault) = &opts.fault {
        say(&format!("rehearsal: with fault `{fault}`"));
    }
    say(&format!("rehearsal: files in {}", world.dir.display()));
}

/// Says how the rehearsal ended, and leaves the sandbox's final state and activity
/// in the directory of the run it made or continued since `before` (a dry run, or a
/// run refused before it started, writes no run: the latest is an earlier
/// rehearsal's, left as it is); returns the exit code (the run's, unless the other
/// cluster got a write).
fn conclude(
    opts: &RehearseOptions,
    world: &World,
    before: &outcome::RunsMark,
    mut code: i32,
    fault: Option<&str>,
    ending: &Ending,
) -> i32 {
    let plan = opts.plan.display();
    if opts.kubeconfig.is_none() {
        say(&format!(
            "rehearsal: sandbox cluster saved to {}; simulated tool calls in {}",
            world.cluster().display(),
            world.tools_log().display()
        ));
    } else if !opts.real_tools {
        say(&format!(
            "rehearsal: simulated tool calls in {}",
            world.tools_log().display()
        ));
    }
    for a in &ending.activity {
        say(&format!("rehearsal: sandbox: {}", a.text));
    }
    let began = before.run_since();
    let any_began = began.is_some();
    // A rehearsal on the sandbox leaves its final state in its run, a dry run none.
    let leaves_state = !opts.dry_run && opts.kubeconfig.is_none();
    let run = began.filter(|_| leaves_state);
    if leaves_state && run.is_none() {
        say(&format!(
            "rehearsal: the run never began: no {} is written (the earlier runs keep theirs)",
            outcome::FINAL_STATE
        ));
    }
    // A world this rehearsal replaced goes back if no run began in the new one.
    match world.finish(any_began) {
        Ok(true) => say(
            "rehearsal: the world of the latest run is back as it was (`--resume` continues that run)",
        ),
        Ok(false) => {}
        Err(e) => say(&format!(
            "rehearsal: {e}: {}",
            std::error::Error::source(&e).map_or_else(String::new, ToString::to_string)
        )),
    }
    if let Some(run) = run {
        match outcome::write_final_state(&run, &ending.objects) {
            Ok(path) => say(&format!(
                "rehearsal: the sandbox's final state: {}",
                path.display()
            )),
            Err(e) => say(&format!(
                "rehearsal: cannot write {}: {e}",
                outcome::FINAL_STATE
            )),
        }
        if let Err(e) = outcome::append_activity(&run, &ending.activity) {
            say(&format!(
                "rehearsal: cannot add the sandbox's activity to the report: {e}"
            ));
        }
    }
    if let Some((name, requests, writes)) = &ending.other {
        if writes.is_empty() {
            say(&format!(
                "rehearsal: the other cluster (context {name}) got no writes ({requests} requests in all)"
            ));
        } else {
            say(&format!(
                "rehearsal: the other cluster (context {name}) got {} writes: {}",
                writes.len(),
                writes.join(", ")
            ));
            if code == 0 {
                code = planrun::exit_code::TASK_FAILED;
            }
        }
    }
    match code {
        0 => say("rehearsal: succeeded"),
        planrun::exit_code::INTERRUPTED => say(&format!(
            "rehearsal: interrupted; continue it with `planrun rehearse {plan} --resume{}` (finished tasks do not run again)",
            same_cluster(opts)
        )),
        _ => {
            if let (Some(name), Some(description)) = (&opts.fault, fault) {
                say(&format!(
                    "rehearsal: this failure was rehearsed (--fault {name}: {})",
                    description.trim()
                ));
            }
        }
    }
    code
}

/// The `--kubeconfig`/`--context` (and `--real-tools`) a resume must repeat.
fn same_cluster(opts: &RehearseOptions) -> String {
    let mut out = String::new();
    if let (Some(file), Some(context)) = (&opts.kubeconfig, &opts.context) {
        out.push_str(&format!(
            " --kubeconfig {} --context {context}",
            file.display()
        ));
    }
    if opts.real_tools {
        out.push_str(" --real-tools");
    }
    out
}

/// Runs the plan (`plan`: the file to run) as a child, with `args` (`--yes
/// --resume`, `--yes --restart` or `--dry-run [--resume]`, the variables, the
/// context) after the rehearsal's own, and serves it until it exits; returns its
/// exit code. `commands`: the other commands simulated on its `PATH`.
async fn conduct(
    opts: &RehearseOptions,
    plan: &std::path::Path,
    world: &World,
    stage: Stage<'_>,
    args: &[String],
    commands: &[String],
) -> Result<i32, Error> {
    let exe = std::env::current_exe().map_err(|e| internal(RehearseError::Spawn(e)))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("run")
        .arg(plan)
        .arg("--output")
        .arg(output_name(opts.output))
        .arg("--state-dir")
        .arg(&world.state_dir);
    if let Some(jobs) = opts.jobs {
        cmd.arg("--jobs").arg(jobs.to_string());
    }
    if let Some(grace) = &opts.grace {
        cmd.arg("--grace").arg(grace);
    }
    cmd.args(args);
    cmd.env("KUBECONFIG", world.kubeconfig());
    if !opts.real_tools {
        cmd.env("PATH", world.path_env())
            .env(planrun_sandbox::simtools::CONFIG_ENV, world.behaviour())
            .env(planrun_sandbox::simtools::LOG_ENV, world.tools_log())
            .env(planrun_sandbox::simtools::STATE_ENV, world.tools_state())
            .env(planrun_sandbox::simtools::COMMANDS_ENV, commands.join(","));
    }
    cmd.stdin(Stdio::null()).process_group(0).kill_on_drop(true);
    // The child dies with this process: a guard stops it (SIGTERM, so it stops its
    // own tasks and journals it) if this process dies first.
    let exe = std::env::current_exe().map_err(|e| internal(RehearseError::Spawn(e)))?;
    let child_grace = opts
        .grace
        .as_deref()
        .and_then(|g| planrun_text::parse_duration(g).ok())
        .unwrap_or(planrun::exec::DEFAULT_GRACE)
        + CHILD_MARGIN;
    let guard =
        ProcessGuard::start(&exe, child_grace).map_err(|e| internal(RehearseError::Spawn(e)))?;
    let (marker, value) = guard.env();
    cmd.env(marker, value);
    let groups = GroupRegistry::guarded(guard);
    let mut child = cmd.spawn().map_err(|e| internal(RehearseError::Spawn(e)))?;
    let pid = child.id();
    let _watched = pid.and_then(|p| i32::try_from(p).ok()).map(|pgid| {
        groups.register(
            ProcessGroup {
                task: "run".to_owned(),
                attempt: 1,
                pgid,
                leader_start: planrun::procs::process(pgid).map_or(0, |p| p.start_ticks),
            },
            nix::sys::signal::Signal::SIGTERM,
            child_grace,
        )
    });

    let mut signals = StopSignals::install().map_err(|e| internal(RehearseError::Spawn(e)))?;
    let (sandbox, reactions) = match stage {
        Stage::Sandbox { sandbox, reactions } => (sandbox, reactions),
        Stage::Cluster {
            client,
            mut enactor,
        } => {
            // Nothing fires inside a real cluster: the rehearsal looks at it. What it
            // says while the run goes on never holds up passing a signal on.
            let tell = |line: String| say_aside(&format!("rehearsal: {line}"));
            let mut look = tokio::time::interval(cluster::LOOK_EVERY);
            let status = loop {
                tokio::select! {
                    status = child.wait() => break status,
                    signal = signals.recv() => forward(pid, signal),
                    _ = look.tick() => enactor.look(&client, &tell).await,
                }
            };
            let code = exit_code_of(status.map_err(|e| internal(RehearseError::Spawn(e)))?);
            run_ended(code)?;
            return Ok(code);
        }
    };
    // Reactions fire in the sandbox, in the transaction of the change that brings
    // them about; here only what they say is printed.
    let mut said = sandbox
        .state()
        .arm_reactions(reactions.to_vec())
        .map_err(|e| internal(RehearseError::from(e)))?;
    let mut saying = true;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            signal = signals.recv() => forward(pid, signal),
            line = said.recv(), if saying => match line {
                Some(line) => say_aside(&format!("rehearsal: {line}")),
                None => saying = false,
            },
        }
    };
    let code = exit_code_of(status.map_err(|e| internal(RehearseError::Spawn(e)))?);
    run_ended(code)?;
    while let Ok(line) = said.try_recv() {
        say(&format!("rehearsal: {line}"));
    }
    Ok(code)
}

/// The run exited with `code`: its journal is final, and a sandbox saved every change
/// as it was made, so what is left is the rehearsal's own words and files (the final
/// state, the activity in the report). A stop signal now ends the rehearsal at once
/// with the run's code (a terminal nobody reads would otherwise keep it), and the
/// lines said aside while the run went on are written first.
fn run_ended(code: i32) -> Result<(), Error> {
    planrun::signals::exit_on_stop(code, &format!("its exit code {code}"))
        .map_err(|e| internal(RehearseError::Spawn(e)))?;
    settle(None);
    Ok(())
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
