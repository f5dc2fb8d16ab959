//! One Kubernetes task test body, two backends: the embedded sandbox and the real
//! control plane (`realcluster::shared`). A [`World`] gives a test a kubeconfig and a
//! context, a [`Connection`] as `planrun run` opens it, the progress lines its tasks
//! said, ways to seed objects as their writer would have written them (server-side
//! apply as a named manager; client-side apply with kubectl's last-applied annotation)
//! and a prefix of its own for every name it makes: namespaces, and API groups of its
//! CRDs (`<prefix>.planrun.test`), so that tests share the real cluster side by side.
//!
//! [`on_both_backends!`] turns `async fn NAME(w: World)` into the tests `NAME::sandbox`
//! and `NAME::real`; the real one skips by the realcluster harness's rule (tools not
//! built, unless CI requires them).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};
use planrun::exec::kube::{ConnectOptions, Connection, TaskEnv};
use planrun_sandbox::Sandbox;
use serde_json::{Value, json};

use crate::kube_harness::{Lines, fast};
use crate::realcluster;
use crate::support::start_sandbox;

/// Where a test body runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sandbox,
    Real,
}

/// How long seeding waits for a kind to be served (a CRD just created on the real
/// API server is Established a moment later) and a test waits for what it expects.
pub const SERVED_WITHIN: Duration = Duration::from_secs(120);

/// kubectl's client-side apply: its field manager and the annotation it keeps the
/// applied configuration in.
pub const CLIENT_SIDE_APPLY: &str = "kubectl-client-side-apply";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A test's cluster, connection and names.
pub struct World {
    sandbox: Option<Sandbox>,
    _dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub context: String,
    pub conn: Connection,
    pub lines: Lines,
    /// Unique in this test process: every name the test makes starts with it.
    pub prefix: String,
}

impl World {
    /// A world on `backend`; `None` when the real cluster's tools are not built (the
    /// harness said so).
    pub async fn start(backend: Backend) -> Option<World> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = tempfile::tempdir().unwrap();
        let (sandbox, kubeconfig, context) = match backend {
            Backend::Sandbox => {
                let sb = start_sandbox(fast(), &[] as &[&str]).await;
                let path = dir.path().join("kubeconfig");
                sb.write_kubeconfig(&path, "sandbox").unwrap();
                (Some(sb), path, "sandbox".to_owned())
            }
            Backend::Real => {
                let cluster = realcluster::shared().await?;
                (None, cluster.kubeconfig.clone(), cluster.context.clone())
            }
        };
        let conn = Connection::open(&ConnectOptions {
            kubeconfig: Some(kubeconfig.clone()),
            context: Some(context.clone()),
        })
        .await
        .unwrap();
        Some(World {
            sandbox,
            _dir: dir,
            kubeconfig,
            context,
            conn,
            lines: Lines::default(),
            prefix: format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed)),
        })
    }

    /// `<prefix>-<name>`.
    pub fn name(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// The API group `<label>.<prefix>.planrun.test`, this test's own.
    pub fn group(&self, label: &str) -> String {
        format!("{label}.{}.planrun.test", self.prefix)
    }

    pub fn env(&self, budget: Duration) -> TaskEnv<'_> {
        TaskEnv::new(&self.conn, &self.lines, budget)
    }

    pub fn client(&self) -> kube::Client {
        self.conn.client().clone()
    }

    /// Stops the sandbox (the real cluster stays for the other tests).
    pub async fn finish(self) {
        if let Some(sb) = self.sandbox {
            sb.shutdown().await;
        }
    }

    /// The API of `obj`'s apiVersion and kind in its namespace, once served.
    pub async fn api_of(&self, obj: &Value) -> Api<DynamicObject> {
        let api_version = obj["apiVersion"].as_str().unwrap();
        let kind = obj["kind"].as_str().unwrap();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let deadline = Instant::now() + SERVED_WITHIN;
        let (res, caps) = loop {
            match pinned_kind(&self.client(), &gvk).await {
                Ok(found) => break found,
                Err(e) => {
                    assert!(Instant::now() < deadline, "{api_version} {kind}: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        match (caps.scope, obj.pointer("/metadata/namespace")) {
            (Scope::Namespaced, Some(ns)) => {
                Api::namespaced_with(self.client(), ns.as_str().unwrap(), &res)
            }
            (Scope::Namespaced, None) => Api::default_namespaced_with(self.client(), &res),
            (Scope::Cluster, _) => Api::all_with(self.client(), &res),
        }
    }

    /// Writes every document of `yaml` by server-side apply as `manager` (forced),
    /// each once its kind is served.
    pub async fn apply(&self, manager: &str, yaml: &str) {
        for obj in documents(yaml) {
            let api = self.api_of(&obj).await;
            let name = obj["metadata"]["name"].as_str().unwrap().to_owned();
            let params = PatchParams::apply(manager).force();
            let patch = Patch::Apply(&obj);
            retry_not_found(|| api.patch(&name, &params, &patch)).await;
        }
    }

    /// Creates every document of `yaml` by a plain POST as `manager` (what
    /// pulumi-kubernetes v4.29 and later does). As [`CLIENT_SIDE_APPLY`] it is what
    /// `kubectl apply` (client-side) sends to create an object: the configuration in
    /// the last-applied annotation (k8s.io/kubectl pkg/util/apply.go: the object
    /// itself, compact JSON, its annotations present even when empty, and a newline).
    pub async fn create(&self, manager: &str, yaml: &str) {
        for mut obj in documents(yaml) {
            let api = self.api_of(&obj).await;
            if manager == CLIENT_SIDE_APPLY {
                let mut config = obj.clone();
                if config.pointer("/metadata/annotations").is_none() {
                    config["metadata"]["annotations"] = json!({});
                }
                obj["metadata"]["annotations"][LAST_APPLIED] =
                    Value::String(config.to_string() + "\n");
            }
            let dynamic: DynamicObject = serde_json::from_value(obj).unwrap();
            let params = PostParams {
                field_manager: Some(manager.to_owned()),
                ..PostParams::default()
            };
            retry_not_found(|| api.create(&params, &dynamic)).await;
        }
    }

    /// The object, as the API server returns it now.
    pub async fn get(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let api = self
            .api_of(
                &json!({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": ns}}),
            )
            .await;
        let obj = api.get_opt(name).await.unwrap()?;
        Some(serde_json::to_value(obj).unwrap())
    }

    /// A JSON merge patch of the object by `manager` (another writer), or of its status.
    pub async fn merge(&self, obj_ref: &Value, name: &str, patch: Value, status: bool) {
        let api = self.api_of(obj_ref).await;
        let params = PatchParams {
            field_manager: Some("other-writer".to_owned()),
            ..PatchParams::default()
        };
        let result = if status {
            api.patch_status(name, &params, &Patch::Merge(&patch)).await
        } else {
            api.patch(name, &params, &Patch::Merge(&patch)).await
        };
        result.unwrap();
    }

    /// A namespaced CRD `<plural>.<group>` of kind `kind` (plural: lowercase + s),
    /// storing anything, with a status subresource.
    pub fn crd(&self, group: &str, kind: &str) -> String {
        self.crd_of(
            group,
            kind,
            "{type: object, x-kubernetes-preserve-unknown-fields: true}",
        )
    }

    /// As [`World::crd`], with `schema` (flow-style YAML) as its `openAPIV3Schema`.
    pub fn crd_of(&self, group: &str, kind: &str, schema: &str) -> String {
        let plural = format!("{}s", kind.to_lowercase());
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: {plural}.{group}}}\n\
             spec:\n  group: {group}\n  names: {{kind: {kind}, listKind: {kind}List, plural: {plural}, singular: {}}}\n  scope: Namespaced\n  versions:\n  - {{name: v1, served: true, storage: true, subresources: {{status: {{}}}}, schema: {{openAPIV3Schema: {schema}}}}}\n",
            kind.to_lowercase()
        )
    }
}

/// The documents of a multi-document YAML text.
fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---")
        .map(|doc| serde_yaml::from_str::<Value>(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// Runs `write` until its kind is served: a CRD's kind may be in discovery a moment
/// before its REST endpoint answers (404) on the real API server.
async fn retry_not_found<F, Fut, T>(write: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let deadline = Instant::now() + SERVED_WITHIN;
    loop {
        match write().await {
            Ok(_) => return,
            Err(kube::Error::Api(s)) if s.code == 404 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("seeding failed: {e}"),
        }
    }
}

/// `on_both_backends!(a, b)`: for each `async fn a(w: World)` of the module, the tests
/// `a::sandbox` and `a::real`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use crate::kube_backend::{Backend, World};

            #[tokio::test]
            async fn sandbox() {
                let w = World::start(Backend::Sandbox).await.expect("a sandbox always starts");
                super::$name(w).await;
            }

            #[tokio::test]
            async fn real() {
                if let Some(w) = World::start(Backend::Real).await {
                    super::$name(w).await;
                }
            }
        }
    )*};
}
pub(crate) use on_both_backends;
