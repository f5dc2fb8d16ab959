//! Raw plan -> [`ValidatedPlan`], its only constructor; all errors at once.

mod model;

pub use model::*;
