//! The sandbox cluster: a faithful in-memory Kubernetes API server that kube-rs and
//! kubectl both accept, for tests, rehearsals and `planrun sandbox`; and the
//! simulated tools ([`simtools`]: `pulumi`, `pnpm`, `flux`).
//!
//! A crate of its own that depends on nothing of planrun's engine (only on the
//! `planrun-text` leaf crate): the engine never reaches into it, and only the
//! `planrun` binary's `sandbox` and `rehearse` commands use it.
//!
//! It serves `/version`, discovery (plain and aggregated v2, derived from the built-in
//! kinds plus the served versions of stored CRDs), core/v1 Namespace, Secret,
//! ConfigMap, Pod, Service and ServiceAccount, apps/v1 Deployment and ReplicaSet,
//! networking.k8s.io/v1 NetworkPolicy, rbac.authorization.k8s.io/v1 ClusterRole and
//! ClusterRoleBinding, apiextensions.k8s.io/v1 CustomResourceDefinition and the
//! custom resources of every stored CRD: GET, LIST (label and field selectors,
//! `limit`/`continue`), POST, PUT, PATCH (server-side apply with `managedFields` per
//! field manager, keyed lists and sets merged item by item as kube-apiserver's schema
//! or the CRD's says; merge, strategic merge (lists merged by the built-in kinds'
//! patch merge keys) and JSON patch; custom resources get their CRD's schema defaults,
//! `defaulting.rs`), DELETE with DeleteOptions
//! (propagation, preconditions, `dryRun=All`), DELETE collection, and watch
//! (resourceVersion replay, 410 Expired, bookmarks, `timeoutSeconds`,
//! `sendInitialEvents`). Errors are real `Status` bodies with the API server's reasons.
//!
//! Lifecycles are simulated: namespaces go through Terminating with the `kubernetes`
//! finalizer (from 1.33 their Pods deleted first, the rest once the Pods are gone; all
//! at once before, as the reported version says), CRDs through
//! `customresourcecleanup.apiextensions.k8s.io`; deployments run a ReplicaSet and pods
//! that become Ready after a delay, deleted pods terminate, then go (`workloads.rs`);
//! the garbage collector follows owner references with background, foreground and
//! orphan propagation (`gc.rs`); objects with finalizers linger until
//! the finalizers are removed; scenario rules give custom resources conditions; and
//! simulated kustomize-controller and helm-controller prune and uninstall what a
//! deleted Kustomization or HelmRelease holds while their pods run (`flux.rs`),
//! writing what they do to an activity log.
//!
//! ```no_run
//! # async fn demo() -> Result<(), planrun_sandbox::SandboxError> {
//! use planrun_sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::start(SandboxConfig::default()).await?;
//! let client = sandbox.client().await?;
//! # let _ = client;
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Scenario files
//!
//! A scenario is YAML; every key is optional. Durations are seconds (`2`, `0.5`) or
//! strings with a unit (`"250ms"`, `"2s"`, `"1m"`), or `never`.
//!
//! ```yaml
//! kubernetes_version: "1.33"        # /version (1.<minor>[.<patch>]; kubectl needs 1.27-1.33)
//! namespace_finalize_delay: 500ms   # delete -> contents removed -> namespace removed
//! namespaces:
//!   flux-system: { finalize_delay: 2s }
//!   stuck-ns: { stuck: true }       # the `kubernetes` finalizer never clears
//! crd_finalize_delay: 200ms         # delete -> custom resources removed -> CRD removed
//! deployment_ready_delay: 500ms     # a pod is Ready this long after it is created
//!                                   #   (`never`: stays Pending); seeded ones are Ready
//! pod_termination_delay: 500ms      # a deleted pod is Terminating this long, then gone
//! controllers:                      # simulated Flux controllers (see below)
//!   kustomize: flux-system/kustomize-controller
//!   helm: flux-system/helm-controller
//!   source: flux-system/source-controller
//!   delay: 100ms                    # how long they take to act
//! finalizer_clear_delay: never      # a simulated controller clears finalizers of deleted
//! stuck_finalizers: [example.com/keep]  #   objects after this delay, except these
//! conditions:                       # give custom resources conditions after each apply
//!   - kind: GitRepository
//!     group: source.toolkit.fluxcd.io   # optional
//!     namespace: flux-system            # optional
//!     name: "^flux-system$"             # optional regex
//!     type: Ready                       # default Ready
//!     status: "True"                    # default "True"
//!     reason: Succeeded                 # default Succeeded
//!     message: stored artifact for revision 'main@sha1:0123'
//!     after: 2s                         # default 0
//!     manager: source-controller        # field manager of the status write
//! faults:                           # every present matcher must match
//!   - path: "^/api/v1/namespaces$"  # regex on the path
//!     method: GET
//!     kind: Namespace               # kind or plural
//!     watch: false                  # only watches (true) or only other requests
//!     skip: 1                       # let the first N matching requests through
//!     count: 2                      # then fire N times (unlimited when absent)
//!     status: 503                   # 500, 503, 429 (with retry_after), 410, ...
//!     retry_after: 1
//!     latency: 100ms
//!   - kind: namespaces
//!     watch: true
//!     drop_after_events: 3          # abort the watch stream after 3 events
//!   - kind: namespaces
//!     watch: true
//!     count: 1
//!     expire_watch: true            # answer the watch with ERROR 410 Expired
//!   - kind: gitrepositories
//!     method: PATCH
//!     count: 1                      # another writer merge-patches the object first
//!     concurrent_write: { metadata: { labels: { touched: "yes" } } }
//! unavailable_api_services: [metrics.k8s.io/v1beta1]  # aggregated APIs that are down: in
//!                                   #   discovery without resources, 503 for every request
//! seeds: [old-flux.yaml]            # manifests, relative to the scenario file
//! seed_field_manager: kubectl-client-side-apply  # manager of seeded objects
//! bookmark_interval: 1m            # and one 2 s before a watch's timeoutSeconds
//! event_log_capacity: 1000          # older resourceVersions answer 410 Expired
//! ```

mod command;
mod defaulting;
mod discovery;
mod error;
mod faults;
mod fields;
mod flux;
mod gc;
mod http;
mod lifecycle;
mod limits;
mod list;
mod openapi;
mod patch;
mod private_file;
mod protobuf;
mod reactions;
mod resources;
mod scenario;
mod seed;
mod selector;
mod server;
mod shared;
pub mod simtools;
mod snapshot;
mod state;
mod status;
mod store;
mod table;
mod unknown_fields;
mod watch;
mod workloads;

pub use command::{SandboxArgs, Started, start_from_args};
pub use error::SandboxError;
pub use faults::RequestRecord;
pub use reactions::{ConditionSpec, Reaction, When};
pub use scenario::{ConditionRule, Delay, FaultRule, FluxControllers, NamespaceKnob, Scenario};
pub use seed::{Manifest, seed_order};
pub use server::{Sandbox, SandboxConfig, kubeconfig_yaml, write_kubeconfig_of};
pub use shared::REQUEST_LOG_CAPACITY;
pub use snapshot::Snapshot;
pub use state::{Changes, SandboxState};
pub use status::ApiError;
pub use store::Activity;
