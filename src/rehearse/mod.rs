//! Rehearsals: a plan run end to end against the embedded sandbox cluster, with the
//! external tools simulated, as its rehearsal file (beside the plan) describes; named
//! faults rehearse failures, and an interrupted rehearsal resumes.

mod error;
mod rehearsal;
mod snapshot;
mod spec;
mod world;

pub use error::RehearseError;
pub use rehearsal::{RehearseOptions, rehearse};
pub use snapshot::Snapshot;
pub use spec::{ConditionSpec, Fault, Reaction, RehearsalSpec, RepoTemplate, When, merge_patch};
pub use world::World;
