//! Reporters: consumers of the event stream. The terminal (live or plain), JSON
//! Lines and the final summary table. (The Markdown run report covers every process
//! of a run, so it is written from the journal: `journal::report`.)

mod json;
mod record;
mod reporter;
mod style;
mod summary;
mod terminal;

pub use reporter::{OutputFormat, ReporterConfig, finish, spawn};
