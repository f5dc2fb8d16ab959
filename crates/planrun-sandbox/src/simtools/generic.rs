//! `pnpm`, `flux` and the other commands a behaviour file names: answer by argv
//! rule; a command's rule may first apply manifests to the cluster, as a deploying
//! tool (`helm install`) would.

use std::path::PathBuf;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};

use super::behaviour::{Behaviour, ToolBehaviour};
use super::manifests::read_manifests;

/// Runs the reply of the first rule matching `args`.
pub fn run(tool: &ToolBehaviour, args: &[String]) -> i32 {
    tool.reply_for(args).perform()
}

/// Runs `command`, one of the behaviour's `commands`: its matching rule's applies,
/// then its reply. A command the file does not describe fails as a missing one
/// would (exit 127).
pub fn run_command(behaviour: &Behaviour, command: &str, args: &[String]) -> i32 {
    let Some(tool) = behaviour.commands.get(command) else {
        eprintln!(
            "{command}: command not found (the rehearsal file's tools.commands does not describe it)"
        );
        return 127;
    };
    if let Some(rule) = tool.rule_for(args).filter(|r| !r.apply.is_empty()) {
        let paths: Vec<PathBuf> = rule.apply.iter().map(|p| behaviour.resolve(p)).collect();
        let manager = rule.manager.clone().unwrap_or_else(|| command.to_owned());
        if let Err(e) = apply(&paths, &manager) {
            eprintln!("Error: {e}");
            return 1;
        }
    }
    tool.reply_for(args).perform()
}

/// Applies every object of `paths` to the cluster of `KUBECONFIG`, server-side,
/// as `manager`.
fn apply(paths: &[PathBuf], manager: &str) -> Result<(), String> {
    let objects = read_manifests(paths)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let config = kube::Config::infer()
            .await
            .map_err(|e| format!("cannot reach the cluster: {e}"))?;
        let client =
            kube::Client::try_from(config).map_err(|e| format!("cannot reach the cluster: {e}"))?;
        for object in objects {
            let types = object.types.clone().unwrap_or_default();
            let gvk = match types.api_version.split_once('/') {
                Some((g, v)) => GroupVersionKind::gvk(g, v, &types.kind),
                None => GroupVersionKind::gvk("", &types.api_version, &types.kind),
            };
            let (resource, caps) = pinned_kind(&client, &gvk)
                .await
                .map_err(|e| format!("no kind {} {}: {e}", types.api_version, types.kind))?;
            let name = object.metadata.name.clone().unwrap_or_default();
            let api: Api<DynamicObject> = match caps.scope {
                Scope::Namespaced => Api::namespaced_with(
                    client.clone(),
                    object.metadata.namespace.as_deref().unwrap_or("default"),
                    &resource,
                ),
                Scope::Cluster => Api::all_with(client.clone(), &resource),
            };
            api.patch(
                &name,
                &PatchParams::apply(manager).force(),
                &Patch::Apply(&object),
            )
            .await
            .map_err(|e| format!("cannot apply {} {name}: {e}", types.kind))?;
        }
        Ok(())
    })
}
