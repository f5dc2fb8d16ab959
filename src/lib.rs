//! planrun: run declarative maintenance plans.

pub mod exit_code;
pub mod journal;
pub mod plan;
pub mod redact;
pub mod validate;
