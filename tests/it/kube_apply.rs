//! `kube-apply` against the sandbox API server: a captured Secret restored after its
//! namespace went (only the named object, only where absent), the cleaning a captured
//! object needs, conflicts with another field manager, and secret values kept out of
//! every line said.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use planrun::exec::kube::{KubeError, capture, kube_apply, kube_delete, wait_absent};
use planrun::redact::Redactor;
use planrun::validate::{
    ApplySource, Capture, KubeApply, ObjectName, Selection, Target, TaskRef, WaitAbsent,
};

use crate::kube_harness::{FLUX_NS, Harness, LONG, delete, fast};
use crate::support::managers;

const VALUE: &str = "-----BEGIN OPENSSH PRIVATE KEY----- restore-me";
const VALUE_B64: &str = "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0gcmVzdG9yZS1tZQ==";

fn secret(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: flux-system, labels: {{app: flux}}}}\ndata: {{identity: {VALUE_B64}}}\n"
    )
}

fn from_capture(only: &[(&str, &str)], if_absent: bool) -> KubeApply {
    KubeApply {
        source: ApplySource::Capture {
            task: TaskRef {
                id: "capture-secrets".into(),
                span: 0..0,
            },
            file: "flux-secrets.yaml".into(),
        },
        only: only
            .iter()
            .map(|(ns, name)| ObjectName {
                namespace: Some((*ns).into()),
                name: (*name).into(),
            })
            .collect(),
        if_absent,
        field_manager: "planrun".into(),
        force: false,
    }
}

#[tokio::test]
async fn a_captured_secret_is_restored_only_where_absent_and_its_value_never_shown() {
    let h = Harness::start(
        fast(),
        &[FLUX_NS, &secret("ssh-credentials"), &secret("other")],
    )
    .await;
    let run_dir = tempfile::tempdir().unwrap();
    let redactor = Redactor::new();
    let all = Selection::of_kind(
        "Secret",
        Some("flux-system"),
        Target::Pattern(regex::Regex::new(".*").unwrap()),
    );
    capture(
        &h.env(LONG),
        &Capture {
            selection: all.clone(),
            file: "flux-secrets.yaml".into(),
        },
        run_dir.path(),
        &redactor,
    )
    .await
    .unwrap();
    // The namespace goes; a new one comes (as Pulumi recreates it), without the Secret.
    let ns = Selection::of_kind("Namespace", None, Target::Name("flux-system".into()));
    kube_delete(&h.env(LONG), &delete(ns.clone()))
        .await
        .unwrap();
    wait_absent(&h.env(LONG), &WaitAbsent { selection: ns })
        .await
        .unwrap();
    h.sb.state().apply_yaml(FLUX_NS).unwrap();
    h.sb.state().apply_yaml(&secret("other")).unwrap();

    let spec = from_capture(
        &[("flux-system", "ssh-credentials"), ("flux-system", "other")],
        true,
    );
    // A dry run previews the one apply, as data naming the object only.
    let env = h.env(LONG).dry_run(true);
    kube_apply(&env, &spec, run_dir.path(), &redactor)
        .await
        .unwrap();
    let would = serde_json::to_value(env.noted()).unwrap();
    assert_eq!(
        would,
        serde_json::json!([{"action": "apply", "api_version": "v1", "kind": "Secret",
            "namespace": "flux-system", "name": "ssh-credentials", "field_manager": "planrun"}])
    );
    assert!(
        h.sb.state()
            .get("v1", "Secret", "flux-system", "ssh-credentials")
            .is_none()
    );
    let summary = kube_apply(&h.env(LONG), &spec, run_dir.path(), &redactor)
        .await
        .unwrap();
    assert_eq!(
        summary,
        "applied secrets/flux-system/ssh-credentials (keys: identity) from the capture of `capture-secrets` as planrun; present, left as they are: secrets/flux-system/other"
    );
    let restored =
        h.sb.state()
            .get("v1", "Secret", "flux-system", "ssh-credentials")
            .unwrap();
    assert_eq!(restored["data"]["identity"], VALUE_B64);
    assert_eq!(restored["metadata"]["labels"]["app"], "flux");
    assert_eq!(managers(&restored), vec![("planrun", "Apply")]);
    let said = h.lines.all().join("\n") + &summary;
    assert!(!said.contains(VALUE) && !said.contains(VALUE_B64), "{said}");
    assert!(
        said.contains("secrets/flux-system/other exists: left as it is"),
        "{said}"
    );
    // Again: both exist now, nothing is written.
    let summary = kube_apply(&h.env(LONG), &spec, run_dir.path(), &redactor)
        .await
        .unwrap();
    assert!(
        summary.starts_with("applied nothing from the capture"),
        "{summary}"
    );
    // `only` must name what the capture holds.
    let wrong = from_capture(&[("flux-system", "nope")], true);
    let err = kube_apply(&h.env(LONG), &wrong, run_dir.path(), &redactor)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the capture of `capture-secrets`: `only` names flux-system/nope, which is not in it (it has: flux-system/other, flux-system/ssh-credentials)"
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn stale_owner_references_are_dropped_and_conflicts_need_force() {
    let h = Harness::start(
        fast(),
        &[
            FLUX_NS,
            "{apiVersion: v1, kind: ConfigMap, metadata: {name: owner, namespace: flux-system}}",
        ],
    )
    .await;
    let owner =
        h.sb.state()
            .get("v1", "ConfigMap", "flux-system", "owner")
            .unwrap();
    let live_uid = owner["metadata"]["uid"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("cm.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: restored\n  namespace: flux-system\n  uid: old-uid\n  resourceVersion: \"42\"\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: owner, uid: {live_uid}}}\n  - {{apiVersion: v1, kind: ConfigMap, name: gone, uid: 0000}}\ndata: {{k: v}}\n"
        ),
    )
    .unwrap();
    let spec = KubeApply {
        source: ApplySource::Files(vec![manifest.clone()]),
        only: Vec::new(),
        if_absent: false,
        field_manager: "planrun".into(),
        force: false,
    };
    kube_apply(&h.env(LONG), &spec, dir.path(), &Redactor::new())
        .await
        .unwrap();
    let restored =
        h.sb.state()
            .get("v1", "ConfigMap", "flux-system", "restored")
            .unwrap();
    let refs = restored["metadata"]["ownerReferences"].as_array().unwrap();
    assert_eq!(refs.len(), 1, "{refs:?}");
    assert_eq!(refs[0]["name"], "owner");
    assert!(
        h.lines
            .all()
            .iter()
            .any(|l| l.contains("dropped its owner reference to ConfigMap gone (uid 0000)")),
        "{:?}",
        h.lines.all()
    );
    // Another manager takes `data.k`; applying again conflicts unless forced.
    let cms: Api<DynamicObject> = Api::namespaced_with(
        h.client(),
        "flux-system",
        &ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
    );
    let theirs = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "restored", "namespace": "flux-system"}, "data": {"k": "theirs"}});
    cms.patch(
        "restored",
        &PatchParams::apply("pulumi-kubernetes-1234").force(),
        &Patch::Apply(&theirs),
    )
    .await
    .unwrap();
    let err = kube_apply(&h.env(LONG), &spec, dir.path(), &Redactor::new())
        .await
        .unwrap_err();
    assert!(matches!(err, KubeError::ApplyConflict { .. }), "{err}");
    assert!(err.to_string().contains("pulumi-kubernetes-1234"), "{err}");
    let forced = KubeApply {
        force: true,
        ..spec
    };
    kube_apply(&h.env(LONG), &forced, dir.path(), &Redactor::new())
        .await
        .unwrap();
    let restored =
        h.sb.state()
            .get("v1", "ConfigMap", "flux-system", "restored")
            .unwrap();
    assert_eq!(restored["data"]["k"], "v");
    h.sb.shutdown().await;
}
