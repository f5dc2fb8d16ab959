//! Raw plan -> [`ValidatedPlan`], its only constructor; all errors at once.

mod describe;
mod document;
mod error;
mod graph;
mod interpolate;
mod model;
mod tasks;
#[expect(
    clippy::module_inception,
    reason = "the pipeline is the module's namesake"
)]
mod validate;
mod vars;

pub use error::{ErrorKind, InvalidPlan, PlanError};
pub use model::*;
pub use tasks::DEFAULT_WAIT_TIMEOUT;
pub use validate::{load_and_validate, validate};
pub use vars::{BUILTIN_VARS, parse_override};
