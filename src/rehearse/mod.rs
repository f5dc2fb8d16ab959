//! Rehearsals: a plan run end to end against the embedded sandbox cluster, with the
//! external tools simulated, as its rehearsal file (beside the plan) describes; named
//! faults rehearse failures, and an interrupted rehearsal resumes.
//!
//! Part of the `planrun` binary, not of the library: it drives the sandbox crate and
//! runs `planrun run` as a child.

mod command;
mod error;
mod outcome;
mod rehearsal;
mod spec;
mod world;

pub use command::{RehearseArgs, run};
