//! Raw plan -> [`ValidatedPlan`], its only constructor; all errors at once.

mod describe;
mod document;
mod error;
mod graph;
mod interpolate;
mod model;
mod pipeline;
mod tasks;
mod vars;

pub use error::{ErrorKind, InvalidPlan, PlanError};
pub use model::*;
pub use pipeline::{load_and_validate, validate};
pub use tasks::DEFAULT_WAIT_TIMEOUT;
pub use vars::{BUILTIN_VARS, parse_override};
