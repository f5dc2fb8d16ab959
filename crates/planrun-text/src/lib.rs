//! Text helpers shared by planrun's engine and its sandbox crate, one definition of
//! each: durations (one grammar for plans, scenario files and flags, one way of
//! printing them), counted nouns, "did you mean" suggestions, and shell quoting.
//!
//! A leaf crate: it depends on nothing of planrun, so both the engine and the sandbox
//! (which may not depend on the engine) can use it.

mod duration;
mod plural;
mod quote;
mod suggest;

pub use duration::{DURATION_HELP, format_duration, format_rough, parse_duration};
pub use plural::plural;
pub use quote::shell_quote;
pub use suggest::did_you_mean;
