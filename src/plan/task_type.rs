//! The registry of task types: one line per type, keyed by [`TaskType`]. What a type
//! is (its name, summary, key groups, the schema of its own keys) lives in its own
//! file under `plan/task/` as a [`TypeInfo`]; validation, `planrun schema` and the
//! docs read it from here. See `CONTRIBUTING.md` for adding a type.

use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator};

/// One task type as the plan format knows it.
pub struct TypeInfo {
    /// The `type` value.
    pub name: &'static str,
    /// One line for `--help` and the docs.
    pub summary: &'static str,
    /// Takes the Kubernetes selection keys (`kind`, `name`, ...).
    pub selection: bool,
    /// Talks to the Kubernetes API (the run opens the connection first).
    pub kubernetes: bool,
    /// Waits on the cluster: its `timeout` defaults to five minutes.
    pub waits: bool,
    /// How long a task of the type usually takes, until the plan's own runs tell:
    /// the expected duration that orders ready tasks and estimates the time left.
    pub typical: Duration,
    /// The schema of the type's own keys, with an example task of the type (its
    /// `examples`, from `#[schemars(example = ...)]`).
    pub schema: fn(&mut SchemaGenerator) -> Schema,
    /// The id the example task goes by in `planrun explain`.
    pub example_id: &'static str,
}

/// The root schema of `T`, for [`TypeInfo::schema`].
pub fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.root_schema_for::<T>()
}

/// Declares [`TaskType`] and [`TaskType::ALL`] from one list, each variant with the
/// `plan/task/` module whose `TYPE` describes it, so that neither can miss a type.
macro_rules! task_types {
    ($($variant:ident => $module:ident,)*) => {
        /// A task type, as the `type` key names it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum TaskType {
            $($variant,)*
        }

        impl TaskType {
            /// Every task type, in the order the docs list them.
            pub const ALL: &[TaskType] = &[$(TaskType::$variant,)*];

            /// What the plan format knows of the type.
            pub fn info(self) -> &'static TypeInfo {
                match self {
                    $(TaskType::$variant => &super::task::$module::TYPE,)*
                }
            }
        }
    };
}

task_types! {
    ExecScript => exec_script,
    KubeDelete => kube_delete,
    KubePatch => kube_patch,
    KubeApply => kube_apply,
    WaitAbsent => wait_absent,
    WaitCondition => wait_condition,
    AssertDeployments => assert_deployments,
    AssertFieldManagers => assert_field_managers,
    Capture => capture,
    AssertFile => assert_file,
    Confirm => confirm,
    PulumiPreview => pulumi_preview,
    PulumiUp => pulumi_up,
    Notify => notify,
}

impl TaskType {
    /// Looks a task type up by its `type` value.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// The `type` value.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The root schema of the type's own keys (`properties`, `required`, `$defs`).
    pub fn own_schema(self, generator: &mut SchemaGenerator) -> Schema {
        (self.info().schema)(generator)
    }

    /// The names of the type's own keys.
    pub fn own_keys(self) -> &'static BTreeSet<String> {
        &OWN_KEYS[self.index()]
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&t| t == self)
            .expect("ALL lists every task type")
    }
}

static OWN_KEYS: LazyLock<Vec<BTreeSet<String>>> = LazyLock::new(|| {
    let mut generator = SchemaGenerator::default();
    TaskType::ALL
        .iter()
        .map(|t| {
            t.own_schema(&mut generator)
                .get("properties")
                .and_then(|p| p.as_object())
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default()
        })
        .collect()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for &t in TaskType::ALL {
            assert_eq!(TaskType::from_name(t.name()), Some(t));
        }
        assert!(TaskType::from_name("exec").is_none());
        assert!(TaskType::PulumiUp.own_keys().contains("stack"));
    }
}
