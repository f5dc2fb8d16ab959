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
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::error::RehearseError;
use planrun::layout::{self, PlanDir};

/// The paths of one plan's rehearsal.
#[derive(Debug, Clone)]
pub struct World {
    pub state_dir: PathBuf,
    pub dir: PathBuf,
}

impl World {
    pub fn new(state_dir: &Path, plan_name: &str) -> Self {
        let state_dir = super::spec::absolute(state_dir);
        let dir = PlanDir::new(&state_dir, plan_name).sandbox_dir();
        Self { state_dir, dir }
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

    /// A fresh world: the old one removed, the repository template copied.
    pub fn reset(&self, template: Option<&Path>) -> Result<(), RehearseError> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(e)),
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
