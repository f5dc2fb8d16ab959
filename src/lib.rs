//! planrun: run declarative maintenance plans.
//!
//! Plan text -> raw plan ([`plan`]) -> validated plan and DAG ([`validate`]) ->
//! the dispatcher (`schedule`) and the executors ([`exec`]) -> events ([`events`])
//! -> reporters (`report`) and the journal ([`journal`]). `ARCHITECTURE.md` maps
//! it. Public are the modules the `planrun` binary and the integration tests use;
//! the rest is the library's own.

pub mod cancel;
pub mod cli;
pub mod console;
pub mod error;
pub mod events;
pub mod exec;
pub mod exit_code;
pub mod journal;
pub mod layout;
mod notify;
pub mod plan;
pub mod procs;
pub mod redact;
mod report;
mod schedule;
pub mod signals;
pub mod validate;
pub mod vocabulary;
