//! `pulumi-preview`: refresh, preview with the diff, the plan saved.

use super::TaskSpec;
use super::pulumi_up::PulumiProject;
use crate::plan::TaskType;
use crate::plan::task::RawPulumiPreview;
use crate::validate::task_table::Builder;

/// `pulumi-preview`.
#[derive(Debug, Clone)]
pub struct PulumiPreview {
    pub project: PulumiProject,
    /// `pulumi refresh` first.
    pub refresh: bool,
}

impl PulumiPreview {
    pub(in crate::validate) fn build(b: &mut Builder<'_, '_>) -> Option<Self> {
        let raw: RawPulumiPreview = b.own()?;
        Some(Self {
            project: PulumiProject::build(
                b,
                raw.stack,
                raw.cwd.as_deref(),
                raw.require_config,
                raw.args,
                raw.binary,
            )?,
            refresh: raw.refresh,
        })
    }
}

impl TaskSpec for PulumiPreview {
    fn task_type(&self) -> TaskType {
        TaskType::PulumiPreview
    }

    /// A refresh rewrites the stack's state; a preview alone changes nothing.
    fn changes(&self) -> bool {
        self.refresh
    }

    fn describe(&self) -> String {
        let mut steps = Vec::new();
        if self.refresh {
            steps.push("refresh".into());
        }
        steps.push("preview --diff, the diff and the plan saved in the run directory".into());
        self.project.describe(steps)
    }
}
