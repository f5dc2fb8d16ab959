//! Raw plan -> [`ValidatedPlan`], its only constructor; all errors at once.

mod document;
mod error;
mod graph;
mod interpolate;
mod model;
mod notify;
mod pipeline;
mod selection;
mod shell;
mod task;
mod task_ref;
mod task_table;
mod vars;

pub use error::{ErrorKind, InvalidPlan, PlanWarnings};
pub use model::*;
pub use notify::{Notifications, NotifyOn, Webhook};
pub use pipeline::{load_and_validate, load_to_check, validate};
pub use selection::{ALL_NAMESPACES, KindSet, Namespaces, Selection, Target};
pub use task::*;
pub use task_ref::TaskRef;
pub use task_table::normalize as normalize_path;
pub use vars::Unset;
pub(crate) use vars::{BUILTIN_VARS, parse_override};
