//! `pulumi preview`, `up` and `refresh`: the program runs (takes its time, prints
//! its output), the steps are decided from the stack's state and the program
//! (`steps.rs`), a refresh first corrects the state from the cluster, `preview`
//! shows the steps (and saves them with `--save-plan`), `up` checks them against a
//! saved plan (`--plan`) and has the provider carry them out, checkpointing the
//! state after each, and Ctrl-C cancels between steps as the real CLI does.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::signal::unix::{SignalKind, signal};

use super::output::Out;
use super::provider::{Provider, Target as ProviderTarget};
use super::state::{Pending, Resource, StackState, masked_inputs, stack_urn, urn};
use super::steps::{self, Desired, Op, Step};
use super::{Cli, ERROR_EXIT, Target, plan_file};
use crate::simtools::manifests;

/// The resources `manifests` declare, in order, as the program would register them.
/// A program declares each resource once: an object of a later manifest with the
/// URN of an earlier one takes its place (a rehearsal's fault overriding one object).
pub fn desired(
    cli: &Cli<'_>,
    target: &Target,
    manifests: &[PathBuf],
) -> Result<Vec<Desired>, String> {
    let paths: Vec<PathBuf> = manifests.iter().map(|p| cli.behaviour.resolve(p)).collect();
    let objects = manifests::read_manifests(&paths)?;
    let mut out: Vec<Desired> = Vec::new();
    for d in objects.iter().map(|object| {
        let type_token = manifests::type_token(object);
        let name = match &object.metadata.namespace {
            Some(ns) => format!("{ns}/{}", object.metadata.name.clone().unwrap_or_default()),
            None => object.metadata.name.clone().unwrap_or_default(),
        };
        let value = serde_json::to_value(object).unwrap_or(Value::Null);
        Desired {
            urn: urn(&target.name, &target.project, &type_token, &name),
            type_token,
            name,
            inputs: masked_inputs(&value),
            object: value,
        }
    }) {
        match out.iter_mut().find(|earlier| earlier.urn == d.urn) {
            Some(earlier) => *earlier = d,
            None => out.push(d),
        }
    }
    Ok(out)
}

/// What went wrong in the middle of an operation: reported as the CLI reports it.
enum Failure {
    /// A resource's operation failed.
    Resource { op: Op, step: Step, message: String },
    /// The deployment could not go on (a plan violation, a state that cannot be read).
    Deployment {
        urn: Option<String>,
        message: String,
    },
    /// Ctrl-C.
    Cancelled,
}

/// Runs `kind` (`preview`, `up` or `refresh`) for `target`.
pub fn run(cli: &Cli<'_>, target: &Target, kind: &str) -> Result<i32, String> {
    let parsed = &cli.parsed;
    if kind != "preview" && !parsed.on("yes") && !parsed.on("skip-preview") {
        return Err(
            "--yes or --skip-preview must be passed in to proceed when running in non-interactive mode"
                .into(),
        );
    }
    if target.config.has_secure_value() {
        cli.check_passphrase()?;
    }
    let behaviour = match kind {
        "preview" => &cli.pulumi.preview,
        "up" => &cli.pulumi.up,
        _ => &cli.pulumi.refresh,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    let mut out = Out::new(
        parsed.on("json"),
        parsed.on("diff"),
        kind,
        &target.name,
        &target.project,
    );
    let state_path = StackState::path(&cli.state_dir, &target.name);
    // Ctrl-C is watched before the lock is taken, so that a Ctrl-C always ends in
    // the cancellation that releases it. (The real CLI takes the lock a moment
    // before it opens its cancellation scope: pulumi/pulumi
    // pkg/backend/diy/backend.go `Update`, pkg/backend/cancellation_scope.go; a
    // Ctrl-C in that moment leaves the lock, as a kill -9 does at any time. The
    // stand-in leaves that to kill -9, so that a rehearsed interruption is
    // repeatable.)
    let mut interrupts = {
        let _entered = runtime.enter();
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?
    };
    // An update or a refresh holds the stack's lock while it runs (a preview
    // does not); a kill leaves it behind.
    let lock = if kind != "preview" {
        Some(super::lock::acquire(
            &cli.state_dir,
            &target.project,
            &target.name,
        )?)
    } else {
        None
    };
    let code = runtime.block_on(async {
        let started = Instant::now();
        out.prelude(target.config.blinded());

        // The program runs: it takes its time, and Ctrl-C cancels it.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(behaviour.delay_ms);
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                _ = interrupts.recv() => {
                    if behaviour.ignore_interrupt {
                        continue;
                    }
                    return Ok(cancel(&mut out, behaviour.cancel_delay_ms, &mut interrupts).await);
                }
            }
        }
        for line in behaviour.stdout.lines() {
            out.program_line(line);
        }
        crate::simtools::reply::print_block(&mut std::io::stderr(), &behaviour.stderr);

        let mut state = cli.load_state(target)?;
        let program = desired(cli, target, &cli.pulumi.program)?;
        let dry_run = kind == "preview";
        if !dry_run && !state.pending.is_empty() {
            out.warning(&pending_warning(&state.pending));
        }
        let mut session = Session {
            cli,
            target,
            provider: None,
            state_path: &state_path,
            persist: !dry_run && !parsed.on("preview-only"),
        };

        let mut failure = None;
        let mut done: Vec<Step> = Vec::new();
        if kind == "refresh" || parsed.value("refresh").is_some_and(|v| v == "true") {
            let clear_creates = parsed.on("clear-pending-creates");
            match session.refresh(&mut state, clear_creates).await {
                Ok(refreshed) => {
                    if kind == "refresh" {
                        done = refreshed;
                    }
                }
                Err(message) => {
                    failure = Some(Failure::Deployment { urn: None, message });
                }
            }
        }
        if kind != "refresh" && failure.is_none() {
            let planned = steps::steps(&state, &program);
            if kind == "preview" {
                if let Some(path) = parsed.value("save-plan") {
                    let path = cli.project_dir().join(path);
                    let stack = stack_urn(&target.name, &target.project);
                    plan_file::write(&path, &planned, &target.config, &stack)?;
                }
                done = planned;
            } else {
                failure = session
                    .update(&mut state, planned, &mut done, &mut interrupts)
                    .await;
            }
        }

        let mut exit = 0;
        if !matches!(failure, Some(Failure::Cancelled)) {
            for step in &done {
                out.step(step);
            }
        }
        match failure {
            Some(Failure::Resource { op, step, message }) => {
                out.failed(op.as_str(), &step.type_token, &step.name, &message);
                exit = ERROR_EXIT;
            }
            Some(Failure::Deployment { urn, message }) => {
                out.error(urn.as_deref(), &message);
                exit = ERROR_EXIT;
            }
            Some(Failure::Cancelled) => {
                return Ok(cancel(&mut out, behaviour.cancel_delay_ms, &mut interrupts).await);
            }
            None => {}
        }
        for failed in &behaviour.failed {
            out.failed(
                failed.op.as_deref().unwrap_or("create"),
                &failed.type_,
                &failed.name,
                &failed.message,
            );
            exit = ERROR_EXIT;
        }
        let changes = behaviour
            .changes
            .clone()
            .unwrap_or_else(|| steps::counts(&done));
        out.summary(&changes, started.elapsed());
        if exit == 0
            && kind == "preview"
            && !parsed.on("json")
            && let Some(path) = parsed.value("save-plan")
        {
            println!(
                "Update plan written to '{path}'\nRun `pulumi up --plan='{path}'` to constrain the update to the operations planned by this preview"
            );
        }
        if exit != 0 {
            out.failed_footer();
        }
        Ok(behaviour.exit.unwrap_or(exit))
    });
    if let Some(lock) = lock {
        super::lock::release(&lock);
    }
    code
}

/// The first Ctrl-C: say so, let the cancellation take its time (a second Ctrl-C
/// cuts it short), and end as the CLI does.
async fn cancel(
    out: &mut Out,
    cancel_delay_ms: u64,
    interrupts: &mut tokio::signal::unix::Signal,
) -> i32 {
    out.interrupted();
    let cancel_done = tokio::time::sleep(Duration::from_millis(cancel_delay_ms));
    tokio::select! {
        () = cancel_done => {}
        _ = interrupts.recv() => {}
    }
    out.canceled();
    ERROR_EXIT
}

/// `printPendingOperationsWarning` (pulumi/pulumi
/// `pkg/resource/deploy/deployment_executor.go`).
fn pending_warning(pending: &[Pending]) -> String {
    let mut text = format!(
        "Attempting to deploy or update resources with {} pending operations from previous deployment.\n",
        pending.len()
    );
    for op in pending {
        text.push_str(&format!("  * {}, interrupted while {}\n", op.urn, op.kind));
    }
    text.push_str(
        "These resources are in an unknown state because the Pulumi CLI was interrupted while \
         waiting for changes to these resources to complete. You should confirm whether or not the \
         operations listed completed successfully by checking the state of the appropriate provider. \
         For example, if you are using AWS, you can confirm using the AWS Console.\n\n\
         Once you have confirmed the status of the interrupted operations, you can repair your stack \
         using `pulumi refresh` which will refresh the state from the provider you are using and \
         clear the pending operations if there are any.\n\n\
         Note that `pulumi refresh` will need to be run interactively to clear pending CREATE operations.",
    );
    text
}

/// One operation's access to the cluster and the saved state.
struct Session<'c> {
    cli: &'c Cli<'c>,
    target: &'c Target,
    provider: Option<Provider>,
    state_path: &'c Path,
    /// Whether the state is saved (not for a preview).
    persist: bool,
}

impl Session<'_> {
    async fn provider(&mut self) -> Result<&Provider, String> {
        if self.provider.is_none() {
            let target = ProviderTarget {
                kubeconfig: self.target.config.revealed("kubernetes:kubeconfig"),
                context: self.target.config.revealed("kubernetes:context"),
            };
            let pulumi = self.cli.pulumi;
            self.provider = Some(
                Provider::connect(
                    &target,
                    pulumi.creates_by_create(),
                    pulumi.upsert_existing_objects,
                )
                .await?,
            );
        }
        Ok(self.provider.as_ref().expect("just connected"))
    }

    fn checkpoint(&self, state: &StackState) -> Result<(), String> {
        if self.persist {
            state.save(self.state_path)?;
        }
        Ok(())
    }

    /// Reads every resource of the state from the cluster: one that is gone leaves
    /// the state. Returns the refresh's steps (same, or delete for a gone one).
    async fn refresh(
        &mut self,
        state: &mut StackState,
        clear_creates: bool,
    ) -> Result<Vec<Step>, String> {
        let mut out = Vec::new();
        let resources = state.resources.clone();
        for r in &resources {
            let live = self.provider().await?.read(&r.inputs).await?;
            let op = if live.is_some() { Op::Same } else { Op::Delete };
            if op == Op::Delete {
                state.remove(&r.urn);
            }
            out.push(Step {
                op,
                urn: r.urn.clone(),
                type_token: r.type_token.clone(),
                name: r.id.clone(),
                old: Some(r.inputs.clone()),
                new: None,
                object: None,
            });
        }
        // Pending updates and deletes are resolved by reading; creates only on request.
        state
            .pending
            .retain(|p| p.kind == "creating" && !clear_creates);
        state.has_stack = true;
        self.checkpoint(state)?;
        Ok(out)
    }

    /// Carries `planned` out (after checking it against `--plan`), step by step,
    /// the state saved after each; the steps done go to `done`.
    async fn update(
        &mut self,
        state: &mut StackState,
        planned: Vec<Step>,
        done: &mut Vec<Step>,
        interrupts: &mut tokio::signal::unix::Signal,
    ) -> Option<Failure> {
        if let Some(path) = self.cli.parsed.value("plan") {
            let path = self.cli.project_dir().join(path);
            let plan = match plan_file::read(&path) {
                Ok(plan) => plan,
                Err(message) => return Some(Failure::Deployment { urn: None, message }),
            };
            if let Some((urn, message)) = steps::violations(&planned, &plan).into_iter().next() {
                return Some(Failure::Deployment {
                    urn: Some(urn),
                    message,
                });
            }
        }
        let ignore_interrupt = self.cli.pulumi.up.ignore_interrupt;
        let hang_at = self.cli.pulumi.up.hang_at_step;
        let mut changing = 0;
        for step in planned {
            if step.op != Op::Same && !step.is_stack() {
                changing += 1;
            }
            let hang = hang_at == Some(changing) && step.op != Op::Same && !step.is_stack();
            let mut cancelled = false;
            let result = {
                let step_future = self.carry_out(state, &step, hang);
                tokio::pin!(step_future);
                loop {
                    tokio::select! {
                        result = &mut step_future => break result,
                        _ = interrupts.recv() => cancelled = true,
                    }
                }
            };
            if let Err(message) = result {
                return Some(Failure::Resource {
                    op: step.op,
                    step,
                    message,
                });
            }
            done.push(step);
            if cancelled && !ignore_interrupt {
                return Some(Failure::Cancelled);
            }
        }
        None
    }

    /// One step: the provider's write, with the operation pending in the state
    /// while it runs.
    async fn carry_out(
        &mut self,
        state: &mut StackState,
        step: &Step,
        hang: bool,
    ) -> Result<(), String> {
        if step.is_stack() {
            state.has_stack = true;
            return self.checkpoint(state);
        }
        let (Some(object), kind) = (
            step.object.as_ref(),
            match step.op {
                Op::Same => return Ok(()),
                Op::Create => "creating",
                Op::Update => "updating",
                Op::Delete => "deleting",
            },
        ) else {
            return Ok(());
        };
        state.pending.push(Pending {
            urn: step.urn.clone(),
            type_token: step.type_token.clone(),
            kind: kind.into(),
            inputs: step
                .new
                .clone()
                .or_else(|| step.old.clone())
                .unwrap_or(Value::Null),
        });
        self.checkpoint(state)?;
        if hang {
            // The write never reaches the cluster and never returns.
            std::future::pending::<()>().await;
        }
        let manager = state
            .find(&step.urn)
            .map(|r| r.field_manager.clone())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| self.cli.field_manager(&self.target.name, &step.urn));
        let result = {
            let provider = self.provider().await?;
            match step.op {
                Op::Create => provider.create(&step.urn, object, &manager).await,
                Op::Update => provider.update(object, &manager).await,
                Op::Delete => provider.delete(object).await,
                Op::Same => Ok(()),
            }
        };
        state.pending.retain(|p| p.urn != step.urn);
        if result.is_ok() {
            match step.op {
                Op::Delete => state.remove(&step.urn),
                _ => state.put(Resource {
                    urn: step.urn.clone(),
                    type_token: step.type_token.clone(),
                    id: step.name.clone(),
                    inputs: step.new.clone().unwrap_or(Value::Null),
                    field_manager: manager,
                }),
            }
        }
        self.checkpoint(state)?;
        result
    }
}
