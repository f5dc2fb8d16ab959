//! What an interrupted update leaves in a stack, found before the next update:
//! the pending operations in its checkpoint (`pulumi stack export`:
//! `deployment.pending_operations`, each `{"resource": {"urn", "type", ...},
//! "type": "creating" | "updating" | "deleting" | "reading"}`, pulumi/pulumi
//! v3.259.0 `sdk/go/common/apitype/core.go` `DeploymentV3`, `OperationV2`) and,
//! on a self-managed backend, the lock file it held (`pkg/backend/diy/lock.go`:
//! `<backend>/.pulumi/locks/<org>/<project>/<stack>/<id>.json` holding `pid`,
//! `username`, `hostname`, `timestamp`; `organization` for project-scoped
//! stacks). The Pulumi Cloud keeps its own lock: an update then refuses with a
//! conflict, which the update's error already explains.
//!
//! Pulumi itself only warns about pending operations on the next update
//! (`pkg/resource/deploy/deployment_executor.go` `printPendingOperationsWarning`)
//! and says that clearing pending creates needs an interactive refresh; planrun
//! stops with the commands ([`OnPending::Stop`]) or runs them ([`OnPending::Refresh`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::argv;
use super::capture::{Captured, Stopped, capture};
use super::checkpoint;
use super::config::project_name;
use super::lock::LockHolder;
use crate::exec::{Attempt, TaskError};
use crate::validate::PulumiProject;

/// Longest `stack export` or `whoami` may take.
const INSPECT_TIMEOUT: Duration = Duration::from_secs(120);

/// How often `stack export` is tried when the CLI cannot read the checkpoint but its
/// metadata file is whole by the time planrun looks: another update was saving the
/// stack, whose save truncates and rewrites that file in place (see [`checkpoint`]);
/// read a moment later, the stack is readable (and its lock names that update).
const UNREADABLE_TRIES: u32 = 3;
/// The pause before such a try.
const UNREADABLE_PAUSE: Duration = Duration::from_millis(250);

/// An operation an interrupted update left pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PendingOp {
    pub urn: String,
    /// `creating`, `updating`, `deleting`, `reading`.
    pub kind: String,
    /// For a Kubernetes object, the provider's ID it would have (`namespace/name`,
    /// or `name`), from the inputs the operation started with.
    pub id: Option<String>,
}

/// A lock file a self-managed backend holds for the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HeldLock {
    pub path: PathBuf,
    /// Who holds it, when the file says.
    pub holder: Option<LockHolder>,
}

impl HeldLock {
    /// "created by user@host (pid N) at TIME", as the CLI says it.
    pub fn owner(&self) -> String {
        self.holder.as_ref().map_or_else(
            || "owner unreadable".to_owned(),
            |h| format!("created by {} (pid {}) at {}", h.by, h.pid, h.since),
        )
    }
}

/// What an interrupted update left in the stack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Leftovers {
    pub pending: Vec<PendingOp>,
    pub locks: Vec<HeldLock>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.locks.is_empty()
    }

    fn creates(&self) -> impl Iterator<Item = &PendingOp> {
        self.pending.iter().filter(|p| p.kind == "creating")
    }

    /// What was found, in words, one statement per line.
    pub fn describe(&self, stack: &str) -> String {
        let mut out = Vec::new();
        if !self.pending.is_empty() {
            out.push(format!(
                "stack {stack} has {} pending operation{} from an interrupted update:",
                self.pending.len(),
                if self.pending.len() == 1 { "" } else { "s" }
            ));
            for p in &self.pending {
                out.push(format!("  * {}, interrupted while {}", p.urn, p.kind));
            }
        }
        for l in &self.locks {
            out.push(format!(
                "stack {stack} is locked: {} ({})",
                l.path.display(),
                l.owner()
            ));
        }
        out.join("\n")
    }

    /// The commands that resolve what was found, in order, as a person would type
    /// them.
    pub fn commands(&self, task: &PulumiProject) -> Vec<String> {
        let base = format!(
            "--stack {} --cwd {}",
            planrun_text::shell_quote(&task.stack),
            planrun_text::shell_quote(&task.cwd.display().to_string())
        );
        let mut out = Vec::new();
        if !self.locks.is_empty() {
            out.push(format!("{} cancel {base} --yes", task.binary));
        }
        if !self.pending.is_empty() {
            out.push(format!(
                "{} refresh --clear-pending-creates {base} --yes",
                task.binary
            ));
        }
        out
    }

    /// The help of a stop: the commands, and what clearing a pending create means.
    pub fn help(&self, task: &PulumiProject, rerun: &str) -> String {
        let mut out = format!(
            "resolve it, then resume ({rerun}):\n  {}",
            self.commands(task).join("\n  ")
        );
        if self.creates().next().is_some() {
            out.push_str(
                "\n`--clear-pending-creates` drops the pending creates from the state: check first that \
                 each object is not in the cluster (the next update creates it); one that is, import \
                 instead of clearing:",
            );
            for op in self.creates() {
                out.push_str(&format!(
                    "\n  {} refresh --import-pending-creates {} {} --stack {} --cwd {} --yes",
                    task.binary,
                    planrun_text::shell_quote(&op.urn),
                    planrun_text::shell_quote(op.id.as_deref().unwrap_or("<ID>")),
                    planrun_text::shell_quote(&task.stack),
                    planrun_text::shell_quote(&task.cwd.display().to_string())
                ));
            }
        }
        out.push_str(
            "\nor set on_pending = \"refresh\" on the task to run these before the update",
        );
        out
    }
}

/// Reads the stack's checkpoint and, on a self-managed backend, its lock files.
pub(super) async fn inspect(
    task: &PulumiProject,
    binary: &Path,
    ctx: &Attempt,
) -> Result<Leftovers, TaskError> {
    let mut tries = 0;
    let export = loop {
        tries += 1;
        let out = match run(task, binary, ctx, &argv::stack_export(task), "stack export").await {
            Ok(export) => break export,
            Err(Failure::Exited(out)) => out,
            Err(Failure::Stopped(e)) => return Err(e),
        };
        let env = ctx.child_env();
        let damaged = checkpoint::damage(task, binary, env, Some(&ctx.cancel), &out.stderr).await;
        if saved_elsewhere(&out.stderr, &damaged) && tries < UNREADABLE_TRIES {
            tokio::select! {
                () = tokio::time::sleep(UNREADABLE_PAUSE) => continue,
                _ = ctx.cancel.cancelled() => {}
            }
        }
        return Err(
            match checkpoint::error(&task.stack, &out.stderr, &damaged) {
                Some(e) => TaskError::from_diagnostic(&e)
                    .map_text(|t| ctx.run.redactor.redact(t).into_owned()),
                None => failed("stack export", ctx, &out),
            },
        );
    };
    let mut found = Leftovers {
        pending: pending_operations(&export.stdout)
            .map_err(|e| TaskError::failed(format!("cannot read `pulumi stack export`: {e}")))?,
        locks: Vec::new(),
    };
    if let Some(root) = backend(task, binary, ctx).await?
        && let Some(project) = project_name(&task.cwd)
    {
        found.locks = locks(&root, &project, &task.stack);
    }
    Ok(found)
}

/// Whether a failed read of the checkpoint (`stderr`) met another update's save: the CLI
/// could not read it, and no metadata file is damaged now.
fn saved_elsewhere(stderr: &[String], damaged: &[PathBuf]) -> bool {
    damaged.is_empty() && stderr.iter().any(|l| l.contains(checkpoint::UNREADABLE))
}

/// The directory of the stack's backend when it is self-managed on this
/// machine (`file://`), from `pulumi whoami --json`.
async fn backend(
    task: &PulumiProject,
    binary: &Path,
    ctx: &Attempt,
) -> Result<Option<PathBuf>, TaskError> {
    let whoami = run(task, binary, ctx, &argv::whoami(task), "whoami")
        .await
        .map_err(|f| match f {
            Failure::Exited(out) => failed("whoami", ctx, &out),
            Failure::Stopped(e) => e,
        })?;
    Ok(backend_root(&whoami.stdout))
}

/// Why a `pulumi` command gave no answer.
enum Failure {
    /// It ran and failed: what it printed.
    Exited(Captured),
    /// It could not run, timed out or was cancelled.
    Stopped(TaskError),
}

/// A failed command, with what it printed on stderr, masked.
fn failed(what: &str, ctx: &Attempt, out: &Captured) -> TaskError {
    let said: Vec<&str> = out
        .stderr
        .iter()
        .map(String::as_str)
        .filter(|l| !l.trim().is_empty())
        .collect();
    TaskError::failed(format!(
        "`pulumi {what}` failed: {}",
        ctx.run.redactor.redact(&said.join(" "))
    ))
}

async fn run(
    task: &PulumiProject,
    binary: &Path,
    ctx: &Attempt,
    args: &[String],
    what: &str,
) -> Result<Captured, Failure> {
    let out = capture(
        binary,
        args,
        &task.cwd,
        ctx.child_env(),
        INSPECT_TIMEOUT,
        Some(&ctx.cancel),
    )
    .await
    .map_err(|stopped| match stopped {
        Stopped::Cancelled(reason) => TaskError::cancelled(reason),
        Stopped::Timeout => TaskError::failed(format!(
            "`pulumi {what}` did not answer within {}s",
            INSPECT_TIMEOUT.as_secs()
        )),
        Stopped::Spawn(e) => TaskError::failed(format!("cannot run `pulumi {what}`: {e}")),
    })
    .map_err(Failure::Stopped)?;
    if !out.status.success() {
        return Err(Failure::Exited(out));
    }
    Ok(out)
}

/// The pending operations of an exported checkpoint.
fn pending_operations(export: &str) -> Result<Vec<PendingOp>, String> {
    #[derive(Deserialize)]
    struct Export {
        #[serde(default)]
        deployment: Deployment,
    }
    #[derive(Deserialize, Default)]
    struct Deployment {
        #[serde(default)]
        pending_operations: Vec<Operation>,
    }
    #[derive(Deserialize)]
    struct Operation {
        resource: Resource,
        #[serde(rename = "type")]
        kind: String,
    }
    #[derive(Deserialize)]
    struct Resource {
        urn: String,
        #[serde(default)]
        inputs: serde_json::Value,
    }
    let export: Export = serde_json::from_str(export).map_err(|e| e.to_string())?;
    Ok(export
        .deployment
        .pending_operations
        .into_iter()
        .map(|op| {
            // pulumi-kubernetes names an object `namespace/name` (`name` when
            // cluster-scoped): pulumi/pulumi-kubernetes v4.32.0
            // provider/pkg/provider/util.go `fqObjName`.
            let meta = &op.resource.inputs["metadata"];
            let id = meta["name"]
                .as_str()
                .map(|name| match meta["namespace"].as_str() {
                    Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
                    _ => name.to_owned(),
                });
            PendingOp {
                urn: op.resource.urn,
                kind: op.kind,
                id,
            }
        })
        .collect())
}

/// The directory of a self-managed backend (`file://...`), from `whoami --json`.
pub(super) fn backend_root(whoami: &str) -> Option<PathBuf> {
    let value: serde_json::Value = serde_json::from_str(whoami).ok()?;
    let url = value.get("url")?.as_str()?;
    let path = url.strip_prefix("file://")?;
    // `file://~` is the user's home.
    match path.strip_prefix('~') {
        Some(rest) => std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(rest.trim_start_matches('/'))),
        None => Some(PathBuf::from(path)),
    }
}

/// The stack's lock files under a self-managed backend's `root`.
fn locks(root: &Path, project: &str, stack: &str) -> Vec<HeldLock> {
    #[derive(Deserialize)]
    struct Content {
        pid: u32,
        username: String,
        hostname: String,
        timestamp: String,
    }
    let dir = root
        .join(".pulumi/locks/organization")
        .join(project)
        .join(stack);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<HeldLock> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|path| {
            let holder = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Content>(&b).ok())
                .map(|c| LockHolder {
                    by: format!("{}@{}", c.username, c.hostname),
                    host: c.hostname,
                    pid: c.pid,
                    since: c.timestamp,
                });
            HeldLock { path, holder }
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_unreadable_checkpoint_is_read_again_only_while_no_metadata_file_is_damaged() {
        let said = vec!["error: failed to load checkpoint: EOF".to_owned()];
        assert!(saved_elsewhere(&said, &[]));
        assert!(!saved_elsewhere(&said, &[PathBuf::from("s.json.attrs")]));
        assert!(!saved_elsewhere(
            &["error: no stack named x".to_owned()],
            &[]
        ));
    }

    #[test]
    fn reads_pending_operations_in_the_export_shape() {
        let export = r#"{"version": 3, "deployment": {"manifest": {}, "resources": [],
            "pending_operations": [
              {"resource": {"urn": "urn:pulumi:s::p::kubernetes:core/v1:Namespace::flux-system",
                            "custom": true, "type": "kubernetes:core/v1:Namespace",
                            "inputs": {"metadata": {"name": "flux-system"}}},
               "type": "creating"}]}}"#;
        assert_eq!(
            pending_operations(export).unwrap(),
            [PendingOp {
                urn: "urn:pulumi:s::p::kubernetes:core/v1:Namespace::flux-system".into(),
                kind: "creating".into(),
                id: Some("flux-system".into()),
            }]
        );
        assert!(
            pending_operations(r#"{"version": 3, "deployment": {"manifest": {}}}"#)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_self_managed_backends_locks_are_found_with_their_owner() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(".pulumi/locks/organization/cluster/prod");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a1.json"),
            r#"{"pid": 42, "username": "sre", "hostname": "laptop", "timestamp": "2026-11-30T12:03:14Z"}"#,
        )
        .unwrap();
        let url = format!(
            r#"{{"user": "sre", "url": "file://{}"}}"#,
            tmp.path().display()
        );
        let root = backend_root(&url).unwrap();
        let found = locks(&root, "cluster", "prod");
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].owner(),
            "created by sre@laptop (pid 42) at 2026-11-30T12:03:14Z"
        );
        assert!(backend_root(r#"{"user": "x", "url": "https://api.pulumi.com"}"#).is_none());
    }
}
