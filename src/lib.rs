//! planrun: run declarative maintenance plans.
//!
//! Plan text -> typed plan ([`plan`]) -> validated DAG ([`validate`]) -> scheduler
//! -> task executors -> events -> reporters and journal.

pub mod cancel;
pub mod cli;
pub mod error;
pub mod events;
pub mod exec;
pub mod exit_code;
pub mod journal;
pub mod layout;
pub mod plan;
pub mod redact;
pub mod report;
pub mod schedule;
pub mod signals;
pub mod validate;
pub mod vocabulary;
