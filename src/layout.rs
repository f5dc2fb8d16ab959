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
//!       kube/kubeconfig          children's current context, while the run goes (0700/0600)
//!     sandbox/                   a rehearsal's simulated world (rehearsals only)
//!     sandbox.previous/          the world before it, kept until the next run begins
//!     rehearsal.lock             held by the planrun process rehearsing the plan
//! ```
//!
//! Rehearsals keep the same tree under their own state directory,
//! `.planrun/rehearsal/` beside the plan ([`default_rehearsal_state_dir`]).
//!
//! Run ids sort by time: `20261126T063612Z-0a1b` (UTC start, then 4 random hex
//! digits). The `latest` file decides which run is the latest (two runs can start
//! within one second); without it, the greatest id is.
//!
//! What planrun keeps is private: the directories it creates are 0700
//! ([`create_private_dir`]), its files 0600, and it never writes through a
//! symbolic link planted where one of its files goes ([`open_private`]): the lock,
//! the journal, `latest`, `events.jsonl`, `report.md` and the task logs.

use std::fs::File;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
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
const SANDBOX_PREVIOUS_DIR: &str = "sandbox.previous";
const REHEARSAL_LOCK_FILE: &str = "rehearsal.lock";
const JOURNAL_FILE: &str = "journal";
const EVENTS_FILE: &str = "events.jsonl";
const REPORT_FILE: &str = "report.md";
const LOGS_DIR: &str = "logs";
const CHILD_KUBE_DIR: &str = "kube";

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
    rehearsal_state_dir(&default_state_dir(plan_path))
}

/// Where rehearsals keep their runs beside the real runs of `state_dir`.
pub fn rehearsal_state_dir(state_dir: &Path) -> PathBuf {
    state_dir.join(REHEARSAL_DIR)
}

/// How [`open_private`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// Created if missing, written at its end.
    Append,
    /// Created if missing, emptied.
    Truncate,
    /// Created if missing, read and written as it is (the lock).
    ReadWrite,
}

/// Opens a file planrun writes under its state directory: created with mode 0600,
/// never through a symbolic link (`O_NOFOLLOW`): a symlink there is refused with
/// an error naming it, and nothing is written to where it points.
pub fn open_private(path: &Path, how: Open) -> io::Result<File> {
    let mut options = File::options();
    options
        .create(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW);
    match how {
        Open::Append => options.append(true),
        Open::Truncate => options.write(true).truncate(true),
        Open::ReadWrite => options.read(true).write(true).truncate(false),
    };
    options.open(path).map_err(|e| {
        if e.raw_os_error() == Some(nix::libc::ELOOP) {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is a symbolic link; planrun does not write through links in its state directory (remove it)",
                    path.display()
                ),
            )
        } else {
            e
        }
    })
}

/// Replaces `path` with `bytes`, atomically and durably: written beside it to a
/// temporary file (0600, never through a link), synced, renamed over `path` (a link
/// there is replaced, not followed), and the directory synced. A reader sees the
/// old content or the new, never part of it.
pub fn replace_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, true)
}

/// [`replace_private`] without the syncs, for a cache: a reader still sees the old
/// content or the new, but a power loss may take the new back, or leave the file
/// empty.
pub fn replace_private_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, false)
}

fn replace(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    use std::io::Write;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    {
        let mut file = open_private(&tmp, Open::Truncate)?;
        // The umask cannot widen 0600, but an inherited ACL could: set it again.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)?;
    if !durable {
        return Ok(());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Creates `path` and its missing parents with mode 0700; an existing `path` that
/// is wider is narrowed to 0700 (only the owner reads runs: logs and reports may
/// name what a plan touches).
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)?;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() && meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
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

    /// The durations of the plan's last runs, task by task.
    pub fn timings_path(&self) -> PathBuf {
        self.path.join(TIMINGS_FILE)
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

    /// The simulated world a new rehearsal replaced, kept until its run begins.
    pub fn sandbox_previous_dir(&self) -> PathBuf {
        self.path.join(SANDBOX_PREVIOUS_DIR)
    }

    /// The lock file held while a planrun process rehearses the plan (beside the
    /// plan lock its run takes).
    pub fn rehearsal_lock_path(&self) -> PathBuf {
        self.path.join(REHEARSAL_LOCK_FILE)
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

    pub fn logs_dir(&self) -> PathBuf {
        self.path.join(LOGS_DIR)
    }

    /// The log file of a task.
    pub fn log_path(&self, task_id: &str) -> PathBuf {
        self.path.join(log_path_in_run(task_id))
    }

    /// The private directory holding the kubeconfig children get while the run goes.
    pub fn child_kube_dir(&self) -> PathBuf {
        self.path.join(CHILD_KUBE_DIR)
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
    fn files_are_private_and_symlinks_refused() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("a/runs/r1");
        create_private_dir(&run).unwrap();
        for d in [dir.path().join("a"), dir.path().join("a/runs"), run.clone()] {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
        let report = run.join("report.md");
        open_private(&report, Open::Truncate).unwrap();
        let mode = std::fs::metadata(&report).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A symlink planted where a file goes: refused, its target untouched.
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let lock = dir.path().join("a/lock");
        std::os::unix::fs::symlink(&target, &lock).unwrap();
        for how in [Open::Append, Open::Truncate, Open::ReadWrite] {
            let e = open_private(&lock, how).unwrap_err();
            assert!(e.to_string().contains("is a symbolic link"), "{e}");
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        // A wider existing directory is narrowed.
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&run).unwrap();
        let mode = std::fs::metadata(&run).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
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
