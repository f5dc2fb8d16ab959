//! Starting, addressing and stopping a sandbox.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;

use super::error::SandboxError;
use super::faults::{Faults, RequestRecord};
use super::http;
use super::scenario::Scenario;
use super::seed::{self, Manifest};
use super::shared::Shared;
use super::state::SandboxState;
use super::store::Store;

/// How to start a sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Manifests stored before the server answers (after the scenario's own seeds).
    pub seeds: Vec<Manifest>,
    /// Delays, faults, condition rules and seed files.
    pub scenario: Scenario,
}

impl SandboxConfig {
    /// A config with a free port and this scenario.
    pub fn with_scenario(scenario: Scenario) -> Self {
        Self {
            scenario,
            ..Self::default()
        }
    }
}

/// A running sandbox API server.
pub struct Sandbox {
    shared: Arc<Shared>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    /// Bind 127.0.0.1:`port`, seed the store and start serving.
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(|source| SandboxError::Bind {
                port: config.port,
                source,
            })?;
        let addr: SocketAddr = listener.local_addr().map_err(|source| SandboxError::Bind {
            port: config.port,
            source,
        })?;
        let mut manifests = Vec::new();
        for path in &config.scenario.seeds {
            manifests.push(Manifest::from_file(path)?);
        }
        manifests.extend(config.seeds.iter().cloned());
        let manager = config.scenario.seed_field_manager.clone();
        let faults = Faults::new(&config.scenario.faults);
        let mut store = Store::new(config.scenario);
        seed::seed(&mut store, &manifests, &manager)?;
        let shared = Shared::new(store, faults, addr);
        // Seeding may have scheduled rollouts and conditions.
        shared.with_store(|_| ());
        let app = http::router(Arc::clone(&shared));
        let cancel = shared.cancel.clone();
        let server = tokio::spawn(async move {
            // Watch events are small writes: without TCP_NODELAY, Nagle's algorithm and
            // delayed ACKs hold each one back by tens of milliseconds.
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!("cannot set TCP_NODELAY: {e}");
                }
            });
            let serve = axum::serve(listener, app).with_graceful_shutdown(cancel.cancelled_owned());
            if let Err(e) = serve.await {
                tracing::warn!("sandbox server stopped: {e}");
            }
        });
        Ok(Sandbox {
            shared,
            server: Some(server),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// A kubeconfig whose current context points at this sandbox.
    pub fn kubeconfig_yaml(&self, context_name: &str) -> String {
        kubeconfig_yaml(&self.url(), context_name)
    }

    /// Write the kubeconfig to `path` (creating parent folders): mode 0600, written
    /// aside and renamed into place, so a symbolic link planted at `path` is
    /// replaced, never written through.
    pub fn write_kubeconfig(&self, path: &Path, context_name: &str) -> Result<(), SandboxError> {
        write_kubeconfig_of(path, &[(context_name, &self.url())], context_name)
    }

    /// A kube client for this sandbox.
    pub async fn client(&self) -> Result<kube::Client, SandboxError> {
        let url = self
            .url()
            .parse()
            .expect("a socket address makes a valid URL");
        let config = kube::Config::new(url);
        kube::Client::try_from(config).map_err(SandboxError::Client)
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests()
    }

    /// The handle tests use to change state mid-test.
    pub fn state(&self) -> SandboxState {
        SandboxState::new(Arc::clone(&self.shared))
    }

    /// Stop serving: end watches and timers, then the server.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        self.shared.cancel.cancel();
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(Duration::from_secs(2), &mut server)
                .await
                .is_err()
        {
            // Idle keep-alive connections can hold graceful shutdown open; cut them.
            server.abort();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// A kubeconfig for `server` with one cluster, user and context named `context_name`.
pub fn kubeconfig_yaml(server: &str, context_name: &str) -> String {
    kubeconfig_yaml_of(&[(context_name, server)], context_name)
}

/// Writes [`kubeconfig_yaml_of`] to `path` as [`Sandbox::write_kubeconfig`] does
/// (mode 0600, written aside and renamed into place).
pub fn write_kubeconfig_of(
    path: &Path,
    contexts: &[(&str, &str)],
    current: &str,
) -> Result<(), SandboxError> {
    let err = |source| SandboxError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    super::private_file::replace_private(path, kubeconfig_yaml_of(contexts, current).as_bytes())
        .map_err(err)
}

/// A kubeconfig with a cluster, user and context per `(name, server)`, `current` the
/// current context.
pub fn kubeconfig_yaml_of(contexts: &[(&str, &str)], current: &str) -> String {
    let mut clusters = String::new();
    let mut users = String::new();
    let mut entries = String::new();
    for (name, server) in contexts {
        clusters.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {server}\n"
        ));
        users.push_str(&format!("- name: {name}\n  user: {{}}\n"));
        entries.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n    namespace: default\n"
        ));
    }
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n{users}contexts:\n{entries}current-context: {current}\npreferences: {{}}\n"
    )
}
