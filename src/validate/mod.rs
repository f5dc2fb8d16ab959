//! Raw plan -> [`ValidatedPlan`], its only constructor; all errors at once.

mod document;
mod error;
mod graph;
mod interpolate;
mod model;
mod pipeline;
mod selection;
mod task;
mod task_ref;
mod task_table;
mod vars;

pub use error::{ErrorKind, InvalidPlan};
pub use model::*;
pub use pipeline::{load_and_validate, validate};
pub use selection::{Selection, Target};
pub use task::*;
pub use task_ref::TaskRef;
pub(crate) use vars::{BUILTIN_VARS, parse_override};
