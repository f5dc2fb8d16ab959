//! References from one task to another besides `needs`: `plan_from` of `pulumi-up`
//! and `show_preview` of `confirm` name a `pulumi-preview` task; `from_capture` of
//! `kube-apply` names a `capture` task. Checked once the graph is known: the task
//! exists, is of the type the key wants, and is needed, directly or through other
//! tasks (so it has run, in this run, before the task that reads its files); a
//! `plan_from` preview is of the same stack and project.

use std::ops::Range;

use planrun_text::did_you_mean;

use super::error::{ErrorKind, PlanError};
use super::model::{Task, TaskIdx};
use super::task::{ApplySource, TaskKind};
use super::task_table::Builder;
use crate::plan::TaskType;

/// A task named by another task's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRef {
    pub id: String,
    /// Where the id is written, for diagnostics.
    pub span: Range<usize>,
}

impl TaskRef {
    /// The id at `key` of the task being built.
    pub(in crate::validate) fn at(b: &Builder<'_, '_>, key: &str, id: &str) -> Self {
        Self {
            id: id.to_owned(),
            span: super::document::value_span(b.table, key).unwrap_or(b.id_span.clone()),
        }
    }
}

/// Checks every reference of `tasks` (whose `needs` are resolved).
pub fn check_references(tasks: &[Task], errors: &mut Vec<PlanError>) {
    for (idx, task) in tasks.iter().enumerate() {
        let preview = TaskType::PulumiPreview;
        let references: Vec<(&str, &TaskRef, TaskType)> = match &task.kind {
            TaskKind::PulumiUp(up) => up
                .plan_from
                .iter()
                .map(|r| ("plan_from", r, preview))
                .collect(),
            TaskKind::Confirm(c) => c
                .show_preview
                .iter()
                .map(|r| ("show_preview", r, preview))
                .collect(),
            TaskKind::KubeApply(apply) => match &apply.source {
                ApplySource::Capture { task, .. } => {
                    vec![("from_capture", task, TaskType::Capture)]
                }
                ApplySource::Files(_) => Vec::new(),
            },
            _ => Vec::new(),
        };
        for (key, reference, wanted) in references {
            if let Err(e) = check_one(tasks, idx, key, reference, wanted) {
                errors.push(e);
            }
        }
    }
}

fn check_one(
    tasks: &[Task],
    idx: TaskIdx,
    key: &str,
    reference: &TaskRef,
    wanted: TaskType,
) -> Result<(), PlanError> {
    let task = &tasks[idx];
    let Some(target) = tasks.iter().position(|t| t.id == reference.id) else {
        let help = match did_you_mean(&reference.id, tasks.iter().map(|t| t.id.as_str())) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("name a {} task of this plan", wanted.name()),
        };
        return Err(PlanError::new(
            ErrorKind::UnknownDependency,
            format!(
                "task `{}`: `{key}` names `{}`, which is not a task of this plan",
                task.id, reference.id
            ),
        )
        .at(reference.span.clone(), "no such task")
        .help(help));
    };
    let found = tasks[target].kind.task_type();
    if found != wanted {
        return Err(PlanError::new(
            ErrorKind::BadValue,
            format!(
                "task `{}`: `{key}` names `{}`, which is not a {} task (it is {})",
                task.id,
                reference.id,
                wanted.name(),
                found.name()
            ),
        )
        .at(
            reference.span.clone(),
            format!("not a {} task", wanted.name()),
        )
        .help(format!(
            "`{key}` takes the id of a task of type = \"{}\"",
            wanted.name()
        )));
    }
    let what = if wanted == TaskType::Capture {
        "capture"
    } else {
        "preview"
    };
    if !needs_transitively(tasks, idx, target) {
        return Err(PlanError::new(
            ErrorKind::BadValue,
            format!(
                "task `{}` reads the {what} of `{}` but does not need it",
                task.id, reference.id
            ),
        )
        .at(reference.span.clone(), "not among what this task needs")
        .help(format!(
            "add \"{}\" to `needs` (or a task that needs it), so the {what} has run before this task",
            reference.id
        )));
    }
    if let (TaskKind::PulumiUp(up), TaskKind::PulumiPreview(preview)) =
        (&task.kind, &tasks[target].kind)
    {
        let (mine, theirs) = (&up.project, &preview.project);
        let differs = if mine.stack != theirs.stack {
            Some(format!(
                "`{}` previews stack {}, this task updates stack {}",
                reference.id, theirs.stack, mine.stack
            ))
        } else if mine.cwd != theirs.cwd {
            Some(format!(
                "`{}` previews the project in {}, this task updates the one in {}",
                reference.id,
                theirs.cwd.display(),
                mine.cwd.display()
            ))
        } else {
            None
        };
        if let Some(differs) = differs {
            return Err(PlanError::new(
                ErrorKind::BadValue,
                format!(
                    "task `{}` would apply the plan of another stack: {differs}",
                    task.id
                ),
            )
            .at(reference.span.clone(), "a preview of another stack")
            .help("give both tasks the same `stack` and `cwd`"));
        }
    }
    Ok(())
}

/// Whether `task` needs `target`, directly or through other tasks.
fn needs_transitively(tasks: &[Task], task: TaskIdx, target: TaskIdx) -> bool {
    let mut seen = vec![false; tasks.len()];
    let mut pending = tasks[task].needs.clone();
    while let Some(next) = pending.pop() {
        if next == target {
            return true;
        }
        if !std::mem::replace(&mut seen[next], true) {
            pending.extend(tasks[next].needs.iter().copied());
        }
    }
    false
}
