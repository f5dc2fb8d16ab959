//! Files the sandbox writes that may hold secrets (a kubeconfig, the saved cluster
//! with its Secrets): replaced atomically and durably, mode 0600.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Replaces `path` with `bytes`: written beside it to a fresh temporary file (0600),
/// synced, renamed over `path` (a link planted there is replaced, never written
/// through), and the directory synced. A reader sees the old content or the new.
pub fn replace_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".planrun-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_data()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}
