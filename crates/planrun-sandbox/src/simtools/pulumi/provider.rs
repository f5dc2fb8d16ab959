//! The pulumi-kubernetes provider's side of `up` and `refresh`: how it writes each
//! object to the cluster, read in pulumi/pulumi-kubernetes (tags v4.28.0 and
//! v4.32.0):
//!
//! - create (`provider/pkg/await/await.go` `Creation`): from v4.29.0 a plain create
//!   with field manager `pulumi-kubernetes` (managedFields operation `Update`);
//!   AlreadyExists is an error, with the provider's advice, unless
//!   `upsertExistingObjects`, which server-side applies instead. Before v4.29.0 the
//!   create is a server-side apply as `pulumi-kubernetes-<suffix>`
//!   (`provider/pkg/provider/provider.go` `fieldManagerName`), not forced
//!   (`patchForce`).
//! - update (`Update`, `updateResource`): a CRD is replaced by a PUT under the apply
//!   manager; anything else first has its managedFields rewritten so the apply
//!   manager takes over the entries of `kubectl` (Apply, Update), `before-first-apply`,
//!   `pulumi-kubernetes`, `pulumi-kubernetes.exe` and `pulumi-resource-kubernetes`
//!   (Update) (`fixCSAFieldManagers`; names match by prefix, fluxcd/pkg `ssa/patch.go`
//!   `PatchReplaceFieldsManagers`, so `kubectl-client-side-apply` is taken over
//!   too), then is server-side applied.
//! - delete, and read (refresh): plain requests; a missing object is gone.
//!
//! The provider talks to the cluster of its `kubeconfig`/`context` config, else of
//! `KUBECONFIG`'s current context (`provider.go` `Configure`).

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope, pinned_kind};
use serde_json::{Value, json};

/// The managers `fixCSAFieldManagers` hands to the apply manager, with their
/// operation; a name matches by prefix.
const TAKEN_OVER: [(&str, &str); 6] = [
    ("kubectl", "Apply"),
    ("kubectl", "Update"),
    ("before-first-apply", "Update"),
    ("pulumi-kubernetes", "Update"),
    ("pulumi-kubernetes.exe", "Update"),
    ("pulumi-resource-kubernetes", "Update"),
];

/// The provider's cluster connection and settings.
pub struct Provider {
    client: kube::Client,
    creates_by_create: bool,
    upsert: bool,
}

/// Where the provider's config points it: `kubernetes:kubeconfig` (a path or the
/// file's contents) and `kubernetes:context`.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
}

impl Provider {
    /// Connects as the provider would.
    pub async fn connect(
        target: &Target,
        creates_by_create: bool,
        upsert: bool,
    ) -> Result<Self, String> {
        let unreachable = |e: &dyn std::fmt::Display| format!("cannot reach the cluster: {e}");
        let options = KubeConfigOptions {
            context: target.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &target.kubeconfig {
            Some(path_or_contents) => {
                let kubeconfig = if std::path::Path::new(path_or_contents).is_file() {
                    Kubeconfig::read_from(path_or_contents).map_err(|e| unreachable(&e))?
                } else {
                    Kubeconfig::from_yaml(path_or_contents).map_err(|e| unreachable(&e))?
                };
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| unreachable(&e))?
            }
            None => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| unreachable(&e))?,
        };
        let client = kube::Client::try_from(config).map_err(|e| unreachable(&e))?;
        Ok(Self {
            client,
            creates_by_create,
            upsert,
        })
    }

    /// The API for `object`'s kind and namespace, and its name.
    async fn api_of(
        &self,
        object: &Value,
    ) -> Result<(Api<DynamicObject>, ApiResource, String), String> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let gvk = match api_version.split_once('/') {
            Some((g, v)) => GroupVersionKind::gvk(g, v, kind),
            None => GroupVersionKind::gvk("", api_version, kind),
        };
        let (resource, caps) = pinned_kind(&self.client, &gvk).await.map_err(|e| {
            format!(
                "no matches for kind \"{kind}\" in version \"{api_version}\": {}",
                api_message(&e)
            )
        })?;
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let api = match caps.scope {
            Scope::Namespaced => {
                let ns = object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                Api::namespaced_with(self.client.clone(), ns, &resource)
            }
            Scope::Cluster => Api::all_with(self.client.clone(), &resource),
        };
        Ok((api, resource, name))
    }

    /// Creates `object` (see the module doc). `urn` names it in errors.
    pub async fn create(
        &self,
        urn: &str,
        object: &Value,
        apply_manager: &str,
    ) -> Result<(), String> {
        let (api, _, name) = self.api_of(object).await?;
        let not_created = |detail: String| {
            format!(
                "resource \"{urn}\" was not successfully created by the Kubernetes API server: {detail}"
            )
        };
        if !self.creates_by_create {
            return self
                .apply(&api, &name, object, apply_manager, false)
                .await
                .map_err(not_created);
        }
        let dynamic: DynamicObject =
            serde_json::from_value(object.clone()).map_err(|e| not_created(e.to_string()))?;
        let params = PostParams {
            field_manager: Some("pulumi-kubernetes".into()),
            ..PostParams::default()
        };
        match api.create(&params, &dynamic).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.reason == "AlreadyExists" && self.upsert => self
                .apply(&api, &name, object, apply_manager, false)
                .await
                .map_err(not_created),
            Err(kube::Error::Api(e)) if e.reason == "AlreadyExists" => Err(not_created(format!(
                "{}\n\n\
                 The resource already exists in the cluster. This can happen when:\n\n\
                 \x20 - Renaming a Pulumi resource: use an alias to preserve the identity,\n\
                 \x20   or use deleteBeforeReplace if the resource needs replacement.\n\
                 \x20 - Managing an existing resource: use a Patch resource (e.g. NamespacePatch)\n\
                 \x20   to manage specific fields without owning the resource lifecycle.\n\
                 \x20 - Adopting a resource into Pulumi: use `pulumi import`. Note that\n\
                 \x20   protected resources (e.g. kube-system) cannot be deleted on destroy.\n\
                 \x20 - Intentional upsert: set upsertExistingObjects on the provider to allow\n\
                 \x20   server-side apply to update existing objects on create.",
                e.message
            ))),
            Err(e) => Err(not_created(api_message(&e))),
        }
    }

    /// Updates `object` (see the module doc).
    pub async fn update(&self, object: &Value, apply_manager: &str) -> Result<(), String> {
        let (api, resource, name) = self.api_of(object).await?;
        let live = api.get(&name).await.map_err(|e| api_message(&e))?;
        if resource.kind == "CustomResourceDefinition" {
            let mut replacement: DynamicObject =
                serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
            replacement.metadata.resource_version = live.metadata.resource_version.clone();
            let params = PostParams {
                field_manager: Some(apply_manager.to_owned()),
                ..PostParams::default()
            };
            api.replace(&name, &params, &replacement)
                .await
                .map_err(|e| api_message(&e))?;
            return Ok(());
        }
        let entries: Vec<Value> = live
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|e| serde_json::to_value(e).ok())
            .collect();
        if let Some(fixed) = take_over(&entries, apply_manager) {
            let patch =
                json!([{ "op": "replace", "path": "/metadata/managedFields", "value": fixed }]);
            let request = axum::http::Request::patch(format!("{}/{name}", api.resource_url()))
                .header("Content-Type", "application/json-patch+json")
                .header("Accept", "application/json")
                .body(patch.to_string().into_bytes())
                .map_err(|e| e.to_string())?;
            self.client
                .request::<DynamicObject>(request)
                .await
                .map_err(|e| api_message(&e))?;
        }
        // patchForce: only a legacy object without managedFields is forced.
        let force = entries.is_empty();
        self.apply(&api, &name, object, apply_manager, force).await
    }

    /// Server-side applies `object`, with `handleSSAErr`'s advice on a conflict.
    async fn apply(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        object: &Value,
        manager: &str,
        force: bool,
    ) -> Result<(), String> {
        let mut params = PatchParams::apply(manager);
        params.force = force;
        match api.patch(name, &params, &Patch::Apply(object)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => Err(format!(
                "server-side apply field conflict detected, see \
                 https://www.pulumi.com/registry/packages/kubernetes/how-to-guides/managing-resources-with-server-side-apply/#handle-field-conflicts-on-existing-resources \
                 for troubleshooting help\nThe resource managed by field manager \"{manager}\" had an apply conflict: {}",
                e.message
            )),
            Err(e) => Err(api_message(&e)),
        }
    }

    /// Deletes `object`; one already gone is fine.
    pub async fn delete(&self, object: &Value) -> Result<(), String> {
        let (api, _, name) = self.api_of(object).await?;
        match api.delete(&name, &Default::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(api_message(&e)),
        }
    }

    /// Reads the live object, `None` when it is gone (or its kind is).
    pub async fn read(&self, object: &Value) -> Result<Option<Value>, String> {
        let (api, _, name) = match self.api_of(object).await {
            Ok(found) => found,
            // A kind no longer served (its CRD deleted): its objects are gone too.
            Err(_) => return Ok(None),
        };
        match api.get_opt(&name).await {
            Ok(found) => Ok(found.and_then(|o| serde_json::to_value(o).ok())),
            Err(e) => Err(api_message(&e)),
        }
    }
}

/// The message of an API error, as `err.Error()` of client-go shows it.
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

/// `fixCSAFieldManagers`: the managedFields with every entry of a taken-over
/// manager merged into the apply manager's `Apply` entry (an existing one first),
/// or `None` when no entry is taken over.
pub fn take_over(entries: &[Value], apply_manager: &str) -> Option<Vec<Value>> {
    let text = |e: &Value, k: &str| {
        e.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let taken = |e: &Value| {
        let manager = text(e, "manager");
        let operation = text(e, "operation");
        text(e, "subresource").is_empty()
            && TAKEN_OVER
                .iter()
                .any(|(name, op)| manager.starts_with(name) && operation == *op)
    };
    let is_own = |e: &Value| text(e, "manager") == apply_manager && text(e, "operation") == "Apply";
    let mut own = entries.iter().rev().find(|e| is_own(e)).cloned();
    let mut kept = Vec::new();
    let mut edited = false;
    for entry in entries {
        if own.as_ref() == Some(entry) {
            continue;
        }
        if !taken(entry) {
            kept.push(entry.clone());
            continue;
        }
        edited = true;
        match &mut own {
            None => {
                let mut renamed = entry.clone();
                renamed["manager"] = json!(apply_manager);
                renamed["operation"] = json!("Apply");
                own = Some(renamed);
            }
            Some(own) => {
                let mut fields = own.get("fieldsV1").cloned().unwrap_or(json!({}));
                union(&mut fields, entry.get("fieldsV1").unwrap_or(&json!({})));
                own["fieldsV1"] = fields;
            }
        }
    }
    if !edited {
        return None;
    }
    kept.extend(own);
    Some(kept)
}

/// Merges the field set `other` into `into` (both `fieldsV1` tries).
fn union(into: &mut Value, other: &Value) {
    let (Some(into), Some(other)) = (into.as_object_mut(), other.as_object()) else {
        return;
    };
    for (k, v) in other {
        match into.get_mut(k) {
            Some(existing) => union(existing, v),
            None => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(manager: &str, operation: &str, field: &str) -> Value {
        json!({"manager": manager, "operation": operation, "apiVersion": "v1",
               "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {format!("f:{field}"): {}}}})
    }

    #[test]
    fn kubectl_and_the_static_create_manager_are_taken_over_by_prefix() {
        let entries = [
            entry("kubectl-client-side-apply", "Update", "labels"),
            entry("pulumi-kubernetes", "Update", "annotations"),
            entry("kube-controller-manager", "Update", "finalizers"),
        ];
        let fixed = take_over(&entries, "pulumi-kubernetes-abc").unwrap();
        assert_eq!(fixed.len(), 2);
        assert_eq!(fixed[0]["manager"], "kube-controller-manager");
        assert_eq!(fixed[1]["manager"], "pulumi-kubernetes-abc");
        assert_eq!(fixed[1]["operation"], "Apply");
        assert_eq!(
            fixed[1]["fieldsV1"],
            json!({"f:metadata": {"f:labels": {}, "f:annotations": {}}})
        );
    }

    #[test]
    fn nothing_to_take_over_leaves_the_entries_alone() {
        let entries = [
            entry("pulumi-kubernetes-abc", "Apply", "labels"),
            entry("helm", "Update", "annotations"),
            json!({"manager": "pulumi-kubernetes", "operation": "Update", "subresource": "status"}),
        ];
        assert_eq!(take_over(&entries, "pulumi-kubernetes-abc"), None);
    }
}
