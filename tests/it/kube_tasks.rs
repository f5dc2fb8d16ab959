//! The Kubernetes task executors against the sandbox API server: deletes, watch-based
//! waits with their timeout explanations, deployment and field-manager assertions,
//! capture of Secrets, the context guard, dry runs and injected faults. What every
//! backend promises, the real control plane included, is in `kube_dual`; here what
//! needs the sandbox's timing knobs, faults, request log or fixed names.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use planrun::exec::kube::{
    ConnectOptions, Connection, KubeError, TaskEnv, assert_deployments, assert_field_managers,
    kube_delete, wait_absent,
};
use planrun::redact::Redactor;
use planrun::validate::{
    AssertDeployments, AssertFieldManagers, Capture, Operation, Owner, Target, WaitAbsent,
    WaitCondition,
};
use planrun_sandbox::{Delay, FaultRule, NamespaceKnob, Sandbox};
use regex::Regex;

use crate::kube_harness::{
    FLUX_NS, Harness, LONG, SHORT, client_of, delete, fast, git_repository, name, pattern,
    selection,
};
use crate::pulumi::files_under;
use crate::support::{self, FLUX_CRDS, start_sandbox};

#[tokio::test]
async fn namespace_delete_then_wait_absent_succeeds_when_finalization_ends() {
    let mut sc = fast();
    sc.namespaces.insert(
        "flux-system".into(),
        NamespaceKnob {
            stuck: false,
            finalize_delay: Some(Delay::millis(400)),
        },
    );
    let h = Harness::start(
        sc,
        &[
            FLUX_NS,
            "{apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: flux-system}}",
        ],
    )
    .await;
    let sel = selection("Namespace", None, name("flux-system"));
    let summary = kube_delete(&h.env(LONG), &delete(sel.clone()))
        .await
        .unwrap();
    assert_eq!(summary, "deleted namespaces/flux-system");
    assert!(
        h.exists("v1", "Namespace", "", "flux-system"),
        "still terminating"
    );
    h.sb.state().clear_requests();
    let summary = wait_absent(
        &h.env(LONG),
        &WaitAbsent {
            selection: sel.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        summary,
        "namespaces/flux-system gone (1 deleted while waiting)"
    );
    assert!(!h.exists("v1", "Namespace", "", "flux-system"));
    // By watch, not by polling: one list, then watches.
    let lists =
        h.sb.requests()
            .iter()
            .filter(|r| r.method == "GET" && !r.watch && r.path == "/api/v1/namespaces")
            .count();
    assert_eq!(lists, 1, "{:#?}", h.sb.requests());
    // Deleting again, and waiting again, are fine.
    let summary = kube_delete(&h.env(LONG), &delete(sel.clone()))
        .await
        .unwrap();
    assert_eq!(
        summary,
        "nothing to delete: namespaces/flux-system already absent"
    );
    let summary = wait_absent(&h.env(LONG), &WaitAbsent { selection: sel })
        .await
        .unwrap();
    assert_eq!(summary, "namespaces/flux-system already absent");
    let lines = h.lines.all();
    assert!(
        lines.contains(&"1 object left: flux-system, finalizer kubernetes".to_string()),
        "the live detail names the object and its finalizer: {lines:?}"
    );
    h.sb.shutdown().await;
}

/// Connections that went silent for good (a VPN that dropped and came back on a new
/// tunnel: no reset ever comes) hold up neither a wait nor a request until the task's
/// deadline: once one has been silent for the limit, the watch resumes, or the
/// request is made again, on a new connection, and the task's log says so.
#[tokio::test]
async fn waits_and_requests_go_on_over_a_new_connection_when_theirs_goes_silent() {
    let h = Harness::start(
        fast(),
        &[
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: doomed, namespace: default}\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: next, namespace: default}\n",
        ],
    )
    .await;
    let relay = support::Blackhole::start(
        h.sb.url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap(),
    );
    let silence = Duration::from_secs(2);
    let conn = Connection::new(client_of(&relay.url(), silence), "relay", relay.url());
    let env = TaskEnv::new(&conn, &h.lines, LONG);
    let spec = WaitAbsent {
        selection: selection("ConfigMap", Some("default"), name("doomed")),
    };
    let wait = wait_absent(&env, &spec);
    tokio::pin!(wait);
    let watching = || {
        h.sb.requests()
            .iter()
            .any(|r| r.watch && r.path.ends_with("/configmaps"))
    };
    while !watching() {
        tokio::select! {
            ended = &mut wait => panic!("the wait ended before it watched: {ended:?}"),
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    relay.cut();
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(h.client(), "default");
    configmaps
        .delete("doomed", &Default::default())
        .await
        .unwrap();
    let summary = wait.await.unwrap();
    assert_eq!(
        summary,
        "configmaps/doomed in namespace default gone (1 deleted while waiting)"
    );
    // The connection a request left open for the next goes silent: the delete sent on
    // it gets no answer, and is sent again on a new one.
    let through_relay: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(conn.client().clone(), "default");
    through_relay.get("next").await.unwrap();
    relay.cut();
    let summary = kube_delete(
        &env,
        &delete(selection("ConfigMap", Some("default"), name("next"))),
    )
    .await
    .unwrap();
    assert!(summary.starts_with("deleted"), "{summary}");
    assert!(!h.exists("v1", "ConfigMap", "default", "next"));
    let lines = h.lines.all();
    for what in ["watch configmaps", "list configmaps"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("API unreachable, retry 1")
                    && l.ends_with(&format!("{what}: connection timed out"))),
            "{what}: {lines:?}"
        );
    }
    h.sb.shutdown().await;
}

#[tokio::test]
async fn stuck_namespace_timeout_names_finalizers_and_conditions() {
    let mut sc = fast();
    sc.namespaces.insert(
        "flux-system".into(),
        NamespaceKnob {
            stuck: true,
            finalize_delay: None,
        },
    );
    let h = Harness::start(sc, &[FLUX_NS]).await;
    let sel = selection("Namespace", None, name("flux-system"));
    kube_delete(&h.env(LONG), &delete(sel.clone()))
        .await
        .unwrap();
    // The sandbox writes a namespace's deletion conditions from its content; one held
    // by the `stuck` knob has no content, so the test writes the condition a real
    // cluster shows for content with a finalizer.
    h.sb.state()
        .set_condition(
            "v1",
            "Namespace",
            "",
            "flux-system",
            "NamespaceFinalizersRemaining",
            "True",
            "SomeFinalizersRemain",
            "Some content in the namespace has finalizers remaining: finalizers.fluxcd.io in 1 resource instances",
        )
        .unwrap();
    let started = std::time::Instant::now();
    let err = wait_absent(&h.env(SHORT), &WaitAbsent { selection: sel })
        .await
        .unwrap_err();
    assert!(started.elapsed() < SHORT + Duration::from_secs(5));
    let KubeError::TimedOut { details, .. } = &err else {
        panic!("{err}")
    };
    let text = err.to_string();
    assert!(
        text.starts_with("timed out after 1.5s waiting for namespaces/flux-system to be gone"),
        "{text}"
    );
    assert_eq!(details[0], "namespaces/flux-system:");
    assert!(details[1].contains("being deleted since"), "{text}");
    assert!(
        details[1].contains("spec.finalizers [kubernetes]"),
        "{text}"
    );
    assert!(
        details.contains(&"  phase Terminating".to_string()),
        "{text}"
    );
    assert!(
        text.contains("condition NamespaceFinalizersRemaining=True (SomeFinalizersRemain): Some content in the namespace has finalizers remaining"),
        "{text}"
    );
    h.sb.shutdown().await;
}

/// Before 1.33 a namespace's objects go in no set order: a Pod held by a finalizer is
/// named, counted in the conditions beside the rest, and no order is claimed.
#[tokio::test]
async fn before_1_33_a_namespace_held_by_a_pod_names_it_without_an_order() {
    let mut sc = fast();
    sc.kubernetes_version = "1.32.13".into();
    let h = Harness::start(
        sc,
        &[
            "{apiVersion: v1, kind: Namespace, metadata: {name: web}}",
            "{apiVersion: v1, kind: Pod, metadata: {name: held, namespace: web, finalizers: [example.com/hold]}, \
             spec: {schedulingGates: [{name: example.com/gate}], containers: [{name: web, image: registry.example/web:1}]}}",
        ],
    )
    .await;
    let sel = selection("Namespace", None, name("web"));
    kube_delete(&h.env(LONG), &delete(sel.clone()))
        .await
        .unwrap();
    let text = wait_absent(&h.env(SHORT), &WaitAbsent { selection: sel })
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("  1 pod remains in it\n"), "{text}");
    assert!(!text.contains("deleted only once"), "{text}");
    assert!(
        text.contains("  - pods/held: being deleted since "),
        "{text}"
    );
    assert!(
        text.contains("Some resources are remaining: pods. has 1 resource instances"),
        "{text}"
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn crd_deletion_removes_custom_resources() {
    let h = Harness::with_flux_repos(&["flux-system", "apps"]).await;
    let crds = selection(
        "CustomResourceDefinition",
        None,
        pattern(r"\.toolkit\.fluxcd\.io$"),
    );
    let summary = kube_delete(&h.env(LONG), &delete(crds.clone()))
        .await
        .unwrap();
    assert_eq!(
        summary,
        "deleted 2 objects: customresourcedefinitions/gitrepositories.source.toolkit.fluxcd.io, \
         customresourcedefinitions/kustomizations.kustomize.toolkit.fluxcd.io"
    );
    let summary = wait_absent(&h.env(LONG), &WaitAbsent { selection: crds })
        .await
        .unwrap();
    assert!(
        summary.starts_with("customresourcedefinitions matching /\\.toolkit\\.fluxcd\\.io$/ gone"),
        "{summary}"
    );
    assert!(
        h.sb.state()
            .list("source.toolkit.fluxcd.io/v1", "GitRepository", None)
            .is_empty()
    );
    // Discovery still knew the kind when this wait began; its URL now answers 404,
    // which means none of its objects exist.
    let repos = WaitAbsent {
        selection: selection("GitRepository", Some("flux-system"), pattern(".*")),
    };
    let summary = wait_absent(&h.env(LONG), &repos).await.unwrap();
    assert_eq!(
        summary,
        "gitrepositories matching /.*/ in namespace flux-system already absent"
    );
    // That 404 refreshed discovery: a task naming the kind now fails at its start.
    let err = wait_absent(&h.env(LONG), &repos).await.unwrap_err();
    assert!(matches!(err, KubeError::UnknownKind { .. }), "{err}");
    h.sb.shutdown().await;
}

#[tokio::test]
async fn stuck_crd_timeout_lists_its_remaining_custom_resources() {
    let h = Harness::start(
        fast(),
        &[
            FLUX_CRDS,
            FLUX_NS,
            &git_repository("held", &["finalizers.fluxcd.io"]),
        ],
    )
    .await;
    let crds = selection(
        "CustomResourceDefinition",
        None,
        name("gitrepositories.source.toolkit.fluxcd.io"),
    );
    kube_delete(&h.env(LONG), &delete(crds.clone()))
        .await
        .unwrap();
    let err = wait_absent(&h.env(SHORT), &WaitAbsent { selection: crds })
        .await
        .unwrap_err();
    let text = err.to_string();
    for want in [
        "customresourcedefinitions/gitrepositories.source.toolkit.fluxcd.io:",
        "finalizers [customresourcecleanup.apiextensions.k8s.io]",
        "condition Terminating=True (InstanceDeletionInProgress): CustomResource deletion is in progress",
        "1 custom resource remains",
        "- gitrepositories/flux-system/held: finalizers [finalizers.fluxcd.io]",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    h.sb.shutdown().await;
}

fn deployment_yaml(name: &str, tag: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: flux-system}}\n\
         spec:\n  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      - {{name: manager, image: 'ghcr.io/fluxcd/{name}:{tag}'}}\n"
    )
}

fn expect(pairs: &[(&str, &str)]) -> AssertDeployments {
    AssertDeployments {
        namespace: "flux-system".into(),
        deployments: pairs
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

async fn apply(client: &kube::Client, yaml: &str) {
    let obj: serde_json::Value = serde_yaml::from_str(yaml).unwrap();
    let ns = obj["metadata"]["namespace"].as_str().unwrap().to_string();
    let name = obj["metadata"]["name"].as_str().unwrap().to_string();
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &ApiResource {
            group: "apps".into(),
            version: "v1".into(),
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            plural: "deployments".into(),
        },
    );
    api.patch(
        &name,
        &PatchParams::apply("pulumi-kubernetes"),
        &Patch::Apply(obj),
    )
    .await
    .unwrap();
}

/// A deployment whose rollout completed at another tag fails the task at once, not
/// at its timeout, in one short line; healthy deployments are not listed.
#[tokio::test]
async fn deployment_at_a_wrong_tag_fails_as_soon_as_its_rollout_completes() {
    let mut sc = fast();
    sc.deployment_ready_delay = Delay::millis(500);
    let h = Harness::start(sc, &[FLUX_NS]).await;
    // Taken before the apply: the rollout cannot complete sooner than 0.5 s after it.
    let applied = std::time::Instant::now();
    apply(&h.client(), &deployment_yaml("source-controller", "v1.6.0")).await;
    apply(&h.client(), &deployment_yaml("helm-controller", "v1.4.0")).await;
    // The task may wait an hour; it must fail within 5 s of the rollout completing
    // (0.5 s after the apply).
    let spec = expect(&[
        ("source-controller", "v1.7.0"),
        ("helm-controller", "v1.4.0"),
    ]);
    let env = h.env(Duration::from_secs(3600));
    let err = tokio::time::timeout(
        Duration::from_millis(500) + Duration::from_secs(5),
        assert_deployments(&env, &spec),
    )
    .await
    .expect("the wrong tag fails the task within 5 s of the completed rollout")
    .unwrap_err();
    let KubeError::Assertion { summary, details } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        summary,
        "1 of 2 deployments in flux-system rolled out wrong"
    );
    assert_eq!(
        details[0],
        "source-controller: tag v1.6.0, expected v1.7.0, ready 1/1"
    );
    // helm-controller is listed only while it is still rolling out.
    assert!(
        details[1..]
            .iter()
            .all(|l| l.starts_with("helm-controller: ") && !l.contains("ready 1/1")),
        "{details:?}"
    );
    assert!(
        applied.elapsed() >= Duration::from_millis(500),
        "not before the rollout completed"
    );
    let waited: Vec<String> = h.lines.all();
    assert!(
        waited.iter().any(|l| l.contains("source-controller (")),
        "the live detail said what it waited for: {waited:?}"
    );
    h.sb.shutdown().await;
}

/// At the timeout, one line per deployment still not ready; healthy ones are not
/// repeated.
#[tokio::test]
async fn deployments_not_ready_at_the_timeout_are_listed_one_line_each() {
    let h = Harness::start(fast(), &[FLUX_NS]).await;
    apply(&h.client(), &deployment_yaml("source-controller", "v1.7.0")).await;
    let err = assert_deployments(
        &h.env(SHORT),
        &expect(&[
            ("source-controller", "v1.7.0"),
            ("helm-controller", "v1.4.0"),
        ]),
    )
    .await
    .unwrap_err();
    let KubeError::TimedOut { details, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        details,
        &["helm-controller: not found (expected tag v1.4.0)"]
    );
    h.sb.shutdown().await;
}

/// The owners the Flux plan accepts (pulumi-kubernetes before and since v4.29.0).
pub(crate) fn pulumi_owners() -> Vec<Owner> {
    vec![
        Owner {
            manager: Regex::new("^pulumi-kubernetes$").unwrap(),
            operation: Some(Operation::Update),
        },
        Owner {
            manager: Regex::new("^pulumi-kubernetes-[a-z0-9]+$").unwrap(),
            operation: Some(Operation::Apply),
        },
    ]
}

#[tokio::test]
async fn client_side_apply_manager_on_a_crd_is_named() {
    // Seeds are written by kubectl-client-side-apply (the sandbox's default).
    let h = Harness::start(fast(), &[FLUX_CRDS]).await;
    let spec = AssertFieldManagers {
        selection: selection(
            "CustomResourceDefinition",
            None,
            pattern(r"\.toolkit\.fluxcd\.io$"),
        ),
        forbidden: vec![Regex::new("^kubectl-client-side-apply$").unwrap()],
        owners: pulumi_owners(),
    };
    let err = assert_field_managers(&h.env(LONG), &spec)
        .await
        .unwrap_err();
    let KubeError::Assertion { details, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        details[0],
        "customresourcedefinitions/gitrepositories.source.toolkit.fluxcd.io: forbidden manager kubectl-client-side-apply (Update) matches /^kubectl-client-side-apply$/"
    );
    assert_eq!(
        details[1],
        "customresourcedefinitions/gitrepositories.source.toolkit.fluxcd.io: no managedFields entry from an accepted owner \
         (has: kubectl-client-side-apply (Update); accepted: /^pulumi-kubernetes$/ (Update), /^pulumi-kubernetes-[a-z0-9]+$/ (Apply))"
    );
    assert_eq!(details.len(), 4, "{err}");
    h.sb.shutdown().await;
}

#[tokio::test]
async fn context_guard_refuses_another_context_and_connection_reports_the_server() {
    let h = Harness::start(fast(), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    h.sb.write_kubeconfig(&kubeconfig, "sandbox").unwrap();
    let conn = Connection::open(&ConnectOptions {
        kubeconfig: Some(kubeconfig.clone()),
        context: None,
    })
    .await
    .unwrap();
    assert_eq!(conn.context(), "sandbox");
    assert_eq!(conn.server(), h.sb.url());
    assert!(conn.check_guard(Some("sandbox")).is_ok());
    assert!(conn.check_guard(None).is_ok());
    let err = conn.check_guard(Some("oceanid")).unwrap_err();
    assert!(err.is_refusal());
    assert_eq!(
        err.to_string(),
        "the plan is for kube context `oceanid` but the effective context is `sandbox`"
    );
    // The connection works for tasks.
    let ns = selection("Namespace", None, name("never-created"));
    let env = TaskEnv::new(&conn, &h.lines, LONG);
    let summary = wait_absent(&env, &WaitAbsent { selection: ns })
        .await
        .unwrap();
    assert_eq!(summary, "namespaces/never-created already absent");
    // --context naming a context the kubeconfig lacks.
    let err = Connection::open(&ConnectOptions {
        kubeconfig: Some(kubeconfig),
        context: Some("oceanid".into()),
    })
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "kubeconfig: context `oceanid` not found; known contexts: sandbox"
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn dry_run_deletes_nothing_and_lists_what_would_go() {
    let h = Harness::start(fast(), &[FLUX_CRDS, FLUX_NS]).await;
    let rv = h.sb.state().resource_version();
    let env = h.env(LONG).dry_run(true);
    let s1 = kube_delete(
        &env,
        &delete(selection("Namespace", None, name("flux-system"))),
    )
    .await
    .unwrap();
    let s2 = kube_delete(
        &env,
        &delete(selection(
            "CustomResourceDefinition",
            None,
            pattern(r"\.toolkit\.fluxcd\.io$"),
        )),
    )
    .await
    .unwrap();
    assert_eq!(s1, "would delete namespaces/flux-system");
    assert!(s2.starts_with("would delete 2 objects: "), "{s2}");
    assert_eq!(h.sb.state().resource_version(), rv, "nothing changed");
    let ns =
        h.sb.state()
            .get("v1", "Namespace", "", "flux-system")
            .unwrap();
    assert!(ns["metadata"].get("deletionTimestamp").is_none());
    let deletes: Vec<_> =
        h.sb.requests()
            .into_iter()
            .filter(|r| r.method == "DELETE")
            .collect();
    assert_eq!(deletes.len(), 3);
    assert!(
        h.lines
            .all()
            .contains(&"would delete namespaces/flux-system (server-side dry run)".to_string())
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn unknown_kind_and_wrong_scope_fail_at_the_start() {
    let h = Harness::start(fast(), &[FLUX_CRDS]).await;
    let err = kube_delete(
        &h.env(LONG),
        &delete(selection("GitRepo", Some("x"), pattern(".*"))),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown kind `GitRepo`; close matches: GitRepository (source.toolkit.fluxcd.io/v1), GitRepository (source.toolkit.fluxcd.io/v1beta2)"
    );
    let err = kube_delete(
        &h.env(LONG),
        &delete(selection("Namespace", Some("x"), name("y"))),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Namespace is cluster-scoped, but the task names namespace `x`; remove `namespace`"
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn server_error_bursts_latency_and_watch_drops_still_succeed() {
    let h = Harness::with_flux_repos(&["flux-system"]).await;
    let state = h.sb.state();
    // A burst of 500s on lists (kube retries 503 itself; 500 reaches planrun).
    state.add_fault(FaultRule {
        kind: Some("customresourcedefinitions".into()),
        method: Some("GET".into()),
        watch: Some(false),
        count: Some(3),
        status: Some(500),
        latency: Some(Delay::millis(50)),
        ..Default::default()
    });
    // Watches drop after every event, and one answers 410 Expired.
    state.add_fault(FaultRule {
        kind: Some("customresourcedefinitions".into()),
        watch: Some(true),
        drop_after_events: Some(1),
        ..Default::default()
    });
    state.add_fault(FaultRule {
        kind: Some("customresourcedefinitions".into()),
        watch: Some(true),
        count: Some(1),
        expire_watch: true,
        ..Default::default()
    });
    let crds = selection(
        "CustomResourceDefinition",
        None,
        pattern(r"\.toolkit\.fluxcd\.io$"),
    );
    kube_delete(&h.env(LONG), &delete(crds.clone()))
        .await
        .unwrap();
    let summary = wait_absent(&h.env(LONG), &WaitAbsent { selection: crds })
        .await
        .unwrap();
    assert!(summary.contains("gone"), "{summary}");
    let lines = h.lines.all();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("API error, retry 1 in 100ms: ")
                && l.contains("InternalError (500)")),
        "{lines:?}"
    );
    let faulted = h.sb.requests().iter().filter(|r| r.faulted).count();
    assert!(faulted >= 3, "the faults fired");
    h.sb.shutdown().await;
}

#[tokio::test]
async fn endless_server_errors_end_at_the_deadline_with_the_last_error() {
    let h = Harness::start(fast(), &[FLUX_NS]).await;
    h.sb.state().add_fault(FaultRule {
        kind: Some("namespaces".into()),
        status: Some(500),
        ..Default::default()
    });
    let sel = selection("Namespace", None, name("flux-system"));
    let started = std::time::Instant::now();
    let err = kube_delete(&h.env(SHORT), &delete(sel.clone()))
        .await
        .unwrap_err();
    assert!(started.elapsed() < SHORT + Duration::from_secs(5));
    let text = err.to_string();
    assert!(
        text.starts_with("list namespaces: still failing when the task's time ran out after"),
        "{text}"
    );
    assert!(
        text.ends_with("last error: InternalError (500): Internal error occurred: injected fault"),
        "{text}"
    );
    let started = std::time::Instant::now();
    let err = wait_absent(&h.env(SHORT), &WaitAbsent { selection: sel })
        .await
        .unwrap_err();
    assert!(started.elapsed() < SHORT + Duration::from_secs(5));
    let text = err.to_string();
    assert!(
        text.contains("could not list namespaces: InternalError (500)"),
        "{text}"
    );
    // A server that answers far too slowly: the task ends at its deadline anyway.
    h.sb.state().clear_faults();
    h.sb.state().add_fault(FaultRule {
        kind: Some("namespaces".into()),
        latency: Some(Delay::millis(60_000)),
        ..Default::default()
    });
    let sel = selection("Namespace", None, name("flux-system"));
    for task in ["delete", "wait"] {
        let started = std::time::Instant::now();
        let err = match task {
            "delete" => kube_delete(&h.env(SHORT), &delete(sel.clone())).await,
            _ => {
                wait_absent(
                    &h.env(SHORT),
                    &WaitAbsent {
                        selection: sel.clone(),
                    },
                )
                .await
            }
        }
        .unwrap_err();
        assert!(
            started.elapsed() < SHORT + Duration::from_secs(5),
            "{task}: {err}"
        );
        assert!(
            matches!(
                err,
                KubeError::Exhausted { .. } | KubeError::TimedOut { .. }
            ),
            "{task}: {err}"
        );
    }
    h.sb.shutdown().await;
}

#[tokio::test]
async fn permanent_errors_fail_at_once_naming_verb_resource_and_reason() {
    let h = Harness::start(fast(), &[FLUX_NS]).await;
    h.sb.state().add_fault(FaultRule {
        kind: Some("namespaces".into()),
        method: Some("DELETE".into()),
        status: Some(403),
        ..Default::default()
    });
    let started = std::time::Instant::now();
    let err = kube_delete(
        &h.env(LONG),
        &delete(selection("Namespace", None, name("flux-system"))),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "no retries");
    let KubeError::Api { verb, code, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((*verb, *code), ("delete", 403));
    assert!(
        err.to_string()
            .starts_with("delete namespaces/flux-system: Forbidden (403): "),
        "{err}"
    );
    // And on a watch.
    h.sb.state().clear_faults();
    h.sb.state().add_fault(FaultRule {
        kind: Some("namespaces".into()),
        method: Some("GET".into()),
        status: Some(403),
        ..Default::default()
    });
    let err = wait_absent(
        &h.env(LONG),
        &WaitAbsent {
            selection: selection("Namespace", None, name("flux-system")),
        },
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("watch namespaces: Forbidden (403)"),
        "{err}"
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn objects_by_label_selector_across_namespaces() {
    let h = Harness::start(
        fast(),
        &[
            FLUX_NS,
            "{apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: flux-system, labels: {app: flux}}}",
            "{apiVersion: v1, kind: ConfigMap, metadata: {name: b, namespace: default, labels: {app: flux}}}",
            "{apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: default, labels: {app: other}}}",
        ],
    )
    .await;
    // Deleting in every namespace must be asked for in so many words.
    let unset = selection("ConfigMap", None, Target::Selector("app=flux".into()));
    let err = kube_delete(&h.env(LONG), &delete(unset.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ConfigMap is namespaced and the task changes objects: name the namespace (namespace = \"...\"), or write namespace = \"*\" to act on every namespace"
    );
    // Waiting only reads: without a namespace it looks everywhere, as with "*".
    let sel = selection("ConfigMap", Some("*"), Target::Selector("app=flux".into()));
    let summary = kube_delete(&h.env(LONG), &delete(sel.clone()))
        .await
        .unwrap();
    assert_eq!(
        summary,
        "deleted 2 objects: configmaps/default/b, configmaps/flux-system/a"
    );
    wait_absent(&h.env(LONG), &WaitAbsent { selection: unset })
        .await
        .unwrap();
    assert!(h.exists("v1", "ConfigMap", "default", "c"));
    h.sb.shutdown().await;
}

/// A dry run checks waits and assertions against the cluster as it is now, at once:
/// what holds passes ("checked ok"), what does not fails with why ("would fail"),
/// deletes and captures change nothing and say what they would do.
#[tokio::test]
async fn dry_run_checks_waits_and_assertions_against_the_state_now_without_waiting() {
    let h = Harness::with_flux_repos(&["flux-system"]).await;
    apply(&h.client(), &deployment_yaml("source-controller", "v1.6.0")).await;
    let run_dir = tempfile::tempdir().unwrap();
    let redactor = Redactor::new();
    /// Runs one task of any Kubernetes type as a dry run.
    async fn dry_run<W: planrun::exec::kube::KubeWork>(
        h: &Harness,
        run_dir: &std::path::Path,
        redactor: &Redactor,
        work: W,
    ) -> Result<planrun::exec::kube::KubeDone, String> {
        planrun::exec::kube::run_kube(
            &work,
            planrun::exec::kube::KubeTask {
                conn: &h.conn,
                progress: &h.lines,
                run_dir,
                redactor,
                dry_run: true,
                timeout: Some(LONG),
            },
        )
        .await
        .map_err(|e| e.to_string())
    }
    let started = std::time::Instant::now();
    let crds = selection(
        "CustomResourceDefinition",
        None,
        pattern(r"\.toolkit\.fluxcd\.io$"),
    );
    let e = dry_run(
        &h,
        run_dir.path(),
        &redactor,
        WaitAbsent {
            selection: crds.clone(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        "customresourcedefinitions matching /\\.toolkit\\.fluxcd\\.io$/ present now\n  \
         2 objects left: gitrepositories.source.toolkit.fluxcd.io, not being deleted; \
         kustomizations.kustomize.toolkit.fluxcd.io, not being deleted"
    );
    let gone = dry_run(
        &h,
        run_dir.path(),
        &redactor,
        WaitAbsent {
            selection: selection("Namespace", None, name("nope")),
        },
    )
    .await
    .unwrap();
    assert_eq!(gone.summary, "namespaces/nope already absent");
    assert!(!gone.would_change, "a check");
    let e = dry_run(
        &h,
        run_dir.path(),
        &redactor,
        WaitCondition {
            selection: selection("GitRepository", Some("flux-system"), pattern(".*")),
            condition: "Ready".into(),
            status: "True".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        "1 of 1 not Ready=True now\n  gitrepositories/flux-system/flux-system: no Ready condition yet"
    );
    let e = dry_run(
        &h,
        run_dir.path(),
        &redactor,
        WaitCondition {
            selection: selection("Kustomizatio", Some("flux-system"), pattern(".*")),
            condition: "Ready".into(),
            status: "True".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(
        e.starts_with("kind `Kustomizatio` is not served now (an earlier task may install it)"),
        "{e}"
    );
    let e = dry_run(
        &h,
        run_dir.path(),
        &redactor,
        expect(&[("source-controller", "v1.7.0")]),
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("source-controller: ") && e.contains("tag v1.6.0, expected v1.7.0"),
        "{e}"
    );
    let e = dry_run(
        &h,
        run_dir.path(),
        &redactor,
        AssertFieldManagers {
            selection: crds.clone(),
            forbidden: vec![Regex::new("^kubectl-client-side-apply$").unwrap()],
            owners: Vec::new(),
        },
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("customresourcedefinitions/gitrepositories.source.toolkit.fluxcd.io: forbidden manager kubectl-client-side-apply"),
        "{e}"
    );
    let captured = dry_run(
        &h,
        run_dir.path(),
        &redactor,
        Capture {
            selection: selection("ConfigMap", Some("flux-system"), pattern(".*")),
            file: "cms.yaml".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(captured.summary, "would capture 0 configmaps to cms.yaml: ");
    assert!(!captured.would_change);
    let deleted = dry_run(&h, run_dir.path(), &redactor, delete(crds))
        .await
        .unwrap();
    assert!(
        deleted.summary.starts_with("would delete 2 objects"),
        "{deleted:?}"
    );
    assert!(deleted.would_change);
    let nothing = dry_run(
        &h,
        run_dir.path(),
        &redactor,
        delete(selection("Namespace", None, name("nope"))),
    )
    .await
    .unwrap();
    assert!(!nothing.would_change, "{nothing:?}");
    assert!(
        std::fs::read_dir(run_dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
    assert!(
        h.exists(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "",
            "gitrepositories.source.toolkit.fluxcd.io"
        ),
        "nothing deleted"
    );
    assert!(started.elapsed() < LONG, "nothing waited for its timeout");
    h.sb.shutdown().await;
}

// ---------------------------------------------------------------------------
// Through the real binary: flags, the context guard, the report, secrets.
// ---------------------------------------------------------------------------

const SECRET_VALUE: &str = "s3cr3t-deploy-key-material";
const SECRET_B64: &str = "czNjcjN0LWRlcGxveS1rZXktbWF0ZXJpYWw=";

/// The plan of the CLI tests here: capture, delete and wait on the `flux-system`
/// namespace of a sandbox under the context `rehearsal`.
fn cli_plan() -> String {
    crate::kube_dual::capture_delete_wait_plan("rehearsal", "flux-system")
}

/// A kubeconfig with two contexts on the sandbox; `current` is the current one.
fn two_context_kubeconfig(server: &str, current: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sb\n  cluster: {{server: '{server}'}}\n\
         users:\n- name: u\n  user: {{}}\ncontexts:\n- name: rehearsal\n  context: {{cluster: sb, user: u}}\n\
         - name: other\n  context: {{cluster: sb, user: u}}\ncurrent-context: {current}\n"
    )
}

async fn cli_sandbox() -> (Sandbox, tempfile::TempDir) {
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: flux-system, namespace: flux-system}}\ndata: {{identity: {SECRET_B64}}}\n"
    );
    let sb = start_sandbox(fast(), &[FLUX_NS.to_owned(), secret]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plan.toml"), cli_plan()).unwrap();
    (sb, dir)
}

pub(crate) async fn planrun_cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("planrun")
            .unwrap()
            .current_dir(&dir)
            .env_remove("KUBECONFIG")
            .env("HOME", &dir)
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_refuses_another_context_before_anything_runs() {
    let (sb, dir) = cli_sandbox().await;
    std::fs::write(
        dir.path().join("kubeconfig"),
        two_context_kubeconfig(&sb.url(), "other"),
    )
    .unwrap();
    let out = planrun_cli(
        dir.path(),
        &["run", "plan.toml", "--kubeconfig", "kubeconfig"],
    )
    .await;
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let flat = stderr
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains(
            "the plan is for kube context `rehearsal` but the effective context is `other`"
        ),
        "{stderr}"
    );
    assert!(sb.requests().is_empty(), "no request reached the cluster");
    // The plan's lock file may exist (the check runs under the lock), but no run.
    assert!(
        !dir.path().join(".planrun/kube-cli/runs").exists(),
        "no run was started"
    );
    // KUBECONFIG is honoured like --kubeconfig, and --context overrides the current one;
    // with --dry-run nothing changes.
    let dir2 = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("planrun")
            .unwrap()
            .current_dir(&dir2)
            .env("KUBECONFIG", dir2.join("kubeconfig"))
            .args([
                "run",
                "plan.toml",
                "--context",
                "rehearsal",
                "--dry-run",
                "--output",
                "json",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    // The wait for the namespace to go does not hold on the cluster as it is, only
    // after the delete the dry run did not make: its verdict depends on that change,
    // it says which, and it does not fail the dry run.
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("would delete namespaces/flux-system"),
        "{stdout}"
    );
    assert!(stdout.contains("would capture 1 secret"), "{stdout}");
    assert!(
        stdout.contains(r#""state":"depends-on-a-change","duration_ms":"#)
            && stdout.contains(
                "unknown until `delete-ns` changes things (the dry run did not): namespaces/flux-system present now"
            ),
        "{stdout}"
    );
    let ns = sb
        .state()
        .get("v1", "Namespace", "", "flux-system")
        .unwrap();
    assert!(
        ns["metadata"].get("deletionTimestamp").is_none(),
        "dry run changed nothing"
    );
    assert!(!stdout.contains(SECRET_B64) && !stdout.contains(SECRET_VALUE));
    sb.shutdown().await;
}

/// An API server that does not answer is found before anything runs: the run is
/// refused (exit 3) within seconds, naming the server, the context and the error,
/// and no task starts (not even one that needs no cluster) and no run is written.
#[test]
fn cli_refuses_an_unreachable_api_server_before_any_task() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kubeconfig"),
        two_context_kubeconfig(&server, "rehearsal"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("plan.toml"),
        format!(
            "{}\n[tasks.marker]\ntype = \"exec-script\"\nscript = \"touch marker\"\n",
            cli_plan()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("planrun"))
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .args(["run", "plan.toml", "--kubeconfig", "kubeconfig"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("not refused within 15 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach the API server {server} of context `rehearsal`: GET /version: connection refused"
        )),
        "{stderr}"
    );
    assert!(!dir.path().join("marker").exists(), "no task ran");
    assert!(
        !dir.path().join(".planrun/kube-cli/runs").exists(),
        "no run was written"
    );
}

/// A wait says what it waits for: plain output prints the task's detail (what is
/// left, and what holds it) when it changes; after a Ctrl-C the summary names what
/// the wait was blocked by, and so do the journal and the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_a_wait_says_what_it_waits_for_and_what_blocked_it() {
    let held = "{apiVersion: v1, kind: ConfigMap, metadata: {name: held, namespace: flux-system, finalizers: [example.com/hold]}}";
    let sb = start_sandbox(fast(), &[FLUX_NS, held]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plan.toml"),
        r#"
[plan]
name = "wait-detail"

[tasks.delete-ns]
type = "kube-delete"
kind = "Namespace"
name = "flux-system"

[tasks.ns-gone]
type = "wait-absent"
kind = "Namespace"
name = "flux-system"
timeout = "5m"
needs = ["delete-ns"]
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("kubeconfig"),
        two_context_kubeconfig(&sb.url(), "rehearsal"),
    )
    .unwrap();
    let out_path = dir.path().join("stdout");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("planrun"))
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .args(["run", "plan.toml", "--kubeconfig", "kubeconfig"])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let expected = "ns-gone: 1 object left: flux-system, finalizer kubernetes";
    let deadline = std::time::Instant::now() + support::DEADLINE;
    while !std::fs::read_to_string(&out_path)
        .unwrap_or_default()
        .contains(expected)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no detail in the plain output: {}",
            std::fs::read_to_string(&out_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(130));
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        stdout.contains("ns-gone interrupted ")
            && stdout.contains(", waiting for: 1 object left: flux-system, finalizer kubernetes"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "stopped while waiting:\n  ns-gone: 1 object left: flux-system, finalizer kubernetes\n"
        ),
        "the summary names what blocked the wait: {stdout}"
    );
    let report = files_under(&dir.path().join(".planrun"))
        .into_iter()
        .find(|p| p.ends_with("report.md"))
        .unwrap();
    let report = std::fs::read_to_string(report).unwrap();
    assert!(
        report.contains(
            "| `ns-gone` | interrupted | waiting for: 1 object left: flux-system, finalizer kubernetes |"
        ),
        "{report}"
    );
    assert!(report.contains("interrupted at "), "{report}");
    assert!(report.contains("by SIGINT (Ctrl-C)"), "{report}");
    sb.shutdown().await;
}

/// A PEM key, as a secret variable holds it (with its trailing newline).
const PEM_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDZ2wVqL0dR7ow8e1yS5uM8Q2nFzJpX1aQmT9s0vB3cGAAAAJD3qf6A96n+
-----END OPENSSH PRIVATE KEY-----
";

/// Issue 14, breaks 3 and 4: a Secret captured by one planrun process and printed by
/// a task of a later one (`--resume`), a multi-line secret variable printed line by
/// line, and a token read with its trailing newline, are masked in the task log,
/// `events.jsonl`, `report.md` and the terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_masked_across_a_resume_line_by_line_and_without_their_newline() {
    let (sb, dir) = cli_sandbox().await;
    std::fs::write(
        dir.path().join("kubeconfig"),
        two_context_kubeconfig(&sb.url(), "rehearsal"),
    )
    .unwrap();
    let plan = r#"
[plan]
name = "masks"
context = "rehearsal"

[vars]
key = { env = "TEST_PEM_KEY", secret = true }
token = { env = "TEST_TOKEN", secret = true }

[tasks.capture]
type = "capture"
kind = "Secret"
namespace = "flux-system"
name_pattern = ".*"
file = "flux-secrets.yaml"

[tasks.show]
type = "exec-script"
needs = ["capture"]
env = { KEY = "{{ key }}", TOKEN = "{{ token }}" }
script = '''
test ! -e hold
echo "captured: $(sed -n 's/^ *identity: //p' "$PLANRUN_RUN_DIR/flux-secrets.yaml" | base64 -d)"
printf '%s\n' "$KEY"
echo "token: $TOKEN."
'''
"#;
    std::fs::write(dir.path().join("plan.toml"), plan).unwrap();
    std::fs::write(dir.path().join("hold"), "").unwrap();
    let token = "ghp_0123456789abcdefTOKEN\n";
    let run = |extra: &'static [&'static str]| {
        let dir = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            assert_cmd::Command::cargo_bin("planrun")
                .unwrap()
                .current_dir(&dir)
                .env_remove("KUBECONFIG")
                .env("HOME", &dir)
                .env("TEST_PEM_KEY", PEM_KEY)
                .env("TEST_TOKEN", token)
                .args(["run", "plan.toml", "--kubeconfig", "kubeconfig"])
                .args(extra)
                .output()
                .unwrap()
        })
    };
    let first = run(&[]).await.unwrap();
    assert_eq!(
        first.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    std::fs::remove_file(dir.path().join("hold")).unwrap();
    let resumed = run(&["--resume"]).await.unwrap();
    let stdout = String::from_utf8(resumed.stdout).unwrap();
    let stderr = String::from_utf8(resumed.stderr).unwrap();
    assert_eq!(resumed.status.code(), Some(0), "{stdout}\n{stderr}");
    let files = files_under(&dir.path().join(".planrun"));
    let read = |name: &str| {
        let path = files.iter().find(|p| p.ends_with(name)).unwrap();
        std::fs::read_to_string(path).unwrap()
    };
    let log = read("logs/show.log");
    // The task did print them, masked.
    assert!(log.contains("captured: ********"), "{log}");
    assert!(log.contains("token: ********\n."), "{log}");
    assert!(
        log.contains("-----BEGIN OPENSSH PRIVATE KEY-----\n********\n********\n"),
        "{log}"
    );
    let mut texts = vec![
        ("stdout", stdout),
        ("stderr", stderr),
        ("show.log", log),
        ("events.jsonl", read("events.jsonl")),
        ("report.md", read("report.md")),
    ];
    texts.push(("journal", read("journal")));
    let leaks = [
        SECRET_VALUE,
        SECRET_B64,
        "ghp_0123456789abcdefTOKEN",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
        "QyNTUxOQAAACDZ2wVqL0dR7ow8e1yS5uM8Q2nFzJpX1aQmT9s0vB3cGAAAAJD3qf6A96n+",
    ];
    for (name, text) in &texts {
        for leak in leaks {
            assert!(!text.contains(leak), "{leak} in {name}:\n{text}");
        }
    }
    sb.shutdown().await;
}

/// Two branches each delete a namespace and wait for it to go; a script with a
/// `verify` marks its work; the run is interrupted behind them, in a task that only
/// waits (a change started after them could undo them on purpose: they would not
/// be checked).
const VERIFY_PLAN: &str = r#"
[plan]
name = "verify"
context = "rehearsal"

[tasks.delete-a]
type = "kube-delete"
kind = "Namespace"
name = "a"

[tasks.a-gone]
type = "wait-absent"
kind = "Namespace"
name = "a"
timeout = "60s"
needs = ["delete-a"]

[tasks.delete-b]
type = "kube-delete"
kind = "Namespace"
name = "b"

[tasks.b-gone]
type = "wait-absent"
kind = "Namespace"
name = "b"
timeout = "60s"
needs = ["delete-b"]

[tasks.mark]
type = "exec-script"
command = ["touch", "marked"]
verify = "test -e marked"

[tasks.hold]
type = "exec-script"
script = 'touch hold.started; while [ ! -e go ]; do sleep 0.05; done'
read_only = true
needs = ["a-gone", "b-gone", "mark"]
"#;

/// Verify before skipping: after an interruption, someone recreates namespace `a`
/// (as pulumi-kubernetes would) and removes the script's mark. The resume checks
/// what it would take as done, lists why `a-gone` and `delete-a` run again (who
/// brought `a` back, when) and why `mark` does, and reruns exactly those branches:
/// `b`'s tasks stay done. `--no-verify` would have taken them all as done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_reruns_a_wait_whose_object_came_back_and_only_its_branch() {
    let sb = start_sandbox(
        fast(),
        &[
            "{apiVersion: v1, kind: Namespace, metadata: {name: a}}",
            "{apiVersion: v1, kind: Namespace, metadata: {name: b}}",
        ],
    )
    .await;
    let dir = plan_dir(&sb, VERIFY_PLAN);
    let d = dir.path().to_path_buf();
    interrupt_in_hold(&d).await;
    let a = sb.state().get("v1", "Namespace", "", "a");
    assert!(
        a.is_none_or(|n| n["metadata"].get("deletionTimestamp").is_some()),
        "the first run deleted `a`"
    );

    // Someone brings `a` back, as pulumi-kubernetes creates (a plain create, manager
    // `pulumi-kubernetes`), and the mark goes.
    let client = kube::Client::try_from(kube::Config::new(sb.url().parse().unwrap())).unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    let ns: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "a"}})).unwrap();
    namespaces
        .create(
            &kube::api::PostParams {
                field_manager: Some("pulumi-kubernetes".into()),
                ..Default::default()
            },
            &ns,
        )
        .await
        .unwrap();
    std::fs::remove_file(d.join("marked")).unwrap();
    std::fs::write(d.join("go"), "").unwrap();

    let (stdout, stderr) = resume_to_the_end(&d).await;
    let will_run = will_run_line(&stderr);
    let back = Regex::new(
        r"a-gone \(a exists again \(created \d\d:\d\d:\d\d UTC by pulumi-kubernetes\)\)",
    )
    .unwrap();
    assert!(back.is_match(will_run), "{will_run}");
    assert!(
        will_run.contains("delete-a (a exists again (created "),
        "{will_run}"
    );
    assert!(
        will_run.contains("mark (its verify check failed (exit code 1))"),
        "{will_run}"
    );
    assert!(
        stderr.contains("checked now, still hold (2): delete-b, b-gone"),
        "{stderr}"
    );
    // Exactly the lost branches ran again; b's stayed done.
    assert_eq!(
        started_tasks(&stdout),
        ["a-gone", "delete-a", "hold", "mark"],
        "{stdout}"
    );
    assert!(sb.state().get("v1", "Namespace", "", "a").is_none());
    assert!(d.join("marked").exists());
    sb.shutdown().await;
}

/// A directory with `plan` as `plan.toml` and a `kubeconfig` whose context
/// `rehearsal` is `sb`.
fn plan_dir(sb: &Sandbox, plan: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plan.toml"), plan).unwrap();
    std::fs::write(
        dir.path().join("kubeconfig"),
        two_context_kubeconfig(&sb.url(), "rehearsal"),
    )
    .unwrap();
    dir
}

/// Runs `plan.toml` in `d` (kubeconfig `kubeconfig`) until its task `hold` has
/// started (it touches `hold.started`), then interrupts it (Ctrl-C): exit 130.
async fn interrupt_in_hold(d: &std::path::Path) {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("planrun"))
        .current_dir(d)
        .env_remove("KUBECONFIG")
        .args(["plan.toml", "--kubeconfig", "kubeconfig"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !d.join("hold.started").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "hold never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Resumes `plan.toml` in `d` (JSON events) to a success; its stdout and stderr.
async fn resume_to_the_end(d: &std::path::Path) -> (String, String) {
    let out = planrun_cli(
        d,
        &[
            "plan.toml",
            "--kubeconfig",
            "kubeconfig",
            "--resume",
            "--output",
            "json",
        ],
    )
    .await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    (stdout, stderr)
}

/// The resume listing's line of the tasks that will run, and why.
fn will_run_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.contains("will run ("))
        .unwrap_or_else(|| panic!("no listing: {stderr}"))
}

/// The tasks a run started, in name order, from its JSON events.
fn started_tasks(stdout: &str) -> Vec<String> {
    let mut started: Vec<String> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "task-started")
        .map(|e| e["task"].as_str().unwrap().to_owned())
        .collect();
    // Which tasks ran again, not in which order: ready tasks start by the critical
    // path the earlier run's durations give, which a loaded machine changes.
    started.sort();
    started
}

/// Two finalizer removals, a merge patch and two applies, then a task that only
/// waits.
const PATCH_APPLY_PLAN: &str = r#"
[plan]
name = "verify-patch-apply"
context = "rehearsal"

[tasks.unhold-x]
type = "kube-patch"
kind = "ConfigMap"
namespace = "apps"
name = "x"
remove_finalizers = ["example.com/hold"]

[tasks.unhold-y]
type = "kube-patch"
kind = "ConfigMap"
namespace = "apps"
name = "y"
remove_finalizers = ["example.com/hold"]

[tasks.label-y]
type = "kube-patch"
kind = "ConfigMap"
namespace = "apps"
name = "y"
merge_patch = { metadata = { labels = { tier = "web" } } }

[tasks.apply-s]
type = "kube-apply"
files = ["s.yaml"]

[tasks.apply-t]
type = "kube-apply"
files = ["t.yaml"]

[tasks.hold]
type = "exec-script"
script = 'touch hold.started; while [ ! -e go ]; do sleep 0.05; done'
read_only = true
needs = ["unhold-x", "unhold-y", "label-y", "apply-s", "apply-t"]
"#;

/// Verify before skipping, for kube-patch and kube-apply: after an interruption a
/// controller writes the finalizer back on `x`, someone relabels `y` and deletes
/// the applied `s`. The resume says why `unhold-x` (who wrote the finalizer,
/// when), `label-y` and `apply-s` (absent again) run again, and reruns only those;
/// `unhold-y` and `apply-t` still hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_reruns_a_patch_whose_finalizer_came_back_and_an_apply_whose_object_went() {
    let held = |name: &str| {
        format!(
            "{{apiVersion: v1, kind: ConfigMap, metadata: {{name: {name}, namespace: apps, finalizers: [example.com/hold]}}}}"
        )
    };
    let sb = start_sandbox(
        fast(),
        &[
            "{apiVersion: v1, kind: Namespace, metadata: {name: apps}}".to_owned(),
            held("x"),
            held("y"),
        ],
    )
    .await;
    let dir = plan_dir(&sb, PATCH_APPLY_PLAN);
    let d = dir.path().to_path_buf();
    for name in ["s", "t"] {
        std::fs::write(
            d.join(format!("{name}.yaml")),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: apps}}\ndata: {{k: v}}\n"),
        )
        .unwrap();
    }
    interrupt_in_hold(&d).await;
    let cm = |name: &str| sb.state().get("v1", "ConfigMap", "apps", name);
    let finalizers = |name: &str| {
        cm(name).unwrap()["metadata"]["finalizers"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(finalizers("x"), 0);
    assert!(cm("s").is_some() && cm("t").is_some());

    // A controller puts the finalizer back on `x`; someone deletes `s`.
    let client = kube::Client::try_from(kube::Config::new(sb.url().parse().unwrap())).unwrap();
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, "apps");
    maps.patch(
        "x",
        &kube::api::PatchParams {
            field_manager: Some("kustomize-controller".into()),
            ..Default::default()
        },
        &kube::api::Patch::Merge(
            serde_json::json!({"metadata": {"finalizers": ["example.com/hold"]}}),
        ),
    )
    .await
    .unwrap();
    maps.patch(
        "y",
        &Default::default(),
        &kube::api::Patch::Merge(serde_json::json!({"metadata": {"labels": {"tier": "db"}}})),
    )
    .await
    .unwrap();
    maps.delete("s", &Default::default()).await.unwrap();
    std::fs::write(d.join("go"), "").unwrap();

    let (stdout, stderr) = resume_to_the_end(&d).await;
    let will_run = will_run_line(&stderr);
    let back = Regex::new(
        r"unhold-x \(apps/x carries example\.com/hold again \(finalizers written \d\d:\d\d:\d\d UTC by kustomize-controller\)\)",
    )
    .unwrap();
    assert!(back.is_match(will_run), "{will_run}");
    assert!(
        will_run.contains("label-y (apps/y differs from the patch again)"),
        "{will_run}"
    );
    assert!(
        will_run.contains("apply-s (configmaps/apps/s is absent again)"),
        "{will_run}"
    );
    assert!(
        stderr.contains("checked now, still hold (2): unhold-y, apply-t"),
        "{stderr}"
    );
    assert_eq!(
        started_tasks(&stdout),
        ["apply-s", "hold", "label-y", "unhold-x"],
        "{stdout}"
    );
    assert_eq!(finalizers("x"), 0);
    assert_eq!(cm("y").unwrap()["metadata"]["labels"]["tier"], "web");
    assert!(cm("s").is_some());
    sb.shutdown().await;
}
