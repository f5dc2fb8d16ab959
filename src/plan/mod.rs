//! Plan text and its raw serde types: the `[plan]` header, `[vars]`, the keys every
//! task shares, the Kubernetes selection keys, and one file per task type.

mod common;
mod header;
mod notify;
mod schema;
mod selection;
mod source;
pub(crate) mod task;
mod task_type;
mod vars;

pub use common::{COMMON_KEYS, RawCommon};
pub(crate) use header::RawHeader;
pub use notify::{RawNotify, RawNotifyOn};
pub use schema::{plan_schema, plan_schema_value};
pub(crate) use selection::{RawSelection, SELECTION_KEYS};
pub use source::PlanSource;
pub use task_type::TaskType;
pub use vars::RawVarSpec;
