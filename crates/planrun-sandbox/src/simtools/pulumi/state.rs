//! A stack's state, kept as `pulumi stack export` shows it (pulumi/pulumi
//! `sdk/go/common/apitype/core.go`, `UntypedDeployment` and `DeploymentV3`): the
//! resources the last operations left, each with its URN, type, id and inputs, and
//! the operations an interrupted update left pending.
//!
//! The state is what `up` compares the program with: an object listed here is not
//! created again even when it is gone from the cluster, until a `refresh` reads the
//! cluster and drops it (pulumi/pulumi `pkg/resource/deploy/step_generator.go`
//! decides from the old state alone; `pkg/cmd/pulumi/operations/refresh.go`).
//!
//! The data of a Secret never reaches the file: it is stored as the CLI stores secret
//! values, an opaque ciphertext marker.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The signature key the CLI marks secret values with in state and plan files.
pub const SECRET_SIG: &str = "4dabf18193072939515e22adb298388d";
/// The signature value of a secret.
pub const SECRET_SIG_VALUE: &str = "1b47061264138c4ac30d75fd1eb44270";

/// One custom resource of the stack.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub urn: String,
    /// `kubernetes:apps/v1:Deployment`.
    pub type_token: String,
    /// `namespace/name` or `name`.
    pub id: String,
    /// The object as the program declared it (Secret data masked).
    pub inputs: Value,
    /// The server-side apply manager the provider uses for it.
    pub field_manager: String,
}

/// An operation an interrupted update left (`creating`, `updating`, `deleting`),
/// with the resource's inputs the engine started it with (pulumi/pulumi v3.259.0
/// `sdk/go/common/apitype/core.go` `OperationV2`: the resource is the state that
/// initiated the operation).
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub urn: String,
    pub type_token: String,
    pub kind: String,
    pub inputs: Value,
}

/// A stack's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StackState {
    pub stack: String,
    pub project: String,
    /// Whether the stack resource itself exists (after a first operation).
    pub has_stack: bool,
    pub resources: Vec<Resource>,
    pub pending: Vec<Pending>,
}

/// The URN of a resource of a stack.
pub fn urn(stack: &str, project: &str, type_token: &str, name: &str) -> String {
    format!("urn:pulumi:{stack}::{project}::{type_token}::{name}")
}

/// The stack resource's URN (`pulumi:pulumi:Stack`, named `<project>-<stack>`).
pub fn stack_urn(stack: &str, project: &str) -> String {
    urn(
        stack,
        project,
        "pulumi:pulumi:Stack",
        &format!("{project}-{stack}"),
    )
}

/// `value` with a Secret's `data` and `stringData` values replaced by the secret
/// marker, and without `status`: what state and plan files may hold.
pub fn masked_inputs(value: &Value) -> Value {
    let mut out = value.clone();
    if let Some(map) = out.as_object_mut() {
        map.remove("status");
    }
    if out.get("kind").and_then(Value::as_str) == Some("Secret") {
        for key in ["data", "stringData"] {
            if let Some(Value::Object(data)) = out.get_mut(key) {
                for v in data.values_mut() {
                    *v = json!({ SECRET_SIG: SECRET_SIG_VALUE, "ciphertext": "v1:AAAAAAAAAAAAAAAA" });
                }
            }
        }
    }
    out
}

impl StackState {
    /// An empty stack.
    pub fn new(stack: &str, project: &str) -> Self {
        Self {
            stack: stack.to_owned(),
            project: project.to_owned(),
            ..Self::default()
        }
    }

    /// The file of `stack` under `dir`.
    pub fn path(dir: &Path, stack: &str) -> PathBuf {
        dir.join("pulumi").join(format!("{stack}.json"))
    }

    pub fn find(&self, urn: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.urn == urn)
    }

    /// Adds or replaces a resource.
    pub fn put(&mut self, resource: Resource) {
        match self.resources.iter_mut().find(|r| r.urn == resource.urn) {
            Some(slot) => *slot = resource,
            None => self.resources.push(resource),
        }
    }

    pub fn remove(&mut self, urn: &str) {
        self.resources.retain(|r| r.urn != urn);
    }

    /// `pulumi stack export`: `{"version": 3, "deployment": {...}}`.
    pub fn export(&self) -> Value {
        let stack_urn = stack_urn(&self.stack, &self.project);
        let provider = format!(
            "urn:pulumi:{}::{}::pulumi:providers:kubernetes::default::00000000-0000-0000-0000-000000000000",
            self.stack, self.project
        );
        let mut resources = Vec::new();
        if self.has_stack {
            resources.push(json!({
                "urn": stack_urn,
                "custom": false,
                "type": "pulumi:pulumi:Stack",
            }));
        }
        for r in &self.resources {
            let mut outputs = r.inputs.clone();
            if let Some(map) = outputs.as_object_mut() {
                map.insert("__fieldManager".into(), json!(r.field_manager));
            }
            resources.push(json!({
                "urn": r.urn,
                "custom": true,
                "id": r.id,
                "type": r.type_token,
                "inputs": r.inputs,
                "outputs": outputs,
                "parent": stack_urn,
                "provider": provider,
            }));
        }
        let pending: Vec<Value> = self
            .pending
            .iter()
            .map(|p| {
                let mut resource = json!({
                    "urn": p.urn,
                    "custom": true,
                    "type": p.type_token,
                    "parent": stack_urn,
                    "provider": provider,
                });
                if !p.inputs.is_null() {
                    resource["inputs"] = p.inputs.clone();
                }
                json!({ "resource": resource, "type": p.kind })
            })
            .collect();
        let mut deployment = json!({
            "manifest": { "time": "0001-01-01T00:00:00Z", "magic": "", "version": super::VERSION },
            "resources": resources,
        });
        if !pending.is_empty() {
            deployment["pending_operations"] = json!(pending);
        }
        json!({ "version": 3, "deployment": deployment })
    }

    /// Reads an exported state.
    pub fn import(stack: &str, project: &str, export: &Value) -> Result<Self, String> {
        let deployment = export
            .get("deployment")
            .ok_or("the state has no deployment")?;
        let mut state = Self::new(stack, project);
        for r in deployment
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
            if text("type") == "pulumi:pulumi:Stack" {
                state.has_stack = true;
                continue;
            }
            state.resources.push(Resource {
                urn: text("urn").to_owned(),
                type_token: text("type").to_owned(),
                id: text("id").to_owned(),
                inputs: r.get("inputs").cloned().unwrap_or(Value::Null),
                field_manager: r
                    .pointer("/outputs/__fieldManager")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        for p in deployment
            .get("pending_operations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            state.pending.push(Pending {
                urn: p
                    .pointer("/resource/urn")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                type_token: p
                    .pointer("/resource/type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                kind: p
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                inputs: p
                    .pointer("/resource/inputs")
                    .cloned()
                    .unwrap_or(Value::Null),
            });
        }
        Ok(state)
    }

    /// The state saved at `path`, if there is one.
    pub fn load(path: &Path, stack: &str, project: &str) -> Result<Option<Self>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("could not read the stack state: {e}")),
        };
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| format!("could not read the stack state: {e}"))?;
        Self::import(stack, project, &value).map(Some)
    }

    /// Writes the state (checkpoints are written after every step, as the CLI's
    /// journal does), atomically.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let fail = |e: std::io::Error| format!("could not save the stack state: {e}");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(&self.export()).unwrap_or_default();
        std::fs::write(&tmp, text).map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_reads_back_with_pending_operations() {
        let mut state = StackState::new("dev", "cluster");
        state.has_stack = true;
        state.put(Resource {
            urn: urn("dev", "cluster", "kubernetes:core/v1:Namespace", "flux-system"),
            type_token: "kubernetes:core/v1:Namespace".into(),
            id: "flux-system".into(),
            inputs: json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}}),
            field_manager: "pulumi-kubernetes-0a1b2c3d".into(),
        });
        state.pending.push(Pending {
            urn: urn("dev", "cluster", "kubernetes:apps/v1:Deployment", "x/y"),
            type_token: "kubernetes:apps/v1:Deployment".into(),
            kind: "creating".into(),
            inputs: json!({"metadata": {"name": "y", "namespace": "x"}}),
        });
        let export = state.export();
        assert_eq!(export["version"], 3);
        assert_eq!(
            export["deployment"]["resources"][0]["type"],
            "pulumi:pulumi:Stack"
        );
        assert_eq!(
            export["deployment"]["pending_operations"][0]["type"],
            "creating"
        );
        assert_eq!(
            StackState::import("dev", "cluster", &export).unwrap(),
            state
        );
    }

    #[test]
    fn secret_data_never_reaches_the_state() {
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"identity": "c2VjcmV0"}, "stringData": {"token": "hunter2"}});
        let masked = masked_inputs(&secret);
        let text = masked.to_string();
        assert!(
            !text.contains("c2VjcmV0") && !text.contains("hunter2"),
            "{text}"
        );
        assert_eq!(masked["data"]["identity"][SECRET_SIG], SECRET_SIG_VALUE);
    }
}
