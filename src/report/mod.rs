//! Reporters: consumers of the event stream. The terminal (live or plain), JSON
//! Lines, the final summary table and the Markdown run report.

mod json;
mod markdown;
mod record;
mod reporter;
mod style;
mod summary;
mod terminal;

pub use record::RunMeta;
pub use reporter::{OutputFormat, ReporterConfig, spawn};
