//! Reporters: consumers of the event stream. The terminal (live or plain), JSON
//! Lines, the final summary table and the Markdown run report.

mod json;
mod markdown;
mod record;
mod reporter;
mod style;
mod summary;
mod terminal;

pub use json::JsonLines;
pub use markdown::render as render_markdown;
pub use record::{RunMeta, RunRecord, TaskRecord, TaskResult};
pub use reporter::{OutputFormat, ReporterConfig, spawn};
pub use style::{Paint, color_enabled};
pub use summary::render as render_summary;
pub use terminal::Terminal;
