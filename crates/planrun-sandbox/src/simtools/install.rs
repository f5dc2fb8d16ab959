//! Putting the stand-ins on `PATH`: symlinks named after the tools, pointing at the
//! `planrun` executable, which dispatches on the name it was started under.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

/// The tools `planrun` can stand in for.
pub const TOOLS: [&str; 3] = ["pulumi", "pnpm", "flux"];

/// The simulated tool `argv0` names (by file name), if any.
pub fn tool_of_argv0(argv0: &OsStr) -> Option<&'static str> {
    let name = Path::new(argv0).file_name()?.to_str()?;
    TOOLS.into_iter().find(|t| *t == name)
}

/// Creates `dir` (if needed) with symlinks `pulumi`, `pnpm` and `flux` to `planrun`
/// (the path of the `planrun` executable; [`std::env::current_exe`] from within it).
/// Returns `dir`, to put first on `PATH`. Existing links are replaced.
pub fn install(dir: &Path, planrun: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let target = std::fs::canonicalize(planrun)?;
    for tool in TOOLS {
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
        assert_eq!(tool_of_argv0(OsStr::new("/x/y/pulumi")), Some("pulumi"));
        assert_eq!(tool_of_argv0(OsStr::new("flux")), Some("flux"));
        assert_eq!(tool_of_argv0(OsStr::new("/bin/planrun")), None);
        assert_eq!(tool_of_argv0(OsStr::new("pulumi-language-nodejs")), None);
    }

    #[test]
    fn links_every_tool_and_replaces_old_links() {
        let tmp = tempfile::tempdir().unwrap();
        let exe = tmp.path().join("planrun");
        std::fs::write(&exe, "").unwrap();
        let dir = tmp.path().join("bin");
        install(&dir, &exe).unwrap();
        install(&dir, &exe).unwrap();
        for tool in TOOLS {
            assert_eq!(
                std::fs::read_link(dir.join(tool)).unwrap(),
                std::fs::canonicalize(&exe).unwrap()
            );
        }
    }
}
