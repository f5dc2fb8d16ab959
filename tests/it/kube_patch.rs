//! `kube-patch` and selections of several kinds against the sandbox API server:
//! finalizers removed from every object of the API groups a pattern matches in every
//! namespace, conflict-safe under a concurrent writer (a conflict injected between
//! read and write), dry runs, and a group-version discovery cannot list reported, not
//! hidden. Merge and JSON patches, and a removal under a real concurrent writer, run on
//! both backends in `kube_dual`.

use planrun::exec::kube::{KubeError, kube_delete, kube_patch, wait_absent};
use planrun::validate::{
    KindSet, KubePatch, Namespaces, PatchChange, Selection, Target, WaitAbsent,
};
use planrun_sandbox::FaultRule;
use regex::Regex;
use serde_json::json;

use crate::kube_harness::{FLUX_NS, Harness, LONG, delete, fast, pattern};
use crate::support::FLUX_CRDS;

const APPS_NS: &str = "{apiVersion: v1, kind: Namespace, metadata: {name: apps}}";

fn repo(ns: &str, name: &str, finalizers: &[&str]) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: {name}, namespace: {ns}, finalizers: {finalizers:?}}}\nspec: {{url: 'https://example.com/{name}', interval: 1m}}\n"
    )
}

fn kustomization(ns: &str, name: &str, finalizers: &[&str]) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: {name}, namespace: {ns}, finalizers: {finalizers:?}}}\nspec: {{path: ./{name}, prune: true, interval: 10m}}\n"
    )
}

/// Every Flux object (the groups matching `fluxcd\.io$`) in every namespace.
fn every_flux_object() -> Selection {
    Selection {
        kinds: KindSet::GroupPattern(Regex::new(r"fluxcd\.io$").unwrap()),
        namespace: Namespaces::All,
        target: pattern(".*"),
    }
}

fn remove(names: &[&str]) -> KubePatch {
    KubePatch {
        selection: every_flux_object(),
        change: PatchChange::RemoveFinalizers(names.iter().map(|n| n.to_string()).collect()),
    }
}

async fn flux_objects() -> Harness {
    Harness::start(
        fast(),
        &[
            FLUX_CRDS,
            FLUX_NS,
            APPS_NS,
            &repo(
                "flux-system",
                "flux-system",
                &["finalizers.fluxcd.io", "example.com/keep"],
            ),
            &repo("flux-system", "plain", &[]),
            &kustomization("apps", "apps", &["finalizers.fluxcd.io"]),
        ],
    )
    .await
}

fn finalizers(h: &Harness, api_version: &str, kind: &str, ns: &str, name: &str) -> Vec<String> {
    let obj = h.sb.state().get(api_version, kind, ns, name).unwrap();
    obj["metadata"]["finalizers"]
        .as_array()
        .map(|a| a.iter().map(|f| f.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

fn patches(h: &Harness) -> usize {
    h.sb.requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count()
}

#[tokio::test]
async fn finalizers_go_from_every_flux_object_in_every_namespace_and_nothing_else_changes() {
    let h = flux_objects().await;
    let plain_before =
        h.sb.state()
            .get(
                "source.toolkit.fluxcd.io/v1",
                "GitRepository",
                "flux-system",
                "plain",
            )
            .unwrap();
    let summary = kube_patch(&h.env(LONG), &remove(&["finalizers.fluxcd.io"]))
        .await
        .unwrap();
    assert_eq!(
        summary,
        "removed finalizers.fluxcd.io from 2 objects in 2 namespaces; 1 had none"
    );
    assert_eq!(
        finalizers(
            &h,
            "source.toolkit.fluxcd.io/v1",
            "GitRepository",
            "flux-system",
            "flux-system"
        ),
        vec!["example.com/keep"],
        "only the named finalizer goes"
    );
    assert!(
        finalizers(
            &h,
            "kustomize.toolkit.fluxcd.io/v1",
            "Kustomization",
            "apps",
            "apps"
        )
        .is_empty()
    );
    // The object without the finalizer was not written.
    let plain_after =
        h.sb.state()
            .get(
                "source.toolkit.fluxcd.io/v1",
                "GitRepository",
                "flux-system",
                "plain",
            )
            .unwrap();
    assert_eq!(
        plain_after["metadata"]["resourceVersion"],
        plain_before["metadata"]["resourceVersion"]
    );
    assert_eq!(patches(&h), 2, "{:#?}", h.sb.requests());
    let lines = h.lines.all();
    assert!(
        lines.contains(&"removed finalizers.fluxcd.io from kustomizations/apps/apps".to_string()),
        "{lines:?}"
    );
    // Again: nothing left to remove, nothing written.
    let summary = kube_patch(&h.env(LONG), &remove(&["finalizers.fluxcd.io"]))
        .await
        .unwrap();
    assert_eq!(
        summary,
        "removed finalizers.fluxcd.io from 0 objects; 3 had none"
    );
    assert_eq!(patches(&h), 2);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_concurrent_writer_makes_the_removal_retry_and_its_change_is_kept() {
    let h = flux_objects().await;
    // Between the task's read and its write, another writer adds a finalizer and a
    // label to the GitRepository: the write carries a stale resourceVersion.
    h.sb.state().add_fault(FaultRule {
        kind: Some("gitrepositories".into()),
        method: Some("PATCH".into()),
        count: Some(1),
        concurrent_write: Some(json!({"metadata": {
            "labels": {"touched-by": "other-writer"},
            "finalizers": ["finalizers.fluxcd.io", "example.com/keep", "example.com/other"],
        }})),
        ..FaultRule::default()
    });
    let summary = kube_patch(&h.env(LONG), &remove(&["finalizers.fluxcd.io"]))
        .await
        .unwrap();
    assert_eq!(
        summary,
        "removed finalizers.fluxcd.io from 2 objects in 2 namespaces; 1 had none"
    );
    let repo =
        h.sb.state()
            .get(
                "source.toolkit.fluxcd.io/v1",
                "GitRepository",
                "flux-system",
                "flux-system",
            )
            .unwrap();
    assert_eq!(
        finalizers(
            &h,
            "source.toolkit.fluxcd.io/v1",
            "GitRepository",
            "flux-system",
            "flux-system"
        ),
        vec!["example.com/keep", "example.com/other"],
        "the other writer's finalizer is kept"
    );
    assert_eq!(repo["metadata"]["labels"]["touched-by"], "other-writer");
    // The stale write was refused, the object read again, the write repeated.
    let log = h.sb.requests();
    let conflicts: Vec<_> = log
        .iter()
        .filter(|r| r.method == "PATCH" && r.status == 409)
        .collect();
    assert_eq!(conflicts.len(), 1, "{log:#?}");
    assert_eq!(conflicts[0].reason.as_deref(), Some("Conflict"));
    assert!(
        h.lines.all().iter().any(|l| l.starts_with(
            "gitrepositories/flux-system/flux-system changed since it was read (Conflict (409)"
        )),
        "{:?}",
        h.lines.all()
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_removal_that_keeps_conflicting_stops_with_a_clear_error() {
    let h = flux_objects().await;
    h.sb.state().add_fault(FaultRule {
        kind: Some("kustomizations".into()),
        method: Some("PATCH".into()),
        status: Some(409),
        ..FaultRule::default()
    });
    let err = kube_patch(&h.env(LONG), &remove(&["finalizers.fluxcd.io"]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, KubeError::Conflicting { attempts: 5, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "kustomizations/apps/apps: still conflicting after 5 attempts (another writer keeps changing it); last: Conflict (409): injected conflict"
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_dry_run_says_what_would_change_and_changes_nothing() {
    let h = flux_objects().await;
    let env = h.env(LONG).dry_run(true);
    let summary = kube_patch(&env, &remove(&["finalizers.fluxcd.io"]))
        .await
        .unwrap();
    assert_eq!(
        summary,
        "would remove finalizers.fluxcd.io from 2 objects in 2 namespaces; 1 had none"
    );
    // The preview names each object it would patch, and what it would remove.
    let would = serde_json::to_value(env.noted()).unwrap();
    let would = would.as_array().unwrap();
    assert_eq!(would.len(), 2, "{would:?}");
    assert!(
        would.contains(&json!({"action": "patch",
            "api_version": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "namespace": "apps", "name": "apps",
            "remove_finalizers": ["finalizers.fluxcd.io"]})),
        "{would:?}"
    );
    assert_eq!(
        finalizers(
            &h,
            "kustomize.toolkit.fluxcd.io/v1",
            "Kustomization",
            "apps",
            "apps"
        ),
        vec!["finalizers.fluxcd.io"]
    );
    // The server was asked (dryRun=All), not skipped.
    assert!(
        h.sb.requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.query.contains("dryRun=All")),
        "{:#?}",
        h.sb.requests()
    );
    // A merge patch: each object and the summary say what would be done.
    let summary = kube_patch(
        &env,
        &KubePatch {
            selection: every_flux_object(),
            change: PatchChange::Merge(json!({"spec": {"suspend": true}})),
        },
    )
    .await
    .unwrap();
    assert_eq!(summary, "would patch 3 objects in 2 namespaces");
    let lines = h.lines.all();
    for line in [
        "would remove finalizers.fluxcd.io from kustomizations/apps/apps",
        "would patch kustomizations/apps/apps",
    ] {
        assert!(lines.iter().any(|l| l == line), "{line}: {lines:#?}");
    }
    h.sb.shutdown().await;
}

#[tokio::test]
async fn several_kinds_are_deleted_and_waited_for_together() {
    let h = Harness::start(
        fast(),
        &[
            "{apiVersion: v1, kind: ConfigMap, metadata: {name: flux, namespace: default, labels: {app.kubernetes.io/part-of: flux}}}",
            "{apiVersion: v1, kind: Secret, metadata: {name: flux, namespace: default, labels: {app.kubernetes.io/part-of: flux}}}",
            "{apiVersion: v1, kind: Secret, metadata: {name: other, namespace: default}}",
        ],
    )
    .await;
    let sel = Selection {
        kinds: KindSet::Kinds(vec!["ConfigMap".into(), "Secret".into()]),
        namespace: Namespaces::Named("default".into()),
        target: Target::Selector("app.kubernetes.io/part-of=flux".into()),
    };
    let summary = kube_delete(&h.env(LONG), &delete(sel.clone()))
        .await
        .unwrap();
    assert_eq!(
        summary,
        "deleted 2 objects: configmaps/default/flux, secrets/default/flux"
    );
    let summary = wait_absent(&h.env(LONG), &WaitAbsent { selection: sel })
        .await
        .unwrap();
    assert_eq!(
        summary,
        "configmaps, secrets with labels app.kubernetes.io/part-of=flux in namespace default already absent"
    );
    assert!(h.exists("v1", "Secret", "default", "other"));
    // A cluster-scoped kind with a namespace is an impossible selection.
    let bad = Selection {
        kinds: KindSet::Kinds(vec!["ConfigMap".into(), "Namespace".into()]),
        namespace: Namespaces::Named("default".into()),
        target: pattern(".*"),
    };
    let err = kube_delete(&h.env(LONG), &delete(bad)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Namespace is cluster-scoped, but the task names namespace `default`; remove `namespace` or list the cluster-scoped kinds in a task of their own"
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_group_version_discovery_cannot_list_is_reported_not_hidden() {
    let mut scenario = fast();
    scenario.unavailable_api_services = vec!["metrics.fluxcd.io/v1beta1".into()];
    let h = Harness::start(
        scenario,
        &[
            FLUX_CRDS,
            FLUX_NS,
            &repo("flux-system", "flux-system", &["finalizers.fluxcd.io"]),
        ],
    )
    .await;
    let summary = kube_patch(&h.env(LONG), &remove(&["finalizers.fluxcd.io"]))
        .await
        .unwrap();
    assert_eq!(
        summary,
        "removed finalizers.fluxcd.io from 1 object in 1 namespace; could not list API 1 group-version matching /fluxcd\\.io$/: metrics.fluxcd.io/v1beta1: no resources in discovery (its API server is not answering)"
    );
    // Plain discovery (a server without the aggregated document) says why too.
    h.sb.state().add_fault(FaultRule {
        path: Some("^/api$".into()),
        method: Some("GET".into()),
        count: Some(1),
        status: Some(406),
        ..FaultRule::default()
    });
    let summary = match kube_patch(&h.env(LONG), &remove(&["finalizers.fluxcd.io"])).await {
        Ok(s) => s,
        Err(e) => panic!("{e}: {:#?}", h.sb.requests()),
    };
    assert!(
        summary.ends_with("metrics.fluxcd.io/v1beta1: ServiceUnavailable (503): the server is currently unable to handle the request"),
        "{summary}"
    );
    h.sb.shutdown().await;
}
