//! `planrun validate PLAN`

use super::{PlanArgs, load};
use crate::error::Error;

pub fn run(args: &PlanArgs) -> Result<(), Error> {
    let plan = load(args)?;
    let tasks = plan.tasks().len();
    super::print(&format!(
        "plan {} is valid: {} task{}, {} variable{}\n",
        plan.source().path().display(),
        tasks,
        if tasks == 1 { "" } else { "s" },
        plan.vars().len(),
        if plan.vars().len() == 1 { "" } else { "s" },
    ))
}
