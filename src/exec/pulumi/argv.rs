//! The command lines planrun gives the Pulumi CLI, built from its documented flags:
//! always the stack (`--stack`), the project (`--cwd`), no prompts
//! (`--non-interactive`), no colour codes in logs (`--color never`), and `--json`
//! for output planrun reads (engine events for `up` and `refresh`, one digest for
//! `preview`) except for the preview a person reviews: `--json` replaces the diff
//! display (pulumi/pulumi `pkg/backend/display/`), so that one is human.

use std::path::Path;

use crate::validate::PulumiProject;

/// `--stack S --cwd DIR --non-interactive --color never`.
fn common(task: &PulumiProject) -> Vec<String> {
    vec![
        "--stack".into(),
        task.stack.clone(),
        "--cwd".into(),
        task.cwd.display().to_string(),
        "--non-interactive".into(),
        "--color".into(),
        "never".into(),
    ]
}

fn command(name: &str, task: &PulumiProject, tail: &[&str]) -> Vec<String> {
    let mut args = vec![name.to_owned()];
    args.extend(common(task));
    args.extend(tail.iter().map(|s| (*s).to_owned()));
    args
}

/// `pulumi config --json`: every key of the stack, secrets blinded (no value shown),
/// or, with `show_secrets`, in plain text (read by planrun only, to mask them).
pub fn config_list(task: &PulumiProject, show_secrets: bool) -> Vec<String> {
    let mut args = command("config", task, &["--json"]);
    if show_secrets {
        args.push("--show-secrets".into());
    }
    args
}

/// `pulumi refresh --yes --skip-preview --json`: adopt the cluster's actual state
/// before the update.
pub fn refresh(task: &PulumiProject) -> Vec<String> {
    command(
        "refresh",
        task,
        &["--yes", "--skip-preview", "--suppress-progress", "--json"],
    )
}

/// `pulumi refresh --clear-pending-creates --yes ...`: drops the pending creates
/// of an interrupted update from the state (pulumi/pulumi v3.259.0
/// `pkg/cmd/pulumi/operations/refresh.go`), then refreshes.
pub fn refresh_clearing_pending_creates(task: &PulumiProject) -> Vec<String> {
    command(
        "refresh",
        task,
        &[
            "--clear-pending-creates",
            "--yes",
            "--skip-preview",
            "--suppress-progress",
            "--json",
        ],
    )
}

/// `pulumi stack export`: the stack's checkpoint, pending operations included.
pub fn stack_export(task: &PulumiProject) -> Vec<String> {
    let mut args = vec!["stack".to_owned(), "export".to_owned()];
    args.extend(common(task));
    args
}

/// `pulumi whoami --json`: the user and the backend's URL.
pub fn whoami(task: &PulumiProject) -> Vec<String> {
    vec![
        "whoami".into(),
        "--json".into(),
        "--cwd".into(),
        task.cwd.display().to_string(),
        "--non-interactive".into(),
    ]
}

/// `pulumi cancel --yes`: ends the update in progress; on a self-managed backend,
/// deletes the stack's lock files.
pub fn cancel(task: &PulumiProject) -> Vec<String> {
    command("cancel", task, &["--yes"])
}

/// `pulumi preview --diff --json` (with `--refresh` when a refresh was asked for but
/// must not be saved, as under `--dry-run`), then the task's extra arguments.
pub fn preview(task: &PulumiProject, refresh: bool) -> Vec<String> {
    let mut args = command(
        "preview",
        task,
        &["--diff", "--suppress-progress", "--json"],
    );
    if refresh {
        args.push("--refresh".into());
    }
    args.extend(task.args.iter().cloned());
    args
}

/// `pulumi preview --diff --save-plan PLAN` (with `--refresh` under `--dry-run`),
/// human output for the person who reviews it, then the task's extra arguments.
pub fn review(task: &PulumiProject, refresh: bool, plan: &Path) -> Vec<String> {
    let mut args = command("preview", task, &["--diff", "--suppress-progress"]);
    args.push("--save-plan".into());
    args.push(plan.display().to_string());
    if refresh {
        args.push("--refresh".into());
    }
    args.extend(task.args.iter().cloned());
    args
}

/// `pulumi up --yes --json` (with `--skip-preview` when a preview just ran, and
/// `--plan PLAN` to do only what a reviewed preview planned), then the task's extra
/// arguments.
pub fn up(task: &PulumiProject, skip_preview: bool, plan: Option<&Path>) -> Vec<String> {
    let mut args = command("up", task, &["--yes"]);
    if skip_preview {
        args.push("--skip-preview".into());
    }
    if let Some(plan) = plan {
        args.push("--plan".into());
        args.push(plan.display().to_string());
    }
    args.extend(["--suppress-progress".into(), "--json".into()]);
    args.extend(task.args.iter().cloned());
    args
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn task() -> PulumiProject {
        PulumiProject {
            stack: "oceanid-cluster".into(),
            cwd: PathBuf::from("/repo/cluster"),
            require_config: vec![],
            args: vec!["--parallel".into(), "4".into()],
            binary: "pulumi".into(),
        }
    }

    #[test]
    fn builds_the_documented_command_lines() {
        let t = task();
        let common = "--stack oceanid-cluster --cwd /repo/cluster --non-interactive --color never";
        assert_eq!(
            config_list(&t, false).join(" "),
            format!("config {common} --json")
        );
        assert_eq!(
            config_list(&t, true).join(" "),
            format!("config {common} --json --show-secrets")
        );
        assert_eq!(
            preview(&t, true).join(" "),
            format!("preview {common} --diff --suppress-progress --json --refresh --parallel 4")
        );
        assert_eq!(
            up(&t, true, None).join(" "),
            format!("up {common} --yes --skip-preview --suppress-progress --json --parallel 4")
        );
        assert_eq!(
            up(&t, true, Some(Path::new("/run/p.plan.json"))).join(" "),
            format!(
                "up {common} --yes --skip-preview --plan /run/p.plan.json --suppress-progress --json --parallel 4"
            )
        );
        assert_eq!(
            review(&t, false, Path::new("/run/p.plan.json")).join(" "),
            format!(
                "preview {common} --diff --suppress-progress --save-plan /run/p.plan.json --parallel 4"
            )
        );
        assert_eq!(
            refresh(&t).join(" "),
            format!("refresh {common} --yes --skip-preview --suppress-progress --json")
        );
    }
}
