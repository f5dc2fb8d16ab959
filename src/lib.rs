//! planrun: run declarative maintenance plans.

pub mod events;
pub mod exec;
pub mod exit_code;
pub mod plan;
pub mod redact;
pub mod schedule;
pub mod validate;
