//! `planrun validate PLAN`

use super::{PlanArgs, load};
use crate::error::Error;

pub fn run(args: &PlanArgs) -> Result<(), Error> {
    let plan = load(args)?;
    let tasks = plan.tasks().len();
    let warnings = plan.warnings().map_or(0, |w| w.len());
    if let Some(w) = plan.warnings() {
        let report = miette::Report::new(w.clone());
        crate::console::say_diagnostic(&format!("{report:?}"));
    }
    super::print(&format!(
        "plan {} is valid: {} task{}, {} variable{}{}\n",
        plan.source().path().display(),
        tasks,
        if tasks == 1 { "" } else { "s" },
        plan.vars().len(),
        if plan.vars().len() == 1 { "" } else { "s" },
        match warnings {
            0 => String::new(),
            1 => ", 1 warning".to_owned(),
            n => format!(", {n} warnings"),
        }
    ))
}
