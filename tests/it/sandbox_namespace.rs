//! A Terminating namespace reports what holds it, as the real namespace controller
//! does: the content that remains and the finalizers on it; and what a deletion takes
//! along stays so when the object is written again without its finalizers: a
//! namespace its content, a CRD its custom resources.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::runtime::wait::{await_condition, conditions};
use planrun_sandbox::{NamespaceKnob, Scenario};
use serde_json::json;

use crate::support::{DEADLINE, FLUX_CRDS, fast, start_sandbox};

#[tokio::test]
async fn terminating_namespace_reports_remaining_content_and_finalizers() {
    let mut scenario = Scenario::default();
    scenario.namespaces.insert(
        "app".into(),
        NamespaceKnob {
            stuck: true,
            finalize_delay: None,
        },
    );
    let sandbox = start_sandbox(
        scenario,
        &["{apiVersion: v1, kind: Namespace, metadata: {name: app}}"],
    )
    .await;
    let client = sandbox.client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "app");
    for (name, finalizer) in [("held", Some("example.com/hold")), ("plain", None)] {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.into());
        cm.metadata.finalizers = finalizer.map(|f| vec![f.to_string()]);
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let nss: Api<Namespace> = Api::all(client);
    nss.delete("app", &DeleteParams::background())
        .await
        .unwrap();

    let status = nss.get("app").await.unwrap().status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Terminating"));
    let conditions = status.conditions.unwrap();
    let find = |ty: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == ty)
            .unwrap_or_else(|| panic!("no {ty} condition in {conditions:?}"))
    };
    let content = find("NamespaceContentRemaining");
    assert_eq!(content.status, "True");
    assert_eq!(content.reason.as_deref(), Some("SomeResourcesRemain"));
    assert_eq!(
        content.message.as_deref(),
        Some("Some resources are remaining: configmaps. has 2 resource instances")
    );
    let finalizers = find("NamespaceFinalizersRemaining");
    assert_eq!(finalizers.status, "True");
    assert_eq!(
        finalizers.message.as_deref(),
        Some(
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        )
    );
    assert_eq!(find("NamespaceDeletionDiscoveryFailure").status, "False");
    sandbox.shutdown().await;
}

fn secret(name: &str) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.string_data = Some([("identity".to_owned(), "key".to_owned())].into());
    s
}

/// The sequence of a rehearsal run twice on one cluster: the second seeds the
/// namespace again (a PUT without `spec`), the plan deletes it, then creates its
/// Secret anew. The PUT keeps `spec.finalizers` (only `finalize` changes them), so
/// the deletion goes through the namespace controller, the Secret goes with the
/// namespace, and creating it again succeeds.
#[tokio::test]
async fn a_namespace_written_again_without_its_spec_still_takes_its_content_when_deleted() {
    let sandbox = start_sandbox(
        fast(50),
        &["{apiVersion: v1, kind: Namespace, metadata: {name: flux-system}}"],
    )
    .await;
    let client = sandbox.client().await.unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    let secrets: Api<Secret> = Api::namespaced(client, "flux-system");
    secrets
        .create(&PostParams::default(), &secret("flux-system"))
        .await
        .unwrap();

    let live = nss.get("flux-system").await.unwrap();
    let mut again = Namespace::default();
    again.metadata.name = Some("flux-system".into());
    again.metadata.resource_version = live.metadata.resource_version.clone();
    again.metadata.labels =
        Some([("app.kubernetes.io/part-of".to_owned(), "flux".to_owned())].into());
    let replaced = nss
        .replace("flux-system", &PostParams::default(), &again)
        .await
        .unwrap();
    assert_eq!(
        replaced.spec.and_then(|s| s.finalizers),
        Some(vec!["kubernetes".to_owned()]),
        "a PUT without spec keeps the namespace's finalizers"
    );

    let uid = live.metadata.uid.unwrap();
    nss.delete("flux-system", &DeleteParams::background())
        .await
        .unwrap();
    tokio::time::timeout(
        DEADLINE,
        await_condition(nss.clone(), "flux-system", conditions::is_deleted(&uid)),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        secrets.get_opt("flux-system").await.unwrap().is_none(),
        "the Secret outlived its namespace"
    );

    let mut fresh = Namespace::default();
    fresh.metadata.name = Some("flux-system".into());
    nss.create(&PostParams::default(), &fresh).await.unwrap();
    secrets
        .create(&PostParams::default(), &secret("flux-system"))
        .await
        .unwrap();
    sandbox.shutdown().await;
}

/// The same rehearsal's CRDs: seeded again (a PUT without `metadata.finalizers`),
/// then deleted. A CRD has no finalizer until its delete adds the cleanup one, so the
/// custom resources go with their CRD: made again, it serves none of the old ones
/// (which would otherwise hold their namespace's deletion for ever).
#[tokio::test]
async fn a_crd_written_again_without_its_finalizer_still_takes_its_custom_resources() {
    let sandbox = start_sandbox(
        fast(50),
        &[
            "{apiVersion: v1, kind: Namespace, metadata: {name: flux-system}}",
            FLUX_CRDS,
        ],
    )
    .await;
    let client = sandbox.client().await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = "gitrepositories.source.toolkit.fluxcd.io";
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        "gitrepositories",
    );
    let repos: Api<DynamicObject> = Api::namespaced_with(client.clone(), "flux-system", &resource);
    let repo: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": "flux-system"},
        "spec": {"url": "ssh://git@example.com/cluster", "interval": "1m"}
    }))
    .unwrap();
    repos.create(&PostParams::default(), &repo).await.unwrap();

    let mut again = crds.get(name).await.unwrap();
    let manifest = again.clone();
    again.metadata.finalizers = None;
    let replaced = crds
        .replace(name, &PostParams::default(), &again)
        .await
        .unwrap();
    assert_eq!(
        replaced.metadata.finalizers, None,
        "a PUT sets metadata.finalizers"
    );

    let uid = replaced.metadata.uid.clone().unwrap();
    crds.delete(name, &DeleteParams::background())
        .await
        .unwrap();
    tokio::time::timeout(
        DEADLINE,
        await_condition(crds.clone(), name, conditions::is_deleted(&uid)),
    )
    .await
    .unwrap()
    .unwrap();

    let mut fresh = CustomResourceDefinition {
        metadata: Default::default(),
        spec: manifest.spec,
        status: None,
    };
    fresh.metadata.name = Some(name.to_owned());
    crds.create(&PostParams::default(), &fresh).await.unwrap();
    tokio::time::timeout(
        DEADLINE,
        await_condition(crds.clone(), name, conditions::is_crd_established()),
    )
    .await
    .unwrap()
    .unwrap();
    let left = repos.list(&Default::default()).await.unwrap();
    assert!(
        left.items.is_empty(),
        "custom resources outlived their CRD: {:?}",
        left.items
            .iter()
            .map(|r| &r.metadata.name)
            .collect::<Vec<_>>()
    );
    sandbox.shutdown().await;
}

fn spec_finalizers(ns: &Namespace) -> Vec<String> {
    ns.spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default()
}

/// What the namespace registry does with `spec.finalizers` (kubernetes v1.36.3
/// `pkg/registry/core/namespace/strategy.go`, `storage/storage.go`): a create adds
/// `kubernetes` to the client's and makes the phase Active; a write to the namespace
/// keeps them; its `finalize` subresource, served for PUT alone, replaces all but the
/// status. Deleted, the namespace controller takes its content and its own finalizer,
/// and the others hold the namespace until a `finalize` PUT takes them.
#[tokio::test]
async fn namespace_finalizers_change_only_through_finalize() {
    let sandbox = start_sandbox(fast(50), &[] as &[&str]).await;
    let client = sandbox.client().await.unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    let given: Namespace = serde_json::from_value(json!({
        "metadata": {"name": "held"},
        "spec": {"finalizers": ["example.com/hold"]},
        "status": {"phase": "Terminating"}
    }))
    .unwrap();
    let created = nss.create(&PostParams::default(), &given).await.unwrap();
    assert_eq!(
        spec_finalizers(&created),
        ["example.com/hold", "kubernetes"]
    );
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));

    let patched = nss
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert_eq!(
        spec_finalizers(&patched),
        ["example.com/hold", "kubernetes"]
    );
    let Err(kube::Error::Api(refused)) = nss
        .patch_subresource(
            "finalize",
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"finalizers": []}})),
        )
        .await
    else {
        panic!("a PATCH of finalize was served")
    };
    assert_eq!(
        (refused.code, refused.reason.as_str()),
        (405, "MethodNotAllowed")
    );

    let mut body = patched.clone();
    body.metadata.managed_fields = None;
    body.metadata
        .labels
        .get_or_insert_default()
        .insert("finalized".into(), "yes".into());
    body.spec.get_or_insert_default().finalizers = Some(vec!["example.com/hold".into()]);
    let finalized = nss
        .replace_subresource("finalize", "held", &PostParams::default(), &body)
        .await
        .unwrap();
    assert_eq!(spec_finalizers(&finalized), ["example.com/hold"]);
    assert_eq!(
        finalized
            .metadata
            .labels
            .unwrap()
            .get("finalized")
            .map(String::as_str),
        Some("yes")
    );

    // Deleted: the content goes, the namespace stays for its other finalizer.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "held");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("content".into());
    let cm_uid = cms
        .create(&PostParams::default(), &cm)
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    nss.delete("held", &DeleteParams::default()).await.unwrap();
    tokio::time::timeout(
        DEADLINE,
        await_condition(cms.clone(), "content", conditions::is_deleted(&cm_uid)),
    )
    .await
    .unwrap()
    .unwrap();
    let terminating = nss.get("held").await.unwrap();
    assert_eq!(spec_finalizers(&terminating), ["example.com/hold"]);
    assert_eq!(
        terminating.status.clone().unwrap().phase.as_deref(),
        Some("Terminating")
    );
    let mut released = terminating;
    released.metadata.managed_fields = None;
    released.spec = None;
    nss.replace_subresource("finalize", "held", &PostParams::default(), &released)
        .await
        .unwrap();
    assert!(nss.get_opt("held").await.unwrap().is_none());
    sandbox.shutdown().await;
}

/// A namespace without spec finalizers (a `finalize` PUT emptied them) is only marked
/// Terminating by its delete, which no controller finishes; a second delete removes
/// it and answers with it (kubernetes v1.36.3
/// `pkg/registry/core/namespace/storage/storage.go`, `Delete`, `ReturnDeletedObject`).
#[tokio::test]
async fn a_namespace_finalized_before_its_delete_goes_at_the_second() {
    let sandbox = start_sandbox(
        fast(50),
        &["{apiVersion: v1, kind: Namespace, metadata: {name: early}}"],
    )
    .await;
    let nss: Api<Namespace> = Api::all(sandbox.client().await.unwrap());
    let mut body = nss.get("early").await.unwrap();
    body.metadata.managed_fields = None;
    body.spec = None;
    nss.replace_subresource("finalize", "early", &PostParams::default(), &body)
        .await
        .unwrap();
    let first = nss.delete("early", &DeleteParams::default()).await.unwrap();
    let marked = first.left().expect("the namespace, marked");
    assert_eq!(marked.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert!(nss.get_opt("early").await.unwrap().is_some());
    let second = nss.delete("early", &DeleteParams::default()).await.unwrap();
    let last = second.left().expect("the namespace removed");
    assert!(last.metadata.deletion_timestamp.is_some());
    assert!(nss.get_opt("early").await.unwrap().is_none());
    sandbox.shutdown().await;
}
