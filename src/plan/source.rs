//! A plan file's text and where it came from, shared by every diagnostic.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::NamedSource;

/// The text of a plan file, kept for spans in diagnostics.
#[derive(Debug)]
pub struct PlanSource {
    path: PathBuf,
    dir: PathBuf,
    text: String,
    named: NamedSource<Arc<str>>,
}

impl PlanSource {
    /// A plan read from `path` with contents `text`.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        let path = path.into();
        let text = text.into();
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // Absolute, so tasks resolve paths the same whatever directory they run in.
        let dir = std::path::absolute(&parent).unwrap_or(parent);
        let named = NamedSource::new(path.display().to_string(), Arc::from(text.as_str()))
            .with_language("TOML");
        Self {
            path,
            dir,
            text,
            named,
        }
    }

    /// Reads a plan file.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Ok(Self::new(path, text))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The plan file's directory: relative paths in the plan start here.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The source for a miette diagnostic.
    pub fn named(&self) -> NamedSource<Arc<str>> {
        self.named.clone()
    }
}
