//! The registry of task types: their names, which key groups they take, and the
//! schema of their own keys. Validation, `planrun schema` and the docs all read it.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::task::*;

/// One task type as the plan format knows it.
pub struct TaskType {
    /// The `type` value.
    pub name: &'static str,
    /// Takes the Kubernetes selection keys (`kind`, `name`, ...).
    pub selection: bool,
    /// One line for `--help` and the docs.
    pub summary: &'static str,
    /// The schema of the type's own keys.
    schema: fn(&mut SchemaGenerator) -> Schema,
}

impl TaskType {
    /// The root schema of the type's own keys (`properties`, `required`, `$defs`).
    pub fn own_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        (self.schema)(generator)
    }

    /// The names of the type's own keys.
    pub fn own_keys(&self) -> &'static BTreeSet<String> {
        let index = TASK_TYPES
            .iter()
            .position(|t| t.name == self.name)
            .expect("every task type is in TASK_TYPES");
        &OWN_KEYS[index]
    }
}

fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.root_schema_for::<T>()
}

/// Every task type, in the order the docs list them.
pub static TASK_TYPES: &[TaskType] = &[
    TaskType {
        name: "exec-script",
        selection: false,
        summary: "run a command (argv, no shell) or a shell script",
        schema: schema_of::<RawExecScript>,
    },
    TaskType {
        name: "kube-delete",
        selection: true,
        summary: "delete Kubernetes objects; absent ones are fine",
        schema: schema_of::<RawKubeDelete>,
    },
    TaskType {
        name: "wait-absent",
        selection: true,
        summary: "wait, by watch, until Kubernetes objects are gone",
        schema: schema_of::<RawWaitAbsent>,
    },
    TaskType {
        name: "wait-condition",
        selection: true,
        summary: "wait until Kubernetes objects have a status condition (Ready=True)",
        schema: schema_of::<RawWaitCondition>,
    },
    TaskType {
        name: "assert-deployments",
        selection: false,
        summary: "deployments are Available with all replicas ready at the expected image tags",
        schema: schema_of::<RawAssertDeployments>,
    },
    TaskType {
        name: "assert-field-managers",
        selection: true,
        summary: "no object has fields from a forbidden manager; optionally one applies them",
        schema: schema_of::<RawAssertFieldManagers>,
    },
    TaskType {
        name: "capture",
        selection: true,
        summary: "save Secrets or ConfigMaps to a 0600 file in the run directory",
        schema: schema_of::<RawCapture>,
    },
    TaskType {
        name: "assert-file",
        selection: false,
        summary: "a file exists and matches every pattern",
        schema: schema_of::<RawAssertFile>,
    },
    TaskType {
        name: "confirm",
        selection: false,
        summary: "ask a person to confirm before going on (--yes answers it)",
        schema: schema_of::<RawConfirm>,
    },
    TaskType {
        name: "pulumi-up",
        selection: false,
        summary: "pulumi up for a stack, non-interactive, with config checks and preview",
        schema: schema_of::<RawPulumiUp>,
    },
];

static OWN_KEYS: LazyLock<Vec<BTreeSet<String>>> = LazyLock::new(|| {
    let mut generator = SchemaGenerator::default();
    TASK_TYPES
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

/// Looks a task type up by name.
pub fn task_type(name: &str) -> Option<&'static TaskType> {
    TASK_TYPES.iter().find(|t| t.name == name)
}
