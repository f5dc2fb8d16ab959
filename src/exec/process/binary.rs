//! Where a program is: the one lookup of an executable by path or on `PATH`, for
//! every task that starts a tool (scripts' shell, pulumi, flux...).

use std::path::{Path, PathBuf};

/// Where `binary` is: a path as given (if it has a `/`), else the first executable
/// of that name on `PATH`.
pub fn resolve_binary(binary: &str) -> Option<PathBuf> {
    if binary.contains('/') {
        let path = PathBuf::from(binary);
        return is_executable(&path).then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_programs_on_path_and_by_path_only_when_executable() {
        let sh = resolve_binary("sh").unwrap();
        assert!(sh.is_absolute());
        assert_eq!(resolve_binary(sh.to_str().unwrap()), Some(sh.clone()));
        assert!(resolve_binary("planrun-surely-not-installed").is_none());
        let tmp = tempfile::tempdir().unwrap();
        let plain = tmp.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        assert!(resolve_binary(plain.to_str().unwrap()).is_none());
        assert!(resolve_binary(tmp.path().to_str().unwrap()).is_none());
    }
}
