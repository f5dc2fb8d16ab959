//! What `kube-delete` says before it acts: the finalizers of the objects it deletes
//! and of what they contain, and the running Deployments that may act on them.

use planrun::exec::kube::kube_delete;
use planrun::validate::{Selection, Target};

use crate::kube_harness::{FLUX_NS, Harness, LONG, delete, fast};
use crate::support::FLUX_CRDS;

fn kustomization(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: {name}, namespace: {ns}, finalizers: [finalizers.fluxcd.io]}}\nspec: {{path: ./{name}, prune: true}}\n"
    )
}

/// A Deployment of `image`, running one replica when `running` (none otherwise).
fn deployment(name: &str, image: &str, running: bool) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: flux-system, labels: {{app: {name}}}}}\nspec:\n  replicas: {}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: manager, image: '{image}'}}]}}\n",
        u8::from(running)
    )
}

async fn flux_with_controllers() -> Harness {
    let mut scenario = fast();
    // Rolled out at once.
    scenario.deployment_ready_delay = planrun_sandbox::Delay::millis(0);
    Harness::start(
        scenario,
        &[
            FLUX_CRDS,
            FLUX_NS,
            "{apiVersion: v1, kind: Namespace, metadata: {name: apps}}",
            &kustomization("flux-system", "flux-system"),
            &kustomization("apps", "apps"),
            &deployment(
                "kustomize-controller",
                "ghcr.io/fluxcd/kustomize-controller:v1.4.0",
                true,
            ),
            &deployment(
                "helm-controller",
                "ghcr.io/fluxcd/helm-controller:v1.1.0",
                false,
            ),
            &deployment("podinfo", "ghcr.io/stefanprodan/podinfo:6.7.0", true),
        ],
    )
    .await
}

#[tokio::test]
async fn a_crd_delete_names_its_custom_resources_finalizers_and_the_controllers_still_running() {
    let h = flux_with_controllers().await;
    let crd = Selection::of_kind(
        "CustomResourceDefinition",
        None,
        Target::Name("kustomizations.kustomize.toolkit.fluxcd.io".into()),
    );
    let summary = kube_delete(&h.env(LONG).dry_run(true), &delete(crd.clone()))
        .await
        .unwrap();
    assert_eq!(
        summary,
        "would delete customresourcedefinitions/kustomizations.kustomize.toolkit.fluxcd.io; \
         2 objects carry finalizers (finalizers.fluxcd.io); running Deployments that may act on them: \
         flux-system/kustomize-controller"
    );
    let lines = h.lines.all();
    assert!(
        lines.contains(&"customresourcedefinitions/kustomizations.kustomize.toolkit.fluxcd.io: 2 custom resources in it carry finalizers (finalizers.fluxcd.io): kustomizations/apps/apps, kustomizations/flux-system/flux-system".to_string()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"running Deployments that may act on finalizers.fluxcd.io (`fluxcd` in their images or label values): flux-system/kustomize-controller (1 ready, ghcr.io/fluxcd/kustomize-controller:v1.4.0)".to_string()),
        "{lines:#?}"
    );
    // The dry run deleted nothing; the real delete says the same before acting.
    let summary = kube_delete(&h.env(LONG), &delete(crd)).await.unwrap();
    assert!(
        summary.starts_with("deleted customresourcedefinitions/kustomizations.kustomize.toolkit.fluxcd.io; 2 objects carry finalizers"),
        "{summary}"
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_namespace_delete_names_the_finalizers_of_its_contents() {
    let h = flux_with_controllers().await;
    let ns = Selection::of_kind("Namespace", None, Target::Name("apps".into()));
    let summary = kube_delete(&h.env(LONG).dry_run(true), &delete(ns))
        .await
        .unwrap();
    assert_eq!(
        summary,
        "would delete namespaces/apps; 1 object carries finalizers (finalizers.fluxcd.io); \
         running Deployments that may act on them: flux-system/kustomize-controller"
    );
    assert!(
        h.lines.all().contains(
            &"namespaces/apps: 1 object in it carries finalizers (finalizers.fluxcd.io): kustomizations/apps/apps".to_string()
        ),
        "{:#?}",
        h.lines.all()
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn without_a_running_controller_the_finalizer_is_said_to_stay() {
    let h = Harness::start(
        fast(),
        &[
            FLUX_NS,
            "{apiVersion: v1, kind: ConfigMap, metadata: {name: held, namespace: flux-system, finalizers: [example.com/hold]}}",
        ],
    )
    .await;
    let cm = Selection::of_kind(
        "ConfigMap",
        Some("flux-system"),
        Target::Name("held".into()),
    );
    let summary = kube_delete(&h.env(LONG), &delete(cm)).await.unwrap();
    assert_eq!(
        summary,
        "deleted configmaps/flux-system/held; 1 object carries finalizers (example.com/hold); \
         no running Deployment seems to act on them, so they may stay until removed"
    );
    h.sb.shutdown().await;
}
