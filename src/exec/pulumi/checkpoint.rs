//! A self-managed backend's checkpoint left unreadable by an update killed while
//! it saved the stack.
//!
//! Rules, from the real code (pulumi/pulumi `pkg/backend/diy/state.go`
//! `saveCheckpoint`, `pkg/backend/diy/store.go` `StackBasePath`; gocloud.dev
//! `blob/fileblob/fileblob.go` `writerWithSidecar.Close`, `attrs.go` `setAttrs`,
//! `getAttrs`):
//! - The checkpoint of stack `S` of project `P` is `.pulumi/stacks/P/S.json`
//!   (`.pulumi/stacks/S.json` on a backend without projects), `.gz` or `.zst`
//!   appended when compressed.
//! - Beside it, `<checkpoint>.attrs` holds its metadata (content type, MD5).
//!   Each save writes the new checkpoint to a temporary file, then truncates
//!   and rewrites the `.attrs` file in place, then renames the temporary file
//!   over the checkpoint. A kill between the truncation and the end of the
//!   write leaves the `.attrs` file empty or cut short, and the checkpoint
//!   whole: the state saved before, or the one being saved.
//! - Reading the checkpoint reads the `.attrs` file first; a missing one is
//!   fine, an unreadable one fails every command on the stack with `failed to
//!   load checkpoint: EOF` (measured with the real pulumi 3.276: `stack
//!   export`, `up`). Removing the damaged file makes the stack readable again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::argv;
use super::capture::capture;
use super::config::project_name;
use super::error::{PulumiError, strip_error};
use super::pending::backend_root;
use crate::cancel::Cancel;
use crate::validate::PulumiProject;

/// Longest `pulumi whoami` may take.
const WHOAMI_TIMEOUT: Duration = Duration::from_secs(60);

/// What the CLI says when it cannot read a stack's checkpoint.
pub(super) const UNREADABLE: &str = "failed to load checkpoint";

/// The metadata files of stack `stack`'s checkpoint under the backend directory
/// `root` that exist and cannot be read as JSON. `project` is the project's
/// name; `stack` may be fully qualified (`org/project/stack`).
pub(super) fn damaged_sidecars(root: &Path, project: Option<&str>, stack: &str) -> Vec<PathBuf> {
    let name = stack.rsplit('/').next().unwrap_or(stack);
    let stacks = root.join(".pulumi/stacks");
    let mut bases = Vec::new();
    if let Some(project) = project {
        bases.push(stacks.join(project).join(name));
    }
    bases.push(stacks.join(name));
    let mut out = Vec::new();
    for base in bases {
        for ext in [".json", ".json.gz", ".json.zst"] {
            let mut sidecar = base.clone().into_os_string();
            sidecar.push(ext);
            sidecar.push(".attrs");
            let sidecar = PathBuf::from(sidecar);
            let Ok(bytes) = std::fs::read(&sidecar) else {
                continue;
            };
            if serde_json::from_slice::<serde_json::Value>(&bytes).is_err() {
                out.push(sidecar);
            }
        }
    }
    out
}

/// When the CLI said (`stderr`) it cannot read the stack's checkpoint: the
/// metadata files found damaged, when the backend is a directory here (`pulumi
/// whoami`); none for any other failure.
pub(super) async fn damage(
    task: &PulumiProject,
    binary: &Path,
    env: &[(String, String)],
    cancel: Option<&Cancel>,
    stderr: &[String],
) -> Vec<PathBuf> {
    if !stderr.iter().any(|l| l.contains(UNREADABLE)) {
        return Vec::new();
    }
    capture(
        binary,
        &argv::whoami(task),
        &task.cwd,
        env,
        WHOAMI_TIMEOUT,
        cancel,
    )
    .await
    .ok()
    .filter(|out| out.status.success())
    .and_then(|out| backend_root(&out.stdout))
    .map(|root| damaged_sidecars(&root, project_name(&task.cwd).as_deref(), &task.stack))
    .unwrap_or_default()
}

/// The error for a checkpoint the CLI said (`stderr`) it cannot read, naming the
/// `damaged` metadata files when they are known; `None` for any other failure.
pub(super) fn error(stack: &str, stderr: &[String], damaged: &[PathBuf]) -> Option<PulumiError> {
    let detail = stderr.iter().find(|l| l.contains(UNREADABLE))?;
    let stack = stack.to_owned();
    Some(if damaged.is_empty() {
        PulumiError::CheckpointUnreadable {
            stack,
            detail: strip_error(detail),
        }
    } else {
        PulumiError::DamagedCheckpoint {
            stack,
            files: damaged.to_vec(),
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stack_dir(root: &Path) -> PathBuf {
        let dir = root.join(".pulumi/stacks/flux");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_empty_or_cut_short_sidecar_is_damaged_a_whole_or_missing_one_is_not() {
        let root = tempfile::tempdir().unwrap();
        let dir = stack_dir(root.path());
        std::fs::write(dir.join("prod.json"), "{}").unwrap();
        assert!(damaged_sidecars(root.path(), Some("flux"), "prod").is_empty());
        std::fs::write(
            dir.join("prod.json.attrs"),
            r#"{"user.content_type":"application/octet-stream"}"#,
        )
        .unwrap();
        assert!(damaged_sidecars(root.path(), Some("flux"), "prod").is_empty());
        for cut in ["", r#"{"user.content_ty"#] {
            std::fs::write(dir.join("prod.json.attrs"), cut).unwrap();
            assert_eq!(
                damaged_sidecars(root.path(), Some("flux"), "organization/flux/prod"),
                vec![dir.join("prod.json.attrs")]
            );
        }
        // Another stack's damage is not this one's.
        assert!(damaged_sidecars(root.path(), Some("flux"), "dev").is_empty());
    }

    #[test]
    fn compressed_and_project_less_checkpoints_are_looked_at_too() {
        let root = tempfile::tempdir().unwrap();
        let dir = stack_dir(root.path());
        std::fs::write(dir.join("prod.json.gz.attrs"), "").unwrap();
        std::fs::write(root.path().join(".pulumi/stacks/prod.json.attrs"), "").unwrap();
        assert_eq!(
            damaged_sidecars(root.path(), Some("flux"), "prod"),
            vec![
                dir.join("prod.json.gz.attrs"),
                root.path().join(".pulumi/stacks/prod.json.attrs")
            ]
        );
        assert_eq!(
            damaged_sidecars(root.path(), None, "prod"),
            vec![root.path().join(".pulumi/stacks/prod.json.attrs")]
        );
    }
}
