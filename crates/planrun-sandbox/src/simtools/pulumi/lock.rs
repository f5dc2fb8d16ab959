//! The self-managed ("diy") backend's stack lock, as pulumi/pulumi v3.259.0
//! `pkg/backend/diy/lock.go` keeps it: while an update or a refresh runs, a file
//! `.pulumi/locks/<org>/<project>/<stack>/<lock id>.json` under the backend's root
//! (the `organization` org for project-scoped stacks) holding `{"pid", "username",
//! "hostname", "timestamp"}`; removed when the operation ends, even by Ctrl-C, and
//! left behind when the CLI is killed. Another operation on the stack then fails
//! with the lock's path and owner (`checkForLock`), until `pulumi cancel` removes
//! it. The backend's root here is the tools' state directory (`pulumi whoami
//! --json` gives it as `file://...`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a lock file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LockContent {
    pid: u32,
    username: String,
    hostname: String,
    timestamp: String,
}

/// The stack's lock directory.
fn dir(root: &Path, project: &str, stack: &str) -> PathBuf {
    root.join(".pulumi/locks/organization")
        .join(project)
        .join(stack)
}

/// Takes the stack's lock; fails as `checkForLock` does when another holds it.
/// Returns the lock file to release.
pub fn acquire(root: &Path, project: &str, stack: &str) -> Result<PathBuf, String> {
    let dir = dir(root, project, stack);
    let held: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    if !held.is_empty() {
        let mut message = format!(
            "the stack is currently locked by {} lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.",
            held.len()
        );
        for path in &held {
            let content: Option<LockContent> = std::fs::read(path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            if let Some(l) = content {
                message.push_str(&format!(
                    "\n  file://{}: created by {}@{} (pid {}) at {}",
                    path.display(),
                    l.username,
                    l.hostname,
                    l.pid,
                    l.timestamp
                ));
            }
        }
        return Err(message);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("could not lock the stack: {e}"))?;
    let content = LockContent {
        pid: std::process::id(),
        username: std::env::var("USER").unwrap_or_else(|_| "planrun".into()),
        hostname: nix_hostname(),
        timestamp: jiff::Timestamp::now().to_string(),
    };
    let id = format!(
        "{:08x}",
        crc32fast::hash(content.timestamp.as_bytes()) ^ content.pid
    );
    let path = dir.join(format!("{id}.json"));
    let text = serde_json::to_vec(&content).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("could not lock the stack: {e}"))?;
    Ok(path)
}

/// Releases a lock [`acquire`] took.
pub fn release(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// `pulumi cancel` on a self-managed backend: removes the stack's locks.
pub fn cancel(root: &Path, project: &str, stack: &str) -> usize {
    let dir = dir(root, project, stack);
    let mut removed = 0;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            if std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

fn nix_hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}
