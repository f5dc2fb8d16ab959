//! `planrun graph PLAN --format dot|mermaid`

use std::fmt::Write as _;

use super::{GraphArgs, load};
use crate::error::Error;
use crate::validate::ValidatedPlan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart (renders on GitHub).
    Mermaid,
}

pub fn run(args: &GraphArgs) -> Result<(), Error> {
    let plan = load(&args.plan)?;
    super::print(&render(&plan, args.format))
}

/// The graph in `format`, nodes in execution order, edges from a need to its dependent.
pub fn render(plan: &ValidatedPlan, format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Dot => {
            let _ = writeln!(out, "digraph \"{}\" {{", escape(&plan.header().name));
            let _ = writeln!(out, "  rankdir=TB;");
            let _ = writeln!(out, "  node [shape=box, style=rounded];");
            for &idx in plan.topo_order() {
                let task = plan.task(idx);
                let _ = writeln!(
                    out,
                    "  \"{}\" [label=\"{}\\n{}\"];",
                    escape(&task.id),
                    escape(&task.id),
                    task.kind.type_name()
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
                let _ = writeln!(
                    out,
                    "  {}[\"{}<br/><small>{}</small>\"]",
                    mermaid_id(idx),
                    task.id.replace('"', "#quot;"),
                    task.kind.type_name()
                );
            }
            for &idx in plan.topo_order() {
                for &need in &plan.task(idx).needs {
                    let _ = writeln!(out, "  {} --> {}", mermaid_id(need), mermaid_id(idx));
                }
            }
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Mermaid ids cannot hold every character a task id may: use the index.
fn mermaid_id(idx: usize) -> String {
    format!("t{idx}")
}
