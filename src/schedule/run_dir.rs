//! Where a run keeps its files:
//!
//! ```text
//! <state dir>/                  `.planrun/` beside the plan, or `--state-dir`
//!   <plan name>/
//!     runs/<run id>/
//!       report.md               the Markdown run report
//!       events.jsonl            every event, as with `--output json`
//!       logs/<task id>.log      each task's output, attempt after attempt
//! ```

use std::io;
use std::path::{Path, PathBuf};

/// The state directory used when `--state-dir` is not given: `.planrun` beside the plan.
pub fn default_state_dir(plan_dir: &Path) -> PathBuf {
    plan_dir.join(".planrun")
}

/// One run's directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    plan_dir: PathBuf,
    path: PathBuf,
    run_id: String,
}

impl RunDir {
    /// Creates `<state_dir>/<plan>/runs/<run_id>/logs/`.
    pub fn create(state_dir: &Path, plan: &str, run_id: &str) -> io::Result<Self> {
        let plan_dir = state_dir.join(file_name(plan));
        let path = plan_dir.join("runs").join(run_id);
        std::fs::create_dir_all(path.join("logs"))?;
        Ok(Self {
            plan_dir,
            path,
            run_id: run_id.to_owned(),
        })
    }

    /// A fresh run id: UTC time to the millisecond, then the process id, so ids sort
    /// by start time and two runs never share one.
    pub fn new_run_id() -> String {
        let now = jiff::Timestamp::now();
        format!(
            "{}-{}",
            now.strftime("%Y%m%dT%H%M%S%.3fZ")
                .to_string()
                .replace('.', ""),
            std::process::id()
        )
    }

    /// The plan's own state directory (`<state dir>/<plan>/`), shared by its runs.
    pub fn plan_state_dir(&self) -> &Path {
        &self.plan_dir
    }

    /// This run's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.path.join("logs")
    }

    /// The log file of a task.
    pub fn log_path(&self, task_id: &str) -> PathBuf {
        self.logs_dir().join(format!("{}.log", file_name(task_id)))
    }

    pub fn report_path(&self) -> PathBuf {
        self.path.join("report.md")
    }

    pub fn events_path(&self) -> PathBuf {
        self.path.join("events.jsonl")
    }
}

/// A name made safe as one path component.
fn file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.as_str() {
        "" | "." | ".." => format!("_{cleaned}"),
        _ => cleaned,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn layout() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunDir::create(tmp.path(), "flux/rebuild", "r1").unwrap();
        assert_eq!(dir.path(), tmp.path().join("flux_rebuild/runs/r1"));
        assert!(dir.logs_dir().is_dir());
        assert_eq!(dir.log_path("a b"), dir.path().join("logs/a_b.log"));
        assert_eq!(file_name(".."), "_..");
        let id = RunDir::new_run_id();
        assert!(id.ends_with(&format!("Z-{}", std::process::id())), "{id}");
    }
}
