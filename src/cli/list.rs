//! `planrun list PLAN`: tasks in execution order, what each will do.

use std::fmt::Write as _;

use super::{PlanArgs, load};
use crate::error::Error;
use crate::validate::{ValidatedPlan, VarOrigin};

pub fn run(args: &PlanArgs) -> Result<(), Error> {
    let plan = load(args)?;
    super::print(&render(&plan))
}

/// The listing, with secret values masked.
pub fn render(plan: &ValidatedPlan) -> String {
    let mut out = String::new();
    let header = plan.header();
    let _ = writeln!(out, "plan {}", header.name);
    if let Some(description) = &header.description {
        let _ = writeln!(out, "  {}", description.trim());
    }
    if let Some(context) = &header.context {
        let _ = writeln!(out, "  kube context: {context}");
    }
    let declared: Vec<_> = plan
        .vars()
        .iter()
        .filter(|v| !crate::validate::BUILTIN_VARS.contains(&v.name.as_str()))
        .collect();
    if !declared.is_empty() {
        let _ = writeln!(out, "\nvariables:");
        for var in declared {
            let value = if var.secret {
                crate::redact::MASK.to_string()
            } else {
                var.value.clone()
            };
            let origin = match var.origin {
                VarOrigin::Plan => "",
                VarOrigin::Env => " (from environment)",
                VarOrigin::CommandLine => " (from --var)",
                VarOrigin::StandIn => " (a stand-in: its environment variable is not set)",
            };
            let _ = writeln!(out, "  {} = {value}{origin}", var.name);
        }
    }
    let _ = writeln!(out, "\ntasks, in execution order:");
    for (n, &idx) in plan.topo_order().iter().enumerate() {
        let task = plan.task(idx);
        let _ = writeln!(out, "{:>3}. {} [{}]", n + 1, task.id, task.kind.type_name());
        if let Some(description) = &task.description {
            let _ = writeln!(out, "       {}", description.trim());
        }
        let _ = writeln!(out, "       does:  {}", task.kind.describe());
        if !task.needs.is_empty() {
            let needs: Vec<&str> = task
                .needs
                .iter()
                .map(|&i| plan.task(i).id.as_str())
                .collect();
            let _ = writeln!(out, "       needs: {}", needs.join(", "));
        }
        if let Some(limits) = task.describe_limits() {
            let _ = writeln!(out, "       limits: {limits}");
        }
    }
    plan.redactor().redact(&out).into_owned()
}
