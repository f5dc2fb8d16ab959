//! `planrun graph PLAN --format dot|mermaid [--run ID]`: the dependency graph, with
//! `--run` each task coloured by its state in that run (the journal's, in the
//! vocabulary's words and tones).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::status::{plan_state, read_run};
use super::{GraphArgs, load};
use crate::error::Error;
use crate::journal::RecordedState;
use crate::validate::{TaskIdx, ValidatedPlan};
use crate::vocabulary::{TaskStatus, Tone};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart (renders on GitHub).
    Mermaid,
}

pub fn run(args: &GraphArgs) -> Result<(), Error> {
    let plan = load(&args.plan)?;
    let states = match &args.run {
        Some(run) => {
            let (plan_state, _) = plan_state(&args.plan.plan, args.state_dir.as_deref())?;
            let (_, history, live) = read_run(&plan_state, Some(run))?;
            let states: Vec<TaskStatus> = plan
                .tasks()
                .iter()
                .map(|t| {
                    history
                        .task(&t.id)
                        .map_or(RecordedState::Pending, |h| h.state)
                        .status(live)
                })
                .collect();
            Some(states)
        }
        None => None,
    };
    super::print(&render(&plan, args.format, states.as_deref()))
}

/// The graph in `format`, nodes in execution order, edges from a need to its
/// dependent; with `states` (one per task, by index), each node names its state and
/// is coloured by its tone.
pub fn render(plan: &ValidatedPlan, format: Format, states: Option<&[TaskStatus]>) -> String {
    let state = |idx: TaskIdx| states.and_then(|s| s.get(idx).copied());
    let mut out = String::new();
    match format {
        Format::Dot => {
            let _ = writeln!(out, "digraph \"{}\" {{", escape(&plan.header().name));
            let _ = writeln!(out, "  rankdir=TB;");
            let _ = writeln!(out, "  node [shape=box, style=rounded];");
            for &idx in plan.topo_order() {
                let task = plan.task(idx);
                let mut label = format!("{}\\n{}", escape(&task.id), task.kind.type_name());
                let mut style = String::new();
                if let Some(s) = state(idx) {
                    let _ = write!(label, "\\n{s}");
                    let (fill, line) = colours(s.tone());
                    style = format!(
                        ", style=\"rounded,filled\", fillcolor=\"{fill}\", color=\"{line}\""
                    );
                }
                let _ = writeln!(
                    out,
                    "  \"{}\" [label=\"{label}\"{style}];",
                    escape(&task.id),
                );
            }
            for &idx in plan.topo_order() {
                let task = plan.task(idx);
                for &need in &task.needs {
                    let _ = writeln!(
                        out,
                        "  \"{}\" -> \"{}\";",
                        escape(&plan.task(need).id),
                        escape(&task.id)
                    );
                }
            }
            let _ = writeln!(out, "}}");
        }
        Format::Mermaid => {
            let _ = writeln!(out, "flowchart TD");
            for &idx in plan.topo_order() {
                let task = plan.task(idx);
                let small = match state(idx) {
                    Some(s) => format!("{} · {s}", task.kind.type_name()),
                    None => task.kind.type_name().to_owned(),
                };
                let _ = writeln!(
                    out,
                    "  {}[\"{}<br/><small>{small}</small>\"]",
                    mermaid_id(idx),
                    task.id.replace('"', "#quot;"),
                );
            }
            for &idx in plan.topo_order() {
                for &need in &plan.task(idx).needs {
                    let _ = writeln!(out, "  {} --> {}", mermaid_id(need), mermaid_id(idx));
                }
            }
            if states.is_some() {
                // One class per state present, named after its identifier.
                let mut classes: BTreeMap<TaskStatus, Vec<String>> = BTreeMap::new();
                for &idx in plan.topo_order() {
                    if let Some(s) = state(idx) {
                        classes.entry(s).or_default().push(mermaid_id(idx));
                    }
                }
                for (s, nodes) in &classes {
                    let (fill, line) = colours(s.tone());
                    let name = class_name(*s);
                    let _ = writeln!(
                        out,
                        "  classDef {name} fill:{fill},stroke:{line},color:#1f2328"
                    );
                    let _ = writeln!(out, "  class {} {name}", nodes.join(","));
                }
            }
        }
    }
    out
}

/// Fill and line colours of a tone (light fills, readable black text).
fn colours(tone: Tone) -> (&'static str, &'static str) {
    match tone {
        Tone::Good => ("#d3f9d8", "#2b8a3e"),
        Tone::Bad => ("#ffe3e3", "#c92a2a"),
        Tone::Warn => ("#fff3bf", "#e67700"),
        Tone::Quiet => ("#f1f3f5", "#868e96"),
    }
}

/// A Mermaid class name for a state: its identifier, `-` as `_`.
fn class_name(s: TaskStatus) -> String {
    s.id().replace('-', "_")
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Mermaid ids cannot hold every character a task id may: use the index.
fn mermaid_id(idx: usize) -> String {
    format!("t{idx}")
}
