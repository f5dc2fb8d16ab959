//! Where planrun keeps things on disk: the one owner of every path and file name
//! under the state directory. Whatever reads or writes there (the journal, the
//! dispatcher's task logs, the reporters, `status`, rehearsals) asks this module for
//! the path; executors get plain paths from it.
//!
//! ```text
//! <state dir>/                   `.planrun/` beside the plan, or `--state-dir`
//!   <plan name>/                 [`PlanDir`]: one plan's state
//!     lock                       held by the planrun process running the plan
//!     latest                     the latest run's id, replaced atomically
//!     timings.json               how long each task took in the last runs
//!     runs/<run id>/             [`RunDir`]: one run
//!       journal                  the append-only journal of the run
//!       events.jsonl             every event, as with `--output json`
//!       report.md                the Markdown run report
//!       logs/<task id>.log       each task's output, attempt after attempt
//!       <task id>.diff.txt       a pulumi-preview task's diff, as shown to the operator
//!       <task id>.plan.json      its saved plan (`pulumi preview --save-plan`), 0600
//!       <task id>.plan.sha256    the plan's digest: `pulumi up --plan` runs only that plan
//!     sandbox/                   a rehearsal's simulated world (rehearsals only)
//! ```
//!
//! Rehearsals keep the same tree under their own state directory,
//! `.planrun/rehearsal/` beside the plan ([`default_rehearsal_state_dir`]).
//!
//! Run ids sort by time: `20261126T063612Z-0a1b` (UTC start, then 4 random hex
//! digits). The `latest` file decides which run is the latest (two runs can start
//! within one second); without it, the greatest id is.

use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

/// The state directory's name beside the plan.
const STATE_DIR: &str = ".planrun";
/// Rehearsals' state directory, inside the state directory.
const REHEARSAL_DIR: &str = "rehearsal";
const LOCK_FILE: &str = "lock";
const LATEST_FILE: &str = "latest";
const TIMINGS_FILE: &str = "timings.json";
const RUNS_DIR: &str = "runs";
const SANDBOX_DIR: &str = "sandbox";
const JOURNAL_FILE: &str = "journal";
const EVENTS_FILE: &str = "events.jsonl";
const REPORT_FILE: &str = "report.md";
const LOGS_DIR: &str = "logs";

/// The state directory used when `--state-dir` is not given: `.planrun` beside the
/// plan file.
pub fn default_state_dir(plan_path: &Path) -> PathBuf {
    match plan_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(STATE_DIR),
        _ => PathBuf::from(STATE_DIR),
    }
}

/// The state directory of rehearsals when `--state-dir` is not given:
/// `.planrun/rehearsal` beside the plan file, apart from real runs.
pub fn default_rehearsal_state_dir(plan_path: &Path) -> PathBuf {
    default_state_dir(plan_path).join(REHEARSAL_DIR)
}

/// One plan's state: `<state dir>/<plan name>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanDir {
    path: PathBuf,
    plan_name: String,
}

impl PlanDir {
    /// The directory of plan `plan_name` under `state_dir`.
    pub fn new(state_dir: &Path, plan_name: &str) -> Self {
        Self {
            path: state_dir.join(path_component(plan_name)),
            plan_name: plan_name.to_owned(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn plan_name(&self) -> &str {
        &self.plan_name
    }

    /// The lock file held while a planrun process runs the plan.
    pub fn lock_path(&self) -> PathBuf {
        self.path.join(LOCK_FILE)
    }

    /// The file naming the latest run.
    pub fn latest_path(&self) -> PathBuf {
        self.path.join(LATEST_FILE)
    }

    /// Where the next `latest` is written before it is renamed into place.
    pub fn latest_tmp_path(&self) -> PathBuf {
        self.path.join(format!("{LATEST_FILE}.tmp"))
    }

    /// The durations of the plan's last runs, task by task.
    pub fn timings_path(&self) -> PathBuf {
        self.path.join(TIMINGS_FILE)
    }

    /// Where the next `timings.json` is written before it is renamed into place.
    pub fn timings_tmp_path(&self) -> PathBuf {
        self.path.join(format!("{TIMINGS_FILE}.tmp"))
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.path.join(RUNS_DIR)
    }

    /// The directory of run `run_id`.
    pub fn run(&self, run_id: &str) -> RunDir {
        RunDir {
            path: self.runs_dir().join(run_id),
            run_id: run_id.to_owned(),
        }
    }

    /// A rehearsal's simulated world (kubeconfig, tools, saved cluster).
    pub fn sandbox_dir(&self) -> PathBuf {
        self.path.join(SANDBOX_DIR)
    }
}

/// One run's directory: `<plan dir>/runs/<run id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
    run_id: String,
}

impl RunDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn journal_path(&self) -> PathBuf {
        self.path.join(JOURNAL_FILE)
    }

    pub fn events_path(&self) -> PathBuf {
        self.path.join(EVENTS_FILE)
    }

    pub fn report_path(&self) -> PathBuf {
        self.path.join(REPORT_FILE)
    }

    /// Where the next report is written before it is renamed into place.
    pub fn report_tmp_path(&self) -> PathBuf {
        self.path.join(format!("{REPORT_FILE}.tmp"))
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.path.join(LOGS_DIR)
    }

    /// The log file of a task.
    pub fn log_path(&self, task_id: &str) -> PathBuf {
        self.path.join(log_path_in_run(task_id))
    }
}

/// A task's log file relative to its run directory: `logs/<task id>.log`.
pub fn log_path_in_run(task_id: &str) -> PathBuf {
    Path::new(LOGS_DIR).join(format!("{}.log", path_component(task_id)))
}

/// The files a `pulumi-preview` task leaves in its run directory, relative to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewFiles {
    /// The diff as `pulumi preview --diff` showed it.
    pub diff: PathBuf,
    /// The plan `pulumi preview --save-plan` wrote.
    pub plan: PathBuf,
    /// The SHA-256 of the plan, written when the preview succeeded.
    pub digest: PathBuf,
}

impl PreviewFiles {
    pub fn of(task_id: &str) -> Self {
        let name = path_component(task_id);
        Self {
            diff: PathBuf::from(format!("{name}.diff.txt")),
            plan: PathBuf::from(format!("{name}.plan.json")),
            digest: PathBuf::from(format!("{name}.plan.sha256")),
        }
    }

    /// The same files under `run_dir`.
    pub fn under(&self, run_dir: &Path) -> Self {
        Self {
            diff: run_dir.join(&self.diff),
            plan: run_dir.join(&self.plan),
            digest: run_dir.join(&self.digest),
        }
    }
}

/// A new run id for a run starting at `now`: `YYYYMMDDTHHMMSSZ-xxxx`.
pub fn new_run_id(now: Timestamp) -> String {
    let salt = RandomState::new().hash_one((std::process::id(), now.as_nanosecond()));
    format!("{}-{:04x}", now.strftime("%Y%m%dT%H%M%SZ"), salt & 0xffff)
}

/// A name (a plan's, a task's) made safe as one path component: anything but ASCII
/// letters, digits, `-`, `_` and `.` becomes `_`, and ``, `.` and `..` get a
/// leading `_`.
fn path_component(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if matches!(out.as_str(), "" | "." | "..") {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_time() {
        let a = new_run_id("2026-11-26T06:36:12Z".parse().unwrap());
        let b = new_run_id("2026-11-26T06:36:13Z".parse().unwrap());
        assert!(a.starts_with("20261126T063612Z-"), "{a}");
        assert_eq!(a.len(), "20261126T063612Z-0a1b".len());
        assert!(a < b);
    }

    #[test]
    fn names_become_safe_path_components() {
        assert_eq!(path_component("flux-rebuild"), "flux-rebuild");
        assert_eq!(path_component("a/b c"), "a_b_c");
        assert_eq!(path_component(".."), "_..");
        assert_eq!(path_component(""), "_");
    }

    #[test]
    fn layout() {
        let state = Path::new("/s");
        let plan = PlanDir::new(state, "flux/rebuild");
        assert_eq!(plan.path(), Path::new("/s/flux_rebuild"));
        assert_eq!(plan.lock_path(), Path::new("/s/flux_rebuild/lock"));
        let run = plan.run("r1");
        assert_eq!(run.path(), Path::new("/s/flux_rebuild/runs/r1"));
        assert_eq!(run.journal_path(), run.path().join("journal"));
        assert_eq!(run.log_path("a b"), run.path().join("logs/a_b.log"));
        assert_eq!(log_path_in_run("t"), Path::new("logs/t.log"));
        assert_eq!(
            default_state_dir(Path::new("plans/p.toml")),
            Path::new("plans/.planrun")
        );
        assert_eq!(
            default_state_dir(Path::new("p.toml")),
            Path::new(".planrun")
        );
        assert_eq!(
            default_rehearsal_state_dir(Path::new("plans/p.toml")),
            Path::new("plans/.planrun/rehearsal")
        );
    }
}
