//! Putting the stand-ins on `PATH`: symlinks named after the tools, pointing at the
//! `planrun` executable, which dispatches on the name it was started under.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

/// The tools `planrun` can stand in for.
pub const TOOLS: [&str; 3] = ["pulumi", "pnpm", "flux"];

/// The environment variable listing the other commands simulated here
/// (comma-separated), set where they are installed.
pub const COMMANDS_ENV: &str = "PLANRUN_SIM_COMMANDS";

/// The simulated tool `argv0` names (by file name), if any: one of [`TOOLS`], or a
/// command [`COMMANDS_ENV`] lists.
pub fn tool_of_argv0(argv0: &OsStr) -> Option<String> {
    let name = Path::new(argv0).file_name()?.to_str()?;
    if TOOLS.contains(&name) {
        return Some(name.to_owned());
    }
    let listed = std::env::var(COMMANDS_ENV).unwrap_or_default();
    listed
        .split(',')
        .any(|c| !c.is_empty() && c == name && name != "planrun")
        .then(|| name.to_owned())
}

/// Creates `dir` (if needed) with symlinks `pulumi`, `pnpm`, `flux` and each of
/// `commands` to `planrun` (the path of the `planrun` executable;
/// [`std::env::current_exe`] from within it). Returns `dir`, to put first on
/// `PATH` (with [`COMMANDS_ENV`] listing `commands`). Existing links are replaced.
pub fn install(dir: &Path, planrun: &Path, commands: &[String]) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let target = std::fs::canonicalize(planrun)?;
    for tool in TOOLS
        .iter()
        .copied()
        .chain(commands.iter().map(String::as_str))
    {
        let link = dir.join(tool);
        match std::fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::os::unix::fs::symlink(&target, &link)?;
    }
    Ok(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_tools_by_file_name_only() {
        assert_eq!(
            tool_of_argv0(OsStr::new("/x/y/pulumi")).as_deref(),
            Some("pulumi")
        );
        assert_eq!(tool_of_argv0(OsStr::new("flux")).as_deref(), Some("flux"));
        assert_eq!(tool_of_argv0(OsStr::new("/bin/planrun")), None);
        assert_eq!(tool_of_argv0(OsStr::new("pulumi-language-nodejs")), None);
    }

    #[test]
    fn links_every_tool_and_replaces_old_links() {
        let tmp = tempfile::tempdir().unwrap();
        let exe = tmp.path().join("planrun");
        std::fs::write(&exe, "").unwrap();
        let dir = tmp.path().join("bin");
        install(&dir, &exe, &[]).unwrap();
        install(&dir, &exe, &["helm".to_owned()]).unwrap();
        for tool in TOOLS {
            assert_eq!(
                std::fs::read_link(dir.join(tool)).unwrap(),
                std::fs::canonicalize(&exe).unwrap()
            );
        }
    }
}
