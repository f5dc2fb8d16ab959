//! Plan text and its raw serde types, one file per task type.

mod source;

pub use source::PlanSource;
