//! `pulumi preview`, `up` and `refresh`: wait, print the program's output, apply
//! manifests (`up`), report failures and the change summary, in the human or the
//! `--json` shape, and cancel on SIGINT as the real CLI does.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};

use super::output::{Out, Step};
use super::{Cli, ERROR_EXIT, Target};
use crate::simtools::apply;

/// Runs `kind` (`preview`, `up` or `refresh`) for `target`.
pub fn run(cli: &Cli<'_>, target: &Target<'_>, kind: &str) -> Result<i32, String> {
    let parsed = &cli.parsed;
    if kind != "preview" && !parsed.on("yes") && !parsed.on("skip-preview") {
        return Err(
            "--yes or --skip-preview must be passed in to proceed when running in non-interactive mode"
                .into(),
        );
    }
    if target.config.values().any(|e| e.secret) {
        cli.check_passphrase()?;
    }
    let op = match kind {
        "preview" => &cli.pulumi.preview,
        "up" => &cli.pulumi.up,
        _ => &cli.pulumi.refresh,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    let mut out = Out::new(parsed.on("json"), kind, &target.name, &target.project);
    runtime.block_on(async {
        let mut interrupts =
            signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
        let started = Instant::now();
        out.prelude(&target.config);

        // The program runs: it takes its time, and Ctrl-C cancels it.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(op.delay_ms);
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                _ = interrupts.recv() => {
                    if op.ignore_interrupt {
                        continue;
                    }
                    out.interrupted();
                    let cancel_done = tokio::time::sleep(Duration::from_millis(op.cancel_delay_ms));
                    tokio::select! {
                        () = cancel_done => {}
                        // A second Ctrl-C terminates at once.
                        _ = interrupts.recv() => {}
                    }
                    out.canceled();
                    return Ok(ERROR_EXIT);
                }
            }
        }
        for line in op.stdout.lines() {
            out.program_line(line);
        }
        crate::simtools::reply::print_block(&mut std::io::stderr(), &op.stderr);

        let objects = apply::read_manifests(
            &op.apply
                .iter()
                .map(|p| cli.behaviour.resolve(p))
                .collect::<Vec<_>>(),
        )?;
        let mut steps = Vec::new();
        if kind == "up" && !objects.is_empty() {
            match apply::apply_all(&objects, &cli.field_manager(&target.name)).await {
                Ok(applied) => {
                    for a in applied {
                        let op = if a.existed { "update" } else { "create" };
                        steps.push(Step::new(op, &a.type_token, &a.name));
                    }
                }
                Err(e) => {
                    out.error(None, &format!("kubernetes: {e}"));
                    out.summary(&BTreeMap::new(), started.elapsed());
                    return Ok(ERROR_EXIT);
                }
            }
        } else {
            for object in &objects {
                let name = match &object.metadata.namespace {
                    Some(ns) => {
                        format!("{ns}/{}", object.metadata.name.clone().unwrap_or_default())
                    }
                    None => object.metadata.name.clone().unwrap_or_default(),
                };
                steps.push(Step::new("create", &apply::type_token(object), &name));
            }
        }
        for step in &steps {
            out.step(step);
        }
        for failed in &op.failed {
            let step = Step::new(
                failed.op.as_deref().unwrap_or("create"),
                &failed.type_,
                &failed.name,
            );
            out.failed(&step, &failed.message);
        }
        let changes = op.changes.clone().unwrap_or_else(|| {
            let mut counts = BTreeMap::new();
            for step in &steps {
                *counts.entry(step.op.clone()).or_insert(0) += 1;
            }
            counts
        });
        out.summary(&changes, started.elapsed());
        if !op.failed.is_empty() {
            out.failed_footer();
        }
        Ok(op
            .exit
            .unwrap_or(if op.failed.is_empty() { 0 } else { ERROR_EXIT }))
    })
}
