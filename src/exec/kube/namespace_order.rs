//! In what order the cluster's namespace controller deletes a deleted namespace's
//! content, read from the server's version: whether its Pods go first, and nothing
//! else until they are gone.
//!
//! That order is the OrderedNamespaceDeletion feature gate (kubernetes/kubernetes
//! v1.36.3 `pkg/features/kube_features.go`; v1.32.13
//! `pkg/features/versioned_kube_features.go`; the order itself in
//! `pkg/controller/namespace/deletion/namespaced_resources_deleter.go`,
//! `deleteAllContent`):
//! - from 1.34 it is GA and locked on: Pods first, always;
//! - in 1.33 it is beta and on by default: Pods first unless the cluster turned the
//!   gate off (a client cannot see the gates, so this is said with the version);
//! - before 1.33 it is off by default (and absent before the 1.30-1.32 patch
//!   releases that added it): every kind is deleted in the same pass, in no set order.
//!
//! What it changes for an operator: a controller running in the namespace being
//! deleted is stopped before the objects whose finalizers it handles are deleted,
//! so it does not act on them (Flux's kustomize-controller does not prune) and they
//! keep the namespace Terminating until their finalizers are removed; checked against
//! the real kustomize-controller in the tests (`flux_controllers_real`).

use planrun_text::KubeVersion;

use super::env::TaskEnv;

/// The namespace controller's order on one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamespaceOrder {
    version: KubeVersion,
    gate: Gate,
}

/// The OrderedNamespaceDeletion gate on a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// GA, locked on (1.34 and later).
    Locked,
    /// Beta, on by default (1.33).
    OnByDefault,
    /// Off by default, or not there (before 1.33).
    OffByDefault,
}

impl NamespaceOrder {
    /// The order of a server at `version`.
    pub(crate) fn of(version: KubeVersion) -> Self {
        let gate = if version.at_least(1, 34) {
            Gate::Locked
        } else if version.at_least(1, 33) {
            Gate::OnByDefault
        } else {
            Gate::OffByDefault
        };
        Self { version, gate }
    }

    /// The order of the task's server ([`super::Connection::server_version`], asked once
    /// per connection); the error says what went wrong.
    pub(crate) async fn of_server(env: &TaskEnv<'_>) -> Result<Self, String> {
        env.conn.server_version().await.map(Self::of)
    }

    /// Whether a deleted namespace loses its Pods before anything else.
    pub(crate) fn pods_first(&self) -> bool {
        self.gate != Gate::OffByDefault
    }

    /// The order in a clause: "Kubernetes 1.36.3 deletes a namespace's Pods before
    /// its other objects".
    pub(crate) fn described(&self) -> String {
        let v = &self.version;
        match self.gate {
            Gate::Locked => {
                format!("Kubernetes {v} deletes a namespace's Pods before its other objects")
            }
            Gate::OnByDefault => format!(
                "Kubernetes {v} deletes a namespace's Pods before its other objects \
                 (OrderedNamespaceDeletion, on by default in 1.33)"
            ),
            Gate::OffByDefault => format!(
                "Kubernetes {v} deletes a namespace's objects in no set order, Pods among \
                 them (OrderedNamespaceDeletion is off by default before 1.33)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(version: &str) -> NamespaceOrder {
        NamespaceOrder::of(KubeVersion::parse(version).unwrap())
    }

    #[test]
    fn pods_go_first_from_1_33() {
        assert!(order("v1.36.3").pods_first());
        assert!(order("v1.34.0").pods_first());
        assert!(order("v1.33.13-eks-1").pods_first());
        assert!(!order("v1.32.13").pods_first());
        assert!(!order("v1.30.0").pods_first());
    }

    #[test]
    fn the_order_is_said_with_the_version_and_the_gate() {
        assert_eq!(
            order("v1.36.3").described(),
            "Kubernetes 1.36.3 deletes a namespace's Pods before its other objects"
        );
        assert!(
            order("v1.33.1+k3s1")
                .described()
                .ends_with("(OrderedNamespaceDeletion, on by default in 1.33)")
        );
        assert_eq!(
            order("v1.32.4").described(),
            "Kubernetes 1.32.4 deletes a namespace's objects in no set order, Pods among them \
             (OrderedNamespaceDeletion is off by default before 1.33)"
        );
    }
}
