//! A Terminating namespace reports what holds it, as the real namespace controller
//! does: the content that remains and the finalizers on it.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, PostParams};
use planrun_sandbox::{NamespaceKnob, Scenario};

use crate::support::start_sandbox;

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
