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

/// A Deployment of `image` in `flux-system`, running one replica when `running` (none
/// otherwise).
fn deployment(name: &str, image: &str, running: bool) -> String {
    deployment_in("flux-system", name, image, running)
}

/// [`deployment`] in the namespace `ns`.
fn deployment_in(ns: &str, name: &str, image: &str, running: bool) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}, labels: {{app: {name}}}}}\nspec:\n  replicas: {}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: manager, image: '{image}'}}]}}\n",
        u8::from(running)
    )
}

async fn flux_with_controllers() -> Harness {
    flux_with_controllers_on("1.33", &[]).await
}

/// [`flux_with_controllers`] on a server reporting `version`, with `extra` seeds.
async fn flux_with_controllers_on(version: &str, extra: &[&str]) -> Harness {
    let mut scenario = fast();
    scenario.kubernetes_version = version.into();
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
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .collect::<Vec<_>>(),
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

/// [`flux_with_controllers_on`] `version` with `extra`, and what the dry run of deleting
/// `flux-system` says.
async fn flux_system_deleted_on(version: &str, extra: &[&str]) -> (Harness, String) {
    let h = flux_with_controllers_on(version, extra).await;
    let ns = Selection::of_kind("Namespace", None, Target::Name("flux-system".into()));
    let summary = kube_delete(&h.env(LONG).dry_run(true), &delete(ns))
        .await
        .unwrap();
    (h, summary)
}

/// The namespace holding both the controller and the objects it finalizes: from 1.33
/// its Pods go first, so the controller is stopped before the objects are deleted.
#[tokio::test]
async fn a_controller_in_the_namespace_deleted_with_its_objects_is_stopped_first() {
    for (version, order) in [
        (
            "1.33",
            "Kubernetes 1.33.0 deletes a namespace's Pods before its other objects \
             (OrderedNamespaceDeletion, on by default in 1.33)",
        ),
        (
            "1.34.2",
            "Kubernetes 1.34.2 deletes a namespace's Pods before its other objects",
        ),
    ] {
        let (h, summary) = flux_system_deleted_on(version, &[]).await;
        assert_eq!(
            summary,
            "would delete namespaces/flux-system; 1 object carries finalizers (finalizers.fluxcd.io); \
             flux-system/kustomize-controller would act on them but is stopped first (its namespace's \
             Pods go first), so they may stay until removed"
        );
        let line = format!(
            "running Deployments that would act on finalizers.fluxcd.io but are stopped first: \
             flux-system/kustomize-controller (1 ready, ghcr.io/fluxcd/kustomize-controller:v1.4.0): \
             they run in namespaces/flux-system, and {order}, so the objects keep their finalizers \
             (and the namespace stays Terminating) until they are removed"
        );
        assert!(
            h.lines.all().contains(&line),
            "{line} in {:#?}",
            h.lines.all()
        );
        h.sb.shutdown().await;
    }
}

/// A controller in the deleted namespace is stopped first; one running elsewhere may still
/// act, and both are said.
#[tokio::test]
async fn a_controller_elsewhere_may_act_beside_one_stopped_first() {
    let (h, summary) = flux_system_deleted_on(
        "1.33",
        &[
            "{apiVersion: v1, kind: Namespace, metadata: {name: tenant}}",
            &deployment_in(
                "tenant",
                "kustomize-controller",
                "ghcr.io/fluxcd/kustomize-controller:v1.4.0",
                true,
            ),
        ],
    )
    .await;
    assert_eq!(
        summary,
        "would delete namespaces/flux-system; 1 object carries finalizers (finalizers.fluxcd.io); \
         running Deployments that may act on them: tenant/kustomize-controller; \
         flux-system/kustomize-controller would act on them but is stopped first (its namespace's \
         Pods go first)"
    );
    let lines = h.lines.all();
    for line in [
        "running Deployments that would act on finalizers.fluxcd.io but are stopped first: \
         flux-system/kustomize-controller (1 ready, ghcr.io/fluxcd/kustomize-controller:v1.4.0): ",
        "running Deployments that may act on finalizers.fluxcd.io (`fluxcd` in their images or \
         label values): tenant/kustomize-controller (1 ready, ghcr.io/fluxcd/kustomize-controller:v1.4.0)",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(line)),
            "{line} in {lines:#?}"
        );
    }
    h.sb.shutdown().await;
}

/// Before 1.33 a namespace's objects go in no set order: the controller in it may act.
#[tokio::test]
async fn before_1_33_a_controller_in_the_deleted_namespace_may_act() {
    let (h, summary) = flux_system_deleted_on("1.32.13", &[]).await;
    assert_eq!(
        summary,
        "would delete namespaces/flux-system; 1 object carries finalizers (finalizers.fluxcd.io); \
         running Deployments that may act on them: flux-system/kustomize-controller"
    );
    let line = "flux-system/kustomize-controller (1 ready, ghcr.io/fluxcd/kustomize-controller:v1.4.0) \
                run in namespaces/flux-system, deleted with the objects they act on: Kubernetes 1.32.13 \
                deletes a namespace's objects in no set order, Pods among them \
                (OrderedNamespaceDeletion is off by default before 1.33), so they may act on them \
                before their Pods go";
    assert!(
        h.lines.all().contains(&line.to_owned()),
        "{line} in {:#?}",
        h.lines.all()
    );
    h.sb.shutdown().await;
}

/// Objects reached through two namespaces at once: the controller's namespace losing its
/// Pods first does not stop it before the other namespace's objects are deleted.
#[tokio::test]
async fn a_controller_deleted_beside_another_namespace_of_its_objects_may_act() {
    let h = flux_with_controllers().await;
    let both = Selection::of_kind(
        "Namespace",
        None,
        Target::Pattern(regex::Regex::new("^(apps|flux-system)$").unwrap()),
    );
    let summary = kube_delete(&h.env(LONG).dry_run(true), &delete(both))
        .await
        .unwrap();
    assert!(
        summary.ends_with(
            "2 objects carry finalizers (finalizers.fluxcd.io); \
             running Deployments that may act on them: flux-system/kustomize-controller"
        ),
        "{summary}"
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
