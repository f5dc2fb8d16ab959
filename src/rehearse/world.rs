//! Where a rehearsal keeps its simulated world, apart from real runs:
//!
//! ```text
//! <state dir>/                       default: .planrun/rehearsal beside the plan
//!   <plan>/runs/<run id>/            the runs (journal, logs, report), as for `planrun run`
//!   <plan>/sandbox/kubeconfig        context = the plan's guard context
//!   <plan>/sandbox/bin/              pulumi, pnpm, flux -> planrun; planrun-sim.yaml
//!   <plan>/sandbox/tools.log         every simulated tool invocation (JSON Lines)
//!   <plan>/sandbox/tools-state/      what the tools keep (pulumi/<stack>.json: the stack's state)
//!   <plan>/sandbox/repo/             the copy of the repository template
//!   <plan>/sandbox/plan/             without a template: the copy of the plan's directory
//!   <plan>/sandbox/cluster.json      the sandbox's objects, saved while the run goes
//!   <plan>/sandbox.previous/         the world a new rehearsal replaced, until its run begins
//!   <plan>/rehearsal.lock            held by the rehearsing planrun process
//! ```
//!
//! A rehearsal that starts afresh sets the world of the one before aside rather than
//! removing it: its run may still be refused before it begins (a missing secret, a
//! failed preflight), and then the world goes back where it was, so that a
//! `--resume` of the earlier run finds that run's cluster and tools' state. Once the
//! new run has begun, the world set aside is removed. A rehearsal killed in between
//! leaves it set aside, with the plan's latest run at that moment written in it
//! ([`SET_ASIDE_MARK`]): the next rehearsal puts it back if no run began since.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::error::RehearseError;
use planrun::layout::{self, PlanDir};

/// The file in a world set aside that names the plan's latest run when it was set
/// aside (empty: there was none).
const SET_ASIDE_MARK: &str = ".latest-run-when-set-aside";

/// The paths of one plan's rehearsal.
#[derive(Debug, Clone)]
pub struct World {
    pub state_dir: PathBuf,
    pub dir: PathBuf,
    /// The world set aside by [`reset`](Self::reset).
    previous: PathBuf,
}

impl World {
    pub fn new(state_dir: &Path, plan_name: &str) -> Self {
        let state_dir = super::spec::absolute(state_dir);
        let plan_dir = PlanDir::new(&state_dir, plan_name);
        Self {
            state_dir,
            dir: plan_dir.sandbox_dir(),
            previous: plan_dir.sandbox_previous_dir(),
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    pub fn bin(&self) -> PathBuf {
        self.dir.join("bin")
    }

    pub fn behaviour(&self) -> PathBuf {
        self.bin().join(planrun_sandbox::simtools::CONFIG_FILE)
    }

    pub fn tools_log(&self) -> PathBuf {
        self.dir.join("tools.log")
    }

    pub fn tools_state(&self) -> PathBuf {
        self.dir.join("tools-state")
    }

    pub fn repo(&self) -> PathBuf {
        self.dir.join("repo")
    }

    pub fn cluster(&self) -> PathBuf {
        self.dir.join("cluster.json")
    }

    /// Where the plan's directory is copied when the rehearsal file names no
    /// repository template.
    pub fn plan_copy(&self) -> PathBuf {
        self.dir.join("plan")
    }

    /// Copies the plan's directory, `from`, into [`plan_copy`](Self::plan_copy),
    /// leaving out state directories, version control and build output
    /// ([`NOT_COPIED`]) and `also_skip` (the rehearsal's own state directory).
    /// Symbolic links are copied as what they point to, so nothing in the copy leads
    /// back to the real files. More than [`COPY_LIMIT`] bytes is refused.
    pub fn copy_plan_dir(&self, from: &Path, also_skip: &Path) -> Result<(), RehearseError> {
        let mut copy = Copy {
            skip: std::fs::canonicalize(also_skip).ok(),
            bytes: 0,
            visited: BTreeSet::new(),
        };
        copy.dir(from, &self.plan_copy())
            .map_err(|source| RehearseError::PlanCopy {
                path: from.to_path_buf(),
                source,
            })
    }

    fn io(&self, source: std::io::Error) -> RehearseError {
        RehearseError::Prepare {
            path: self.dir.clone(),
            source,
        }
    }

    /// A fresh world, the repository template copied: the old one set aside until
    /// [`finish`](Self::finish), marked with `latest`, the plan's latest run now.
    /// Call [`settle`](Self::settle) first.
    pub fn reset(
        &self,
        template: Option<&Path>,
        latest: Option<&str>,
    ) -> Result<(), RehearseError> {
        remove_dir(&self.previous).map_err(|e| self.io(e))?;
        if self.dir.is_dir() {
            // Marked before it moves, so that a world set aside always has its mark.
            let mark = self.dir.join(SET_ASIDE_MARK);
            layout::replace_private(&mark, latest.unwrap_or_default().as_bytes())
                .map_err(|e| self.io(e))?;
            std::fs::rename(&self.dir, &self.previous).map_err(|e| self.io(e))?;
        }
        layout::create_private_dir(&self.dir).map_err(|e| self.io(e))?;
        if let Some(template) = template {
            copy_dir(template, &self.repo()).map_err(|source| RehearseError::Prepare {
                path: template.to_path_buf(),
                source,
            })?;
        }
        Ok(())
    }

    /// Ends what [`reset`](Self::reset) began: once the new world's run has begun,
    /// the world set aside is removed; if it never began, the old world goes back.
    /// Returns whether it went back.
    pub fn finish(&self, began: bool) -> Result<bool, RehearseError> {
        if !self.previous.is_dir() {
            return Ok(false);
        }
        if began {
            remove_dir(&self.previous).map_err(|e| self.io(e))?;
            return Ok(false);
        }
        remove_dir(&self.dir).map_err(|e| self.io(e))?;
        std::fs::rename(&self.previous, &self.dir).map_err(|e| self.io(e))?;
        remove_file(&self.dir.join(SET_ASIDE_MARK)).map_err(|e| self.io(e))?;
        Ok(true)
    }

    /// Finishes what a rehearsal killed after [`reset`](Self::reset) left: its run
    /// began if the plan's latest run, `latest`, is no longer the one marked.
    /// Returns whether the old world went back.
    pub fn settle(&self, latest: Option<&str>) -> Result<bool, RehearseError> {
        let marked = match std::fs::read_to_string(self.previous.join(SET_ASIDE_MARK)) {
            Ok(marked) => Some(marked),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(self.io(e)),
        };
        // Without its mark it was not set aside by a rehearsal: not a world to keep.
        let began = marked.is_none_or(|m| m != latest.unwrap_or_default());
        self.finish(began)
    }

    /// The simulated tools on their own `PATH` entry, with their behaviour.
    /// Returns the other commands it simulates (`tools.commands`), for
    /// `PLANRUN_SIM_COMMANDS`.
    pub fn install_tools(&self, behaviour_yaml: &str) -> Result<Vec<String>, RehearseError> {
        let exe = std::env::current_exe().map_err(|e| self.io(e))?;
        let commands: Vec<String> =
            serde_yaml::from_str::<planrun_sandbox::simtools::Behaviour>(behaviour_yaml)
                .map(|b| b.commands.into_keys().collect())
                .unwrap_or_default();
        planrun_sandbox::simtools::install(&self.bin(), &exe, &commands).map_err(|e| self.io(e))?;
        // Private: it holds the stack's config, secrets included.
        let mut file = layout::open_private(&self.behaviour(), layout::Open::Truncate)
            .map_err(|e| self.io(e))?;
        std::io::Write::write_all(&mut file, behaviour_yaml.as_bytes()).map_err(|e| self.io(e))?;
        Ok(commands)
    }

    /// `PATH` for the run: the simulated tools first.
    pub fn path_env(&self) -> std::ffi::OsString {
        let mut entries = vec![self.bin()];
        if let Some(path) = std::env::var_os("PATH") {
            entries.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(entries).unwrap_or_else(|_| self.bin().into_os_string())
    }
}

/// Names a copy of the plan's directory leaves out: planrun's state, version
/// control, build output and installed packages.
pub const NOT_COPIED: &[&str] = &[".planrun", ".git", "target", "node_modules"];

/// Most bytes a copy of the plan's directory may hold.
pub const COPY_LIMIT: u64 = 256 * 1024 * 1024;

/// A copy of a directory tree in progress.
struct Copy {
    skip: Option<PathBuf>,
    bytes: u64,
    /// Directories copied, canonical: a link back up the tree is not followed twice.
    visited: BTreeSet<PathBuf>,
}

impl Copy {
    fn dir(&mut self, from: &Path, to: &Path) -> std::io::Result<()> {
        let canonical = std::fs::canonicalize(from)?;
        if self.skip.as_deref() == Some(canonical.as_path()) || !self.visited.insert(canonical) {
            return Ok(());
        }
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let name = entry.file_name();
            if NOT_COPIED.iter().any(|n| name == *n) {
                continue;
            }
            let source = entry.path();
            // Followed: a link is copied as what it points to.
            let meta = match std::fs::metadata(&source) {
                Ok(meta) => meta,
                // A dangling link has nothing to copy.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let target = to.join(&name);
            if meta.is_dir() {
                self.dir(&source, &target)?;
            } else if meta.is_file() {
                self.bytes += meta.len();
                if self.bytes > COPY_LIMIT {
                    return Err(std::io::Error::other(format!(
                        "more than {} MiB to copy",
                        COPY_LIMIT / 1024 / 1024
                    )));
                }
                std::fs::copy(&source, &target)?;
            }
        }
        Ok(())
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn remove_dir(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        done => done,
    }
}

fn remove_file(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        done => done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world_with(dir: &Path, file: &str) -> World {
        let world = World::new(dir, "p");
        std::fs::create_dir_all(&world.dir).unwrap();
        std::fs::write(world.cluster(), file).unwrap();
        world
    }

    fn cluster(world: &World) -> Option<String> {
        std::fs::read_to_string(world.cluster()).ok()
    }

    #[test]
    fn a_world_replaced_by_a_run_that_never_began_goes_back() {
        let dir = tempfile::tempdir().unwrap();
        let world = world_with(dir.path(), "earlier run's");
        world.reset(None, Some("run-1")).unwrap();
        assert_eq!(cluster(&world), None, "a fresh world");
        std::fs::write(world.cluster(), "refused run's").unwrap();
        assert!(world.finish(false).unwrap());
        assert_eq!(cluster(&world).as_deref(), Some("earlier run's"));
        assert!(!world.dir.join(SET_ASIDE_MARK).exists());
        assert!(!world.previous.exists());
    }

    #[test]
    fn a_world_replaced_by_a_run_that_began_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let world = world_with(dir.path(), "earlier run's");
        world.reset(None, None).unwrap();
        std::fs::write(world.cluster(), "new run's").unwrap();
        assert!(!world.finish(true).unwrap());
        assert_eq!(cluster(&world).as_deref(), Some("new run's"));
        assert!(!world.previous.exists());
        assert!(!world.finish(false).unwrap(), "nothing set aside any more");
        assert_eq!(cluster(&world).as_deref(), Some("new run's"));
    }

    #[test]
    fn after_a_kill_the_next_rehearsal_settles_by_the_latest_run() {
        let dir = tempfile::tempdir().unwrap();
        // Killed before its run began: the latest run is still the marked one.
        let world = world_with(dir.path(), "earlier run's");
        world.reset(None, Some("run-1")).unwrap();
        assert!(world.settle(Some("run-1")).unwrap());
        assert_eq!(cluster(&world).as_deref(), Some("earlier run's"));
        // Killed after: a newer run is the latest.
        world.reset(None, Some("run-1")).unwrap();
        std::fs::write(world.cluster(), "run-2's").unwrap();
        assert!(!world.settle(Some("run-2")).unwrap());
        assert_eq!(cluster(&world).as_deref(), Some("run-2's"));
        assert!(!world.previous.exists());
        // No run at all when set aside, none since.
        world.reset(None, None).unwrap();
        assert!(world.settle(None).unwrap());
        assert_eq!(cluster(&world).as_deref(), Some("run-2's"));
    }
}
