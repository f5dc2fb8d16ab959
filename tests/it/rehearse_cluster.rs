//! `planrun rehearse --kubeconfig FILE --context NAME`: a rehearsal on an existing cluster.
//! The refusals need no cluster; the rehearsal itself runs on the real control plane
//! (`scripts/realcluster`, skipped when it is not built).

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;

use crate::realcluster;
use crate::rehearsal::{planrun, root, text};

/// A kubeconfig with the Flux plan's production context, another name for the same
/// API server, and a staging cluster.
fn kubeconfig(dir: &Path) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        r"apiVersion: v1
kind: Config
clusters:
- {name: prod, cluster: {server: 'https://127.0.0.1:1'}}
- {name: staging, cluster: {server: 'https://127.0.0.1:2'}}
users:
- {name: admin, user: {token: t}}
contexts:
- {name: oceanid, context: {cluster: prod, user: admin}}
- {name: oceanid-admin, context: {cluster: prod, user: admin}}
- {name: staging, context: {cluster: staging, user: admin}}
current-context: oceanid
",
    )
    .unwrap();
    path
}

#[test]
fn a_rehearsal_refuses_a_cluster_not_named_or_production() {
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path());
    let plan = root().join("plans/flux-rebuild.toml");
    let state = dir.path().join("state");
    let rehearse = |extra: &[&str]| {
        planrun(dir.path())
            .arg("rehearse")
            .arg(&plan)
            .arg("--state-dir")
            .arg(&state)
            .arg("--kubeconfig")
            .arg(&kc)
            .args(extra)
            .output()
            .unwrap()
    };

    // The current context is never taken for granted.
    let out = rehearse(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("needs its context named: --context NAME"),
        "{said}"
    );
    assert!(said.contains("oceanid, oceanid-admin, staging"), "{said}");

    let out = rehearse(&["--context", "oceanid"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out)
            .contains("refusing to rehearse on `oceanid`: it is the plan's production context"),
        "{}",
        text(&out)
    );

    // Another name for the production API server is production too.
    let out = rehearse(&["--context", "oceanid-admin"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // (miette wraps the line.)
    let said = text(&out).replace("\n  │ ", " ");
    assert!(
        said.contains("it points at https://127.0.0.1:1, the API server of the plan's production context `oceanid`"),
        "{said}"
    );

    let out = rehearse(&["--context", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no context `nope`"), "{}", text(&out));

    // A fault made of what only the sandbox decides cannot be rehearsed on a cluster.
    let out = rehearse(&["--context", "staging", "--fault", "stuck-namespace"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out).replace("\n  │ ", " ");
    assert!(
        said.contains(
            "fault `stuck-namespace` changes what a real cluster decides by itself (namespaces)"
        ),
        "{said}"
    );
    // Nothing was prepared for any of them.
    assert!(!state.exists());
}

/// `planrun rehearse PLAN` on `cluster`, its state in `state`, run from `dir`.
async fn rehearse_on(
    cluster: &realcluster::RealCluster,
    dir: &Path,
    plan: &Path,
    state: &Path,
) -> std::process::Output {
    let mut cmd = planrun(dir);
    cmd.arg("rehearse")
        .arg(plan)
        .arg("--state-dir")
        .arg(state)
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(["--context", &cluster.context])
        .timeout(std::time::Duration::from_secs(600));
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_rehearsed_on_a_real_cluster_is_seeded_and_ends_green() {
    let Some(cluster) = realcluster::shared().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fixture = root().join("tests/fixtures/rehearse-cluster");
    let state = dir.path().join("state");
    let out = rehearse_on(cluster, dir.path(), &fixture.join("plan.toml"), &state).await;
    let said = text(&out);
    eprintln!("{said}");
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("given to the run as context `production`"),
        "{said}"
    );
    assert!(
        said.contains("scenario key `deployment_ready_delay` does not apply to a real cluster"),
        "{said}"
    );
    assert!(said.contains("someone noticed the widget"), "{said}");

    let client = cluster.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "rehearse-cluster");
    // The plan deleted the seeded ConfigMap; the reaction wrote another, as a
    // client-side kubectl apply would.
    assert!(cms.get_opt("old").await.unwrap().is_none());
    let reacted = cms.get("reacted").await.unwrap();
    assert_eq!(
        reacted.managed_fields()[0].manager.as_deref(),
        Some("kubectl-client-side-apply")
    );
    assert!(
        reacted
            .annotations()
            .contains_key("kubectl.kubernetes.io/last-applied-configuration")
    );
    // The scenario's condition was written as its rule's manager.
    let widgets: Api<DynamicObject> = Api::namespaced_with(
        client,
        "rehearse-cluster",
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "rehearse.planrun.test",
            "v1",
            "Widget",
        )),
    );
    let w = widgets.get("w").await.unwrap();
    assert_eq!(
        w.data["status"]["conditions"][0]["message"],
        "the widget works"
    );
    assert!(
        w.managed_fields()
            .iter()
            .any(|m| m.manager.as_deref() == Some("widget-controller"))
    );
    // The simulated pnpm ran; the run's kubeconfig is private.
    let tools = std::fs::read_to_string(state.join("rehearse-cluster/sandbox/tools.log")).unwrap();
    assert!(tools.contains("\"pnpm\""), "{tools}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(state.join("rehearse-cluster/sandbox/kubeconfig"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// The README's first command, `planrun rehearse plans/flux-rebuild.toml`, on the real
/// control plane instead of the sandbox: seeded with the old Flux install, the plan
/// deletes it and the simulated `pulumi up` applies Flux v2.7.0, whose controllers must
/// then run on the real API server (their Pods need their ServiceAccounts, which the
/// sandbox does not check). A cluster of its own: Flux's CRDs are cluster-wide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flux_plan_rehearsed_on_a_real_control_plane_ends_green() {
    let Some(cluster) = realcluster::RealCluster::own().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let plan = root().join("plans/flux-rebuild.toml");
    let out = rehearse_on(&cluster, dir.path(), &plan, &state).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("run succeeded in "), "{said}");
    assert!(said.contains(": 29 succeeded"), "{said}");
    let client = cluster.client().await;
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client, "flux-system");
    assert!(
        accounts
            .get_opt("source-controller")
            .await
            .unwrap()
            .is_some()
    );
}
