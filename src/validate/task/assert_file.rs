//! `assert-file`: a file exists and contains patterns.

use std::path::PathBuf;

use regex::Regex;

use super::TaskSpec;
use crate::plan::TaskType;
use crate::plan::task::RawAssertFile;
use crate::validate::error::ErrorKind;
use crate::validate::task_table::Builder;

/// `assert-file`: a file exists and every pattern matches its content.
#[derive(Debug, Clone)]
pub struct AssertFile {
    pub path: PathBuf,
    pub patterns: Vec<Regex>,
}

impl AssertFile {
    /// At least one valid pattern.
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawAssertFile = b.own()?;
        if raw.patterns.is_empty() {
            b.error(
                ErrorKind::BadValue,
                format!("task `{}` gives no patterns", b.id),
                "patterns",
                "empty list",
                "list the regular expressions the file must contain",
            );
            return None;
        }
        let patterns = b.regexes("patterns", &raw.patterns);
        Some(Self {
            path: b.path(Some(&raw.path)),
            patterns: patterns.into_iter().collect::<Option<_>>()?,
        })
    }
}

impl TaskSpec for AssertFile {
    fn task_type(&self) -> TaskType {
        TaskType::AssertFile
    }

    fn changes(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        let list: Vec<&str> = self.patterns.iter().map(|r| r.as_str()).collect();
        format!(
            "assert {} contains {}",
            self.path.display(),
            list.join(", ")
        )
    }
}
